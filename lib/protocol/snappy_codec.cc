// snappy: written in the xerial snappy-java framing, which every Kafka client
// reads (the Java client needs it); read in that framing or as one raw snappy
// block (librdkafka and some other clients write raw blocks).
//
// xerial framing, all integers big-endian:
//   magic              8 bytes  0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00
//   version            int32    1
//   compatible version int32    1
//   then, repeated to the end of the input:
//     block length     int32    bytes in the block that follows
//     block            raw snappy data (its own varint length, then tags)
#include <snappy.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "protocol/codecs.h"
#include "runnel/common/endian.h"

namespace runnel::protocol::internal {
namespace {

constexpr uint8_t kXerialMagic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00};
constexpr int32_t kXerialVersion = 1;
constexpr int32_t kXerialCompatibleVersion = 1;
constexpr size_t kXerialHeaderSize = sizeof(kXerialMagic) + 4 + 4;  // 16
constexpr size_t kBlockLengthSize = 4;
// Uncompressed bytes a block: snappy-java's default, and what librdkafka
// uses when it writes this framing.
constexpr size_t kXerialBlockSize = 32 << 10;

// Upper bound on uncompressed / compressed bytes in a valid raw block: a
// copy tag with a 2-byte offset (3 bytes) yields at most 64 bytes.
constexpr size_t kMaxExpansion = 22;

const char* AsChars(const uint8_t* p) { return reinterpret_cast<const char*>(p); }

bool HasXerialMagic(std::span<const uint8_t> input) {
  return input.size() >= sizeof(kXerialMagic) &&
         std::memcmp(input.data(), kXerialMagic, sizeof(kXerialMagic)) == 0;
}

// Decodes one raw snappy block at input byte `pos` of the whole payload.
absl::Status DecodeRawBlock(std::span<const uint8_t> block, size_t pos, size_t max_output,
                            size_t produced, ByteBuffer& out) {
  // The length is a varint at the front of the block. It is read first so a
  // hostile block cannot make us allocate more than the bound allows.
  size_t length = 0;
  if (!snappy::GetUncompressedLength(AsChars(block.data()), block.size(), &length)) {
    return absl::InvalidArgumentError(
        absl::StrCat("snappy: block length header invalid at input byte ", pos));
  }
  // No valid block expands more than 64 bytes out of a 3-byte copy tag, so a
  // larger claim is a lie we can refuse without allocating for it.
  if (length / kMaxExpansion > block.size()) {
    return absl::InvalidArgumentError(absl::StrCat("snappy: block at input byte ", pos, " claims ",
                                                   length, " bytes, more than its ", block.size(),
                                                   " bytes can hold"));
  }
  if (length > max_output - produced) return OutputTooLarge("snappy", max_output);
  uint8_t* dst = out.AppendUninitialized(length);
  if (!snappy::RawUncompress(AsChars(block.data()), block.size(), reinterpret_cast<char*>(dst))) {
    return absl::InvalidArgumentError(absl::StrCat("snappy: corrupt block at input byte ", pos));
  }
  return absl::OkStatus();
}

absl::Status DecodeXerial(std::span<const uint8_t> input, size_t max_output, ByteBuffer& out) {
  if (input.size() < kXerialHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "snappy: xerial header truncated: ", input.size(), " of ", kXerialHeaderSize, " bytes"));
  }
  // The two versions are not checked: snappy-java has only ever written 1,
  // and neither it nor librdkafka refuses other values.
  const size_t start = out.size();
  size_t pos = kXerialHeaderSize;
  while (pos < input.size()) {
    if (input.size() - pos < kBlockLengthSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("snappy: xerial block length truncated at input byte ", pos));
    }
    // snappy-java reads concatenated streams: a magic where a block length
    // would be (negative as an int32, so never a length) starts another.
    if (HasXerialMagic(input.subspan(pos))) {
      if (input.size() - pos < kXerialHeaderSize) {
        return absl::InvalidArgumentError(
            absl::StrCat("snappy: xerial header truncated at input byte ", pos));
      }
      pos += kXerialHeaderSize;
      continue;
    }
    const int32_t length = LoadBigEndian<int32_t>(input.data() + pos);
    if (length < 0 || static_cast<size_t>(length) > input.size() - pos - kBlockLengthSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("snappy: xerial block length ", length, " at input byte ", pos,
                       " exceeds the ", input.size() - pos - kBlockLengthSize, " bytes remaining"));
    }
    pos += kBlockLengthSize;
    absl::Status s = DecodeRawBlock(input.subspan(pos, static_cast<size_t>(length)), pos,
                                    max_output, out.size() - start, out);
    if (!s.ok()) return s;
    pos += static_cast<size_t>(length);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SnappyCompress(std::span<const uint8_t> input, ByteBuffer& out) {
  uint8_t* header = out.AppendUninitialized(kXerialHeaderSize);
  std::memcpy(header, kXerialMagic, sizeof(kXerialMagic));
  StoreBigEndian<int32_t>(header + 8, kXerialVersion);
  StoreBigEndian<int32_t>(header + 12, kXerialCompatibleVersion);
  // Empty input is the header alone, as snappy-java writes it; both it and
  // our reader decode that to nothing.
  for (size_t pos = 0; pos < input.size(); pos += kXerialBlockSize) {
    const size_t n = std::min(kXerialBlockSize, input.size() - pos);
    const size_t length_at = out.size();
    out.AppendUninitialized(kBlockLengthSize + snappy::MaxCompressedLength(n));
    size_t compressed = 0;
    snappy::RawCompress(AsChars(input.data() + pos), n,
                        reinterpret_cast<char*>(out.data() + length_at + kBlockLengthSize),
                        &compressed);
    StoreBigEndian<int32_t>(out.data() + length_at, static_cast<int32_t>(compressed));
    out.Truncate(length_at + kBlockLengthSize + compressed);
  }
  return absl::OkStatus();
}

absl::Status SnappyDecompress(std::span<const uint8_t> input, size_t max_output, ByteBuffer& out) {
  // A raw block cannot start with the magic: 0x82 0x53 as a varint length
  // would be followed by a literal tag whose low bits ('N' = 0b01001110) say
  // "copy", which a valid block never starts with.
  if (HasXerialMagic(input)) return DecodeXerial(input, max_output, out);
  return DecodeRawBlock(input, 0, max_output, 0, out);
}

}  // namespace runnel::protocol::internal
