// Variable-length integers as Kafka uses them (the protobuf encoding):
// unsigned varints for compact lengths and tagged fields, zigzag-signed
// varints (32-bit) and varlongs (64-bit) inside record batch v2 records.
//
// Grammar: each byte carries 7 bits, least significant group first; the high
// bit says another byte follows. A 32-bit varint takes at most 5 bytes, a
// 64-bit varlong at most 10. Decoders reject longer encodings.
#pragma once

#include <cstddef>
#include <cstdint>

namespace runnel {

inline constexpr size_t kMaxVarint32Bytes = 5;
inline constexpr size_t kMaxVarint64Bytes = 10;

inline uint32_t ZigZagEncode32(int32_t v) {
  return (static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31);
}
inline int32_t ZigZagDecode32(uint32_t v) {
  return static_cast<int32_t>((v >> 1) ^ (~(v & 1) + 1));
}
inline uint64_t ZigZagEncode64(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t ZigZagDecode64(uint64_t v) {
  return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

// Writes `v` at `p` (room for kMaxVarint64Bytes) and returns the bytes used.
inline size_t EncodeUnsignedVarint(uint8_t* p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = static_cast<uint8_t>(v) | 0x80;
    v >>= 7;
  }
  p[n++] = static_cast<uint8_t>(v);
  return n;
}

inline size_t UnsignedVarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Reads an unsigned varint of at most `max_bytes` bytes from [p, end). Returns
// the bytes consumed, or 0 when the input ends first or the encoding is too
// long (malformed input, never a crash).
inline size_t DecodeUnsignedVarint(const uint8_t* p, const uint8_t* end,
                                   uint64_t* out,
                                   size_t max_bytes = kMaxVarint64Bytes) {
  uint64_t result = 0;
  for (size_t i = 0; i < max_bytes; ++i) {
    if (p + i >= end) return 0;
    uint8_t b = p[i];
    result |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      *out = result;
      return i + 1;
    }
  }
  return 0;
}

inline size_t EncodeVarint32(uint8_t* p, int32_t v) {
  return EncodeUnsignedVarint(p, ZigZagEncode32(v));
}
inline size_t EncodeVarint64(uint8_t* p, int64_t v) {
  return EncodeUnsignedVarint(p, ZigZagEncode64(v));
}
inline size_t Varint32Size(int32_t v) { return UnsignedVarintSize(ZigZagEncode32(v)); }
inline size_t Varint64Size(int64_t v) { return UnsignedVarintSize(ZigZagEncode64(v)); }

inline size_t DecodeVarint32(const uint8_t* p, const uint8_t* end, int32_t* out) {
  uint64_t u = 0;
  size_t n = DecodeUnsignedVarint(p, end, &u, kMaxVarint32Bytes);
  if (n == 0 || u > 0xffffffffu) return 0;
  *out = ZigZagDecode32(static_cast<uint32_t>(u));
  return n;
}
inline size_t DecodeVarint64(const uint8_t* p, const uint8_t* end, int64_t* out) {
  uint64_t u = 0;
  size_t n = DecodeUnsignedVarint(p, end, &u, kMaxVarint64Bytes);
  if (n == 0) return 0;
  *out = ZigZagDecode64(u);
  return n;
}

}  // namespace runnel
