// LogOptions: the per-partition configuration of the storage engine, with
// Kafka's topic-level names and defaults, and the clock the engine reads.
//
// Fields are plain; each carries Kafka's default and says what it trades.
// Brokers and tools that speak Kafka's string properties parse them with
// FromProperties, which rejects an unknown key or a bad value by name:
//
//   runnel::storage::LogOptions defaults;
//   defaults.segment_bytes = 64 << 20;
//   absl::StatusOr<runnel::storage::LogOptions> opts =
//       runnel::storage::LogOptions::FromProperties(
//           {{"retention.ms", "3600000"}, {"cleanup.policy", "compact,delete"}},
//           defaults);
//   if (!opts.ok()) return opts.status();  // e.g. "unknown property 'x.y'"
//
// A LogOptions is a value; copy it freely. Thread-compatible.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace runnel::storage {

// Where the engine gets the time from: segment.ms, retention.ms, flush.ms
// and LogAppendTime all read it. Tests inject their own to move time without
// sleeping. Implementations must be thread-safe; the engine calls NowMs from
// appending threads and from its background thread.
class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t NowMs() const = 0;

  // The wall clock (CLOCK_REALTIME). Never null; lives forever.
  static const Clock* System();
};

// cleanup.policy: what happens to old data.
enum class CleanupPolicy : uint8_t {
  kDelete = 1,            // "delete": whole segments go by retention.ms/bytes
  kCompact = 2,           // "compact": the latest record per key is kept
  kCompactAndDelete = 3,  // "compact,delete": both
};
inline bool HasDelete(CleanupPolicy p) { return (static_cast<uint8_t>(p) & 1) != 0; }
inline bool HasCompact(CleanupPolicy p) { return (static_cast<uint8_t>(p) & 2) != 0; }

// message.timestamp.type.
enum class TimestampType : uint8_t {
  kCreateTime = 0,     // "CreateTime": keep the producer's timestamps
  kLogAppendTime = 1,  // "LogAppendTime": stamp each batch with the append time
};

inline constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();

struct LogOptions {
  // segment.bytes: a segment rolls once it would exceed this. Large segments
  // mean fewer files and fds; small ones let retention free space sooner.
  int64_t segment_bytes = 1LL << 30;

  // segment.ms: a segment rolls when its first batch is this old, so time
  // retention and compaction can act on low-traffic partitions (7 days).
  int64_t segment_ms = 7LL * 24 * 3600 * 1000;

  // segment.index.bytes: the size each .index/.timeindex is preallocated to
  // (then trimmed). A full index rolls the segment. 10 MiB.
  int32_t segment_index_bytes = 10 * 1024 * 1024;

  // index.interval.bytes: an index entry every this many bytes appended.
  // Smaller means faster lookups, bigger indexes.
  int32_t index_interval_bytes = 4096;

  // retention.ms: segments whose newest record is older are deleted (7 days).
  // -1 keeps data forever.
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;

  // retention.bytes: the oldest segments are deleted while the log is bigger
  // than this. -1 means no size limit.
  int64_t retention_bytes = -1;

  // cleanup.policy.
  CleanupPolicy cleanup_policy = CleanupPolicy::kDelete;

  // min.compaction.lag.ms: records younger than this are never compacted.
  int64_t min_compaction_lag_ms = 0;

  // max.compaction.lag.ms: a log with records older than this is compacted
  // even below min.cleanable.dirty.ratio.
  int64_t max_compaction_lag_ms = kNoLimit;

  // delete.retention.ms: how long compaction keeps tombstones (1 day).
  int64_t delete_retention_ms = 24LL * 3600 * 1000;

  // min.cleanable.dirty.ratio: compact when this share of the log is dirty.
  double min_cleanable_dirty_ratio = 0.5;

  // flush.messages: fsync after this many messages (records). The default
  // leaves durability to the page cache and replication, as Kafka does.
  int64_t flush_messages = kNoLimit;

  // flush.ms: fsync when the oldest unflushed data is this old.
  int64_t flush_ms = kNoLimit;

  // max.message.bytes: the largest record batch accepted (bytes on disk,
  // header included). 1 MiB + 12.
  int32_t max_message_bytes = 1024 * 1024 + 12;

  // message.timestamp.type.
  TimestampType message_timestamp_type = TimestampType::kCreateTime;

  // file.delete.delay.ms: how long a deleted segment stays as *.deleted
  // before its files are removed, so readers that just looked it up finish.
  int64_t file_delete_delay_ms = 60 * 1000;

  // InvalidArgument naming the first field out of range (e.g. segment.bytes
  // below 14, index.interval.bytes negative).
  absl::Status Validate() const;

  // Starts from `base` and applies Kafka-style string properties. An unknown
  // key or an unparsable or out-of-range value is an InvalidArgument error
  // naming the key and the value.
  static absl::StatusOr<LogOptions> FromProperties(
      const std::map<std::string, std::string>& properties, const LogOptions& base);
  // The same, starting from the defaults.
  static absl::StatusOr<LogOptions> FromProperties(
      const std::map<std::string, std::string>& properties);

  // The properties that FromProperties accepts, with their values here.
  std::map<std::string, std::string> ToProperties() const;
};

}  // namespace runnel::storage
