// RecordBatchBuilder and the in-place batch rewrites (offset assignment,
// LogAppendTime) a broker applies to batches it accepts.
#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>

#include "absl/strings/str_format.h"
#include "common/record_batch_format.h"
#include "runnel/common/endian.h"
#include "runnel/common/status_macros.h"
#include "runnel/common/varint.h"
#include "runnel/protocol/record_batch.h"

namespace runnel::protocol {
namespace rb = ::runnel::record_batch;

namespace {

constexpr size_t kInt32Max = static_cast<size_t>(std::numeric_limits<int32_t>::max());
// batchLength is an int32 counting everything after itself.
constexpr size_t kMaxPayload = kInt32Max - (rb::kHeaderSize - rb::kLogOverhead);

// Subtraction and addition with two's-complement wrap-around: Java's long
// arithmetic, which Kafka's deltas follow, without signed-overflow UB.
int64_t WrappingSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}

size_t NullableFieldSize(NullableBytes b) {
  return b.is_null() ? 1 : Varint32Size(static_cast<int32_t>(b.size())) + b.size();
}

uint8_t* WriteNullable(uint8_t* p, NullableBytes b) {
  if (b.is_null()) {
    p += EncodeVarint32(p, -1);
    return p;
  }
  p += EncodeVarint32(p, static_cast<int32_t>(b.size()));
  if (b.size() > 0) std::memcpy(p, b.data(), b.size());
  return p + b.size();
}

// Size of a record without its leading length varint; InvalidArgument when a
// length does not fit Kafka's int32.
absl::StatusOr<size_t> RecordBodySize(int64_t timestamp_delta, int32_t offset_delta,
                                      NullableBytes key, NullableBytes value,
                                      std::span<const RecordHeader> headers) {
  if (key.size() > kInt32Max || value.size() > kInt32Max || headers.size() > kInt32Max) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "record key (%d bytes), value (%d bytes) or header count (%d) exceeds 2^31-1", key.size(),
        value.size(), headers.size()));
  }
  // Sums stay far below SIZE_MAX: every term is under 2^31 and the header
  // loop bails out once the total passes kInt32Max.
  size_t size = 1 /* attributes */ + Varint64Size(timestamp_delta) + Varint32Size(offset_delta) +
                NullableFieldSize(key) + NullableFieldSize(value) +
                Varint32Size(static_cast<int32_t>(headers.size()));
  for (const RecordHeader& h : headers) {
    if (h.key.size() > kInt32Max || h.value.size() > kInt32Max) {
      return absl::InvalidArgumentError("record header key or value exceeds 2^31-1 bytes");
    }
    size += Varint32Size(static_cast<int32_t>(h.key.size())) + h.key.size() +
            NullableFieldSize(h.value);
    if (size > kInt32Max) break;
  }
  if (size > kInt32Max) {
    return absl::InvalidArgumentError(
        absl::StrFormat("record of %d bytes exceeds the 2^31-1 byte limit", size));
  }
  return size;
}

}  // namespace

RecordBatchBuilder::RecordBatchBuilder(const RecordBatchBuilderOptions& options) { Reset(options); }

void RecordBatchBuilder::Reset(const RecordBatchBuilderOptions& options) {
  options_ = options;
  out_.Clear();
  // The header is written in Finish(), once its fields are known.
  out_.AppendUninitialized(rb::kHeaderSize);
  scratch_.Clear();
  record_count_ = 0;
  last_offset_delta_ = -1;
  base_timestamp_ = options.base_timestamp.value_or(0);
  max_timestamp_ = -1;
  finished_ = false;
}

absl::Status RecordBatchBuilder::Append(int64_t timestamp, NullableBytes key, NullableBytes value,
                                        std::span<const RecordHeader> headers) {
  return AppendAt(last_offset_delta_ + 1, timestamp, key, value, headers);
}

absl::Status RecordBatchBuilder::AppendWithOffset(int64_t offset, int64_t timestamp,
                                                  NullableBytes key, NullableBytes value,
                                                  std::span<const RecordHeader> headers) {
  const int64_t delta = WrappingSub(offset, options_.base_offset);
  if (offset < options_.base_offset || delta <= last_offset_delta_) {
    return absl::InvalidArgumentError(
        absl::StrFormat("offset %d must exceed the previous record's offset %d (base offset %d)",
                        offset, options_.base_offset + last_offset_delta_, options_.base_offset));
  }
  return AppendAt(delta, timestamp, key, value, headers);
}

