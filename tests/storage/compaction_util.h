// Helpers for the compaction tests: appending keyed batches while recording
// them in a reference model, reading the log back with keys, and checking
// what a cleaning pass must guarantee against that model.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runnel/protocol/record_batch.h"
#include "storage/log_cleaner.h"
#include "storage/log_impl.h"
#include "test_util.h"

namespace runnel::storage::testing {

struct KV {
  std::optional<std::string> key;
  std::optional<std::string> value;  // nullopt: a tombstone
};

struct Rec {
  int64_t offset = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  int64_t timestamp = 0;
  friend bool operator==(const Rec&, const Rec&) = default;
};

inline protocol::NullableBytes Bytes(const std::optional<std::string>& s) {
  return s.has_value() ? protocol::NullableBytes(*s) : protocol::NullableBytes();
}

struct BatchSpec {
  protocol::CompressionType compression = protocol::CompressionType::kNone;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  bool transactional = false;
  bool control = false;
};

// Every record appended, by offset: what the log held before any cleaning.
class Model {
 public:
  // Appends one batch of `records` with timestamp `ts` to `log` and records
  // it; returns the base offset.
  int64_t Append(Log& log, const std::vector<KV>& records, int64_t ts, const BatchSpec& spec = {}) {
    protocol::RecordBatchBuilder builder({.compression = spec.compression,
                                          .producer_id = spec.producer_id,
                                          .producer_epoch = spec.producer_epoch,
                                          .base_sequence = spec.base_sequence,
                                          .transactional = spec.transactional,
                                          .control = spec.control});
    for (const KV& kv : records) REQUIRE(builder.Append(ts, Bytes(kv.key), Bytes(kv.value)).ok());
    REQUIRE(builder.Finish().ok());
    ByteBuffer batch = builder.TakeBuffer();
    absl::StatusOr<AppendResult> r = log.Append(Span(batch));
    REQUIRE(r.ok());
    for (size_t i = 0; i < records.size(); ++i) {
      const int64_t offset = r->base_offset + static_cast<int64_t>(i);
      all_[offset] = Rec{offset, records[i].key, records[i].value, ts};
    }
    return r->base_offset;
  }

  // Records a record appended elsewhere (another thread).
  void Add(const Rec& r) { all_[r.offset] = r; }

  const std::map<int64_t, Rec>& all() const { return all_; }

  // The newest record of each key.
  std::map<std::string, Rec> Latest() const {
    std::map<std::string, Rec> latest;
    for (const auto& [offset, r] : all_) {
      if (r.key.has_value()) latest[*r.key] = r;
    }
    return latest;
  }

