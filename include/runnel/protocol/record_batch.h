// Kafka record batch v2: building batches of records and reading them back.
//
// A record batch is the unit a producer sends, the broker stores byte for
// byte, and a consumer fetches. RecordBatchBuilder writes one batch;
// RecordBatchReader walks a buffer of concatenated batches (a fetch response's
// records, a log segment), validating each (length, magic, CRC-32C) before it
// believes anything else in it.
//
//   runnel::protocol::RecordBatchBuilder builder({.base_offset = 0});
//   RUNNEL_RETURN_IF_ERROR(builder.Append(now_ms, "user-1", "{\"clicks\":3}"));
//   RUNNEL_ASSIGN_OR_RETURN(std::span<const uint8_t> batch, builder.Finish());
//
//   runnel::protocol::RecordBatchReader reader(batch);
//   while (reader.NextBatch()) {
//     while (reader.NextRecord()) {
//       const runnel::protocol::Record& r = reader.record();
//       Use(r.offset, r.key.str(), r.value.str());
//     }
//   }
//   RUNNEL_RETURN_IF_ERROR(reader.status());
//
// Layout details (byte offsets, attribute bits) are in
// lib/common/record_batch_format.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/protocol/compression.h"

namespace runnel::protocol {

// Bit 3 of the batch attributes.
enum class TimestampType : int8_t {
  kCreateTime = 0,     // set by the producer
  kLogAppendTime = 1,  // set by the broker (message.timestamp.type=LogAppendTime)
};

// A view of bytes that may be null: Kafka tells a null key or value (length
// -1, e.g. a compaction tombstone) from an empty one. Does not own the bytes.
class NullableBytes {
 public:
  constexpr NullableBytes() = default;  // null
  constexpr NullableBytes(std::nullptr_t) {}
  constexpr NullableBytes(std::span<const uint8_t> s)
      : data_(s.data()), size_(s.size()), null_(false) {}
  NullableBytes(std::string_view s)
      : data_(reinterpret_cast<const uint8_t*>(s.data())), size_(s.size()), null_(false) {}
  NullableBytes(const std::string& s) : NullableBytes(std::string_view(s)) {}
  // String literals and C strings; a null pointer is null.
  NullableBytes(const char* s) {
    if (s != nullptr) *this = NullableBytes(std::string_view(s));
  }

