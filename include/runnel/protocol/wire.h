// Kafka wire primitives: the Writer and Reader every generated message uses.
//
// Grammar of the primitive types (all integers big-endian):
//   int8/int16/int32/int64, uint16/uint32   1/2/4/8, 2/4 bytes
//   float64                                 8 bytes, IEEE 754 binary64
//   bool                                    1 byte, 0 or 1 (nonzero reads as true)
//   uuid                                    16 bytes
//   unsigned varint / varint / varlong      see runnel/common/varint.h
//   string           int16 length N (-1 = null), N bytes of UTF-8
//   compact string   unsigned varint N+1 (0 = null), N bytes
//   bytes, records   int32 length N (-1 = null), N bytes
//   compact bytes    unsigned varint N+1 (0 = null), N bytes
//   array            int32 count N (-1 = null), N elements
//   compact array    unsigned varint N+1 (0 = null), N elements
//   tagged fields    unsigned varint count, then per field: unsigned varint
//                    tag, unsigned varint size, size bytes (ascending tags)
// "Flexible" versions of an API use the compact forms and end every struct
// with a tagged-field section; the `flexible` argument below picks the form.
//
//   runnel::ByteBuffer buf;
//   runnel::protocol::Writer w(&buf);
//   w.Int32(42);
//   w.String("client-1", /*flexible=*/true);
//
//   runnel::protocol::Reader r(buf.span());
//   r.SetContext("Example", 3);
//   int32_t n = r.Int32("n");
//   std::string s = r.String("name", /*flexible=*/true);
//   if (!r.ok()) return r.status();   // "Example v3: field 'name' at byte 4: ..."
//
// Not thread-safe; a Writer or Reader belongs to one thread. A Writer appends
// to a ByteBuffer it does not own; a Reader views bytes it does not own, which
// must outlive it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/common/endian.h"
#include "runnel/common/shared_bytes.h"

namespace runnel::protocol {

// A Kafka UUID (topic ids): 16 bytes, all-zero meaning "none".
struct Uuid {
  std::array<uint8_t, 16> bytes{};

  bool IsZero() const;
  // 22-character URL-safe base64 without padding, as Kafka prints topic ids.
  std::string ToString() const;
  friend bool operator==(const Uuid&, const Uuid&) = default;
};

// A tagged field this code does not know (a newer peer's); kept so that a
// decoded message re-encodes to the bytes it came from.
struct TaggedField {
  uint32_t tag = 0;
  std::vector<uint8_t> data;
  friend bool operator==(const TaggedField&, const TaggedField&) = default;
};
using UnknownTaggedFields = std::vector<TaggedField>;

// A `records` value a Writer left out of its buffer (see Writer's gathering
// constructor): it belongs at byte `at` of the buffer, and is sent from
// where it lies, kept alive by its owner.
struct GatheredBytes {
  size_t at = 0;
  SharedBytes bytes;
};

class Writer {
 public:
  explicit Writer(ByteBuffer* out) : out_(out) {}
  // Leaves each `records` value of at least `min_size` bytes that has an
  // owner out of `out`, and appends it with its place to `gathered`
  // instead: a producer's batches go to the socket from the batch itself
  // (one scatter-gather write) rather than being copied into the request.
  // size() then counts only what is in `out`.
  Writer(ByteBuffer* out, std::vector<GatheredBytes>* gathered, size_t min_size)
      : out_(out), gathered_(gathered), gather_min_size_(min_size) {}

  ByteBuffer& buffer() { return *out_; }
  size_t size() const { return out_->size(); }

  // Values the wire cannot carry (a string longer than an int16 length, a
  // null where the version allows none) are written as best as possible and
  // recorded here, first one wins; callers that may be handed such values
  // check status() after encoding.
  void Fail(std::string_view what);
  absl::Status status() const;

