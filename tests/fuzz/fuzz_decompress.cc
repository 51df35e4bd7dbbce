// libFuzzer target for the compression codecs' decoders.
//
// Input: the first byte picks the codec (its value mod 5: none, gzip,
// snappy, lz4, zstd); the rest is the payload, decompressed with a 1 MiB
// bound into a buffer that already holds a few bytes. Any crash, sanitizer
// report or abort below is a bug: decoders must answer hostile bytes with a
// status, keep to the bound, and leave the buffer's old bytes alone.
//
// Built by hand (from the repository root; meson builds it with
// -Dfuzzers=true once tests/fuzz/meson.build lists it):
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined \
//     -Iinclude -Ilib tests/fuzz/fuzz_decompress.cc lib/protocol/{compression,\
//     bounded_sink,gzip_codec,snappy_codec,lz4_codec,zstd_codec}.cc \
//     $(pkg-config --cflags --libs absl_status absl_statusor absl_strings \
//       libzstd liblz4 snappy zlib) -o fuzz_decompress
//   ./fuzz_decompress -max_total_time=30 tests/fuzz/corpus/fuzz_decompress
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "runnel/protocol/compression.h"

namespace {

constexpr size_t kMaxOutput = size_t{1} << 20;
constexpr char kPrefix[] = "prefix";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto type = static_cast<runnel::protocol::CompressionType>(data[0] % 5);
  std::span<const uint8_t> payload(data + 1, size - 1);

  runnel::ByteBuffer out;
  out.Append(kPrefix, sizeof(kPrefix));
  const absl::Status s = runnel::protocol::Decompress(type, payload, kMaxOutput, out);
  if (std::memcmp(out.data(), kPrefix, sizeof(kPrefix)) != 0) std::abort();
  if (s.ok()) {
    if (out.size() > sizeof(kPrefix) + kMaxOutput) std::abort();
  } else {
    if (out.size() != sizeof(kPrefix)) std::abort();
    if (s.code() != absl::StatusCode::kInvalidArgument &&
        s.code() != absl::StatusCode::kResourceExhausted) {
      std::abort();
    }
  }
  return 0;
}