  bool is_null() const { return null_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  std::string_view str() const { return {reinterpret_cast<const char*>(data_), size_}; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool null_ = true;
};

// One record header. Keys are never null on the wire; values may be.
struct RecordHeader {
  std::string_view key;
  NullableBytes value;
};

// ---------------------------------------------------------------------------
// Building

struct RecordBatchBuilderOptions {
  // Offset of the first record. Producers leave 0: the broker assigns offsets
  // by rewriting it (SetBaseOffset).
  int64_t base_offset = 0;
  // kNone writes records straight into the batch. A codec buffers the records
  // and compresses them once in Finish(): smaller batches for more CPU.
  CompressionType compression = CompressionType::kNone;
  // kDefaultCompressionLevel uses the codec's default.
  int compression_level = kDefaultCompressionLevel;
  TimestampType timestamp_type = TimestampType::kCreateTime;
  // Idempotence: -1/-1/-1 means a producer without idempotence.
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  bool transactional = false;
  // A control batch holds transaction markers (see EncodeControlRecordKey).
  bool control = false;
  // The broker stamps its leader epoch here; producers leave -1.
  int32_t partition_leader_epoch = -1;
  // Timestamp deltas are relative to this. Unset: the first record's
  // timestamp, which keeps deltas (varlongs) small.
  std::optional<int64_t> base_timestamp;
};

// Builds one record batch v2 in a buffer it owns.
//
// Uncompressed, each Append encodes the record directly into the batch
// buffer: no allocation per record once the buffer has grown (Reset keeps
// its capacity, so a reused builder allocates nothing in steady state).
// Finish() fills in batchLength, lastOffsetDelta, maxTimestamp, the record
// count and the CRC-32C.
//
// Not thread-safe: one thread at a time.
class RecordBatchBuilder {
 public:
  explicit RecordBatchBuilder(const RecordBatchBuilderOptions& options = {});
  RecordBatchBuilder(const RecordBatchBuilder&) = delete;
  RecordBatchBuilder& operator=(const RecordBatchBuilder&) = delete;
  RecordBatchBuilder(RecordBatchBuilder&&) = default;
  RecordBatchBuilder& operator=(RecordBatchBuilder&&) = default;

  // Starts a new batch, keeping the buffers' capacity. Invalidates the span
  // returned by Finish().
  void Reset(const RecordBatchBuilderOptions& options);

  // Appends a record at the next offset (base_offset + record_count()).
  // InvalidArgument when a field exceeds Kafka's int32 sizes or the batch
  // would pass 2 GiB; FailedPrecondition after Finish().
  absl::Status Append(int64_t timestamp, NullableBytes key, NullableBytes value,
                      std::span<const RecordHeader> headers = {});
  // Appends a record at `offset`, which must exceed the last record's offset
  // (a compacted log keeps the offsets of surviving records, with gaps).
  absl::Status AppendWithOffset(int64_t offset, int64_t timestamp, NullableBytes key,
                                NullableBytes value, std::span<const RecordHeader> headers = {});

  // The exact number of bytes Append would add for this record now (before
  // compression), so a producer can stop before a batch passes its size cap.
  size_t RecordSize(int64_t timestamp, NullableBytes key, NullableBytes value,
                    std::span<const RecordHeader> headers = {}) const;

  // Size of the batch if finished now: exact without compression; with a
  // codec, the uncompressed size (an upper bound for all but incompressible
  // data, which the codecs grow by a few bytes only).
  size_t EstimatedSize() const;
  int32_t record_count() const { return record_count_; }
  bool empty() const { return record_count_ == 0; }

  // Completes the batch and returns its bytes, valid until Reset() or
  // destruction. FailedPrecondition without records (Kafka has no use for an
  // empty batch from a producer) or when called twice; a codec error is
  // returned as is.
  absl::StatusOr<std::span<const uint8_t>> Finish();

  // Idempotence fields known only after the records were appended (a
  // producer assigns sequences when it drains a batch), so that Finish()
  // writes them and its CRC covers them: no second pass to stamp them.
  // FailedPrecondition after Finish().
  absl::Status SetProducerState(int64_t producer_id, int16_t producer_epoch,
                                int32_t base_sequence);

  // Hands over the finished batch's buffer; the builder is empty afterwards
  // and needs Reset() before reuse.
  ByteBuffer TakeBuffer();
  // As TakeBuffer, and the builder's next batch goes into `spare` (emptied,
  // its capacity kept): a producer recycles the buffers of batches it has
  // delivered instead of growing a new one per batch.
  ByteBuffer SwapBuffer(ByteBuffer spare);

 private:
  absl::Status AppendAt(int64_t offset_delta, int64_t timestamp, NullableBytes key,
                        NullableBytes value, std::span<const RecordHeader> headers);

  RecordBatchBuilderOptions options_;
  ByteBuffer out_;      // header + records (uncompressed) or header + block
  ByteBuffer scratch_;  // records awaiting compression
  int32_t record_count_ = 0;
  int64_t last_offset_delta_ = -1;
  int64_t base_timestamp_ = 0;
  int64_t max_timestamp_ = -1;
  bool finished_ = false;
};

// ---------------------------------------------------------------------------
// Reading

// The fixed header of a batch that passed validation. The attribute masks
// below are Kafka's (bits 0-2 codec, 3 timestamp type, 4 transactional,
// 5 control), spelled out because the layout header is not installed.
struct RecordBatchHeader {
  int64_t base_offset = 0;
  int32_t batch_length = 0;
  int32_t partition_leader_epoch = 0;
  uint32_t crc = 0;
  int16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp = 0;
  int64_t max_timestamp = 0;
  int64_t producer_id = 0;
  int16_t producer_epoch = 0;
  int32_t base_sequence = 0;
  int32_t record_count = 0;

  CompressionType compression() const { return static_cast<CompressionType>(attributes & 0x07); }
  TimestampType timestamp_type() const {
    return (attributes & 0x08) ? TimestampType::kLogAppendTime : TimestampType::kCreateTime;
  }
  bool is_transactional() const { return (attributes & 0x10) != 0; }
  bool is_control() const { return (attributes & 0x20) != 0; }
  // base_offset + last_offset_delta: the offset after which the next batch
  // starts, even when compaction removed the last records.
  int64_t last_offset() const {
    return static_cast<int64_t>(static_cast<uint64_t>(base_offset) +
                                static_cast<uint64_t>(static_cast<int64_t>(last_offset_delta)));
  }
};

// The headers of one record, decoded lazily from bytes the reader has already
// checked. A cheap value; points into the batch (or the reader's buffer).
class RecordHeaders {
 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = RecordHeader;
    using difference_type = std::ptrdiff_t;
    using pointer = const RecordHeader*;
    using reference = const RecordHeader&;

    iterator() = default;
    const RecordHeader& operator*() const { return current_; }
    const RecordHeader* operator->() const { return &current_; }
    iterator& operator++();
    iterator operator++(int) {
      iterator tmp = *this;
      ++*this;
      return tmp;
    }
    bool operator==(const iterator& o) const { return remaining_ == o.remaining_; }

   private:
    friend class RecordHeaders;
    iterator(const uint8_t* p, const uint8_t* end, int32_t count);
    void Decode();

    const uint8_t* p_ = nullptr;
    const uint8_t* end_ = nullptr;
    int32_t remaining_ = 0;
    RecordHeader current_;
  };

  RecordHeaders() = default;
  int32_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  iterator begin() const { return iterator(begin_, end_, count_); }
  iterator end() const { return iterator(); }

 private:
  friend class RecordBatchReader;
  RecordHeaders(const uint8_t* begin, const uint8_t* end, int32_t count)
      : begin_(begin), end_(end), count_(count) {}

  const uint8_t* begin_ = nullptr;
  const uint8_t* end_ = nullptr;
  int32_t count_ = 0;
};

// One record. key, value and headers point into the input bytes for an
// uncompressed batch (no copy) and into the reader's buffer for a compressed
// one: valid until the reader moves to the next batch.
struct Record {
  int64_t offset = 0;
  // The batch's max timestamp for LogAppendTime batches (as in Kafka), else
  // base timestamp + delta.
  int64_t timestamp = 0;
  int8_t attributes = 0;  // unused by Kafka so far
  NullableBytes key;
  NullableBytes value;
  RecordHeaders headers;
};

struct RecordBatchReaderOptions {
  // Cap on what one compressed batch may inflate to: bounds the memory a
  // hostile or corrupt batch can make the reader allocate.
  size_t max_decompressed_size = 64 << 20;
  // Batches larger than this are rejected (Kafka's max.message.bytes plays
  // this role on a broker).
  size_t max_batch_size = SIZE_MAX;
  // Where bytes[0] sits in the enclosing file or response; added to the byte
  // offsets in error messages.
  uint64_t base_position = 0;
  // False skips each batch's CRC-32C (a consumer's check.crcs=false, as in
  // librdkafka and Java): the CRC is a pass over every byte, while the
  // other checks still keep a corrupt batch from being read out of bounds.
  bool verify_crc = true;
};

// Walks the batches in a buffer and the records in each, validating as it
// goes. Malformed input is a status (DataLoss for corrupt bytes,
// InvalidArgument for a message format other than v2), naming the batch's
// byte position and what was wrong; iteration stops at the first error.
//
// A buffer that ends inside a batch (fetch responses may) ends iteration
// without error: has_incomplete_tail() is then true and consumed_bytes()
// says where the partial batch begins.
//
// Does not own the input bytes, which must outlive the reader. Not
// thread-safe.
class RecordBatchReader {
 public:
  explicit RecordBatchReader(std::span<const uint8_t> bytes,
                             const RecordBatchReaderOptions& options = {});
  RecordBatchReader(const RecordBatchReader&) = delete;
  RecordBatchReader& operator=(const RecordBatchReader&) = delete;

