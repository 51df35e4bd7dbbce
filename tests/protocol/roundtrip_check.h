// Round-trip checking of generated messages, shared by roundtrip_test.cc and
// the <api>_testing.cc fillers tools/protocol_gen generates for every API.
//
// A filler sets every field a version puts on the wire: FillMode::kDistinct
// gives each a different non-default value (arrays two elements, tagged
// fields set, two unknown tagged fields in flexible versions), kNullOrEmpty
// makes nullable fields null and everything else zero or empty. Fields a
// version lacks keep their defaults, which is what decoding yields for them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/protocol/wire.h"

namespace runnel::protocol::testing {

enum class FillMode { kDistinct, kNullOrEmpty };

class Filler {
 public:
  explicit Filler(FillMode mode) : mode_(mode) {}

  bool distinct() const { return mode_ == FillMode::kDistinct; }
  int Count() const { return distinct() ? 2 : 0; }

  // Spreads the counter over the whole width so that multi-byte values and
  // negative numbers are exercised; never returns `def` in kDistinct mode.
  template <typename T>
  T Int(T def) {
    if (!distinct()) return T{};
    T v = static_cast<T>((++next_ * 0x9E3779B97F4A7C15ull) >> 13);
    return v == def ? static_cast<T>(v + 1) : v;
  }
  bool Bool(bool def) { return distinct() ? !def : false; }
  double Float(double def) {
    if (!distinct()) return 0.0;
    double v = static_cast<double>(++next_) + 0.25;
    return v == def ? v + 1 : v;
  }
  std::string String() { return distinct() ? absl::StrCat("s", ++next_) : std::string(); }
  std::vector<uint8_t> Bytes() {
    if (!distinct()) return {};
    uint8_t b = static_cast<uint8_t>(++next_);
    return {b, 0x00, 0xff, static_cast<uint8_t>(b ^ 0x5a)};
  }
  Uuid UuidValue() {
    Uuid u;
    if (distinct()) {
      ++next_;
      for (size_t i = 0; i < u.bytes.size(); ++i) u.bytes[i] = static_cast<uint8_t>(next_ + i);
    }
    return u;
  }
  // Tags no schema uses, ascending, as a newer peer might send them.
  UnknownTaggedFields UnknownTaggedFieldsValue() {
    ++next_;
    return {TaggedField{10000, {static_cast<uint8_t>(next_)}},
            TaggedField{20000, {1, 2, 3}}};
  }

 private:
  FillMode mode_;
  uint64_t next_ = 0;
};

// Encodes `msg` at `version`, decodes it, compares, re-encodes and compares
// the bytes; then checks that every truncation fails to decode with an error
// that names a byte offset.
template <typename T>
absl::Status CheckRoundTrip(const T& msg, int16_t version) {
  ByteBuffer first;
  Writer w(&first);
  msg.Encode(w, version);
  if (!w.status().ok()) return w.status();
  absl::StatusOr<T> decoded = T::Decode(first.span(), version);
  if (!decoded.ok()) return decoded.status();
  if (!(*decoded == msg)) {
    return absl::InternalError(absl::StrCat(std::string(T::kName), " v", version,
                                            ": decoded message differs from the original"));
  }
  ByteBuffer second;
  Writer w2(&second);
  decoded->Encode(w2, version);
  if (first.view() != second.view()) {
    return absl::InternalError(
        absl::StrCat(std::string(T::kName), " v", version, ": re-encoding gives different bytes"));
  }
  for (size_t n = 0; n < first.size(); ++n) {
    absl::StatusOr<T> cut = T::Decode(first.span().first(n), version);
    if (cut.ok()) {
      return absl::InternalError(absl::StrCat(std::string(T::kName), " v", version, ": a ", n, "-byte prefix of ",
                                              first.size(), " bytes decoded"));
    }
    if (cut.status().message().find(" at byte ") == std::string_view::npos) {
      return absl::InternalError(
          absl::StrCat("error without an offset: ", cut.status().ToString()));
    }
  }
  return absl::OkStatus();
}

// One entry per API, generated (roundtrip_registry.cc).
struct RoundTripEntry {
  int16_t key;
  absl::Status (*run)(bool request, int16_t version, FillMode mode);
};
std::span<const RoundTripEntry> AllRoundTrips();

}  // namespace runnel::protocol::testing