size_t RecordBatchBuilder::RecordSize(int64_t timestamp, NullableBytes key, NullableBytes value,
                                      std::span<const RecordHeader> headers) const {
  const int64_t base =
      (record_count_ == 0 && !options_.base_timestamp) ? timestamp : base_timestamp_;
  const int64_t offset_delta = std::min<int64_t>(last_offset_delta_ + 1, INT32_MAX);
  auto body = RecordBodySize(WrappingSub(timestamp, base), static_cast<int32_t>(offset_delta), key,
                             value, headers);
  if (!body.ok()) return SIZE_MAX;
  return Varint32Size(static_cast<int32_t>(*body)) + *body;
}

absl::Status RecordBatchBuilder::AppendAt(int64_t offset_delta, int64_t timestamp,
                                          NullableBytes key, NullableBytes value,
                                          std::span<const RecordHeader> headers) {
  if (finished_) {
    return absl::FailedPreconditionError("Append after Finish(); call Reset() first");
  }
  if (offset_delta > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("offset delta %d does not fit a batch (int32)", offset_delta));
  }
  const int64_t base =
      (record_count_ == 0 && !options_.base_timestamp) ? timestamp : base_timestamp_;
  const int64_t timestamp_delta = WrappingSub(timestamp, base);
  RUNNEL_ASSIGN_OR_RETURN(
      const size_t body,
      RecordBodySize(timestamp_delta, static_cast<int32_t>(offset_delta), key, value, headers));
  const size_t total = Varint32Size(static_cast<int32_t>(body)) + body;

  const bool compressing = options_.compression != CompressionType::kNone;
  ByteBuffer& dst = compressing ? scratch_ : out_;
  const size_t payload = compressing ? scratch_.size() : out_.size() - rb::kHeaderSize;
  if (total > kMaxPayload - payload) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "record of %d bytes would take the batch past 2^31-1 bytes (payload now %d)", total,
        payload));
  }

  uint8_t* p = dst.AppendUninitialized(total);
  uint8_t* const end = p + total;
  p += EncodeVarint32(p, static_cast<int32_t>(body));
  *p++ = 0;  // record attributes: unused
  p += EncodeVarint64(p, timestamp_delta);
  p += EncodeVarint32(p, static_cast<int32_t>(offset_delta));
  p = WriteNullable(p, key);
  p = WriteNullable(p, value);
  p += EncodeVarint32(p, static_cast<int32_t>(headers.size()));
  for (const RecordHeader& h : headers) {
    p += EncodeVarint32(p, static_cast<int32_t>(h.key.size()));
    if (!h.key.empty()) std::memcpy(p, h.key.data(), h.key.size());
    p += h.key.size();
    p = WriteNullable(p, h.value);
  }
  assert(p == end && "RecordBodySize disagrees with the encoder");
  (void)end;

  if (record_count_ == 0) {
    base_timestamp_ = base;
    max_timestamp_ = timestamp;
  } else {
    max_timestamp_ = std::max(max_timestamp_, timestamp);
  }
  ++record_count_;
  last_offset_delta_ = offset_delta;
  return absl::OkStatus();
}

size_t RecordBatchBuilder::EstimatedSize() const {
  return options_.compression == CompressionType::kNone ? out_.size()
                                                        : rb::kHeaderSize + scratch_.size();
}

absl::StatusOr<std::span<const uint8_t>> RecordBatchBuilder::Finish() {
  if (finished_) return absl::FailedPreconditionError("Finish() called twice without Reset()");
  if (record_count_ == 0) {
    return absl::FailedPreconditionError("cannot finish a record batch with no records");
  }
  const auto codec = static_cast<int16_t>(options_.compression);
  if (codec < 0 || codec > rb::kMaxCompressionCodec) {
    return absl::InvalidArgumentError(absl::StrFormat("unknown compression type %d", codec));
  }
  if (options_.compression != CompressionType::kNone) {
    out_.Truncate(rb::kHeaderSize);
    RUNNEL_RETURN_IF_ERROR(
        Compress(options_.compression, options_.compression_level, scratch_.span(), out_));
    if (out_.size() - rb::kHeaderSize > kMaxPayload) {
      return absl::InvalidArgumentError("compressed batch exceeds 2^31-1 bytes");
    }
  }

  int16_t attributes = codec;
  if (options_.timestamp_type == TimestampType::kLogAppendTime) attributes |= rb::kTimestampTypeBit;
  if (options_.transactional) attributes |= rb::kTransactionalBit;
  if (options_.control) attributes |= rb::kControlBit;

  uint8_t* h = out_.data();
  StoreBigEndian<int64_t>(h + rb::kBaseOffsetOffset, options_.base_offset);
  StoreBigEndian<int32_t>(h + rb::kBatchLengthOffset,
                          static_cast<int32_t>(out_.size() - rb::kLogOverhead));
  StoreBigEndian<int32_t>(h + rb::kPartitionLeaderEpochOffset, options_.partition_leader_epoch);
  h[rb::kMagicOffset] = static_cast<uint8_t>(rb::kMagicV2);
  StoreBigEndian<int16_t>(h + rb::kAttributesOffset, attributes);
  StoreBigEndian<int32_t>(h + rb::kLastOffsetDeltaOffset, static_cast<int32_t>(last_offset_delta_));
  StoreBigEndian<int64_t>(h + rb::kBaseTimestampOffset, base_timestamp_);
  StoreBigEndian<int64_t>(h + rb::kMaxTimestampOffset, max_timestamp_);
  StoreBigEndian<int64_t>(h + rb::kProducerIdOffset, options_.producer_id);
  StoreBigEndian<int16_t>(h + rb::kProducerEpochOffset, options_.producer_epoch);
  StoreBigEndian<int32_t>(h + rb::kBaseSequenceOffset, options_.base_sequence);
  StoreBigEndian<int32_t>(h + rb::kRecordCountOffset, record_count_);
  StoreBigEndian<uint32_t>(h + rb::kCrcOffset, rb::ComputeBatchCrc(out_.span()));
  finished_ = true;
  return out_.span();
}

