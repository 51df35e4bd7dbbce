// LogOptions validation and Kafka-style string properties.
#include "runnel/log_options.h"

#include <time.h>

#include <functional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runnel/common/status_macros.h"
#include "storage/log_format.h"

namespace runnel::storage {
namespace {

class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
  }
};

absl::Status BadValue(absl::string_view key, absl::string_view value, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid value '", value, "' for property '", key, "': ", why));
}

template <typename T>
absl::Status ParseInt(absl::string_view key, absl::string_view value, T min, T* out) {
  T v;
  if (!absl::SimpleAtoi(value, &v)) return BadValue(key, value, "not an integer in range");
  if (v < min) return BadValue(key, value, absl::StrCat("must be at least ", min));
  *out = v;
  return absl::OkStatus();
}

absl::string_view PolicyName(CleanupPolicy p) {
  switch (p) {
    case CleanupPolicy::kDelete:
      return "delete";
    case CleanupPolicy::kCompact:
      return "compact";
    case CleanupPolicy::kCompactAndDelete:
      return "compact,delete";
  }
  return "delete";
}

absl::Status ParsePolicy(absl::string_view key, absl::string_view value, CleanupPolicy* out) {
  uint8_t bits = 0;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == absl::string_view::npos) comma = value.size();
    absl::string_view item = value.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == "delete") {
      bits |= 1;
    } else if (item == "compact") {
      bits |= 2;
    } else {
      return BadValue(key, value, "expected delete, compact or both");
    }
    start = comma + 1;
  }
  *out = static_cast<CleanupPolicy>(bits);
  return absl::OkStatus();
}

using Setter = std::function<absl::Status(absl::string_view, absl::string_view, LogOptions&)>;

const std::map<std::string, Setter, std::less<>>& Setters() {
  static const auto* setters = new std::map<std::string, Setter, std::less<>>{
      {"segment.bytes",
       [](auto k, auto v, LogOptions& o) {
         return ParseInt<int64_t>(k, v, kMinSegmentBytes, &o.segment_bytes);
       }},
      {"segment.ms",
       [](auto k, auto v, LogOptions& o) { return ParseInt<int64_t>(k, v, 1, &o.segment_ms); }},
      {"segment.index.bytes",
       [](auto k, auto v, LogOptions& o) {
         return ParseInt<int32_t>(k, v, 4, &o.segment_index_bytes);
       }},
      {"index.interval.bytes",
       [](auto k, auto v, LogOptions& o) {
         return ParseInt<int32_t>(k, v, 0, &o.index_interval_bytes);
       }},
      {"retention.ms",
       [](auto k, auto v, LogOptions& o) { return ParseInt<int64_t>(k, v, -1, &o.retention_ms); }},
      {"retention.bytes",
       [](auto k, auto v, LogOptions& o) {
         return ParseInt<int64_t>(k, v, -1, &o.retention_bytes);
       }},
      {"cleanup.policy",
       [](auto k, auto v, LogOptions& o) { return ParsePolicy(k, v, &o.cleanup_policy); }},
      {"min.compaction.lag.ms",
       [](auto k, auto v, LogOptions& o) {
         return ParseInt<int64_t>(k, v, 0, &o.min_compaction_lag_ms);
       }},
      {"max.compaction.lag.ms",
       [](auto k, auto v, LogOptions& o) {
         return ParseInt<int64_t>(k, v, 1, &o.max_compaction_lag_ms);
       }},
      {"delete.retention.ms",
       [](auto k, auto v, LogOptions& o) {
         return ParseInt<int64_t>(k, v, 0, &o.delete_retention_ms);
       }},
      {"min.cleanable.dirty.ratio",
       [](auto k, auto v, LogOptions& o) {
         double d;
         if (!absl::SimpleAtod(v, &d)) return BadValue(k, v, "not a number");
         if (!(d >= 0 && d <= 1)) return BadValue(k, v, "must be between 0 and 1");
         o.min_cleanable_dirty_ratio = d;
         return absl::OkStatus();
       }},
      {"flush.messages",
       [](auto k, auto v, LogOptions& o) { return ParseInt<int64_t>(k, v, 1, &o.flush_messages); }},
      {"flush.ms",
       [](auto k, auto v, LogOptions& o) { return ParseInt<int64_t>(k, v, 0, &o.flush_ms); }},
      {"max.message.bytes",
       [](auto k, auto v, LogOptions& o) {
         return ParseInt<int32_t>(k, v, 0, &o.max_message_bytes);
       }},
      {"message.timestamp.type",
       [](auto k, auto v, LogOptions& o) {
         if (v == "CreateTime") {
           o.message_timestamp_type = TimestampType::kCreateTime;
         } else if (v == "LogAppendTime") {
           o.message_timestamp_type = TimestampType::kLogAppendTime;
         } else {
           return BadValue(k, v, "expected CreateTime or LogAppendTime");
         }
         return absl::OkStatus();
       }},
      {"file.delete.delay.ms",
       [](auto k, auto v, LogOptions& o) {
         return ParseInt<int64_t>(k, v, 0, &o.file_delete_delay_ms);
       }},
  };
  return *setters;
}