  // Moves to the next batch, checking its length, magic and CRC-32C (unless
  // options.verify_crc is false) before its other fields. False at the end, at a partial trailing batch, or on
  // error (see status()).
  bool NextBatch();
  // The current batch (after NextBatch returned true).
  const RecordBatchHeader& header() const { return header_; }
  std::span<const uint8_t> batch_bytes() const { return batch_; }
  // Position of the current batch: base_position + its offset in the input.
  uint64_t batch_position() const { return options_.base_position + batch_start_; }

  // Moves to the next record of the current batch, decompressing the batch
  // on the first call when it is compressed. False after the last record or
  // on error (see status()).
  bool NextRecord();
  const Record& record() const { return record_; }
  // Moves out the current batch's decompressed records (what record() of a
  // compressed batch points into), so they can outlive this batch; the next
  // compressed batch inflates into a new buffer. The reader goes on reading
  // the rest of this batch from the released bytes, which must live until
  // the next NextBatch. Empty for an uncompressed batch or before its first
  // NextRecord.
  ByteBuffer ReleaseDecompressed() { return std::move(decompressed_); }

  absl::Status status() const { return status_; }
  bool has_incomplete_tail() const { return incomplete_; }
  // Bytes of the input covered by complete batches returned so far.
  size_t consumed_bytes() const { return next_batch_; }

