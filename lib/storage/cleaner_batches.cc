#include "storage/cleaner_batches.h"

#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "common/record_batch_format.h"
#include "runnel/common/endian.h"
#include "runnel/common/status_macros.h"

namespace runnel::storage {
namespace {

namespace rb = runnel::record_batch;

// Writes lastOffsetDelta and the attribute bits the builder does not know
// about (the delete horizon flag) into a finished batch, then recomputes its
// CRC (both are covered).
void PatchRebuiltBatch(ByteBuffer& batch, const protocol::RecordBatchHeader& original,
                       bool delete_horizon) {
  uint8_t* h = batch.data();
  StoreBigEndian<int32_t>(h + rb::kLastOffsetDeltaOffset, original.last_offset_delta);
  int16_t attributes = LoadBigEndian<int16_t>(h + rb::kAttributesOffset);
  if (delete_horizon) attributes = static_cast<int16_t>(attributes | rb::kDeleteHorizonBit);
  StoreBigEndian<int16_t>(h + rb::kAttributesOffset, attributes);
  StoreBigEndian<uint32_t>(h + rb::kCrcOffset, rb::ComputeBatchCrc(batch.span()));
}

}  // namespace

SegmentBatchChunks::SegmentBatchChunks(std::shared_ptr<Segment> segment, int64_t start, int64_t end,
                                       int64_t chunk_bytes)
    : segment_(std::move(segment)), pos_(start), end_(end), chunk_bytes_(chunk_bytes) {}

absl::StatusOr<std::span<const uint8_t>> SegmentBatchChunks::Next() {
  buffer_.Clear();
  chunk_position_ = pos_;
  if (pos_ >= end_) return std::span<const uint8_t>();
  int64_t want = std::min(chunk_bytes_, end_ - pos_);
  if (want < static_cast<int64_t>(rb::kHeaderSizeUpToMagic)) {
    return absl::DataLossError(
        absl::StrCat(segment_->log_path(), ": ", want, " stray bytes at byte ", pos_));
  }
  RUNNEL_RETURN_IF_ERROR(segment_->ReadBytes(pos_, want, buffer_));
  // Keep only whole batches; a first batch larger than the chunk is read
  // alone, whole.
  size_t whole = 0;
  while (whole < buffer_.size()) {
    RUNNEL_ASSIGN_OR_RETURN(
        rb::BatchFrame frame,
        rb::FrameBatch(buffer_.span().subspan(whole), static_cast<uint64_t>(pos_) + whole));
    if (frame.size == 0 || !frame.complete) {
      if (whole > 0) break;
      const int64_t size = static_cast<int64_t>(frame.size);
      if (size == 0 || pos_ + size > end_) {
        return absl::DataLossError(
            absl::StrCat(segment_->log_path(), ": batch at byte ", pos_, " runs past byte ", end_));
      }
      buffer_.Clear();
      RUNNEL_RETURN_IF_ERROR(segment_->ReadBytes(pos_, size, buffer_));
      whole = buffer_.size();
      break;
    }
    whole += frame.size;
  }
  buffer_.Truncate(whole);
  pos_ += static_cast<int64_t>(whole);
  return buffer_.span();
}

ByteBuffer MakeEmptyBatch(const protocol::RecordBatchHeader& header) {
  ByteBuffer out;
  uint8_t* h = out.AppendUninitialized(rb::kHeaderSize);
  StoreBigEndian<int64_t>(h + rb::kBaseOffsetOffset, header.base_offset);
  StoreBigEndian<int32_t>(h + rb::kBatchLengthOffset, rb::kMinBatchLength);
  StoreBigEndian<int32_t>(h + rb::kPartitionLeaderEpochOffset, header.partition_leader_epoch);
  h[rb::kMagicOffset] = static_cast<uint8_t>(rb::kMagicV2);
  // No records, no horizon: baseTimestamp below is the max timestamp.
  StoreBigEndian<int16_t>(
      h + rb::kAttributesOffset,
      static_cast<int16_t>(header.attributes & ~(rb::kCompressionMask | rb::kDeleteHorizonBit)));
  StoreBigEndian<int32_t>(h + rb::kLastOffsetDeltaOffset, header.last_offset_delta);
  // As Kafka's writeEmptyHeader: both timestamps are the batch's max.
  StoreBigEndian<int64_t>(h + rb::kBaseTimestampOffset, header.max_timestamp);
  StoreBigEndian<int64_t>(h + rb::kMaxTimestampOffset, header.max_timestamp);
  StoreBigEndian<int64_t>(h + rb::kProducerIdOffset, header.producer_id);
  StoreBigEndian<int16_t>(h + rb::kProducerEpochOffset, header.producer_epoch);
  StoreBigEndian<int32_t>(h + rb::kBaseSequenceOffset, header.base_sequence);
  StoreBigEndian<int32_t>(h + rb::kRecordCountOffset, 0);
  StoreBigEndian<uint32_t>(h + rb::kCrcOffset, rb::ComputeBatchCrc(out.span()));
  return out;
}

std::optional<int64_t> DeleteHorizonOf(const protocol::RecordBatchHeader& header) {
  if ((header.attributes & rb::kDeleteHorizonBit) == 0) return std::nullopt;
  return header.base_timestamp;
}

absl::StatusOr<FilteredBatch> FilterBatch(protocol::RecordBatchReader& reader,
                                          const KeepRecord& keep, const FilterOptions& fo) {
  const protocol::RecordBatchHeader header = reader.header();
  FilteredBatch result;
  // Kept records point into the input (uncompressed) or into the reader's
  // buffer (compressed); both stay valid until the next NextBatch.
  std::vector<protocol::Record> kept;
  kept.reserve(static_cast<size_t>(std::max(header.record_count, 0)));
  bool tombstone_kept = false;
  while (reader.NextRecord()) {
    const protocol::Record& r = reader.record();
    if (!fo.discard_all && (header.is_control() || keep(r))) {
      kept.push_back(r);
      tombstone_kept |= r.value.is_null();
    } else {
      ++result.records_dropped;
    }
  }
  RUNNEL_RETURN_IF_ERROR(reader.status());
  result.records_kept = static_cast<int32_t>(kept.size());
  const bool stamp = fo.delete_horizon.has_value() && !DeleteHorizonOf(header).has_value() &&
                     !kept.empty() && (header.is_control() || tombstone_kept);
  if (kept.empty() && result.records_dropped == 0 && !fo.retain_if_empty) {
    // An empty batch no longer needed (Kafka's DELETE_EMPTY).
    result.fate = BatchFate::kDrop;
    return result;
  }
  if (result.records_dropped == 0 && !stamp) {
    result.max_timestamp = header.max_timestamp;
    return result;
  }
  if (kept.empty()) {
    if (!fo.retain_if_empty) {
      result.fate = BatchFate::kDrop;
      return result;
    }
    result.fate = BatchFate::kRewrite;
    result.bytes = MakeEmptyBatch(header);
    result.max_timestamp = header.max_timestamp;
    return result;
  }

  protocol::RecordBatchBuilderOptions options;
  options.base_offset = header.base_offset;
  options.compression = header.compression();
  options.timestamp_type = header.timestamp_type();
  options.producer_id = header.producer_id;
  options.producer_epoch = header.producer_epoch;
  options.base_sequence = header.base_sequence;
  options.transactional = header.is_transactional();
  options.control = header.is_control();
  options.partition_leader_epoch = header.partition_leader_epoch;
  options.base_timestamp = stamp ? *fo.delete_horizon : header.base_timestamp;
  protocol::RecordBatchBuilder builder(options);
  absl::InlinedVector<protocol::RecordHeader, 8> headers;
  for (const protocol::Record& r : kept) {
    headers.assign(r.headers.begin(), r.headers.end());
    RUNNEL_RETURN_IF_ERROR(builder.AppendWithOffset(
        r.offset, r.timestamp, r.key, r.value,
        std::span<const protocol::RecordHeader>(headers.data(), headers.size())));
    result.max_timestamp = std::max(result.max_timestamp, r.timestamp);
  }
  RUNNEL_RETURN_IF_ERROR(builder.Finish().status());
  result.bytes = builder.TakeBuffer();
  PatchRebuiltBatch(result.bytes, header, stamp || DeleteHorizonOf(header).has_value());
  result.fate = BatchFate::kRewrite;
  return result;
}

}  // namespace runnel::storage
