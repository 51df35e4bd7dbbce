// Compression codecs for record batch payloads: gzip, snappy, lz4, zstd.
//
// A record batch v2 compresses all its records as one block; the codec is in
// bits 0-2 of the batch attributes (CompressionType below). Each codec here
// reads and writes exactly what Kafka clients do: a gzip stream, snappy in
// the xerial snappy-java framing when writing and either xerial or raw
// snappy when reading, the LZ4 frame format, and the zstd frame format.
//
// Decompression is bounded: `max_output` caps how many bytes a payload may
// inflate to, so a hostile batch cannot exhaust memory. Exceeding it is an
// error, not a truncation.
//
//   runnel::ByteBuffer packed, unpacked;
//   RUNNEL_RETURN_IF_ERROR(runnel::protocol::Compress(
//       runnel::protocol::CompressionType::kZstd, /*level=*/3, raw, packed));
//   RUNNEL_RETURN_IF_ERROR(runnel::protocol::Decompress(
//       runnel::protocol::CompressionType::kZstd, packed.span(),
//       /*max_output=*/64 << 20, unpacked));
//
// All functions are thread-safe and allocate no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "runnel/common/byte_buffer.h"

namespace runnel::protocol {

// The values are Kafka's: bits 0-2 of a record batch's attributes.
enum class CompressionType : int8_t {
  kNone = 0,
  kGzip = 1,
  kSnappy = 2,
  kLz4 = 3,
  kZstd = 4,
};

// Uses the codec's own default level (gzip 6, lz4 0 = fast, zstd 3; snappy
// has no levels).
inline constexpr int kDefaultCompressionLevel = -1000;

// "none", "gzip", "snappy", "lz4", "zstd".
std::string_view CompressionTypeName(CompressionType type);
// Parses the names above (as in compression.type); nullopt when unknown.
std::optional<CompressionType> ParseCompressionType(std::string_view name);

// Appends the compressed form of `input` to `out`. Levels: gzip 1-9 or -1
// (= 6); lz4 0-12 (0-2 fast mode, 3-12 high compression); zstd
// ZSTD_minCLevel() (negative = fast) to 22, 0 meaning zstd's default (3);
// snappy and none have no levels and take only kDefaultCompressionLevel.
// Any other level is an InvalidArgument error naming the range, and `out`
// is left as it was.
absl::Status Compress(CompressionType type, int level, std::span<const uint8_t> input,
                      ByteBuffer& out);

// Appends the decompressed form of `input` to `out`. Malformed input is an
// InvalidArgument error saying which codec failed and why; inflating past
// `max_output` bytes is a ResourceExhausted error, as is a zstd frame whose
// window is larger than max(8 MiB, max_output) or 128 MiB (the decoder
// would reserve it up front). `out` keeps what it had before the call in
// both cases (anything appended is dropped), and never grows much past
// max_output on the way. Concatenated gzip members, zstd frames, lz4 frames
// and xerial snappy streams decode as one payload; bytes after the last are
// malformed input. Empty input is malformed for every codec but none.
absl::Status Decompress(CompressionType type, std::span<const uint8_t> input,
                        size_t max_output, ByteBuffer& out);

}  // namespace runnel::protocol
