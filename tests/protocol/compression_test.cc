// Compression codecs: round trips, the exact bytes other clients expect,
// payloads made by other implementations, and hostile input (bombs,
// truncation, garbage) that must fail cleanly and leave `out` untouched.
#include "runnel/protocol/compression.h"

#include <snappy.h>
#include <zstd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "runnel/common/endian.h"

namespace runnel::protocol {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr CompressionType kAllCodecs[] = {CompressionType::kNone, CompressionType::kGzip,
                                          CompressionType::kSnappy, CompressionType::kLz4,
                                          CompressionType::kZstd};
constexpr CompressionType kRealCodecs[] = {CompressionType::kGzip, CompressionType::kSnappy,
                                           CompressionType::kLz4, CompressionType::kZstd};
constexpr size_t kMiB = size_t{1} << 20;
constexpr std::string_view kPrefix = "prefix kept";

Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
Bytes ToBytes(const ByteBuffer& b) { return Bytes(b.data(), b.data() + b.size()); }

Bytes ReadFixture(const std::string& name) {
  const std::string path = std::string(RUNNEL_TEST_DATA_DIR) + "/compression/" + name;
  std::ifstream f(path, std::ios::binary);
  INFO("fixture " << path);
  REQUIRE(f.good());
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

Bytes Repeat(const Bytes& b, int times) {
  Bytes r;
  for (int i = 0; i < times; ++i) r.insert(r.end(), b.begin(), b.end());
  return r;
}

// Record-like JSON: repetitive structure with varying values, as real
// payloads are.
Bytes JsonLike(size_t size) {
  std::mt19937 rng(42);
  std::string s;
  s.reserve(size + 200);
  static const char* kEvents[] = {"click", "view", "purchase", "signup"};
  for (int i = 0; s.size() < size; ++i) {
    s += "{\"id\":" + std::to_string(i) + ",\"user\":\"user-" + std::to_string(rng() % 5000) +
         "\",\"event\":\"" + kEvents[rng() % 4] +
         "\",\"ts\":" + std::to_string(1700000000000ull + rng() % 100000) + "}\n";
  }
  s.resize(size);
  return ToBytes(s);
}

Bytes Random(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(size);
  for (auto& c : b) c = static_cast<uint8_t>(rng());
  return b;
}

ByteBuffer Prefilled() {
  ByteBuffer b;
  b.Append(kPrefix);
  return b;
}

Bytes MustCompress(CompressionType type, std::span<const uint8_t> input,
                   int level = kDefaultCompressionLevel) {
  ByteBuffer out;
  absl::Status s = Compress(type, level, input, out);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return ToBytes(out);
}

// Decompresses into a prefilled buffer and checks the prefix survived.
Bytes MustDecompress(CompressionType type, std::span<const uint8_t> input,
                     size_t max_output = 64 * kMiB) {
  ByteBuffer out = Prefilled();
  absl::Status s = Decompress(type, input, max_output, out);
  INFO(CompressionTypeName(type) << ": " << s.ToString());
  REQUIRE(s.ok());
  REQUIRE(out.view().substr(0, kPrefix.size()) == kPrefix);
  return Bytes(out.data() + kPrefix.size(), out.data() + out.size());
}

// Expects failure with `code` and `out` exactly as it was before the call.
void ExpectDecompressFails(CompressionType type, std::span<const uint8_t> input, size_t max_output,
                           absl::StatusCode code) {
  ByteBuffer out = Prefilled();
  absl::Status s = Decompress(type, input, max_output, out);
  INFO(CompressionTypeName(type) << " on " << input.size() << " bytes: " << s.ToString());
  CHECK(s.code() == code);
  CHECK(out.view() == kPrefix);
  // The message names the codec that failed.
  const std::string codec(CompressionTypeName(type));
  CHECK(std::string(s.message()).substr(0, codec.size() + 1) == codec + ":");
}

std::vector<int> LevelsFor(CompressionType type) {
  switch (type) {
    case CompressionType::kGzip:
      return {kDefaultCompressionLevel, -1, 1, 6, 9};
    case CompressionType::kLz4:
      return {kDefaultCompressionLevel, 0, 1, 3, 9, 12};
    case CompressionType::kZstd:
      return {kDefaultCompressionLevel, -5, 0, 1, 3, 9};
    default:
      return {kDefaultCompressionLevel};
  }
}

TEST_CASE("compression type names round trip", "[compression]") {
  for (CompressionType t : kAllCodecs) {
    CHECK(ParseCompressionType(CompressionTypeName(t)) == t);
  }
  CHECK(CompressionTypeName(CompressionType::kZstd) == "zstd");
  CHECK(CompressionTypeName(static_cast<CompressionType>(6)) == "unknown");
  CHECK_FALSE(ParseCompressionType("GZIP").has_value());
  CHECK_FALSE(ParseCompressionType("producer").has_value());
  CHECK_FALSE(ParseCompressionType("").has_value());
}

TEST_CASE("every codec and level round trips", "[compression]") {
  const std::vector<std::pair<std::string, Bytes>> inputs = {
      {"empty", {}},
      {"small", ToBytes("hello, kafka")},
      {"json 1 MiB", JsonLike(kMiB)},
      {"random 1 MiB", Random(kMiB, 7)},
  };
  for (CompressionType type : kAllCodecs) {
    for (int level : LevelsFor(type)) {
      for (const auto& [name, input] : inputs) {
        INFO(CompressionTypeName(type) << " level " << level << " on " << name);
        ByteBuffer packed = Prefilled();
        absl::Status s = Compress(type, level, input, packed);
        INFO(s.ToString());
        REQUIRE(s.ok());
        REQUIRE(packed.view().substr(0, kPrefix.size()) == kPrefix);
        std::span<const uint8_t> payload = packed.span().subspan(kPrefix.size());
        CHECK(MustDecompress(type, payload, input.size()) == input);
        if (type != CompressionType::kNone && name == "json 1 MiB") {
          CHECK(payload.size() < input.size() / 3);
        }
      }
    }
  }
}

TEST_CASE("the highest levels round trip", "[compression]") {
  const Bytes input = JsonLike(64 << 10);
  for (auto [type, level] : {std::pair{CompressionType::kZstd, 22},
                             std::pair{CompressionType::kZstd, ZSTD_minCLevel()}}) {
    INFO("level " << level);
    CHECK(MustDecompress(type, MustCompress(type, input, level)) == input);
  }
}

TEST_CASE("levels outside a codec's range are refused", "[compression]") {
  const Bytes input = ToBytes("abc");
  struct Case {
    CompressionType type;
    int level;
    std::string range;
  };
  for (const Case& c :
       {Case{CompressionType::kGzip, 0, "[1, 9]"}, Case{CompressionType::kGzip, 10, "[1, 9]"},
        Case{CompressionType::kGzip, -2, "[1, 9]"}, Case{CompressionType::kLz4, -1, "[0, 12]"},
        Case{CompressionType::kLz4, 13, "[0, 12]"}, Case{CompressionType::kZstd, 23, "22]"},
        Case{CompressionType::kSnappy, 1, "no levels"},
        Case{CompressionType::kNone, 1, "no levels"}}) {
    ByteBuffer out = Prefilled();
    absl::Status s = Compress(c.type, c.level, input, out);
    INFO(CompressionTypeName(c.type) << " level " << c.level << ": " << s.ToString());
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(s.message()).find(c.range) != std::string::npos);
    CHECK(out.view() == kPrefix);
  }
}

TEST_CASE("unknown compression types are refused", "[compression]") {
  const Bytes input = ToBytes("abc");
  ByteBuffer out = Prefilled();
  CHECK(Compress(static_cast<CompressionType>(5), kDefaultCompressionLevel, input, out).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(Decompress(static_cast<CompressionType>(7), input, kMiB, out).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(out.view() == kPrefix);
}

TEST_CASE("snappy writes the xerial framing snappy-java reads", "[compression][snappy]") {
  const uint8_t kHeader[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00, 0, 0, 0, 1, 0, 0, 0, 1};
  SECTION("empty input is the header alone") {
    CHECK(MustCompress(CompressionType::kSnappy, {}) == Bytes(kHeader, kHeader + 16));
  }
  SECTION("32 KiB blocks, each a length-prefixed raw snappy block") {
    const Bytes input = JsonLike(100000);  // 3 full blocks and 1696 bytes
    const Bytes packed = MustCompress(CompressionType::kSnappy, input);
    REQUIRE(packed.size() > 16);
    CHECK(Bytes(packed.begin(), packed.begin() + 16) == Bytes(kHeader, kHeader + 16));
    // Walk the blocks with libsnappy alone, independently of our reader.
    Bytes rebuilt;
    std::vector<size_t> block_sizes;
    size_t pos = 16;
    while (pos < packed.size()) {
      REQUIRE(packed.size() - pos >= 4);
      const auto length = static_cast<size_t>(LoadBigEndian<int32_t>(packed.data() + pos));
      pos += 4;
      REQUIRE(length <= packed.size() - pos);
      std::string block;
      REQUIRE(
          snappy::Uncompress(reinterpret_cast<const char*>(packed.data() + pos), length, &block));
      block_sizes.push_back(block.size());
      rebuilt.insert(rebuilt.end(), block.begin(), block.end());
      pos += length;
    }
    CHECK(block_sizes == std::vector<size_t>{32768, 32768, 32768, 1696});
    CHECK(rebuilt == input);
  }
}

TEST_CASE("snappy reads raw blocks and hand-made xerial streams", "[compression][snappy]") {
  SECTION("a raw block spelled out by hand") {
    // varint length 5, literal tag (5 - 1) << 2, the bytes.
    const Bytes raw = {0x05, 0x10, 'h', 'e', 'l', 'l', 'o'};
    CHECK(MustDecompress(CompressionType::kSnappy, raw) == ToBytes("hello"));
  }
  SECTION("a raw block with a back-reference") {
    // "abcd" as a literal, then copy-1 tag: length 8 (4 + ((8-4) << 2)), offset 4.
    const Bytes raw = {12, 0x0c, 'a', 'b', 'c', 'd', (4 << 2) | 0x01, 4};
    CHECK(MustDecompress(CompressionType::kSnappy, raw) == ToBytes("abcdabcdabcd"));
  }
  SECTION("1 MiB compressed by libsnappy as one raw block") {
    const Bytes input = JsonLike(kMiB);
    std::string raw;
    snappy::Compress(reinterpret_cast<const char*>(input.data()), input.size(), &raw);
    CHECK(MustDecompress(CompressionType::kSnappy, ToBytes(raw)) == input);
  }
  SECTION("xerial streams with odd block sizes, concatenated") {
    // snappy-java with a non-default block size, twice, back to back.
    const Bytes input = JsonLike(50000);
    Bytes stream = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    for (size_t pos = 0; pos < input.size(); pos += 7000) {
      std::string block;
      snappy::Compress(reinterpret_cast<const char*>(input.data() + pos),
                       std::min<size_t>(7000, input.size() - pos), &block);
      uint8_t length[4];
      StoreBigEndian<int32_t>(length, static_cast<int32_t>(block.size()));
      stream.insert(stream.end(), length, length + 4);
      stream.insert(stream.end(), block.begin(), block.end());
    }
    CHECK(MustDecompress(CompressionType::kSnappy, stream) == input);
    CHECK(MustDecompress(CompressionType::kSnappy, Repeat(stream, 2)) == Repeat(input, 2));
  }
}

TEST_CASE("payloads written by other implementations decode", "[compression][interop]") {
  const Bytes plain = ReadFixture("plain.txt");
  REQUIRE(plain.size() == 3941);
  struct Case {
    CompressionType type;
    const char* file;
    int copies;
  };
  for (const Case& c :
       {Case{CompressionType::kGzip, "plain.python.gz", 1},
        Case{CompressionType::kGzip, "plain.cli.gz", 1},
        Case{CompressionType::kGzip, "plain_twice.members.gz", 2},
        Case{CompressionType::kZstd, "plain.zst", 1},
        Case{CompressionType::kZstd, "plain.nosize.zst", 1},
        Case{CompressionType::kZstd, "plain_twice.frames.zst", 2},
        Case{CompressionType::kLz4, "plain.lz4", 1}, Case{CompressionType::kLz4, "plain.hc.lz4", 1},
        Case{CompressionType::kLz4, "plain_x20.linked.lz4", 20}}) {
    INFO(c.file);
    const Bytes packed = ReadFixture(c.file);
    CHECK(MustDecompress(c.type, packed) == Repeat(plain, c.copies));
    // Small output chunks must not break frames that span them.
    CHECK(MustDecompress(c.type, packed, plain.size() * c.copies) == Repeat(plain, c.copies));
  }
}

TEST_CASE("max_output is exact", "[compression]") {
  const Bytes input = JsonLike(200000);
  for (CompressionType type : kAllCodecs) {
    INFO(CompressionTypeName(type));
    const Bytes packed = MustCompress(type, input);
    CHECK(MustDecompress(type, packed, input.size()) == input);
    ExpectDecompressFails(type, packed, input.size() - 1, absl::StatusCode::kResourceExhausted);
    ExpectDecompressFails(type, packed, 0, absl::StatusCode::kResourceExhausted);
  }
}

TEST_CASE("decompression bombs are refused without inflating them", "[compression][bomb]") {
  // 100 MiB of zeros compresses to between 10 KB (zstd) and 5 MB (snappy).
  const Bytes zeros(100 * kMiB, 0);
  for (CompressionType type : kRealCodecs) {
    INFO(CompressionTypeName(type));
    const Bytes bomb = MustCompress(type, zeros);
    CHECK(bomb.size() < 6 * kMiB);
    ByteBuffer out = Prefilled();
    absl::Status s = Decompress(type, bomb, kMiB, out);
    INFO(s.ToString());
    CHECK(s.code() == absl::StatusCode::kResourceExhausted);
    CHECK(out.view() == kPrefix);
    // The buffer grew at most to about the bound, never towards 100 MiB.
    CHECK(out.capacity() <= 4 * kMiB);
  }
  SECTION("a raw snappy block claiming 100 MiB is refused before allocation") {
    std::string raw;
    snappy::Compress(reinterpret_cast<const char*>(zeros.data()), zeros.size(), &raw);
    ByteBuffer out = Prefilled();
    CHECK(Decompress(CompressionType::kSnappy, ToBytes(raw), kMiB, out).code() ==
          absl::StatusCode::kResourceExhausted);
    CHECK(out.capacity() < kMiB);
  }
  SECTION("a raw snappy block claiming more than it can hold is malformed") {
    // varint 0xffffffff (4 GiB - 1), then a 2-byte literal.
    const Bytes raw = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x04, 'h', 'i'};
    ExpectDecompressFails(CompressionType::kSnappy, raw, SIZE_MAX,
                          absl::StatusCode::kInvalidArgument);
  }
}

// A zstd frame of `input` whose header declares a 2^window_log window and no
// content size, as a streaming producer writes.
Bytes ZstdFrameWithWindow(const Bytes& input, int window_log) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  REQUIRE(cctx != nullptr);
  REQUIRE(!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, window_log)));
  Bytes packed(ZSTD_compressBound(input.size()) + 64);
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  ZSTD_outBuffer o{packed.data(), packed.size(), 0};
  // Feeding the input before ending the frame keeps its size unknown (a
  // single ZSTD_e_end call would record it and shrink the window to fit).
  const size_t fed = ZSTD_compressStream2(cctx, &o, &in, ZSTD_e_continue);
  const size_t rc = ZSTD_compressStream2(cctx, &o, &in, ZSTD_e_end);
  ZSTD_freeCCtx(cctx);
  REQUIRE(!ZSTD_isError(fed));
  REQUIRE(rc == 0);
  packed.resize(o.pos);
  REQUIRE(ZSTD_getFrameContentSize(packed.data(), packed.size()) == ZSTD_CONTENTSIZE_UNKNOWN);
  return packed;
}

