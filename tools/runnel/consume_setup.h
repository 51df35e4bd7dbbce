// Shared by `runnel consume` (consume_commands.cc) and `runnel perf consume`
// (consume_perf.cc): their common flags, the consumer's options from them,
// the partitions of --topic from the brokers' metadata, and SIGINT/SIGTERM
// as a request to stop (so the consumer can commit and leave its group).
#pragma once

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runnel/consumer.h"
#include "tools/runnel/admin_util.h"
#include "tools/runnel/flags.h"

namespace runnel::tools {

// Adds --bootstrap, --topic, --group, --property and --timeout-ms.
void AddConsumerFlags(FlagSet& flags);

// --timeout-ms as a duration: how long a broker may keep the command waiting
// (metadata, offsets, commits) before it gives up.
absl::Duration TimeoutFrom(const FlagSet& flags);

// Client id "runnel-cli", --bootstrap, --group (with auto-commit when set;
// none without, as nothing is committed outside a group), --property
// (Kafka names), then `reset` for partitions without a committed offset.
absl::StatusOr<ConsumerOptions> ConsumerOptionsFrom(const FlagSet& flags, OffsetReset reset);

// A partition of --topic with its earliest offset and high watermark (the
// next offset to be written) when the command looked.
struct PartitionOffsets {
  TopicPartition tp;
  int64_t earliest = 0;
  int64_t end = 0;
};

// The partitions of --topic, or only `only` when given, as the brokers'
// metadata has them, with their offsets. An unknown topic, a partition the
// topic lacks or no broker answering within --timeout-ms is printed to
// stderr as "<command>: <why>" and gives nullopt.
//
// The offsets come from an Admin rather than Consumer::WatermarkOffsets,
// which took 0.5-1 s a call once fetching had started (measured against
// runnel-broker): it sends two ListOffsets in turn, and the timings fit each
// waiting behind a fetch the broker holds for fetch.max.wait (500 ms).
std::optional<std::vector<PartitionOffsets>> DescribePartitions(const FlagSet& flags,
                                                                std::optional<int32_t> only);

// Makes SIGINT and SIGTERM set the flag StopRequested() reads (a second one
// acts as the default: ends the process). Call once, from the main thread.
void InstallStopHandlers();
bool StopRequested();

}  // namespace runnel::tools