  void Bool(bool v) { Int8(v ? 1 : 0); }
  void Int8(int8_t v) { out_->PushBack(static_cast<uint8_t>(v)); }
  void Int16(int16_t v) { Fixed(v); }
  void Int32(int32_t v) { Fixed(v); }
  void Int64(int64_t v) { Fixed(v); }
  void UInt16(uint16_t v) { Fixed(v); }
  void UInt32(uint32_t v) { Fixed(v); }
  void Float64(double v);
  void UuidValue(const Uuid& v) { out_->Append(v.bytes.data(), v.bytes.size()); }
  void UnsignedVarint(uint64_t v);
  void Varint(int32_t v);
  void Varlong(int64_t v);
  void Raw(std::span<const uint8_t> data) { out_->Append(data); }

  // Strings, bytes and arrays in the classic or compact form.
  void String(std::string_view v, bool flexible);
  void NullableString(const std::optional<std::string>& v, bool flexible);
  void Bytes(std::span<const uint8_t> v, bool flexible);
  void NullableBytes(const std::optional<std::vector<uint8_t>>& v, bool flexible);
  // Element count of an array; the caller then writes the elements.
  void ArrayLength(size_t n, bool flexible);
  void NullArrayLength(bool flexible);

  // For fields nullable in some versions only: a null written in a version
  // where `nullable_here` is false is recorded as an error (naming `field`)
  // and written as an empty value.
  void OptString(const std::optional<std::string>& v, bool flexible, bool nullable_here,
                 std::string_view field);
  void OptBytes(const std::optional<std::vector<uint8_t>>& v, bool flexible, bool nullable_here,
                std::string_view field);
  void NullArray(bool flexible, bool nullable_here, std::string_view field);
  // `records` fields: bytes on the wire.
  void Records(const SharedBytes& v, bool flexible);
  void OptRecords(const std::optional<SharedBytes>& v, bool flexible, bool nullable_here,
                  std::string_view field);

  // Writes a tagged-field section: `known` (tags this code understands, each
  // already encoded) merged with `unknown`, in ascending tag order.
  void TaggedFields(std::vector<TaggedField> known, const UnknownTaggedFields& unknown);
  void EmptyTaggedFields() { out_->PushBack(0); }

 private:
  // The length prefix of bytes and records, classic or compact.
  void Length(size_t n, bool flexible);
  template <typename T>
  void Fixed(T v) {
    StoreBigEndian<T>(out_->AppendUninitialized(sizeof(T)), v);
  }

  ByteBuffer* out_;
  std::vector<GatheredBytes>* gathered_ = nullptr;
  size_t gather_min_size_ = 0;
  std::string error_;
};

// Encodes one known tagged field with `encode(Writer&)` and appends it to
// `out`, for Writer::TaggedFields; an encoding error goes to `outer`.
template <typename F>
void AddTaggedField(Writer& outer, std::vector<TaggedField>* out, uint32_t tag, F&& encode) {
  ByteBuffer buf;
  Writer w(&buf);
  encode(w);
  if (!w.status().ok()) {
    // absl::string_view is not std::string_view in every Abseil build.
    const auto msg = w.status().message();
    outer.Fail(std::string_view(msg.data(), msg.size()));
  }
  out->push_back(TaggedField{tag, std::vector<uint8_t>(buf.data(), buf.data() + buf.size())});
}

// Reads primitives with a sticky error: the first failure is recorded (field
// name, byte offset, what was wrong), every later read returns a zero value,
// and status() reports it. Lengths are checked against the bytes left before
// anything is allocated, so a hostile length costs nothing.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data), end_(data.size()) {}
  // A Reader whose `records` fields view `data` instead of copying it;
  // `owner` keeps `data` alive for as long as any of them lives.
  Reader(std::span<const uint8_t> data, std::shared_ptr<const void> owner)
      : data_(data), end_(data.size()), owner_(std::move(owner)) {}

  // Names the message in status() ("ProduceRequest v9: ...").
  void SetContext(std::string_view message, int16_t version) {
    message_ = message;
    version_ = version;
  }

  bool ok() const { return error_.empty(); }
  absl::Status status() const;
  size_t offset() const { return pos_; }
  size_t remaining() const { return ok() ? end_ - pos_ : 0; }
  // Records an error at the current offset unless one is recorded already.
  void Fail(std::string_view field, std::string_view what);