TEST_CASE("zstd frames asking for huge windows are resource errors", "[compression][zstd]") {
  // The decoder reserves the window before writing a byte, so the window a
  // frame may ask for grows with max_output: 8 MiB at least, as producers
  // use up to that at ordinary levels, and 128 MiB at most, zstd's default.
  const Bytes input = JsonLike(1000);
  CHECK(MustDecompress(CompressionType::kZstd, ZstdFrameWithWindow(input, 23), 1000) == input);
  const Bytes window_64mib = ZstdFrameWithWindow(input, 26);
  ExpectDecompressFails(CompressionType::kZstd, window_64mib, kMiB,
                        absl::StatusCode::kResourceExhausted);
  CHECK(MustDecompress(CompressionType::kZstd, window_64mib, 64 * kMiB) == input);
  ExpectDecompressFails(CompressionType::kZstd, ZstdFrameWithWindow(input, 30), size_t{1} << 32,
                        absl::StatusCode::kResourceExhausted);
}

TEST_CASE("truncated input is malformed, never a crash", "[compression]") {
  const Bytes input = JsonLike(64 << 10);
  for (CompressionType type : kRealCodecs) {
    const Bytes packed = MustCompress(type, input);
    // Length 16 would be a valid (empty) xerial stream; skip nothing else.
    for (size_t len : {size_t{0}, size_t{1}, size_t{5}, size_t{12}, size_t{20}, packed.size() / 2,
                       packed.size() - 1}) {
      INFO(CompressionTypeName(type) << " cut to " << len << " of " << packed.size());
      ExpectDecompressFails(type, std::span(packed).first(len), 64 * kMiB,
                            absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST_CASE("garbage is malformed, never a crash", "[compression]") {
  for (CompressionType type : kRealCodecs) {
    for (uint32_t seed = 1; seed <= 20; ++seed) {
      const Bytes garbage = Random(seed * 37, seed);
      ExpectDecompressFails(type, garbage, 64 * kMiB, absl::StatusCode::kInvalidArgument);
    }
  }
  // Text, then a valid payload with trailing bytes.
  const Bytes input = JsonLike(10000);
  for (CompressionType type : kRealCodecs) {
    ExpectDecompressFails(type, ToBytes("definitely not compressed"), kMiB,
                          absl::StatusCode::kInvalidArgument);
    Bytes trailing = MustCompress(type, input);
    trailing.push_back(0x00);
    trailing.push_back(0x01);
    ExpectDecompressFails(type, trailing, kMiB, absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("corrupted payloads fail cleanly or decode", "[compression]") {
  // Without checksums some flips decode to other bytes; what matters is no
  // crash, no overrun, and `out` restored whenever the call fails.
  const Bytes input = JsonLike(64 << 10);
  std::mt19937 rng(99);
  for (CompressionType type : kRealCodecs) {
    const Bytes packed = MustCompress(type, input);
    int failures = 0;
    for (int i = 0; i < 200; ++i) {
      Bytes bad = packed;
      bad[rng() % bad.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
      ByteBuffer out = Prefilled();
      absl::Status s = Decompress(type, bad, input.size() * 2, out);
      if (!s.ok()) {
        ++failures;
        CHECK(out.view() == kPrefix);
      } else {
        CHECK(out.size() <= kPrefix.size() + input.size() * 2);
      }
    }
    INFO(CompressionTypeName(type));
    CHECK(failures > 0);
  }
}

}  // namespace
}  // namespace runnel::protocol
