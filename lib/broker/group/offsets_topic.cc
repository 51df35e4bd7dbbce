#include "broker/group/offsets_topic.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "runnel/protocol/record_batch.h"

namespace runnel::broker::group {
namespace {

// Decodes one code point; returns U+FFFD and consumes one byte when the
// sequence is invalid (overlong, surrogate, truncated or out of range).
uint32_t NextCodePoint(std::string_view s, size_t* i) {
  const auto b0 = static_cast<uint8_t>(s[*i]);
  int len = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if (b0 < 0x80) {
    ++*i;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++*i;
    return 0xFFFD;
  }
  if (*i + len > s.size()) {
    ++*i;
    return 0xFFFD;
  }
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<uint8_t>(s[*i + k]);
    if ((b & 0xC0) != 0x80) {
      ++*i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++*i;
    return 0xFFFD;
  }
  *i += len;
  return cp;
}

}  // namespace

int32_t JavaStringHashCode(std::string_view utf8) {
  // Java's int arithmetic wraps; uint32_t does the same without UB.
  uint32_t h = 0;
  size_t i = 0;
  while (i < utf8.size()) {
    const uint32_t cp = NextCodePoint(utf8, &i);
    if (cp >= 0x10000) {  // a surrogate pair in UTF-16
      h = 31 * h + (0xD800 + ((cp - 0x10000) >> 10));
      h = 31 * h + (0xDC00 + ((cp - 0x10000) & 0x3FF));
    } else {
      h = 31 * h + cp;
    }
  }
  return static_cast<int32_t>(h);
}

int32_t OffsetsPartitionFor(std::string_view group_id, int32_t num_partitions) {
  const int32_t h = JavaStringHashCode(group_id);
  // Utils.abs: Integer.MIN_VALUE maps to 0, not to itself.
  const int32_t abs = h == INT32_MIN ? 0 : (h < 0 ? -h : h);
  return abs % num_partitions;
}

OffsetsTopic::OffsetsTopic(storage::LogManager* logs, const OffsetsTopicOptions& options)
    : logs_(logs), options_(options), cache_(static_cast<size_t>(options.num_partitions)) {}

absl::StatusOr<std::shared_ptr<storage::Log>> OffsetsTopic::LogFor(int32_t partition) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<storage::Log>& log = cache_[static_cast<size_t>(partition)];
  if (log != nullptr) return log;
  const storage::TopicPartition tp{std::string(kOffsetsTopicName), partition};
  log = logs_->GetLog(tp);
  if (log != nullptr) return log;
  storage::LogOptions opts;
  opts.cleanup_policy = storage::CleanupPolicy::kCompact;
  opts.segment_bytes = options_.segment_bytes;
  absl::StatusOr<std::shared_ptr<storage::Log>> created = logs_->GetOrCreateLog(tp, opts);
  if (!created.ok()) return created.status();
  log = *created;
  return log;
}

absl::Status OffsetsTopic::CreateAll() {
  for (int32_t p = 0; p < options_.num_partitions; ++p) {
    absl::StatusOr<std::shared_ptr<storage::Log>> log = LogFor(p);
    if (!log.ok()) return log.status();
  }
  return absl::OkStatus();
}

absl::Status OffsetsTopic::Append(int32_t partition, std::span<const OffsetsRecord> records,
                                  int64_t timestamp_ms) {
  if (partition < 0 || partition >= options_.num_partitions) {
    return absl::InvalidArgumentError(absl::StrCat("offsets partition ", partition));
  }
  absl::StatusOr<std::shared_ptr<storage::Log>> log = LogFor(partition);
  if (!log.ok()) return log.status();
  std::vector<storage::Record> batch;
  batch.reserve(records.size());
  for (const OffsetsRecord& r : records) {
    storage::Record rec;
    rec.key = r.key;
    if (r.value.has_value()) rec.value = std::string_view(*r.value);
    rec.timestamp_ms = timestamp_ms;
    batch.push_back(rec);
  }
  absl::StatusOr<storage::AppendResult> appended = (*log)->AppendRecords(batch);
  if (!appended.ok()) return appended.status();
  if (options_.on_append) options_.on_append(partition, appended->last_offset + 1);
  return absl::OkStatus();
}

absl::Status OffsetsTopic::Replay(int32_t partition, const Visitor& visit) const {
  const storage::TopicPartition tp{std::string(kOffsetsTopicName), partition};
  std::shared_ptr<storage::Log> log = logs_->GetLog(tp);
  if (log == nullptr) return absl::OkStatus();
  int64_t offset = log->log_start_offset();
  const int64_t end = log->log_end_offset();
  while (offset < end) {
    absl::StatusOr<storage::ReadResult> read = log->Read(offset, {.max_bytes = 1 << 20});
    if (!read.ok()) return read.status();
    if (read->bytes.empty()) break;
    protocol::RecordBatchReader reader(read->bytes.span());
    while (reader.NextBatch()) {
      // Transaction markers carry no group data.
      if (reader.header().is_control()) continue;
      while (reader.NextRecord()) {
        const protocol::Record& rec = reader.record();
        if (rec.offset < offset || rec.key.is_null()) continue;
        std::optional<std::span<const uint8_t>> value;
        if (!rec.value.is_null()) value = rec.value.span();
        absl::Status s = visit(rec.key.span(), value);
        if (!s.ok()) return s;
      }
    }
    if (!reader.status().ok()) return reader.status();
    if (read->next_offset <= offset) break;
    offset = read->next_offset;
  }
  return absl::OkStatus();
}

}  // namespace runnel::broker::group
