// lz4: the LZ4 frame format (magic 0x184D2204), as record batch v2 carries
// it. Message sets v0/v1 differ: Kafka before 0.10 computed the frame header
// checksum over the magic too (KAFKA-3160), so those frames fail here with
// ERROR_headerChecksum_invalid; record batch v2 has always used the correct
// checksum and this codec only serves v2.
#include <lz4frame.h>

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "protocol/codecs.h"

namespace runnel::protocol::internal {
namespace {

struct DctxDeleter {
  void operator()(LZ4F_dctx* dctx) const { LZ4F_freeDecompressionContext(dctx); }
};
using DctxPtr = std::unique_ptr<LZ4F_dctx, DctxDeleter>;

absl::Status Lz4Error(const char* what, size_t code, size_t pos) {
  return absl::InvalidArgumentError(
      absl::StrCat("lz4: ", what, ": ", LZ4F_getErrorName(code), " at input byte ", pos));
}

}  // namespace

absl::Status Lz4Compress(int level, std::span<const uint8_t> input, ByteBuffer& out) {
  // What the Java client and librdkafka write: 64 KiB independent blocks, no
  // content size, no checksums beyond the header's (the record batch has its
  // own CRC). The Java reader refuses dependent blocks.
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
  prefs.frameInfo.frameType = LZ4F_frame;
  prefs.compressionLevel = level;
  const size_t bound = LZ4F_compressFrameBound(input.size(), &prefs);
  const size_t start = out.size();
  uint8_t* dst = out.AppendUninitialized(bound);
  const size_t n = LZ4F_compressFrame(dst, bound, input.data(), input.size(), &prefs);
  if (LZ4F_isError(n)) {
    return absl::InternalError(
        absl::StrCat("lz4: LZ4F_compressFrame failed: ", LZ4F_getErrorName(n)));
  }
  out.Truncate(start + n);
  return absl::OkStatus();
}

absl::Status Lz4Decompress(std::span<const uint8_t> input, size_t max_output, ByteBuffer& out) {
  if (input.empty()) return absl::InvalidArgumentError("lz4: input empty, no frame header");
  LZ4F_dctx* raw = nullptr;
  if (size_t rc = LZ4F_createDecompressionContext(&raw, LZ4F_VERSION); LZ4F_isError(rc)) {
    return absl::InternalError(
        absl::StrCat("lz4: cannot create decompression context: ", LZ4F_getErrorName(rc)));
  }
  DctxPtr dctx(raw);
  BoundedSink sink(out, max_output);
  std::span<uint8_t> dst;
  size_t dst_used = 0;
  size_t pos = 0;
  bool in_frame = false;
  size_t frame_start = 0;
  // Several frames may follow each other (the lz4 CLI's concatenated output,
  // or skippable frames); the payload ends at the end of a frame.
  while (in_frame || pos < input.size()) {
    if (!in_frame) {
      // Decoding the header on its own tells a bad header apart from bad
      // data, and yields the content size (when written) as a size hint.
      LZ4F_frameInfo_t info{};
      size_t header_size = input.size() - pos;
      const size_t rc = LZ4F_getFrameInfo(dctx.get(), &info, input.data() + pos, &header_size);
      if (LZ4F_isError(rc)) return Lz4Error("frame header invalid", rc, pos);
      frame_start = pos;
      pos += header_size;
      in_frame = true;
      if (dst.empty()) {
        dst = sink.Next(
            static_cast<size_t>(std::min<unsigned long long>(info.contentSize, SIZE_MAX)));
      }
    }
    if (dst_used == dst.size()) {
      sink.Commit(dst_used);
      if (sink.exceeded()) return OutputTooLarge("lz4", max_output);
      dst = sink.Next();
      dst_used = 0;
    }
    size_t written = dst.size() - dst_used;
    size_t read = input.size() - pos;
    const size_t rc = LZ4F_decompress(dctx.get(), dst.data() + dst_used, &written,
                                      input.data() + pos, &read, nullptr);
    if (LZ4F_isError(rc)) {
      return absl::InvalidArgumentError(
          absl::StrCat("lz4: frame data invalid: ", LZ4F_getErrorName(rc), " after input byte ",
                       pos, " (frame at input byte ", frame_start, ")"));
    }
    pos += read;
    dst_used += written;
    if (rc == 0) {
      in_frame = false;
    } else if (read == 0 && written == 0) {
      // Room to write and nothing came out: the decoder needs more input.
      return absl::InvalidArgumentError(absl::StrCat("lz4: input truncated: frame at input byte ",
                                                     frame_start, " incomplete after ",
                                                     input.size(), " bytes"));
    }
  }
  sink.Commit(dst_used);
  if (sink.exceeded()) return OutputTooLarge("lz4", max_output);
  sink.Finish();
  return absl::OkStatus();
}

}  // namespace runnel::protocol::internal
