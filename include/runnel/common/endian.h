// Big-endian loads and stores: the Kafka wire and disk formats are big-endian.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace runnel {

namespace internal {
template <typename T>
inline T ByteSwapIfLittle(T v) {
  if constexpr (std::endian::native == std::endian::little) {
    if constexpr (sizeof(T) == 2) return static_cast<T>(__builtin_bswap16(static_cast<uint16_t>(v)));
    if constexpr (sizeof(T) == 4) return static_cast<T>(__builtin_bswap32(static_cast<uint32_t>(v)));
    if constexpr (sizeof(T) == 8) return static_cast<T>(__builtin_bswap64(static_cast<uint64_t>(v)));
  }
  return v;
}
}  // namespace internal

template <typename T>
inline T LoadBigEndian(const uint8_t* p) {
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);
  T v;
  std::memcpy(&v, p, sizeof(T));
  if constexpr (sizeof(T) == 1) {
    return v;
  } else {
    return internal::ByteSwapIfLittle(v);
  }
}

template <typename T>
inline void StoreBigEndian(uint8_t* p, T v) {
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);
  if constexpr (sizeof(T) != 1) v = internal::ByteSwapIfLittle(v);
  std::memcpy(p, &v, sizeof(T));
}

}  // namespace runnel
