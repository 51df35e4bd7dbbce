#include "runnel/protocol/wire.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "runnel/common/endian.h"
#include "runnel/common/varint.h"

namespace runnel::protocol {

bool Uuid::IsZero() const {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

std::string Uuid::ToString() const {
  return absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// ---------------------------------------------------------------------------
// Writer

void Writer::Float64(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  Fixed(bits);
}

void Writer::UnsignedVarint(uint64_t v) {
  uint8_t tmp[kMaxVarint64Bytes];
  out_->Append(tmp, EncodeUnsignedVarint(tmp, v));
}

void Writer::Varint(int32_t v) { UnsignedVarint(ZigZagEncode32(v)); }
void Writer::Varlong(int64_t v) { UnsignedVarint(ZigZagEncode64(v)); }

void Writer::Fail(std::string_view what) {
  if (error_.empty()) error_ = absl::StrCat(std::string(what), " (at byte ", out_->size(), ")");
}

absl::Status Writer::status() const {
  if (error_.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("cannot encode: ", error_));
}

void Writer::String(std::string_view v, bool flexible) {
  if (flexible) {
    UnsignedVarint(static_cast<uint64_t>(v.size()) + 1);
  } else {
    if (v.size() > static_cast<size_t>(std::numeric_limits<int16_t>::max())) {
      Fail(absl::StrCat("string of ", v.size(), " bytes is longer than an int16 length allows"));
    }
    Int16(static_cast<int16_t>(v.size()));
  }
  out_->Append(v);
}

void Writer::NullableString(const std::optional<std::string>& v, bool flexible) {
  if (v.has_value()) {
    String(*v, flexible);
  } else if (flexible) {
    UnsignedVarint(0);
  } else {
    Int16(-1);
  }
}

void Writer::Records(const SharedBytes& v, bool flexible) {
  // Without an owner the bytes may not outlive this call: copied.
  if (gathered_ == nullptr || v.size() < gather_min_size_ || v.owner() == nullptr) {
    Bytes(v.span(), flexible);
    return;
  }
  Length(v.size(), flexible);
  gathered_->push_back({out_->size(), v});
}

void Writer::Length(size_t n, bool flexible) {
  if (flexible) {
    UnsignedVarint(static_cast<uint64_t>(n) + 1);
  } else {
    if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
      Fail(absl::StrCat(n, " bytes are longer than an int32 length allows"));
    }
    Int32(static_cast<int32_t>(n));
  }
}

void Writer::Bytes(std::span<const uint8_t> v, bool flexible) {
  Length(v.size(), flexible);
  out_->Append(v);
}

void Writer::NullableBytes(const std::optional<std::vector<uint8_t>>& v, bool flexible) {
  if (v.has_value()) {
    Bytes(*v, flexible);
  } else if (flexible) {
    UnsignedVarint(0);
  } else {
    Int32(-1);
  }
}

void Writer::ArrayLength(size_t n, bool flexible) {
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    Fail(absl::StrCat("array of ", n, " elements is longer than an int32 count allows"));
  }
  if (flexible) {
    UnsignedVarint(static_cast<uint64_t>(n) + 1);
  } else {
    Int32(static_cast<int32_t>(n));
  }
}

void Writer::OptString(const std::optional<std::string>& v, bool flexible, bool nullable_here,
                       std::string_view field) {
  if (v.has_value() || nullable_here) {
    NullableString(v, flexible);
    return;
  }
  Fail(absl::StrCat("field '", std::string(field), "' is null in a version where it cannot be"));
  String({}, flexible);
}

void Writer::OptBytes(const std::optional<std::vector<uint8_t>>& v, bool flexible,
                      bool nullable_here, std::string_view field) {
  if (v.has_value() || nullable_here) {
    NullableBytes(v, flexible);
    return;
  }
  Fail(absl::StrCat("field '", std::string(field), "' is null in a version where it cannot be"));
  Bytes({}, flexible);
}

void Writer::OptRecords(const std::optional<SharedBytes>& v, bool flexible, bool nullable_here,
                        std::string_view field) {
  if (v.has_value()) {
    Records(*v, flexible);
  } else if (nullable_here) {
    if (flexible) {
      UnsignedVarint(0);
    } else {
      Int32(-1);
    }
  } else {
    Fail(absl::StrCat("field '", std::string(field), "' is null in a version where it cannot be"));
    Bytes({}, flexible);
  }
}

void Writer::NullArray(bool flexible, bool nullable_here, std::string_view field) {
  if (nullable_here) {
    NullArrayLength(flexible);
    return;
  }
  Fail(absl::StrCat("field '", std::string(field), "' is null in a version where it cannot be"));
  ArrayLength(0, flexible);
}

void Writer::NullArrayLength(bool flexible) {
  if (flexible) {
    UnsignedVarint(0);
  } else {
    Int32(-1);
  }
}

void Writer::TaggedFields(std::vector<TaggedField> known, const UnknownTaggedFields& unknown) {
  if (known.empty() && unknown.empty()) {
    EmptyTaggedFields();
    return;
  }
  known.insert(known.end(), unknown.begin(), unknown.end());
  // Stable: a known field sorts before an unknown one carrying the same tag,
  // which only a caller that filled unknown_tagged_fields by hand can cause.
  std::stable_sort(known.begin(), known.end(),
                   [](const TaggedField& a, const TaggedField& b) { return a.tag < b.tag; });
  UnsignedVarint(known.size());
  for (const TaggedField& f : known) {
    UnsignedVarint(f.tag);
    UnsignedVarint(f.data.size());
    out_->Append(f.data.data(), f.data.size());
  }
}

// ---------------------------------------------------------------------------
// Reader

void Reader::Fail(std::string_view field, std::string_view what) {
  if (!error_.empty()) return;
  field_ = std::string(field);
  error_ = std::string(what);
  error_offset_ = pos_;
}

absl::Status Reader::status() const {
  if (error_.empty()) return absl::OkStatus();
  std::string prefix;
  // std::string(): this Abseil's StrCat takes absl::string_view, a distinct type.
  if (!message_.empty()) prefix = absl::StrCat(std::string(message_), " v", version_, ": ");
  return absl::InvalidArgumentError(absl::StrCat(prefix, "field '", field_, "' at byte ",
                                                 error_offset_, ": ", error_));
}

void Reader::FailShort(std::string_view field, size_t n) {
  if (ok()) Fail(field, absl::StrCat("needs ", n, " bytes, ", end_ - pos_, " left"));
}

double Reader::Float64(std::string_view field) {
  uint64_t bits = Fixed<uint64_t>(field);
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

Uuid Reader::UuidValue(std::string_view field) {
  Uuid u;
  std::span<const uint8_t> b = Raw(u.bytes.size(), field);
  if (!b.empty()) std::memcpy(u.bytes.data(), b.data(), u.bytes.size());
  return u;
}

uint64_t Reader::UnsignedVarint(std::string_view field) {
  if (!ok()) return 0;
  uint64_t v = 0;
  size_t n = DecodeUnsignedVarint(data_.data() + pos_, data_.data() + end_, &v);
  if (n == 0) {
    Fail(field, "truncated or over-long varint");
    return 0;
  }
  pos_ += n;
  return v;
}

uint32_t Reader::UnsignedVarint32(std::string_view field) {
  if (!ok()) return 0;
  uint64_t v = 0;
  size_t n = DecodeUnsignedVarint(data_.data() + pos_, data_.data() + end_, &v,
                                  kMaxVarint32Bytes);
  if (n == 0 || v > std::numeric_limits<uint32_t>::max()) {
    Fail(field, "truncated or over-long 32-bit varint");
    return 0;
  }
  pos_ += n;
  return static_cast<uint32_t>(v);
}

int32_t Reader::Varint(std::string_view field) {
  return ZigZagDecode32(UnsignedVarint32(field));
}

int64_t Reader::Varlong(std::string_view field) {
  return ZigZagDecode64(UnsignedVarint(field));
}

std::span<const uint8_t> Reader::Raw(size_t n, std::string_view field) {
  if (!ok() || end_ - pos_ < n) {
    FailShort(field, n);
    return {};
  }
  std::span<const uint8_t> s = data_.subspan(pos_, n);
  pos_ += n;
  return s;
}

int64_t Reader::Length(std::string_view field, bool flexible, bool wide, std::string_view kind) {
  if (!ok()) return -1;
  size_t at = pos_;
  int64_t len;
  if (flexible) {
    len = static_cast<int64_t>(UnsignedVarint32(field)) - 1;
  } else {
    len = wide ? Int32(field) : Int16(field);
    if (len < -1) {
      pos_ = at;
      Fail(field, absl::StrCat("negative ", std::string(kind), " length ", len));
      return -1;
    }
  }
  if (!ok()) return -1;
  if (len >= 0 && static_cast<uint64_t>(len) > end_ - pos_) {
    const size_t left = end_ - pos_;
    pos_ = at;
    Fail(field, absl::StrCat(std::string(kind), " length ", len, " exceeds the ", left,
                             " bytes left"));
    return -1;
  }
  return len;
}

std::optional<std::string> Reader::NullableString(std::string_view field, bool flexible) {
  int64_t len = Length(field, flexible, /*wide=*/false, "string");
  if (len < 0) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(data_.data() + pos_), static_cast<size_t>(len));
  pos_ += static_cast<size_t>(len);
  return s;
}

template <typename T>
T Reader::NonNull(std::optional<T> v, size_t at, std::string_view field, std::string_view what) {
  if (v.has_value()) return *std::move(v);
  if (ok()) {
    pos_ = at;
    Fail(field, what);
  }
  return {};
}

std::string Reader::String(std::string_view field, bool flexible) {
  const size_t at = pos_;
  return NonNull(NullableString(field, flexible), at, field, "null in a non-nullable string");
}

std::optional<std::vector<uint8_t>> Reader::NullableBytes(std::string_view field, bool flexible) {
  int64_t len = Length(field, flexible, /*wide=*/true, "bytes");
  if (len < 0) return std::nullopt;
  const uint8_t* p = data_.data() + pos_;
  pos_ += static_cast<size_t>(len);
  return std::vector<uint8_t>(p, p + len);
}

std::vector<uint8_t> Reader::Bytes(std::string_view field, bool flexible) {
  const size_t at = pos_;
  return NonNull(NullableBytes(field, flexible), at, field, "null in a non-nullable bytes field");
}

std::optional<SharedBytes> Reader::NullableRecords(std::string_view field, bool flexible) {
  int64_t len = Length(field, flexible, /*wide=*/true, "bytes");
  if (len < 0) return std::nullopt;
  std::span<const uint8_t> bytes = data_.subspan(pos_, static_cast<size_t>(len));
  pos_ += static_cast<size_t>(len);
  if (owner_ == nullptr) return SharedBytes::CopyOf(bytes);
  return SharedBytes(owner_, bytes);
}

SharedBytes Reader::Records(std::string_view field, bool flexible) {
  const size_t at = pos_;
  return NonNull(NullableRecords(field, flexible), at, field,
                 "null in a non-nullable records field");
}

std::optional<SharedBytes> Reader::OptRecords(std::string_view field, bool flexible,
                                              bool nullable_here) {
  if (nullable_here) return NullableRecords(field, flexible);
  return Records(field, flexible);
}

std::optional<std::string> Reader::OptString(std::string_view field, bool flexible,
                                             bool nullable_here) {
  if (nullable_here) return NullableString(field, flexible);
  return String(field, flexible);
}

std::optional<std::vector<uint8_t>> Reader::OptBytes(std::string_view field, bool flexible,
                                                     bool nullable_here) {
  if (nullable_here) return NullableBytes(field, flexible);
  return Bytes(field, flexible);
}

int32_t Reader::ArrayLength(std::string_view field, bool flexible, bool nullable,
                            size_t min_element_size) {
  if (!ok()) return -1;
  size_t at = pos_;
  int64_t n = flexible ? static_cast<int64_t>(UnsignedVarint32(field)) - 1 : Int32(field);
  if (!ok()) return -1;
  if (n < -1) {
    pos_ = at;
    Fail(field, absl::StrCat("negative array length ", n));
    return -1;
  }
  if (n == -1) {
    if (!nullable) {
      pos_ = at;
      Fail(field, "null in a non-nullable array");
    }
    return -1;
  }
  // Every element takes at least min_element_size (>= 1) bytes, so a count
  // the remaining bytes cannot hold is malformed; nothing is allocated first.
  uint64_t need = static_cast<uint64_t>(n) * std::max<size_t>(min_element_size, 1);
  if (need > end_ - pos_ || n > std::numeric_limits<int32_t>::max()) {
    const size_t left = end_ - pos_;
    pos_ = at;
    Fail(field, absl::StrCat("array of ", n, " elements cannot fit in the ", left, " bytes left"));
    return -1;
  }
  return static_cast<int32_t>(n);
}

uint32_t Reader::TaggedFieldCount(std::string_view field) {
  size_t at = pos_;
  uint32_t n = UnsignedVarint32(field);
  // A tagged field takes at least two bytes (tag and size).
  if (ok() && static_cast<uint64_t>(n) * 2 > end_ - pos_) {
    const size_t left = end_ - pos_;
    pos_ = at;
    Fail(field, absl::StrCat(n, " tagged fields cannot fit in the ", left, " bytes left"));
    return 0;
  }
  return n;
}

Reader::TaggedFieldScope Reader::BeginTaggedField(std::string_view field) {
  TaggedFieldScope scope;
  scope.saved_end = end_;
  size_t at = pos_;
  scope.tag = UnsignedVarint32(field);
  uint32_t size = UnsignedVarint32(field);
  if (ok() && size > end_ - pos_) {
    const size_t left = end_ - pos_;
    pos_ = at;
    Fail(field, absl::StrCat("tagged field ", scope.tag, " of ", size, " bytes exceeds the ",
                             left, " bytes left"));
  }
  if (ok()) end_ = pos_ + size;
  scope.start = pos_;
  return scope;
}

void Reader::EndTaggedField(const TaggedFieldScope& scope, std::string_view field) {
  if (ok() && pos_ != end_) {
    Fail(field, absl::StrCat("tagged field ", scope.tag, " has ", end_ - pos_,
                             " bytes its type does not use"));
  }
  if (ok()) end_ = scope.saved_end;
}

void Reader::SkipTaggedField(const TaggedFieldScope& scope, UnknownTaggedFields* unknown) {
  if (!ok()) return;
  const uint8_t* p = data_.data() + pos_;
  unknown->push_back(TaggedField{scope.tag, std::vector<uint8_t>(p, data_.data() + end_)});
  pos_ = end_;
  end_ = scope.saved_end;
}

}  // namespace runnel::protocol
