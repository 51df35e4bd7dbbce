// The cleaner's batch-level tools: reading a segment's batches in bounded
// chunks, and filtering one batch's records while preserving offsets.
//
// FilterBatch follows Kafka's MemoryRecords.filterTo for magic v2:
//   - a batch whose records all stay is copied byte for byte, unless it
//     needs a delete horizon;
//   - a batch losing some records is rebuilt with the kept records at their
//     original offsets, the same codec, producer fields, control and
//     transactional bits, leader epoch and base timestamp, and the ORIGINAL
//     lastOffsetDelta (so the producer's last sequence, baseSequence +
//     lastOffsetDelta, survives compaction);
//   - a batch losing every record disappears, unless the caller asks to
//     retain it (the last batch of a producer): then an empty batch, the
//     header alone with recordCount 0, keeps the producer's state;
//   - KIP-534: a batch that keeps a tombstone, or a marker the caller says
//     may go, and has no delete horizon yet is rebuilt with the horizon
//     flag (attributes 0x40) and the horizon in baseTimestamp (record
//     timestamps stay: their deltas are taken from the new base). The
//     horizon then travels with the batch, across passes and restarts.
// Which records stay is the caller's: FilterOptions::discard_all for aborted
// data and expired markers, the KeepRecord callback for data otherwise;
// control records are otherwise all kept.
//
// Thread-compatible; the cleaner thread uses them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/protocol/record_batch.h"
#include "storage/segment.h"

namespace runnel::storage {

// Reads [start, end) of a segment as runs of whole batches, at most
// `chunk_bytes` at a time unless one batch alone is larger.
class SegmentBatchChunks {
 public:
  SegmentBatchChunks(std::shared_ptr<Segment> segment, int64_t start, int64_t end,
                     int64_t chunk_bytes = 1 << 20);

  // The next run of whole batches; empty at the end. `position()` gives the
  // file position of its first byte. DataLoss for a torn or foreign batch.
  absl::StatusOr<std::span<const uint8_t>> Next();
  int64_t position() const { return chunk_position_; }

 private:
  std::shared_ptr<Segment> segment_;
  int64_t pos_;
  const int64_t end_;
  const int64_t chunk_bytes_;
  int64_t chunk_position_ = 0;
  ByteBuffer buffer_;
};

enum class BatchFate : uint8_t {
  kKeepWhole,  // every record stays (or a control batch): copy the bytes
  kRewrite,    // `bytes` holds the rebuilt (or empty) batch
  kDrop,       // nothing stays
};

struct FilteredBatch {
  BatchFate fate = BatchFate::kKeepWhole;
  ByteBuffer bytes;  // kRewrite only
  int32_t records_kept = 0;
  int32_t records_dropped = 0;
  int64_t max_timestamp = -1;  // of what is written
};

// Decides, for each record of a data batch, whether it stays.
using KeepRecord = std::function<bool(const protocol::Record&)>;

struct FilterOptions {
  // Keep an empty batch when no record stays.
  bool retain_if_empty = false;
  // No record stays (aborted data; a marker past its delete horizon).
  bool discard_all = false;
  // The delete horizon to stamp on a batch without one that keeps a
  // tombstone (data) or any record (control: the caller passes it only for
  // markers that may go). nullopt stamps nothing.
  std::optional<int64_t> delete_horizon;
};

// Filters the current batch of `reader` (NextBatch returned true, no record
// read yet).
absl::StatusOr<FilteredBatch> FilterBatch(protocol::RecordBatchReader& reader,
                                          const KeepRecord& keep, const FilterOptions& options);

// The delete horizon a batch carries (KIP-534), nullopt when none.
std::optional<int64_t> DeleteHorizonOf(const protocol::RecordBatchHeader& header);

// The header-only batch (recordCount 0, no payload, no codec) that stands for
// `header` once all its records are gone.
ByteBuffer MakeEmptyBatch(const protocol::RecordBatchHeader& header);

}  // namespace runnel::storage
