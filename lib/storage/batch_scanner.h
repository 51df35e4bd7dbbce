// Walks the record batch headers of a segment file without reading the
// records, for offset lookups, reads and loading a segment's tail.
//
// The scanner reads the file in chunks (kChunkBytes) and parses headers out
// of them, so scanning many small batches costs one pread a chunk, while a
// large batch is skipped over without reading its body; after a batch of a
// quarter chunk or more it reads only the next header (a chunk would hold
// few of them, and reading it would read most of the data). It trusts framing
// only as far as FrameBatch checks it: a header that is malformed or runs
// past `end` stops the scan with the reason (DataLoss naming file and byte);
// CRCs are the recovery's job (segment_recovery.cc).
//
// Not thread-safe; one per scan. Any number may scan one file at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runnel/common/byte_buffer.h"

namespace runnel::storage {

// The fields of one batch header the storage engine needs.
struct BatchInfo {
  int64_t position = 0;  // byte position in the file
  int64_t size = 0;      // whole batch, header included
  int64_t base_offset = 0;
  int64_t last_offset = 0;
  int64_t max_timestamp = -1;
  int32_t record_count = 0;
  int32_t leader_epoch = -1;
  int16_t attributes = 0;
  int64_t producer_id = -1;

  int64_t next_position() const { return position + size; }
};

// Decodes the header at `p` (kHeaderSize bytes) sitting at `position`.
BatchInfo DecodeBatchInfo(const uint8_t* p, int64_t position);

class BatchScanner {
 public:
  static constexpr int64_t kChunkBytes = 16 * 1024;

  // Scans [start, end) of `fd`; `path` names the file in errors.
  BatchScanner(int fd, absl::string_view path, int64_t start, int64_t end);

  // The next batch, nullopt at `end`. A batch whose header or body would run
  // past `end` is DataLoss naming the file and position.
  absl::StatusOr<std::optional<BatchInfo>> Next();

  // Where the next batch starts.
  int64_t position() const { return pos_; }

 private:
  int fd_;
  std::string path_;
  int64_t pos_;
  int64_t end_;
  ByteBuffer chunk_;
  int64_t chunk_start_ = 0;  // file position of chunk_[0]
  int64_t last_size_ = 0;    // of the batch Next() returned last
};

}  // namespace runnel::storage
