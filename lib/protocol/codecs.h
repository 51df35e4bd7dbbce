// Internal to the codecs: one Compress/Decompress pair per codec, called by
// compression.cc after it has resolved and range-checked the level, and the
// bounded output window the streaming decoders write through.
//
// Every function here appends to `out` and, on error, may leave partial
// output behind: compression.cc truncates `out` back to its original size,
// so each codec need not repeat that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "runnel/common/byte_buffer.h"

namespace runnel::protocol::internal {

// `level` is already within the codec's range (see compression.cc).
absl::Status GzipCompress(int level, std::span<const uint8_t> input, ByteBuffer& out);
absl::Status GzipDecompress(std::span<const uint8_t> input, size_t max_output, ByteBuffer& out);

absl::Status SnappyCompress(std::span<const uint8_t> input, ByteBuffer& out);
absl::Status SnappyDecompress(std::span<const uint8_t> input, size_t max_output, ByteBuffer& out);

absl::Status Lz4Compress(int level, std::span<const uint8_t> input, ByteBuffer& out);
absl::Status Lz4Decompress(std::span<const uint8_t> input, size_t max_output, ByteBuffer& out);

absl::Status ZstdCompress(int level, std::span<const uint8_t> input, ByteBuffer& out);
absl::Status ZstdDecompress(std::span<const uint8_t> input, size_t max_output, ByteBuffer& out);

// Lowest and highest zstd level the linked libzstd accepts (negative levels
// are its "fast" modes).
int ZstdMinLevel();
int ZstdMaxLevel();

// The output side of a streaming decoder. It hands out writable space in
// `out` in growing chunks, but never lets the total exceed max_output + 1
// bytes: the one byte past the bound is how a decoder learns the payload is
// too big without inflating it any further, and it keeps the allocation
// proportional to the bound, not to what a hostile header claims.
//
//   BoundedSink sink(out, max_output);
//   while (...) {
//     std::span<uint8_t> dst = sink.Next(hint);
//     size_t written = decode_into(dst);
//     sink.Commit(written);
//     if (sink.exceeded()) return ResourceExhausted;
//   }
//   sink.Finish();  // drops the unused tail
//
// Not thread-safe; lives for one Decompress call.
class BoundedSink {
 public:
  BoundedSink(ByteBuffer& out, size_t max_output);
  BoundedSink(const BoundedSink&) = delete;
  BoundedSink& operator=(const BoundedSink&) = delete;

  // Returns at least one writable byte, more when the bound allows:
  // `size_hint` (e.g. a declared content size) for the first chunk, then
  // chunks that double what has been produced so far. Space handed out
  // before is released: call Commit first. Returns an empty span once
  // max_output + 1 bytes have been produced.
  std::span<uint8_t> Next(size_t size_hint = 0);
  // Records that the first `n` bytes of the last span were written.
  void Commit(size_t n);
  // Shrinks `out` to what was actually produced.
  void Finish();

  size_t produced() const { return produced_; }
  bool exceeded() const { return produced_ > max_output_; }
  size_t max_output() const { return max_output_; }

 private:
  ByteBuffer& out_;
  const size_t start_;
  const size_t max_output_;
  // max_output_ + 1, saturated at SIZE_MAX.
  const size_t limit_;
  size_t produced_ = 0;
};

// "gzip: output exceeds max_output (1048576 bytes)" as ResourceExhausted.
absl::Status OutputTooLarge(const char* codec, size_t max_output);

}  // namespace runnel::protocol::internal
