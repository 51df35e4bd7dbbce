// OffsetsTopic: the partitions of the internal compacted topic
// __consumer_offsets, where the coordinator writes group metadata and
// committed offsets (record_formats.h) and from which it reloads them.
//
// A group lives in partition abs(javaHashCode(group_id)) % num_partitions, as
// in Kafka, so a Kafka data directory's offsets topic and ours agree on where
// a group is. Logs are created on first write with cleanup.policy=compact.
//
//   OffsetsTopic topic(log_manager, {.num_partitions = 50});
//   std::string key = EncodeGroupMetadataKey({"my-group"});
//   RUNNEL_RETURN_IF_ERROR(topic.Append(topic.PartitionFor("my-group"),
//                                       {{key, std::nullopt}}));  // tombstone
//
// Thread-safe. Does not own the LogManager, which must outlive it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "runnel/log.h"
#include "runnel/log_manager.h"

namespace runnel::broker::group {

inline constexpr std::string_view kOffsetsTopicName = "__consumer_offsets";

// Java's String.hashCode() of the UTF-16 form of `utf8` (invalid UTF-8 bytes
// count as U+FFFD, as Java's decoder makes them).
int32_t JavaStringHashCode(std::string_view utf8);

// Kafka's Utils.abs(hashCode) % partitions.
int32_t OffsetsPartitionFor(std::string_view group_id, int32_t num_partitions);

struct OffsetsTopicOptions {
  // offsets.topic.num.partitions. Changing it moves groups between
  // partitions, so an existing data directory must keep its value.
  int32_t num_partitions = 50;
  // offsets.topic.segment.bytes: small segments let compaction drop old
  // commits sooner; the offsets topic is written often in small records.
  int64_t segment_bytes = 100LL << 20;
  // Called after each append with the partition and its new end offset, on
  // the appending thread (possibly several at once, out of order): the
  // broker moves the partition's high watermark so that consumers of
  // __consumer_offsets (lag monitors such as Burrow) see the records. Must
  // not call back into the OffsetsTopic.
  std::function<void(int32_t partition, int64_t end_offset)> on_append;
};

// One record to append: a null value is a tombstone.
struct OffsetsRecord {
  std::string key;
  std::optional<std::string> value;
};

class OffsetsTopic {
 public:
  OffsetsTopic(storage::LogManager* logs, const OffsetsTopicOptions& options);

  int32_t num_partitions() const { return options_.num_partitions; }
  int32_t PartitionFor(std::string_view group_id) const {
    return OffsetsPartitionFor(group_id, options_.num_partitions);
  }

  // Creates every partition's log that does not exist yet, as Kafka creates
  // the whole topic: the broker's topic registry then sees all partitions,
  // not just those a group happened to write.
  absl::Status CreateAll();

  // Appends `records` as one batch (all or nothing) to `partition`; returns
  // once they are in the log.
  absl::Status Append(int32_t partition, std::span<const OffsetsRecord> records,
                      int64_t timestamp_ms);

  // Calls `visit(key, value)` for every record of `partition` from the log
  // start, in offset order (value nullptr-like: std::nullopt for a
  // tombstone). A partition never written has no records.
  using Visitor = std::function<absl::Status(std::span<const uint8_t> key,
                                             std::optional<std::span<const uint8_t>> value)>;
  absl::Status Replay(int32_t partition, const Visitor& visit) const;

 private:
  absl::StatusOr<std::shared_ptr<storage::Log>> LogFor(int32_t partition);

  storage::LogManager* const logs_;
  const OffsetsTopicOptions options_;
  absl::Mutex mu_;
  std::vector<std::shared_ptr<storage::Log>> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::broker::group
