// `runnel perf consume`: reads --count records as fast as the consumer hands
// them over, like kafka-consumer-perf-test. Progress every second on stderr,
// then one summary on stdout: records, MB, msgs/s, MB/s, elapsed, the time
// to the first record (metadata, offsets, a group join) and the fetches.
// Reads from the beginning: without --group every partition is assigned;
// with --group the group's committed offsets (or the beginning) are used and
// auto-committed as a member would.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runnel/consumer.h"
#include "tools/runnel/admin_util.h"
#include "tools/runnel/command.h"
#include "tools/runnel/consume_setup.h"
#include "tools/runnel/flags.h"
#include "tools/runnel/perf_util.h"

namespace runnel::tools {
namespace {

constexpr ShortFlag kPerfConsumeShortFlags[] = {{"-X", "--property"}};

int64_t PayloadBytes(const ConsumerRecord& r) {
  return static_cast<int64_t>((r.key ? r.key->size() : 0) + (r.value ? r.value->size() : 0));
}

}  // namespace

int RunPerfConsume(std::span<const std::string> raw) {
  FlagSet flags("runnel perf consume",
                "Reads --count records from the beginning of --topic as fast as the\n"
                "consumer hands them over; prints progress every second, then records,\n"
                "MB (keys and values), msgs/s, MB/s and the elapsed time. Exits 1 if\n"
                "--timeout-ms passes without a record before --count were read.");
  AddConsumerFlags(flags);
  flags.AddInt("count", "N", "records to read", /*required=*/true);
  if (std::optional<int> rc = ParseCommandFlags(flags, raw, kPerfConsumeShortFlags)) return *rc;
  const int64_t count = flags.GetInt("count");
  if (count <= 0) {
    return ReportParseResult(flags, absl::InvalidArgumentError("--count must be positive"));
  }
  auto options = ConsumerOptionsFrom(flags, OffsetReset::kEarliest);
  if (!options.ok()) return ReportParseResult(flags, options.status());
  std::optional<std::vector<PartitionOffsets>> partitions = DescribePartitions(flags, std::nullopt);
  if (!partitions.has_value()) return kExitFailure;
  std::vector<TopicPartition> tps;
  for (const PartitionOffsets& p : *partitions) tps.push_back(p.tp);
  auto created = Consumer::Create(*options);
  if (!created.ok()) return ReportFailure(flags, created.status());
  Consumer& consumer = **created;
  const absl::Duration timeout = TimeoutFrom(flags);
  InstallStopHandlers();

  const double cpu0 = CpuSeconds();
  const absl::Time t0 = absl::Now();
  absl::Status started = options->group_id.empty() ? consumer.Assign(tps)
                                                   : consumer.Subscribe({flags.GetString("topic")});
  if (!started.ok()) return ReportFailure(flags, started);
  int64_t records = 0, bytes = 0;
  std::optional<absl::Time> first;
  absl::Time last_record = t0;
  absl::Time next_report = t0 + absl::Seconds(1);
  absl::Status failure;
  bool timed_out = false;
  while (records < count && !StopRequested()) {
    auto batch = consumer.Poll(absl::Milliseconds(100));
    const absl::Time now = absl::Now();
    if (!batch.ok()) {
      failure = batch.status();
      break;
    }
    for (const ConsumerRecord& r : *batch) bytes += PayloadBytes(r);
    records += static_cast<int64_t>(batch->size());
    if (!batch->empty()) {
      if (!first.has_value()) first = now;
      last_record = now;
    } else if (now - last_record > timeout) {
      timed_out = true;
      break;
    }
    if (now >= next_report) {
      const double secs = absl::ToDoubleSeconds(now - t0);
      std::fprintf(stderr, "%lld records received, %.0f msgs/s, %.2f MB/s\n",
                   static_cast<long long>(records), records / secs, bytes / secs / 1e6);
      next_report += absl::Seconds(1);
    }
  }
  const absl::Time t1 = absl::Now();
  const double cpu = CpuSeconds() - cpu0;
  const ConsumerMetrics m = consumer.metrics();
  absl::Status closed = consumer.Close(timeout);

  const double secs = std::max(1e-9, absl::ToDoubleSeconds(t1 - t0));
  std::printf(
      "%lld records received, %.2f MB, %.0f msgs/s, %.2f MB/s, %.3f s elapsed, "
      "%.2f CPU s per million records\n",
      static_cast<long long>(records), bytes / 1e6, records / secs, bytes / secs / 1e6, secs,
      records > 0 ? cpu / (records / 1e6) : 0.0);
  std::printf("first record after %.1f ms; %lld fetch requests, %.2f MB of batches fetched\n",
              first.has_value() ? absl::ToDoubleMilliseconds(*first - t0) : -1.0,
              static_cast<long long>(m.fetch_requests), m.bytes_fetched / 1e6);
  if (!failure.ok()) return ReportFailure(flags, failure);
  if (StopRequested()) return kExitOk;
  if (timed_out) {
    return ReportFailure(flags, absl::DeadlineExceededError(absl::StrCat(
                                    "no record for --timeout-ms after ", records, " of ", count)));
  }
  if (!closed.ok()) return ReportFailure(flags, closed);
  return kExitOk;
}

}  // namespace runnel::tools
