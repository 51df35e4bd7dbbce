// Portable CRC-32C (slicing-by-8) and the run-time choice of implementation.
// The hardware path is in crc32c_sse42.cc.
#include "common/crc32c.h"

#include <array>
#include <atomic>

namespace runnel {
namespace crc32c_internal {
namespace {

constexpr uint32_t kPolyReflected = 0x82F63B78u;

// kTables[0] is the classic byte-at-a-time table; kTables[k][b] is the CRC of
// byte b followed by k zero bytes, which lets eight input bytes be folded in
// with eight independent lookups (slicing-by-8). Built at compile time so no
// initialisation order or once-flag is involved.
constexpr std::array<std::array<uint32_t, 256>, 8> MakeTables() {
  std::array<std::array<uint32_t, 256>, 8> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? kPolyReflected : 0);
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (int k = 1; k < 8; ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
  }
  return t;
}

constexpr auto kTables = MakeTables();

std::atomic<bool> g_force_portable{false};

inline uint32_t LoadLittle32(const uint8_t* p) {
  // Byte assembly rather than memcpy + swap: the compiler turns this into one
  // load on little-endian targets and it stays correct on big-endian ones.
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

}  // namespace

uint32_t ExtendPortable(uint32_t crc, const uint8_t* p, size_t n) {
  uint32_t l = ~crc;
  // Byte steps until p is 8-aligned, so the wide loads below are aligned.
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    l = (l >> 8) ^ kTables[0][(l ^ *p++) & 0xff];
    --n;
  }
  while (n >= 8) {
    uint32_t lo = LoadLittle32(p) ^ l;
    uint32_t hi = LoadLittle32(p + 4);
    l = kTables[7][lo & 0xff] ^ kTables[6][(lo >> 8) & 0xff] ^ kTables[5][(lo >> 16) & 0xff] ^
        kTables[4][lo >> 24] ^ kTables[3][hi & 0xff] ^ kTables[2][(hi >> 8) & 0xff] ^
        kTables[1][(hi >> 16) & 0xff] ^ kTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    l = (l >> 8) ^ kTables[0][(l ^ *p++) & 0xff];
    --n;
  }
  return ~l;
}

void ForcePortableForTesting(bool force) {
  g_force_portable.store(force, std::memory_order_relaxed);
}

}  // namespace crc32c_internal

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n) {
  // The CPU check runs once (a function-local static is thread-safe); the
  // per-call cost is one predictable branch and a relaxed load.
  static const bool hardware = crc32c_internal::HardwareAvailable();
  const auto* p = static_cast<const uint8_t*>(data);
  if (hardware && !crc32c_internal::g_force_portable.load(std::memory_order_relaxed)) {
    return crc32c_internal::ExtendHardware(crc, p, n);
  }
  return crc32c_internal::ExtendPortable(crc, p, n);
}

}  // namespace runnel
