// BoundedSink: the output window shared by the streaming decoders (codecs.h).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "protocol/codecs.h"

namespace runnel::protocol::internal {
namespace {

// First chunk when the decoder has no size hint: big enough that typical
// record batches decode in one or two steps, small enough not to matter.
constexpr size_t kMinChunk = 64 << 10;

}  // namespace

BoundedSink::BoundedSink(ByteBuffer& out, size_t max_output)
    : out_(out),
      start_(out.size()),
      max_output_(max_output),
      limit_(max_output == SIZE_MAX ? SIZE_MAX : max_output + 1) {}

std::span<uint8_t> BoundedSink::Next(size_t size_hint) {
  const size_t room = limit_ - produced_;
  if (room == 0) return {};
  // Doubling the total keeps the number of steps logarithmic; the hint only
  // sizes the first step and is never trusted past the limit.
  size_t chunk = std::max(produced_ == 0 ? size_hint : produced_, kMinChunk);
  chunk = std::min(chunk, room);
  out_.ResizeUninitialized(start_ + produced_ + chunk);
  return {out_.data() + start_ + produced_, chunk};
}

void BoundedSink::Commit(size_t n) {
  produced_ += n;
  out_.Truncate(start_ + produced_);
}

void BoundedSink::Finish() { out_.Truncate(start_ + produced_); }

absl::Status OutputTooLarge(const char* codec, size_t max_output) {
  return absl::ResourceExhaustedError(
      absl::StrCat(codec, ": decompressed size exceeds max_output (", max_output, " bytes)"));
}

}  // namespace runnel::protocol::internal
