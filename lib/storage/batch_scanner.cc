#include "storage/batch_scanner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/record_batch_format.h"
#include "runnel/common/endian.h"
#include "runnel/common/status_macros.h"
#include "storage/file_util.h"

namespace runnel::storage {

namespace rb = runnel::record_batch;

BatchInfo DecodeBatchInfo(const uint8_t* p, int64_t position) {
  BatchInfo b;
  b.position = position;
  b.size =
      static_cast<int64_t>(rb::kLogOverhead) + LoadBigEndian<int32_t>(p + rb::kBatchLengthOffset);
  b.base_offset = LoadBigEndian<int64_t>(p + rb::kBaseOffsetOffset);
  b.last_offset = b.base_offset + LoadBigEndian<int32_t>(p + rb::kLastOffsetDeltaOffset);
  b.max_timestamp = LoadBigEndian<int64_t>(p + rb::kMaxTimestampOffset);
  b.record_count = LoadBigEndian<int32_t>(p + rb::kRecordCountOffset);
  b.leader_epoch = LoadBigEndian<int32_t>(p + rb::kPartitionLeaderEpochOffset);
  b.attributes = LoadBigEndian<int16_t>(p + rb::kAttributesOffset);
  b.producer_id = LoadBigEndian<int64_t>(p + rb::kProducerIdOffset);
  return b;
}

BatchScanner::BatchScanner(int fd, absl::string_view path, int64_t start, int64_t end)
    : fd_(fd), path_(path), pos_(start), end_(end) {}

absl::StatusOr<std::optional<BatchInfo>> BatchScanner::Next() {
  if (pos_ >= end_) return std::nullopt;
  const int64_t header = static_cast<int64_t>(rb::kHeaderSize);
  if (end_ - pos_ < header) {
    return absl::DataLossError(absl::StrCat(path_, ": partial batch header at byte ", pos_, " (",
                                            end_ - pos_, " bytes left)"));
  }
  if (pos_ < chunk_start_ || pos_ + header > chunk_start_ + static_cast<int64_t>(chunk_.size())) {
    // After a batch of a quarter chunk or more, the next is likely as large:
    // a chunk would hold few headers, so only the header is read.
    const int64_t want =
        std::min(last_size_ >= kChunkBytes / 4 ? header : kChunkBytes, end_ - pos_);
    chunk_.ResizeUninitialized(static_cast<size_t>(want));
    RUNNEL_ASSIGN_OR_RETURN(size_t got, PreadUpTo(fd_, chunk_.data(), chunk_.size(), pos_, path_));
    chunk_.Truncate(got);
    chunk_start_ = pos_;
    if (static_cast<int64_t>(got) < header) {
      return absl::DataLossError(
          absl::StrCat(path_, ": file ends inside the batch header at byte ", pos_));
    }
  }
  const uint8_t* p = chunk_.data() + (pos_ - chunk_start_);
  absl::StatusOr<rb::BatchFrame> frame =
      rb::FrameBatch({p, rb::kHeaderSize}, static_cast<uint64_t>(pos_));
  if (!frame.ok()) {
    return absl::DataLossError(absl::StrCat(path_, ": ", frame.status().message()));
  }
  BatchInfo b = DecodeBatchInfo(p, pos_);
  if (b.size < header || pos_ + b.size > end_) {
    return absl::DataLossError(absl::StrCat(path_, ": batch at byte ", pos_, " of ", b.size,
                                            " bytes runs past the end (byte ", end_, ")"));
  }
  pos_ += b.size;
  last_size_ = b.size;
  return b;
}

}  // namespace runnel::storage
