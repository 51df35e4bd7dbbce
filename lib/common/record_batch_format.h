// Kafka record batch v2 (magic 2): the layout shared by the wire (produce and
// fetch) and the log on disk. Storage keeps batches exactly as they travel, so
// this lives in common: the storage engine validates batches during recovery
// with ValidateBatch without depending on the protocol layer.
//
// Grammar (integers big-endian; varint/varlong are zigzag, see varint.h):
//
//   batch    := baseOffset:int64 batchLength:int32 partitionLeaderEpoch:int32
//               magic:int8 crc:uint32 attributes:int16 lastOffsetDelta:int32
//               baseTimestamp:int64 maxTimestamp:int64 producerId:int64
//               producerEpoch:int16 baseSequence:int32 recordCount:int32
//               payload
//   payload  := record{recordCount}              (attributes codec = 0)
//             | codec(record{recordCount})       (one block, whole payload)
//   record   := length:varint attributes:int8 timestampDelta:varlong
//               offsetDelta:varint keyLength:varint key:byte{keyLength}
//               valueLength:varint value:byte{valueLength}
//               headerCount:varint header{headerCount}
//   header   := keyLength:varint key:byte{keyLength}
//               valueLength:varint value:byte{valueLength}
//
//   batchLength counts the bytes after itself: the batch is 12 + batchLength
//   bytes. crc is CRC-32C of the bytes from attributes to the end of the batch,
//   so baseOffset and partitionLeaderEpoch (which the broker assigns) can be
//   rewritten without recomputing it. A key or value length of -1 is null;
//   a record's length counts the bytes after the length varint.
//
//   byte  0  baseOffset            8
//         8  batchLength           4
//        12  partitionLeaderEpoch  4
//        16  magic                 1
//        17  crc                   4
//        21  attributes            2
//        23  lastOffsetDelta       4
//        27  baseTimestamp         8
//        35  maxTimestamp          8
//        43  producerId            8
//        51  producerEpoch         2
//        53  baseSequence          4
//        57  recordCount           4
//        61  payload
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace runnel::record_batch {

inline constexpr size_t kBaseOffsetOffset = 0;
inline constexpr size_t kBaseOffsetSize = 8;
inline constexpr size_t kBatchLengthOffset = kBaseOffsetOffset + kBaseOffsetSize;  // 8
inline constexpr size_t kBatchLengthSize = 4;
inline constexpr size_t kPartitionLeaderEpochOffset = kBatchLengthOffset + kBatchLengthSize;  // 12
inline constexpr size_t kPartitionLeaderEpochSize = 4;
inline constexpr size_t kMagicOffset = kPartitionLeaderEpochOffset + kPartitionLeaderEpochSize;
inline constexpr size_t kMagicSize = 1;
inline constexpr size_t kCrcOffset = kMagicOffset + kMagicSize;  // 17
inline constexpr size_t kCrcSize = 4;
inline constexpr size_t kAttributesOffset = kCrcOffset + kCrcSize;  // 21
inline constexpr size_t kAttributesSize = 2;
inline constexpr size_t kLastOffsetDeltaOffset = kAttributesOffset + kAttributesSize;  // 23
inline constexpr size_t kLastOffsetDeltaSize = 4;
inline constexpr size_t kBaseTimestampOffset = kLastOffsetDeltaOffset + kLastOffsetDeltaSize;
inline constexpr size_t kBaseTimestampSize = 8;
inline constexpr size_t kMaxTimestampOffset = kBaseTimestampOffset + kBaseTimestampSize;  // 35
inline constexpr size_t kMaxTimestampSize = 8;
inline constexpr size_t kProducerIdOffset = kMaxTimestampOffset + kMaxTimestampSize;  // 43
inline constexpr size_t kProducerIdSize = 8;
inline constexpr size_t kProducerEpochOffset = kProducerIdOffset + kProducerIdSize;  // 51
inline constexpr size_t kProducerEpochSize = 2;
inline constexpr size_t kBaseSequenceOffset = kProducerEpochOffset + kProducerEpochSize;  // 53
inline constexpr size_t kBaseSequenceSize = 4;
inline constexpr size_t kRecordCountOffset = kBaseSequenceOffset + kBaseSequenceSize;  // 57
inline constexpr size_t kRecordCountSize = 4;
inline constexpr size_t kRecordsOffset = kRecordCountOffset + kRecordCountSize;  // 61

inline constexpr size_t kHeaderSize = kRecordsOffset;
// baseOffset + batchLength: the bytes not counted by batchLength.
inline constexpr size_t kLogOverhead = kBaseOffsetSize + kBatchLengthSize;
// Bytes needed to read batchLength and magic, which frame a batch.
inline constexpr size_t kHeaderSizeUpToMagic = kMagicOffset + kMagicSize;
// The smallest valid batchLength: a header and no records.
inline constexpr int32_t kMinBatchLength = static_cast<int32_t>(kHeaderSize - kLogOverhead);

static_assert(kMagicOffset == 16 && kCrcOffset == 17 && kAttributesOffset == 21);
static_assert(kBaseTimestampOffset == 27 && kProducerIdOffset == 43);
static_assert(kBaseSequenceOffset == 53 && kHeaderSize == 61 && kMinBatchLength == 49);

inline constexpr int8_t kMagicV2 = 2;

// attributes bits.
inline constexpr int16_t kCompressionMask = 0x07;  // 0 none 1 gzip 2 snappy 3 lz4 4 zstd
inline constexpr int16_t kMaxCompressionCodec = 4;
inline constexpr int16_t kTimestampTypeBit = 0x08;  // 0 CreateTime, 1 LogAppendTime
inline constexpr int16_t kTransactionalBit = 0x10;
inline constexpr int16_t kControlBit = 0x20;
// KIP-534 (Kafka 3.1+): baseTimestamp holds the delete horizon of a compacted
// batch. Carried through unchanged.
inline constexpr int16_t kDeleteHorizonBit = 0x40;

// Smallest encoded record: length, attributes, timestampDelta, offsetDelta,
// keyLength, valueLength and headerCount, one byte each. Bounds recordCount
// against the payload size before any record is read.
inline constexpr size_t kMinRecordSize = 7;

// Producer fields of a batch that carries no idempotence information.
inline constexpr int64_t kNoProducerId = -1;
inline constexpr int16_t kNoProducerEpoch = -1;
inline constexpr int32_t kNoSequence = -1;
inline constexpr int32_t kNoPartitionLeaderEpoch = -1;

// Every fixed header field, decoded. Trust nothing in it but batch_length and
// magic until ValidateBatch has passed.
struct BatchHeader {
  int64_t base_offset = 0;
  int32_t batch_length = 0;
  int32_t partition_leader_epoch = 0;
  int8_t magic = 0;
  uint32_t crc = 0;
  int16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp = 0;
  int64_t max_timestamp = 0;
  int64_t producer_id = 0;
  int16_t producer_epoch = 0;
  int32_t base_sequence = 0;
  int32_t record_count = 0;
};

// Decodes the kHeaderSize bytes at `p`. No checks: see ValidateBatch.
BatchHeader ParseBatchHeader(const uint8_t* p);

// How the batch at the start of a buffer is framed.
struct BatchFrame {
  // Whole batch size, kLogOverhead + batchLength; 0 when too few bytes arrived
  // to read batchLength.
  size_t size = 0;
  // The buffer holds all `size` bytes.
  bool complete = false;
};

// Reads batchLength and magic of the batch at bytes[0] (the first 17 bytes),
// the checks a reader needs before it can skip to the next batch. A buffer
// that ends inside the batch is incomplete (fetch responses may end with a
// partial batch), not an error. Errors: batchLength below kMinBatchLength or
// above `max_batch_size` (DataLoss), magic other than 2 (InvalidArgument:
// message formats v0/v1 are not supported). `position` is where bytes[0]
// sits in the enclosing file or response, for the error message.
absl::StatusOr<BatchFrame> FrameBatch(std::span<const uint8_t> bytes, uint64_t position,
                                      size_t max_batch_size = SIZE_MAX);

// Checks that `batch` is exactly one batch with a consistent batchLength,
// magic 2 and a CRC-32C matching its contents, in that order, reading no other
// field. DataLoss (InvalidArgument for a foreign magic) naming `position`, the
// batch's byte position in its file or response, and what was wrong.
// `check_crc` false skips the CRC (a consumer's check.crcs=false: the CRC
// costs a pass over every byte, and TCP and the broker have checked them).
absl::Status ValidateBatch(std::span<const uint8_t> batch, uint64_t position = 0,
                           bool check_crc = true);

// CRC-32C of a whole batch as stored in its crc field: from attributes to the
// end. `batch` holds at least kHeaderSize bytes.
uint32_t ComputeBatchCrc(std::span<const uint8_t> batch);

}  // namespace runnel::record_batch
