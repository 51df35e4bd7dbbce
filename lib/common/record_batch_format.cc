#include "common/record_batch_format.h"

#include "absl/strings/str_format.h"
#include "common/crc32c.h"
#include "runnel/common/endian.h"

namespace runnel::record_batch {

BatchHeader ParseBatchHeader(const uint8_t* p) {
  BatchHeader h;
  h.base_offset = LoadBigEndian<int64_t>(p + kBaseOffsetOffset);
  h.batch_length = LoadBigEndian<int32_t>(p + kBatchLengthOffset);
  h.partition_leader_epoch = LoadBigEndian<int32_t>(p + kPartitionLeaderEpochOffset);
  h.magic = LoadBigEndian<int8_t>(p + kMagicOffset);
  h.crc = LoadBigEndian<uint32_t>(p + kCrcOffset);
  h.attributes = LoadBigEndian<int16_t>(p + kAttributesOffset);
  h.last_offset_delta = LoadBigEndian<int32_t>(p + kLastOffsetDeltaOffset);
  h.base_timestamp = LoadBigEndian<int64_t>(p + kBaseTimestampOffset);
  h.max_timestamp = LoadBigEndian<int64_t>(p + kMaxTimestampOffset);
  h.producer_id = LoadBigEndian<int64_t>(p + kProducerIdOffset);
  h.producer_epoch = LoadBigEndian<int16_t>(p + kProducerEpochOffset);
  h.base_sequence = LoadBigEndian<int32_t>(p + kBaseSequenceOffset);
  h.record_count = LoadBigEndian<int32_t>(p + kRecordCountOffset);
  return h;
}

absl::StatusOr<BatchFrame> FrameBatch(std::span<const uint8_t> bytes, uint64_t position,
                                      size_t max_batch_size) {
  BatchFrame frame;
  if (bytes.size() < kLogOverhead) return frame;
  const int32_t batch_length = LoadBigEndian<int32_t>(bytes.data() + kBatchLengthOffset);
  if (batch_length < kMinBatchLength) {
    return absl::DataLossError(
        absl::StrFormat("record batch at byte %d: batchLength %d is below the minimum %d", position,
                        batch_length, kMinBatchLength));
  }
  frame.size = kLogOverhead + static_cast<size_t>(batch_length);
  if (frame.size > max_batch_size) {
    return absl::DataLossError(
        absl::StrFormat("record batch at byte %d: size %d exceeds the limit of %d bytes", position,
                        frame.size, max_batch_size));
  }
  if (bytes.size() < kHeaderSizeUpToMagic) return frame;
  const int8_t magic = static_cast<int8_t>(bytes[kMagicOffset]);
  if (magic != kMagicV2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "record batch at byte %d: magic %d is not supported (only record batch v2, magic 2)",
        position, magic));
  }
  frame.complete = bytes.size() >= frame.size;
  return frame;
}

absl::Status ValidateBatch(std::span<const uint8_t> batch, uint64_t position, bool check_crc) {
  if (batch.size() < kHeaderSize) {
    return absl::DataLossError(
        absl::StrFormat("record batch at byte %d: %d bytes is shorter than the %d-byte header",
                        position, batch.size(), kHeaderSize));
  }
  const int32_t batch_length = LoadBigEndian<int32_t>(batch.data() + kBatchLengthOffset);
  if (batch_length < kMinBatchLength ||
      kLogOverhead + static_cast<size_t>(batch_length) != batch.size()) {
    return absl::DataLossError(absl::StrFormat(
        "record batch at byte %d: batchLength %d does not match the batch size %d (expected %d)",
        position, batch_length, batch.size(), batch.size() - kLogOverhead));
  }
  const int8_t magic = static_cast<int8_t>(batch[kMagicOffset]);
  if (magic != kMagicV2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "record batch at byte %d: magic %d is not supported (only record batch v2, magic 2)",
        position, magic));
  }
  if (!check_crc) return absl::OkStatus();
  const uint32_t stored = LoadBigEndian<uint32_t>(batch.data() + kCrcOffset);
  const uint32_t computed = ComputeBatchCrc(batch);
  if (stored != computed) {
    return absl::DataLossError(absl::StrFormat(
        "record batch at byte %d: CRC-32C mismatch (stored 0x%08x, computed 0x%08x over %d bytes)",
        position, stored, computed, batch.size() - kAttributesOffset));
  }
  return absl::OkStatus();
}

uint32_t ComputeBatchCrc(std::span<const uint8_t> batch) {
  return Crc32c(batch.data() + kAttributesOffset, batch.size() - kAttributesOffset);
}

}  // namespace runnel::record_batch
