// Dispatch from CompressionType to the codec, level defaults and ranges, and
// the promise that a failed call leaves `out` as it found it.
#include "runnel/protocol/compression.h"

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "protocol/codecs.h"

namespace runnel::protocol {
namespace {

struct LevelRange {
  int min;
  int max;
  int default_level;
};

// Returns the level to hand the codec, or InvalidArgument naming the range.
absl::StatusOr<int> ResolveLevel(const char* codec, LevelRange range, int level) {
  if (level == kDefaultCompressionLevel) return range.default_level;
  if (level < range.min || level > range.max) {
    return absl::InvalidArgumentError(absl::StrCat(
        codec, ": compression level ", level, " out of range [", range.min, ", ", range.max, "]"));
  }
  return level;
}

absl::Status NoLevels(const char* codec, int level) {
  if (level == kDefaultCompressionLevel) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(codec, ": compression level ", level,
                   " given, but the codec has no levels (use kDefaultCompressionLevel)"));
}

absl::Status UnknownType(CompressionType type) {
  return absl::InvalidArgumentError(
      absl::StrCat("unknown compression type ", static_cast<int>(type)));
}

absl::Status CompressImpl(CompressionType type, int level, std::span<const uint8_t> input,
                          ByteBuffer& out) {
  switch (type) {
    case CompressionType::kNone: {
      absl::Status s = NoLevels("none", level);
      if (!s.ok()) return s;
      out.Append(input);
      return absl::OkStatus();
    }
    case CompressionType::kGzip: {
      // zlib's Z_DEFAULT_COMPRESSION (-1) is level 6; Kafka's
      // compression.gzip.level accepts it too, so we do.
      if (level == -1) level = 6;
      absl::StatusOr<int> l = ResolveLevel("gzip", {1, 9, 6}, level);
      if (!l.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(l.status().message(), " or -1"));
      }
      return internal::GzipCompress(*l, input, out);
    }
    case CompressionType::kSnappy: {
      absl::Status s = NoLevels("snappy", level);
      if (!s.ok()) return s;
      return internal::SnappyCompress(input, out);
    }
    case CompressionType::kLz4: {
      // 0 is LZ4's fast mode (what Kafka clients write by default), 3-12
      // high compression; lz4 treats 1-2 as fast mode too.
      absl::StatusOr<int> l = ResolveLevel("lz4", {0, 12, 0}, level);
      if (!l.ok()) return l.status();
      return internal::Lz4Compress(*l, input, out);
    }
    case CompressionType::kZstd: {
      // 0 is zstd's own "default" (3); negative levels are its fast modes.
      absl::StatusOr<int> l =
          ResolveLevel("zstd", {internal::ZstdMinLevel(), internal::ZstdMaxLevel(), 3}, level);
      if (!l.ok()) return l.status();
      return internal::ZstdCompress(*l, input, out);
    }
  }
  return UnknownType(type);
}

absl::Status DecompressImpl(CompressionType type, std::span<const uint8_t> input, size_t max_output,
                            ByteBuffer& out) {
  switch (type) {
    case CompressionType::kNone:
      if (input.size() > max_output) return internal::OutputTooLarge("none", max_output);
      out.Append(input);
      return absl::OkStatus();
    case CompressionType::kGzip:
      return internal::GzipDecompress(input, max_output, out);
    case CompressionType::kSnappy:
      return internal::SnappyDecompress(input, max_output, out);
    case CompressionType::kLz4:
      return internal::Lz4Decompress(input, max_output, out);
    case CompressionType::kZstd:
      return internal::ZstdDecompress(input, max_output, out);
  }
  return UnknownType(type);
}

}  // namespace

std::string_view CompressionTypeName(CompressionType type) {
  switch (type) {
    case CompressionType::kNone:
      return "none";
    case CompressionType::kGzip:
      return "gzip";
    case CompressionType::kSnappy:
      return "snappy";
    case CompressionType::kLz4:
      return "lz4";
    case CompressionType::kZstd:
      return "zstd";
  }
  return "unknown";
}

std::optional<CompressionType> ParseCompressionType(std::string_view name) {
  // Exact, lower-case names, as Kafka's CompressionType.forName accepts.
  for (CompressionType t :
       {CompressionType::kNone, CompressionType::kGzip, CompressionType::kSnappy,
        CompressionType::kLz4, CompressionType::kZstd}) {
    if (name == CompressionTypeName(t)) return t;
  }
  return std::nullopt;
}

absl::Status Compress(CompressionType type, int level, std::span<const uint8_t> input,
                      ByteBuffer& out) {
  const size_t original_size = out.size();
  absl::Status s = CompressImpl(type, level, input, out);
  if (!s.ok()) out.Truncate(original_size);
  return s;
}

absl::Status Decompress(CompressionType type, std::span<const uint8_t> input, size_t max_output,
                        ByteBuffer& out) {
  const size_t original_size = out.size();
  absl::Status s = DecompressImpl(type, input, max_output, out);
  if (!s.ok()) out.Truncate(original_size);
  return s;
}

}  // namespace runnel::protocol