  bool Bool(std::string_view field) { return Int8(field) != 0; }
  int8_t Int8(std::string_view field) { return Fixed<int8_t>(field); }
  int16_t Int16(std::string_view field) { return Fixed<int16_t>(field); }
  int32_t Int32(std::string_view field) { return Fixed<int32_t>(field); }
  int64_t Int64(std::string_view field) { return Fixed<int64_t>(field); }
  uint16_t UInt16(std::string_view field) { return Fixed<uint16_t>(field); }
  uint32_t UInt32(std::string_view field) { return Fixed<uint32_t>(field); }
  double Float64(std::string_view field);
  Uuid UuidValue(std::string_view field);
  uint64_t UnsignedVarint(std::string_view field);
  uint32_t UnsignedVarint32(std::string_view field);
  int32_t Varint(std::string_view field);
  int64_t Varlong(std::string_view field);
  // The next `n` bytes, or an empty span (and an error) if fewer are left.
  std::span<const uint8_t> Raw(size_t n, std::string_view field);

  // Non-nullable reads fail on a null on the wire; nullable ones return
  // std::nullopt for it.
  std::string String(std::string_view field, bool flexible);
  std::optional<std::string> NullableString(std::string_view field, bool flexible);
  std::vector<uint8_t> Bytes(std::string_view field, bool flexible);
  std::optional<std::vector<uint8_t>> NullableBytes(std::string_view field, bool flexible);
  // Nullable or not depending on the version (generated code).
  std::optional<std::string> OptString(std::string_view field, bool flexible, bool nullable_here);
  std::optional<std::vector<uint8_t>> OptBytes(std::string_view field, bool flexible,
                                               bool nullable_here);
  // `records` fields: a view of the input when the Reader has an owner,
  // else a copy.
  SharedBytes Records(std::string_view field, bool flexible);
  std::optional<SharedBytes> NullableRecords(std::string_view field, bool flexible);
  std::optional<SharedBytes> OptRecords(std::string_view field, bool flexible,
                                        bool nullable_here);
  // Element count of an array, -1 for null (failing if !nullable). Fails when
  // count * min_element_size exceeds the bytes left.
  int32_t ArrayLength(std::string_view field, bool flexible, bool nullable,
                      size_t min_element_size);

  // Tagged-field section helpers, for generated code:
  //   uint32_t n = r.TaggedFieldCount("X");
  //   for (...) { auto f = r.BeginTaggedField("X"); ...; r.EndTaggedField(f, "X"); }
  // While a field is open the Reader ends at its last byte.
  struct TaggedFieldScope {
    uint32_t tag = 0;
    size_t saved_end = 0;
    size_t start = 0;
  };
  uint32_t TaggedFieldCount(std::string_view field);
  TaggedFieldScope BeginTaggedField(std::string_view field);
  // Checks that the field's bytes were consumed exactly and restores the end.
  void EndTaggedField(const TaggedFieldScope& scope, std::string_view field);
  // Copies the rest of an open tagged field into `unknown`.
  void SkipTaggedField(const TaggedFieldScope& scope, UnknownTaggedFields* unknown);

 private:
  template <typename T>
  T Fixed(std::string_view field) {
    if (!ok() || end_ - pos_ < sizeof(T)) {
      FailShort(field, sizeof(T));
      return T{};
    }
    T v = LoadBigEndian<T>(data_.data() + pos_);
    pos_ += sizeof(T);
    return v;
  }
  // `v`, read from offset `at`; a null fails the read there with `what`
  // (for fields that may not be null).
  template <typename T>
  T NonNull(std::optional<T> v, size_t at, std::string_view field, std::string_view what);
  // Records "needs n bytes" unless an error is recorded already.
  void FailShort(std::string_view field, size_t n);
  // Length of a string/bytes (-1 = null) after checking it against the bytes
  // left; `kind` names the type in error messages.
  int64_t Length(std::string_view field, bool flexible, bool wide, std::string_view kind);

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  size_t end_;
  std::shared_ptr<const void> owner_;  // of data_, when records may view it
  std::string_view message_;
  int16_t version_ = -1;
  std::string field_;
  std::string error_;
  size_t error_offset_ = 0;
};

}  // namespace runnel::protocol
