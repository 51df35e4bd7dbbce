// RecordBatchReader: batches and records out of untrusted bytes.
//
// Order of trust: a batch's length and magic frame it; its CRC-32C vouches
// for every byte from attributes on; only then are the header fields read.
// Records are checked one by one as they are reached (lengths against what
// is left, varint widths, the declared count against the bytes), so a bad
// record costs an error status, never an out-of-bounds read.
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/record_batch_format.h"
#include "runnel/common/varint.h"
#include "runnel/protocol/record_batch.h"

namespace runnel::protocol {
namespace rb = ::runnel::record_batch;

namespace {

int64_t WrappingAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

// Reads a varint-length-prefixed byte string (-1 = null when `nullable`).
// Returns nullptr (and sets *what) when malformed.
const uint8_t* ReadBytesField(const uint8_t* p, const uint8_t* end, bool nullable,
                              NullableBytes* out, std::string* what, const char* name) {
  int32_t len = 0;
  const size_t n = DecodeVarint32(p, end, &len);
  if (n == 0) {
    *what = absl::StrCat(name, " length varint is truncated or longer than 5 bytes");
    return nullptr;
  }
  p += n;
  if (len < 0) {
    if (len == -1 && nullable) {
      *out = NullableBytes();
      return p;
    }
    *what = absl::StrFormat("%s length %d is negative", name, len);
    return nullptr;
  }
  if (static_cast<size_t>(len) > static_cast<size_t>(end - p)) {
    *what = absl::StrFormat("%s length %d overruns the record by %d bytes", name, len,
                            static_cast<size_t>(len) - static_cast<size_t>(end - p));
    return nullptr;
  }
  *out = NullableBytes(std::span<const uint8_t>(p, static_cast<size_t>(len)));
  return p + len;
}

}  // namespace

// ---------------------------------------------------------------------------
// RecordHeaders

RecordHeaders::iterator::iterator(const uint8_t* p, const uint8_t* end, int32_t count)
    : p_(p), end_(end), remaining_(count) {
  if (remaining_ > 0) Decode();
}

RecordHeaders::iterator& RecordHeaders::iterator::operator++() {
  if (--remaining_ > 0) Decode();
  return *this;
}

// The reader checked these bytes when it reached the record, so decoding
// again cannot fail and skips the checks.
void RecordHeaders::iterator::Decode() {
  int32_t len = 0;
  p_ += DecodeVarint32(p_, end_, &len);
  current_.key = std::string_view(reinterpret_cast<const char*>(p_), static_cast<size_t>(len));
  p_ += len;
  p_ += DecodeVarint32(p_, end_, &len);
  if (len < 0) {
    current_.value = NullableBytes();
  } else {
    current_.value = NullableBytes(std::span<const uint8_t>(p_, static_cast<size_t>(len)));
    p_ += len;
  }
}

// ---------------------------------------------------------------------------
// RecordBatchReader

RecordBatchReader::RecordBatchReader(std::span<const uint8_t> bytes,
                                     const RecordBatchReaderOptions& options)
    : input_(bytes), options_(options) {}

bool RecordBatchReader::Fail(absl::Status status) {
  status_ = std::move(status);
  in_batch_ = false;
  return false;
}

bool RecordBatchReader::NextBatch() {
  in_batch_ = false;
  records_started_ = false;
  record_ = Record();
  if (!status_.ok() || incomplete_ || next_batch_ >= input_.size()) return false;

  const std::span<const uint8_t> rest = input_.subspan(next_batch_);
  const uint64_t position = options_.base_position + next_batch_;
  auto frame = rb::FrameBatch(rest, position, options_.max_batch_size);
  if (!frame.ok()) return Fail(frame.status());
  if (!frame->complete) {
    incomplete_ = true;
    return false;
  }
  const std::span<const uint8_t> batch = rest.first(frame->size);
  if (absl::Status s = rb::ValidateBatch(batch, position, options_.verify_crc); !s.ok()) {
    return Fail(std::move(s));
  }

  // The CRC held (unless verify_crc is off): the header fields are what the
  // producer wrote.
  const rb::BatchHeader h = rb::ParseBatchHeader(batch.data());
  header_.base_offset = h.base_offset;
  header_.batch_length = h.batch_length;
  header_.partition_leader_epoch = h.partition_leader_epoch;
  header_.crc = h.crc;
  header_.attributes = h.attributes;
  header_.last_offset_delta = h.last_offset_delta;
  header_.base_timestamp = h.base_timestamp;
  header_.max_timestamp = h.max_timestamp;
  header_.producer_id = h.producer_id;
  header_.producer_epoch = h.producer_epoch;
  header_.base_sequence = h.base_sequence;
  header_.record_count = h.record_count;

  const int16_t codec = h.attributes & rb::kCompressionMask;
  if (codec > rb::kMaxCompressionCodec) {
    return Fail(absl::DataLossError(absl::StrFormat(
        "record batch at byte %d: unknown compression codec %d in attributes 0x%04x", position,
        codec, static_cast<uint16_t>(h.attributes))));
  }
  if (h.record_count < 0) {
    return Fail(absl::DataLossError(absl::StrFormat(
        "record batch at byte %d: negative record count %d", position, h.record_count)));
  }
  const size_t payload = batch.size() - rb::kHeaderSize;
  if (codec == 0 && static_cast<size_t>(h.record_count) > payload / rb::kMinRecordSize) {
    return Fail(absl::DataLossError(
        absl::StrFormat("record batch at byte %d: record count %d cannot fit in a %d-byte payload",
                        position, h.record_count, payload)));
  }

  batch_ = batch;
  batch_start_ = next_batch_;
  next_batch_ += frame->size;
  in_batch_ = true;
  return true;
}

bool RecordBatchReader::StartRecords() {
  records_started_ = true;
  records_read_ = 0;
  const std::span<const uint8_t> payload = batch_.subspan(rb::kHeaderSize);
  const CompressionType codec = header_.compression();
  if (codec == CompressionType::kNone) {
    records_begin_ = payload.data();
    records_end_ = payload.data() + payload.size();
  } else {
    decompressed_.Clear();
    absl::Status s = Decompress(codec, payload, options_.max_decompressed_size, decompressed_);
    if (!s.ok()) {
      return Fail(absl::Status(
          s.code(),
          absl::StrFormat("record batch at byte %d: %s payload of %d bytes: %s", batch_position(),
                          CompressionTypeName(codec), payload.size(), s.message())));
    }
    if (static_cast<size_t>(header_.record_count) > decompressed_.size() / rb::kMinRecordSize) {
      return Fail(absl::DataLossError(absl::StrFormat(
          "record batch at byte %d: record count %d cannot fit in %d decompressed bytes",
          batch_position(), header_.record_count, decompressed_.size())));
    }
    records_begin_ = decompressed_.data();
    records_end_ = decompressed_.data() + decompressed_.size();
  }
  cursor_ = records_begin_;
  return true;
}

bool RecordBatchReader::NextRecord() {
  if (!in_batch_ || !status_.ok()) return false;
  if (!records_started_ && !StartRecords()) return false;
  if (records_read_ == header_.record_count) {
    if (cursor_ != records_end_) {
      return Fail(absl::DataLossError(
          absl::StrFormat("record batch at byte %d: %d bytes left after the %d records it declares",
                          batch_position(), records_end_ - cursor_, header_.record_count)));
    }
    return false;
  }
  if (absl::Status s = ParseRecord(); !s.ok()) return Fail(std::move(s));
  ++records_read_;
  return true;
}

absl::Status RecordBatchReader::ParseRecord() {
  const uint8_t* const start = cursor_;
  auto error = [&](const std::string& what) {
    const size_t at = static_cast<size_t>(start - records_begin_);
    const bool compressed = header_.compression() != CompressionType::kNone;
    return absl::DataLossError(
        absl::StrFormat("record batch at byte %d: record %d (at %s byte %d): %s", batch_position(),
                        records_read_, compressed ? "decompressed payload" : "batch",
                        compressed ? at : at + rb::kHeaderSize, what));
  };

  if (start == records_end_) {
    return error(absl::StrFormat("the batch declares %d records but its payload holds only %d",
                                 header_.record_count, records_read_));
  }
  const uint8_t* p = start;
  int32_t length = 0;
  size_t n = DecodeVarint32(p, records_end_, &length);
  if (n == 0) return error("length varint is truncated or longer than 5 bytes");
  p += n;
  if (length < 0) return error(absl::StrFormat("negative length %d", length));
  const size_t left = static_cast<size_t>(records_end_ - p);
  if (static_cast<size_t>(length) > left) {
    return error(absl::StrFormat("length %d overruns the payload by %d bytes", length,
                                 static_cast<size_t>(length) - left));
  }
  const uint8_t* const end = p + length;
  if (p == end) return error("empty record (no attributes byte)");

  Record& r = record_;
  r.attributes = static_cast<int8_t>(*p++);
  int64_t timestamp_delta = 0;
  n = DecodeVarint64(p, end, &timestamp_delta);
  if (n == 0) return error("timestamp delta varlong is truncated or longer than 10 bytes");
  p += n;
  int32_t offset_delta = 0;
  n = DecodeVarint32(p, end, &offset_delta);
  if (n == 0) return error("offset delta varint is truncated or longer than 5 bytes");
  p += n;

  std::string what;
  p = ReadBytesField(p, end, /*nullable=*/true, &r.key, &what, "key");
  if (p == nullptr) return error(what);
  p = ReadBytesField(p, end, /*nullable=*/true, &r.value, &what, "value");
  if (p == nullptr) return error(what);

  int32_t header_count = 0;
  n = DecodeVarint32(p, end, &header_count);
  if (n == 0) return error("header count varint is truncated or longer than 5 bytes");
  p += n;
  // A header takes at least two bytes (two one-byte lengths).
  if (header_count < 0 || static_cast<size_t>(header_count) > static_cast<size_t>(end - p) / 2) {
    return error(
        absl::StrFormat("header count %d does not fit the %d bytes left", header_count, end - p));
  }
  const uint8_t* const headers_begin = p;
  for (int32_t i = 0; i < header_count; ++i) {
    NullableBytes unused;
    p = ReadBytesField(p, end, /*nullable=*/false, &unused, &what, "header key");
    if (p == nullptr) return error(absl::StrFormat("header %d: %s", i, what));
    p = ReadBytesField(p, end, /*nullable=*/true, &unused, &what, "header value");
    if (p == nullptr) return error(absl::StrFormat("header %d: %s", i, what));
  }
  if (p != end) {
    return error(absl::StrFormat("length says %d bytes but its fields end %d bytes earlier", length,
                                 end - p));
  }
  r.headers = RecordHeaders(headers_begin, end, header_count);
  r.offset = WrappingAdd(header_.base_offset, offset_delta);
  r.timestamp = header_.timestamp_type() == TimestampType::kLogAppendTime
                    ? header_.max_timestamp
                    : WrappingAdd(header_.base_timestamp, timestamp_delta);
  cursor_ = end;
  return absl::OkStatus();
}

}  // namespace runnel::protocol
