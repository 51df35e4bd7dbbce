// CRC-32C with the SSE4.2 crc32 instruction.
//
// crc32 has a latency of 3 cycles and a throughput of 1 a cycle on every x86
// core since Nehalem, so one dependent chain runs at a third of the possible
// speed. Large buffers are therefore cut into three equal blocks whose CRCs
// are computed in interleaved chains, then combined: the CRC of A||B equals
// CRC(A) "shifted" over |B| zero bytes, xor CRC(B) (CRC is linear over GF(2)).
// The shift over a fixed block length is a 32x32 bit-matrix product, applied
// with four 256-entry tables (Mark Adler's crc32c.c uses the same scheme).
//
// The functions carry __attribute__((target("sse4.2"))) rather than the whole
// file being built with -msse4.2, so no SSE4.2 instruction can leak into code
// that runs before the CPU check.
#include <array>
#include <cstring>

#include "common/crc32c.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define RUNNEL_CRC32C_X86 1
#endif

namespace runnel::crc32c_internal {

#ifdef RUNNEL_CRC32C_X86
namespace {

constexpr uint32_t kPolyReflected = 0x82F63B78u;

// Block sizes of the three-way split (bytes a stream). kLong amortises the
// combine step on big batches; kShort still pays off from 3 * 256 bytes up.
constexpr size_t kLong = 8192;
constexpr size_t kShort = 256;

using Matrix = std::array<uint32_t, 32>;
using ShiftTable = std::array<std::array<uint32_t, 256>, 4>;

constexpr uint32_t MatrixTimes(const Matrix& mat, uint32_t vec) {
  uint32_t sum = 0;
  for (int i = 0; vec != 0; ++i, vec >>= 1) {
    if (vec & 1) sum ^= mat[i];
  }
  return sum;
}

constexpr Matrix MatrixSquare(const Matrix& mat) {
  Matrix sq{};
  for (int i = 0; i < 32; ++i) sq[i] = MatrixTimes(mat, mat[i]);
  return sq;
}

// The operator that appends `len` zero bytes (len a power of two) to a raw
// CRC register.
constexpr Matrix ZerosOperator(size_t len) {
  Matrix op{};  // one zero bit
  op[0] = kPolyReflected;
  for (int i = 1; i < 32; ++i) op[i] = 1u << (i - 1);
  for (int i = 0; i < 3; ++i) op = MatrixSquare(op);  // 8 bits = one byte
  for (size_t n = len; n > 1; n >>= 1) op = MatrixSquare(op);
  return op;
}

constexpr ShiftTable MakeShiftTable(size_t len) {
  const Matrix op = ZerosOperator(len);
  ShiftTable t{};
  for (uint32_t b = 0; b < 256; ++b) {
    for (int k = 0; k < 4; ++k) t[k][b] = MatrixTimes(op, b << (8 * k));
  }
  return t;
}

constexpr ShiftTable kShiftLong = MakeShiftTable(kLong);
constexpr ShiftTable kShiftShort = MakeShiftTable(kShort);

inline uint64_t Shift(const ShiftTable& t, uint64_t crc) {
  return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^ t[2][(crc >> 16) & 0xff] ^
         t[3][(crc >> 24) & 0xff];
}

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Consumes floor(n / (3 * block)) triples of `block`-byte runs.
__attribute__((target("sse4.2"))) inline uint64_t ThreeWay(uint64_t crc0, const uint8_t*& p,
                                                           size_t& n, size_t block,
                                                           const ShiftTable& shift) {
  while (n >= 3 * block) {
    uint64_t crc1 = 0;
    uint64_t crc2 = 0;
    const uint8_t* end = p + block;
    do {
      crc0 = _mm_crc32_u64(crc0, Load64(p));
      crc1 = _mm_crc32_u64(crc1, Load64(p + block));
      crc2 = _mm_crc32_u64(crc2, Load64(p + 2 * block));
      p += 8;
    } while (p < end);
    crc0 = Shift(shift, crc0) ^ crc1;
    crc0 = Shift(shift, crc0) ^ crc2;
    p += 2 * block;
    n -= 3 * block;
  }
  return crc0;
}

}  // namespace

bool HardwareAvailable() { return __builtin_cpu_supports("sse4.2"); }

__attribute__((target("sse4.2"))) uint32_t ExtendHardware(uint32_t crc, const uint8_t* p,
                                                          size_t n) {
  uint64_t c = ~crc;
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
    --n;
  }
  c = ThreeWay(c, p, n, kLong, kShiftLong);
  c = ThreeWay(c, p, n, kShort, kShiftShort);
  while (n >= 8) {
    c = _mm_crc32_u64(c, Load64(p));
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
    --n;
  }
  return ~static_cast<uint32_t>(c);
}

#else  // !RUNNEL_CRC32C_X86

bool HardwareAvailable() { return false; }

uint32_t ExtendHardware(uint32_t crc, const uint8_t* p, size_t n) {
  return ExtendPortable(crc, p, n);
}

#endif

}  // namespace runnel::crc32c_internal