absl::Status OutOfRange(absl::string_view key, int64_t value, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(key, " = ", value, ": ", why));
}

}  // namespace

const Clock* Clock::System() {
  static const SystemClock* clock = new SystemClock();
  return clock;
}

absl::Status LogOptions::Validate() const {
  if (segment_bytes < kMinSegmentBytes || segment_bytes > kMaxSegmentBytes) {
    return OutOfRange("segment.bytes", segment_bytes, "must be between 14 and 2^31-1");
  }
  if (segment_ms < 1) return OutOfRange("segment.ms", segment_ms, "must be positive");
  if (segment_index_bytes < static_cast<int32_t>(kTimeIndexEntrySize)) {
    return OutOfRange("segment.index.bytes", segment_index_bytes, "must hold an entry");
  }
  if (index_interval_bytes < 0) {
    return OutOfRange("index.interval.bytes", index_interval_bytes, "must not be negative");
  }
  if (retention_ms < -1) return OutOfRange("retention.ms", retention_ms, "must be >= -1");
  if (retention_bytes < -1) return OutOfRange("retention.bytes", retention_bytes, "must be >= -1");
  if (flush_messages < 1) return OutOfRange("flush.messages", flush_messages, "must be positive");
  if (flush_ms < 0) return OutOfRange("flush.ms", flush_ms, "must not be negative");
  if (max_message_bytes < 0) {
    return OutOfRange("max.message.bytes", max_message_bytes, "must not be negative");
  }
  if (!(min_cleanable_dirty_ratio >= 0 && min_cleanable_dirty_ratio <= 1)) {
    return absl::InvalidArgumentError("min.cleanable.dirty.ratio must be between 0 and 1");
  }
  uint8_t p = static_cast<uint8_t>(cleanup_policy);
  if (p < 1 || p > 3) return OutOfRange("cleanup.policy", p, "unknown policy");
  return absl::OkStatus();
}

absl::StatusOr<LogOptions> LogOptions::FromProperties(
    const std::map<std::string, std::string>& properties, const LogOptions& base) {
  LogOptions out = base;
  for (const auto& [key, value] : properties) {
    auto it = Setters().find(key);
    if (it == Setters().end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown property '", key, "'"));
    }
    RUNNEL_RETURN_IF_ERROR(it->second(key, value, out));
  }
  RUNNEL_RETURN_IF_ERROR(out.Validate());
  return out;
}

absl::StatusOr<LogOptions> LogOptions::FromProperties(
    const std::map<std::string, std::string>& properties) {
  return FromProperties(properties, LogOptions{});
}

std::map<std::string, std::string> LogOptions::ToProperties() const {
  return {
      {"segment.bytes", absl::StrCat(segment_bytes)},
      {"segment.ms", absl::StrCat(segment_ms)},
      {"segment.index.bytes", absl::StrCat(segment_index_bytes)},
      {"index.interval.bytes", absl::StrCat(index_interval_bytes)},
      {"retention.ms", absl::StrCat(retention_ms)},
      {"retention.bytes", absl::StrCat(retention_bytes)},
      {"cleanup.policy", std::string(PolicyName(cleanup_policy))},
      {"min.compaction.lag.ms", absl::StrCat(min_compaction_lag_ms)},
      {"max.compaction.lag.ms", absl::StrCat(max_compaction_lag_ms)},
      {"delete.retention.ms", absl::StrCat(delete_retention_ms)},
      {"min.cleanable.dirty.ratio", absl::StrCat(min_cleanable_dirty_ratio)},
      {"flush.messages", absl::StrCat(flush_messages)},
      {"flush.ms", absl::StrCat(flush_ms)},
      {"max.message.bytes", absl::StrCat(max_message_bytes)},
      {"message.timestamp.type",
       message_timestamp_type == TimestampType::kLogAppendTime ? "LogAppendTime" : "CreateTime"},
      {"file.delete.delay.ms", absl::StrCat(file_delete_delay_ms)},
  };
}

}  // namespace runnel::storage