 private:
  bool Fail(absl::Status status);
  bool StartRecords();
  absl::Status ParseRecord();

  std::span<const uint8_t> input_;
  RecordBatchReaderOptions options_;
  absl::Status status_;
  size_t next_batch_ = 0;   // input offset of the batch after the current one
  size_t batch_start_ = 0;  // input offset of the current batch
  bool incomplete_ = false;
  bool in_batch_ = false;
  bool records_started_ = false;

  RecordBatchHeader header_;
  std::span<const uint8_t> batch_;
  ByteBuffer decompressed_;
  const uint8_t* records_begin_ = nullptr;  // payload being parsed
  const uint8_t* cursor_ = nullptr;
  const uint8_t* records_end_ = nullptr;
  int32_t records_read_ = 0;
  Record record_;
};

// ---------------------------------------------------------------------------
// Control batches: transaction markers

// The key of a control record is version:int16 type:int16.
enum class ControlRecordType : int16_t {
  kAbort = 0,
  kCommit = 1,
  kUnknown = -1,  // a type this version does not know; skip it, as Kafka does
};

struct ControlRecord {
  int16_t version = 0;
  int16_t type_code = 0;
  ControlRecordType type = ControlRecordType::kUnknown;
  // From the EndTxnMarker value (version:int16 coordinatorEpoch:int32) of an
  // abort or commit marker; -1 when absent.
  int32_t coordinator_epoch = -1;
};

// Parses a control batch's record. DataLoss when the key is null or shorter
// than 4 bytes, or a commit/abort value shorter than 6 bytes.
absl::StatusOr<ControlRecord> ParseControlRecord(const Record& record);

// The key and value of a commit or abort marker, for a control batch
// (RecordBatchBuilderOptions::control = true, transactional = true).
std::array<uint8_t, 4> EncodeControlRecordKey(ControlRecordType type);
std::array<uint8_t, 6> EncodeEndTxnMarkerValue(int32_t coordinator_epoch);

// ---------------------------------------------------------------------------
// In-place rewrites of a whole, validated batch

// Writes base_offset. The CRC covers attributes to the end only, so offset
// assignment on the broker leaves the CRC (and every other byte) untouched.
absl::Status SetBaseOffset(std::span<uint8_t> batch, int64_t base_offset);
// Writes partitionLeaderEpoch; like the base offset it is outside the CRC.
absl::Status SetPartitionLeaderEpoch(std::span<uint8_t> batch, int32_t epoch);
// Sets the timestamp type bit and maxTimestamp and recomputes the CRC: what a
// broker with message.timestamp.type=LogAppendTime does to each batch
// (readers then report max_timestamp for every record).
absl::Status SetMaxTimestamp(std::span<uint8_t> batch, TimestampType type, int64_t max_timestamp);

}  // namespace runnel::protocol
