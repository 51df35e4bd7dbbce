// Helpers shared by the storage tests: a temporary directory, a clock the
// test moves by hand, and record batches built with the records layer.
#pragma once

#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "runnel/common/byte_buffer.h"
#include "runnel/log.h"
#include "runnel/protocol/record_batch.h"
#include "tests/temp_dir.h"

namespace runnel::storage::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
using runnel::testing::TempDir;

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now_ms = 1'700'000'000'000) : now_(now_ms) {}
  int64_t NowMs() const override { return now_.load(); }
  void Advance(int64_t ms) { now_.fetch_add(ms); }
  void Set(int64_t ms) { now_.store(ms); }

 private:
  std::atomic<int64_t> now_;
};

// One uncompressed batch of `count` records with values "v<i>" padded to
// `value_bytes`, timestamps `timestamp` + i.
inline ByteBuffer MakeBatch(int count, int64_t timestamp, size_t value_bytes = 16,
                            const std::string& key_prefix = "k") {
  protocol::RecordBatchBuilder builder;
  for (int i = 0; i < count; ++i) {
    std::string key = key_prefix + std::to_string(i);
    std::string value = "v" + std::to_string(i);
    value.resize(std::max(value.size(), value_bytes), '.');
    (void)builder.Append(timestamp + i, key, value);
  }
  (void)builder.Finish();
  return builder.TakeBuffer();
}

inline std::span<uint8_t> Span(ByteBuffer& b) { return {b.data(), b.size()}; }

// What a reader found: offset and timestamp of every record, in order.
struct SeenRecord {
  int64_t offset;
  int64_t timestamp;
  std::string value;
};

// Reads the whole log from its start with Read() and decodes every record.
inline std::vector<SeenRecord> ReadAll(const Log& log, int64_t max_bytes = 1 << 16) {
  std::vector<SeenRecord> out;
  int64_t offset = log.log_start_offset();
  while (offset < log.log_end_offset()) {
    absl::StatusOr<ReadResult> r = log.Read(offset, {.max_bytes = max_bytes});
    if (!r.ok() || r->bytes.empty()) break;
    protocol::RecordBatchReader reader(r->bytes.span());
    while (reader.NextBatch()) {
      while (reader.NextRecord()) {
        const protocol::Record& rec = reader.record();
        if (rec.offset >= offset) {
          out.push_back({rec.offset, rec.timestamp, std::string(rec.value.str())});
        }
      }
    }
    if (!reader.status().ok()) break;
    offset = r->next_offset;
  }
  return out;
}

}  // namespace runnel::storage::testing