 private:
  std::map<int64_t, Rec> all_;
};

// Every record in the log, with keys, read through Log::Read; `batches`
// (optional) receives every batch header, empty ones included.
inline std::vector<Rec> ReadRecords(const Log& log,
                                    std::vector<protocol::RecordBatchHeader>* batches = nullptr) {
  std::vector<Rec> out;
  int64_t offset = log.log_start_offset();
  int64_t last_batch_end = -1;
  while (offset < log.log_end_offset()) {
    absl::StatusOr<ReadResult> r = log.Read(offset, {.max_bytes = 1 << 16});
    REQUIRE(r.ok());
    if (r->bytes.empty()) break;
    protocol::RecordBatchReader reader(r->bytes.span());
    while (reader.NextBatch()) {
      if (reader.header().last_offset() < last_batch_end) continue;  // seen already
      last_batch_end = reader.header().last_offset() + 1;
      if (batches != nullptr) batches->push_back(reader.header());
      while (reader.NextRecord()) {
        const protocol::Record& rec = reader.record();
        if (rec.offset < offset) continue;
        out.push_back(
            Rec{rec.offset,
                rec.key.is_null() ? std::nullopt : std::optional(std::string(rec.key.str())),
                rec.value.is_null() ? std::nullopt : std::optional(std::string(rec.value.str())),
                rec.timestamp});
      }
    }
    REQUIRE(reader.status().ok());
    REQUIRE(r->next_offset > offset);
    offset = r->next_offset;
  }
  return out;
}

// What a pass that cleaned up to `next_dirty` at time `now` guarantees:
//   - every record left is the one appended at its offset, offsets increase;
//   - below next_dirty no key has a record older than its newest one there;
//   - the newest record of every key is there, unless it is a tombstone
//     at least delete.retention.ms old;
//   - keyed non-tombstone records at or above next_dirty are all there.
inline void CheckCleaned(const Model& model, const std::vector<Rec>& seen, int64_t next_dirty,
                         int64_t now, int64_t delete_retention_ms) {
  std::map<int64_t, const Rec*> present;
  int64_t prev = -1;
  for (const Rec& r : seen) {
    REQUIRE(r.offset > prev);
    prev = r.offset;
    auto it = model.all().find(r.offset);
    REQUIRE(it != model.all().end());
    REQUIRE(it->second == r);
    present[r.offset] = &r;
  }
  // The newest offset of each key below next_dirty.
  std::map<std::string, int64_t> newest_below;
  for (const auto& [offset, r] : model.all()) {
    if (offset < next_dirty && r.key.has_value()) newest_below[*r.key] = offset;
  }
  for (const Rec& r : seen) {
    if (r.offset >= next_dirty) break;
    REQUIRE(r.key.has_value());  // keyless records do not survive cleaning
    INFO("key " << *r.key << " at " << r.offset);
    REQUIRE(newest_below.at(*r.key) == r.offset);
  }
  for (const auto& [key, r] : model.Latest()) {
    // A tombstone goes no sooner than delete.retention.ms after it was
    // written (its horizon counts from the pass that first saw it).
    if (!r.value.has_value() && now - r.timestamp >= delete_retention_ms) continue;
    INFO("newest record of " << key << " at " << r.offset);
    REQUIRE(present.contains(r.offset));
  }
  for (auto it = model.all().lower_bound(next_dirty); it != model.all().end(); ++it) {
    if (!it->second.key.has_value() || !it->second.value.has_value()) continue;
    INFO("dirty record at " << it->first);
    REQUIRE(present.contains(it->first));
  }
}

// After a complete clean with every tombstone expired: exactly the newest
// value of each key whose newest record is not a tombstone.
inline void CheckFullyCompacted(const Model& model, const std::vector<Rec>& seen) {
  std::map<std::string, std::string> expected;
  for (const auto& [key, r] : model.Latest()) {
    if (r.value.has_value()) expected[key] = *r.value;
  }
  std::map<std::string, std::string> got;
  for (const Rec& r : seen) {
    REQUIRE(r.key.has_value());
    REQUIRE(r.value.has_value());
    REQUIRE(got.emplace(*r.key, *r.value).second);  // one record a key
  }
  REQUIRE(got == expected);
}

// The setup most compaction tests share: a compacted log with 4 KiB
// segments and delete.retention.ms = kRetention.
inline constexpr int64_t kRetention = 60'000;  // delete.retention.ms in these tests
inline const TopicPartition kTp{"t", 0};

inline LogOptions Compacted() {
  LogOptions o;
  o.cleanup_policy = CleanupPolicy::kCompact;
  o.segment_bytes = 4096;
  o.index_interval_bytes = 256;
  o.delete_retention_ms = kRetention;
  o.file_delete_delay_ms = 0;
  return o;
}

inline std::unique_ptr<LogImpl> OpenLog(const std::string& dir, const LogOptions& o,
                                        const Clock* clock) {
  absl::StatusOr<std::unique_ptr<LogImpl>> log =
      LogImpl::OpenImpl({.dir = dir, .log = o, .clock = clock});
  INFO(log.status().ToString());
  REQUIRE(log.ok());
  return *std::move(log);
}

inline CleanStats MustClean(LogCleaner& cleaner, LogImpl& log) {
  absl::StatusOr<CleanStats> stats = cleaner.Clean(kTp, log);
  INFO(stats.status().ToString());
  REQUIRE(stats.ok());
  return *stats;
}

}  // namespace runnel::storage::testing
