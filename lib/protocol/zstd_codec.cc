// zstd: the zstd frame format (RFC 8878), one frame per payload when we
// write; any sequence of frames, skippable ones included, when we read.
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <bit>
#include <memory>

#include "absl/strings/str_cat.h"
#include "protocol/codecs.h"

namespace runnel::protocol::internal {
namespace {

struct CctxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DctxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// The decoder allocates its window before producing a byte, so a tiny frame
// declaring a huge window costs that much memory. A window larger than the
// whole permitted output is never needed to decode it, but producers do not
// size windows to the payload: zstd picks up to 8 MiB (log 23) for levels up
// to 19 when it does not know the input size (as with Java's streaming
// ZstdOutputStream). So allow max(that, the bound), and never more than
// zstd's own default limit of 128 MiB (log 27), which levels 20-22 reach.
int WindowLogMax(size_t max_output) {
  constexpr int kProducerWindowLog = 23;
  // ZSTD_WINDOWLOG_LIMIT_DEFAULT, which zstd.h hides behind
  // ZSTD_STATIC_LINKING_ONLY.
  constexpr int kZstdDefaultWindowLogLimit = 27;
  const int needed = max_output <= 1 ? 0 : static_cast<int>(std::bit_width(max_output - 1));
  return std::clamp(needed, kProducerWindowLog, kZstdDefaultWindowLogLimit);
}

}  // namespace

int ZstdMinLevel() { return ZSTD_minCLevel(); }
int ZstdMaxLevel() { return ZSTD_maxCLevel(); }

absl::Status ZstdCompress(int level, std::span<const uint8_t> input, ByteBuffer& out) {
  std::unique_ptr<ZSTD_CCtx, CctxDeleter> cctx(ZSTD_createCCtx());
  if (cctx == nullptr) return absl::ResourceExhaustedError("zstd: cannot create context");
  if (size_t rc = ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
      ZSTD_isError(rc)) {
    return absl::InvalidArgumentError(
        absl::StrCat("zstd: compression level ", level, ": ", ZSTD_getErrorName(rc)));
  }
  // One-shot compression records the content size in the frame header,
  // which lets readers size their output in one step.
  const size_t bound = ZSTD_compressBound(input.size());
  const size_t start = out.size();
  uint8_t* dst = out.AppendUninitialized(bound);
  const size_t n = ZSTD_compress2(cctx.get(), dst, bound, input.data(), input.size());
  if (ZSTD_isError(n)) {
    return absl::InternalError(absl::StrCat("zstd: compression failed: ", ZSTD_getErrorName(n)));
  }
  out.Truncate(start + n);
  return absl::OkStatus();
}

absl::Status ZstdDecompress(std::span<const uint8_t> input, size_t max_output, ByteBuffer& out) {
  if (input.empty()) return absl::InvalidArgumentError("zstd: input empty, no frame header");
  std::unique_ptr<ZSTD_DCtx, DctxDeleter> dctx(ZSTD_createDCtx());
  if (dctx == nullptr) return absl::ResourceExhaustedError("zstd: cannot create context");
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, WindowLogMax(max_output));

  // The declared content size is only a hint for the first chunk: it may be
  // absent, wrong, or hostile, and the sink caps it at the bound anyway.
  const unsigned long long declared = ZSTD_getFrameContentSize(input.data(), input.size());
  size_t hint = 0;
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR) {
    hint = static_cast<size_t>(std::min<unsigned long long>(declared, SIZE_MAX));
  }

  BoundedSink sink(out, max_output);
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  std::span<uint8_t> dst = sink.Next(hint);
  // 0 once a frame is complete and flushed; a fresh call starts the next.
  size_t remaining_hint = 1;
  while (true) {
    ZSTD_outBuffer o{dst.data(), dst.size(), 0};
    const size_t before = in.pos;
    remaining_hint = ZSTD_decompressStream(dctx.get(), &o, &in);
    if (ZSTD_isError(remaining_hint)) {
      if (ZSTD_getErrorCode(remaining_hint) == ZSTD_error_frameParameter_windowTooLarge) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "zstd: frame window exceeds the ", 1ull << WindowLogMax(max_output),
            "-byte limit for max_output ", max_output, " (at input byte ", before, ")"));
      }
      return absl::InvalidArgumentError(
          absl::StrCat("zstd: ", ZSTD_getErrorName(remaining_hint), " at input byte ", before));
    }
    sink.Commit(o.pos);
    if (sink.exceeded()) return OutputTooLarge("zstd", max_output);
    if (in.pos == in.size && remaining_hint == 0) break;
    if ((in.pos == in.size && o.pos < o.size) || (in.pos == before && o.pos == 0)) {
      // The frame is unfinished, yet the decoder stopped with room left to
      // write: it needs bytes we do not have.
      return absl::InvalidArgumentError(
          absl::StrCat("zstd: input truncated: frame incomplete after ", input.size(), " bytes"));
    }
    dst = sink.Next();
  }
  sink.Finish();
  return absl::OkStatus();
}

}  // namespace runnel::protocol::internal
