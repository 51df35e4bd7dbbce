// gzip: a gzip stream (RFC 1952) of deflate data, as Java's GZIPOutputStream
// and librdkafka write. Reading accepts several concatenated members, as
// Java's GZIPInputStream does, but nothing else after the last one.
#include <zlib.h>

#include <algorithm>
#include <climits>

#include "absl/strings/str_cat.h"
#include "protocol/codecs.h"

namespace runnel::protocol::internal {
namespace {

// 15 = 32 KiB window (the largest); +16 = gzip header and trailer instead of
// zlib's.
constexpr int kGzipWindowBits = 15 + 16;
// zlib counts in uInt (32 bits): feed larger buffers in slices.
constexpr size_t kMaxSlice = UINT_MAX;

class Deflater {
 public:
  Deflater() = default;
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  ~Deflater() {
    if (initialized_) deflateEnd(&z_);
  }
  int Init(int level) {
    int rc =
        deflateInit2(&z_, level, Z_DEFLATED, kGzipWindowBits, /*memLevel=*/8, Z_DEFAULT_STRATEGY);
    initialized_ = rc == Z_OK;
    return rc;
  }
  z_stream& z() { return z_; }

 private:
  z_stream z_{};
  bool initialized_ = false;
};

class Inflater {
 public:
  Inflater() = default;
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  ~Inflater() {
    if (initialized_) inflateEnd(&z_);
  }
  int Init() {
    int rc = inflateInit2(&z_, kGzipWindowBits);
    initialized_ = rc == Z_OK;
    return rc;
  }
  z_stream& z() { return z_; }

 private:
  z_stream z_{};
  bool initialized_ = false;
};

absl::Status ZlibError(const char* what, int rc, const z_stream& z, size_t input_pos) {
  const char* msg = z.msg != nullptr ? z.msg : zError(rc);
  return absl::InvalidArgumentError(
      absl::StrCat("gzip: ", what, ": ", msg, " at input byte ", input_pos));
}

}  // namespace

absl::Status GzipCompress(int level, std::span<const uint8_t> input, ByteBuffer& out) {
  Deflater d;
  if (int rc = d.Init(level); rc != Z_OK) {
    return absl::InternalError(absl::StrCat("gzip: deflateInit2 failed: ", zError(rc)));
  }
  z_stream& z = d.z();
  const size_t start = out.size();
  // deflateBound covers the whole stream, gzip header and trailer included,
  // so in the usual case one deflate call does all the work.
  size_t capacity = deflateBound(&z, static_cast<uLong>(std::min(input.size(), kMaxSlice)));
  size_t produced = 0;
  size_t consumed = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (produced == capacity) capacity *= 2;
    out.ResizeUninitialized(start + capacity);
    const size_t in_slice = std::min(input.size() - consumed, kMaxSlice);
    const size_t out_slice = std::min(capacity - produced, kMaxSlice);
    // zlib's API is not const-correct; it never writes through next_in.
    z.next_in = const_cast<Bytef*>(input.data() + consumed);
    z.avail_in = static_cast<uInt>(in_slice);
    z.next_out = out.data() + start + produced;
    z.avail_out = static_cast<uInt>(out_slice);
    const bool last = consumed + in_slice == input.size();
    rc = deflate(&z, last ? Z_FINISH : Z_NO_FLUSH);
    consumed += in_slice - z.avail_in;
    produced += out_slice - z.avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      return absl::InternalError(absl::StrCat("gzip: deflate failed: ", zError(rc)));
    }
  }
  out.Truncate(start + produced);
  return absl::OkStatus();
}

absl::Status GzipDecompress(std::span<const uint8_t> input, size_t max_output, ByteBuffer& out) {
  Inflater inf;
  if (int rc = inf.Init(); rc != Z_OK) {
    return absl::InternalError(absl::StrCat("gzip: inflateInit2 failed: ", zError(rc)));
  }
  z_stream& z = inf.z();
  BoundedSink sink(out, max_output);
  size_t consumed = 0;
  // Deflate rarely beats 4:1 on record batches; a first guess, not a bound.
  std::span<uint8_t> dst = sink.Next(input.size() <= SIZE_MAX / 4 ? input.size() * 4 : 0);
  size_t dst_used = 0;
  while (true) {
    if (dst_used == dst.size()) {
      sink.Commit(dst_used);
      if (sink.exceeded()) return OutputTooLarge("gzip", max_output);
      dst = sink.Next();
      dst_used = 0;
    }
    const size_t in_slice = std::min(input.size() - consumed, kMaxSlice);
    const size_t out_slice = std::min(dst.size() - dst_used, kMaxSlice);
    z.next_in = const_cast<Bytef*>(input.data() + consumed);
    z.avail_in = static_cast<uInt>(in_slice);
    z.next_out = dst.data() + dst_used;
    z.avail_out = static_cast<uInt>(out_slice);
    const int rc = inflate(&z, Z_NO_FLUSH);
    const size_t read = in_slice - z.avail_in;
    const size_t written = out_slice - z.avail_out;
    consumed += read;
    dst_used += written;
    if (rc == Z_STREAM_END) {
      if (consumed == input.size()) break;
      // Another member follows.
      if (inflateReset(&z) != Z_OK) return ZlibError("inflateReset", rc, z, consumed);
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && read == 0 && written == 0) {
      // No progress: either the output chunk is full (handled at the top of
      // the loop) or the input ran out mid-stream.
      if (dst_used < dst.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "gzip: input truncated: stream incomplete after ", consumed, " input bytes"));
      }
      continue;
    }
    if (rc == Z_BUF_ERROR) continue;
    if (rc == Z_MEM_ERROR) {
      return absl::ResourceExhaustedError("gzip: out of memory while inflating");
    }
    return ZlibError("malformed stream", rc, z, consumed);
  }
  sink.Commit(dst_used);
  if (sink.exceeded()) return OutputTooLarge("gzip", max_output);
  sink.Finish();
  return absl::OkStatus();
}

}  // namespace runnel::protocol::internal
