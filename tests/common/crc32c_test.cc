#include "common/crc32c.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <string_view>
#include <vector>

namespace runnel {
namespace {

// Runs `body` once with the hardware path (when the CPU has it) and once with
// the portable one forced, so every known-vector check covers both.
template <typename F>
void ForBothPaths(F body) {
  crc32c_internal::ForcePortableForTesting(false);
  body();
  crc32c_internal::ForcePortableForTesting(true);
  body();
  crc32c_internal::ForcePortableForTesting(false);
}

uint32_t CrcOf(std::string_view s) { return Crc32c(s.data(), s.size()); }

TEST_CASE("CRC-32C check value of \"123456789\"", "[crc32c]") {
  ForBothPaths([] { CHECK(CrcOf("123456789") == 0xE3069283u); });
}

TEST_CASE("CRC-32C of nothing is 0", "[crc32c]") {
  ForBothPaths([] {
    CHECK(Crc32c(nullptr, 0) == 0u);
    CHECK(Crc32cExtend(0xE3069283u, nullptr, 0) == 0xE3069283u);
  });
}

// RFC 3720 (iSCSI), appendix B.4.
TEST_CASE("CRC-32C RFC 3720 vectors", "[crc32c]") {
  ForBothPaths([] {
    uint8_t buf[48];
    std::memset(buf, 0, 32);
    CHECK(Crc32c(buf, 32) == 0x8A9136AAu);
    std::memset(buf, 0xff, 32);
    CHECK(Crc32c(buf, 32) == 0x62A8AB43u);
    for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(i);
    CHECK(Crc32c(buf, 32) == 0x46DD794Eu);
    for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(31 - i);
    CHECK(Crc32c(buf, 32) == 0x113FDB5Cu);
    const uint8_t read10_pdu[48] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
                                    0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    CHECK(Crc32c(read10_pdu, sizeof(read10_pdu)) == 0xD9963A56u);
  });
}

// Bit-at-a-time CRC-32C straight from the definition: the reference the
// table and hardware paths are compared against on random data.
uint32_t ReferenceCrc32c(const uint8_t* p, size_t n) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ ((crc & 1) ? 0x82F63B78u : 0);
  }
  return ~crc;
}

TEST_CASE("CRC-32C reference agrees with the check value", "[crc32c]") {
  const std::string_view s = "123456789";
  CHECK(ReferenceCrc32c(reinterpret_cast<const uint8_t*>(s.data()), s.size()) == 0xE3069283u);
}

TEST_CASE("CRC-32C hardware, portable and reference agree on many lengths and alignments",
          "[crc32c]") {
  std::mt19937_64 rng(12345);
  // Large enough for the 3 x 8 KiB interleaved blocks plus every tail case.
  std::vector<uint8_t> buf(3 * 8192 * 2 + 3 * 256 + 64);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());

  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 80; ++n) lengths.push_back(n);
  for (size_t n : {255u, 256u, 767u, 768u, 769u, 775u, 776u, 1000u, 4096u, 24575u, 24576u, 24577u,
                   24583u, 24584u, 25000u, 49152u, 49152u + 768u + 13u}) {
    lengths.push_back(n);
  }
  const bool hw = crc32c_internal::HardwareAvailable();
  INFO("hardware CRC-32C available: " << hw);
  for (size_t align = 0; align < 8; ++align) {
    for (size_t n : lengths) {
      if (align + n > buf.size()) continue;
      const uint8_t* p = buf.data() + align;
      const uint32_t want = ReferenceCrc32c(p, n);
      INFO("align " << align << " length " << n);
      REQUIRE(crc32c_internal::ExtendPortable(0, p, n) == want);
      if (hw) REQUIRE(crc32c_internal::ExtendHardware(0, p, n) == want);
      REQUIRE(Crc32c(p, n) == want);
    }
  }
}

TEST_CASE("Crc32cExtend over pieces equals one call over the whole", "[crc32c]") {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(30000);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  ForBothPaths([&] {
    const uint32_t whole = Crc32c(buf.data(), buf.size());
    for (size_t cut : {0u, 1u, 7u, 8u, 100u, 769u, 24576u, 29999u, 30000u}) {
      uint32_t c = Crc32c(buf.data(), cut);
      c = Crc32cExtend(c, buf.data() + cut, buf.size() - cut);
      CHECK(c == whole);
    }
  });
}

}  // namespace
}  // namespace runnel