absl::Status RecordBatchBuilder::SetProducerState(int64_t producer_id, int16_t producer_epoch,
                                                  int32_t base_sequence) {
  if (finished_) {
    return absl::FailedPreconditionError("SetProducerState after the batch was finished");
  }
  options_.producer_id = producer_id;
  options_.producer_epoch = producer_epoch;
  options_.base_sequence = base_sequence;
  return absl::OkStatus();
}

ByteBuffer RecordBatchBuilder::SwapBuffer(ByteBuffer spare) {
  ByteBuffer taken = std::move(out_);
  out_ = std::move(spare);
  out_.Clear();
  finished_ = true;  // Append fails until Reset() restores the header room
  return taken;
}

ByteBuffer RecordBatchBuilder::TakeBuffer() {
  ByteBuffer taken = std::move(out_);
  out_ = ByteBuffer();
  finished_ = true;  // Append fails until Reset() restores the header room
  return taken;
}

// ---------------------------------------------------------------------------
// In-place rewrites

namespace {

absl::Status CheckWholeBatch(std::span<const uint8_t> batch) {
  if (batch.size() < rb::kHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%d bytes is shorter than a record batch header", batch.size()));
  }
  auto frame = rb::FrameBatch(batch, 0);
  if (!frame.ok()) return frame.status();
  if (frame->size != batch.size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("span of %d bytes is not one whole batch (batchLength says %d)",
                        batch.size(), frame->size));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SetBaseOffset(std::span<uint8_t> batch, int64_t base_offset) {
  RUNNEL_RETURN_IF_ERROR(CheckWholeBatch(batch));
  StoreBigEndian<int64_t>(batch.data() + rb::kBaseOffsetOffset, base_offset);
  return absl::OkStatus();
}

absl::Status SetPartitionLeaderEpoch(std::span<uint8_t> batch, int32_t epoch) {
  RUNNEL_RETURN_IF_ERROR(CheckWholeBatch(batch));
  StoreBigEndian<int32_t>(batch.data() + rb::kPartitionLeaderEpochOffset, epoch);
  return absl::OkStatus();
}

absl::Status SetMaxTimestamp(std::span<uint8_t> batch, TimestampType type, int64_t max_timestamp) {
  // The CRC is checked first: recomputing it over corrupt bytes would make
  // the corruption look valid.
  RUNNEL_RETURN_IF_ERROR(rb::ValidateBatch(batch, 0));
  uint8_t* p = batch.data();
  int16_t attributes = LoadBigEndian<int16_t>(p + rb::kAttributesOffset);
  const int16_t new_attributes = type == TimestampType::kLogAppendTime
                                     ? static_cast<int16_t>(attributes | rb::kTimestampTypeBit)
                                     : static_cast<int16_t>(attributes & ~rb::kTimestampTypeBit);
  if (new_attributes == attributes &&
      LoadBigEndian<int64_t>(p + rb::kMaxTimestampOffset) == max_timestamp) {
    return absl::OkStatus();  // nothing changes: skip the CRC pass
  }
  StoreBigEndian<int16_t>(p + rb::kAttributesOffset, new_attributes);
  StoreBigEndian<int64_t>(p + rb::kMaxTimestampOffset, max_timestamp);
  StoreBigEndian<uint32_t>(p + rb::kCrcOffset, rb::ComputeBatchCrc(batch));
  return absl::OkStatus();
}

}  // namespace runnel::protocol
