#include "broker/fetch_response.h"

#include <cstring>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/encode.h"
#include "runnel/common/endian.h"
#include "runnel/protocol/api_keys.h"

namespace runnel::broker {
namespace {

constexpr size_t kMarkerBytes = 16;

// The length prefix of a bytes field: int32 before the API's first flexible
// version, unsigned varint of length + 1 from it on.
void AppendLengthPrefix(ByteBuffer& out, int64_t length, bool flexible) {
  if (!flexible) {
    uint32_t v = static_cast<uint32_t>(length);
    uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                    static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
    out.Append(b, 4);
    return;
  }
  uint64_t v = static_cast<uint64_t>(length) + 1;
  while (v >= 0x80) {
    out.PushBack(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.PushBack(static_cast<uint8_t>(v));
}

size_t LengthPrefixSize(int64_t length, bool flexible) {
  ByteBuffer b;
  AppendLengthPrefix(b, length, flexible);
  return b.size();
}

}  // namespace

FetchResponseBuilder::FetchResponseBuilder() : nonce_(std::random_device{}()) {
  nonce_ = (nonce_ << 32) ^ std::random_device{}();
}

std::vector<uint8_t> FetchResponseBuilder::Placeholder(std::vector<storage::FileSlice> slices) {
  if (slices.empty()) return {};
  Pending p;
  p.marker.resize(kMarkerBytes);
  uint64_t index = pending_.size();
  std::memcpy(p.marker.data(), &nonce_, 8);
  std::memcpy(p.marker.data() + 8, &index, 8);
  for (const auto& s : slices) p.length += s.length;
  p.slices = std::move(slices);
  pending_.push_back(std::move(p));
  return pending_.back().marker;
}

absl::StatusOr<Response> FetchResponseBuilder::Finish(const Request& request,
                                                      const protocol::FetchResponse& body) {
  absl::StatusOr<Response> encoded = EncodeResponse(request, body);
  if (!encoded.ok() || pending_.empty()) return encoded;
  ByteBuffer& frame = std::get<ByteBuffer>(encoded->chunks[0]);
  bool flexible = protocol::kFetchApi.IsFlexible(request.header.api_version);
  size_t old_prefix = LengthPrefixSize(kMarkerBytes, flexible);

  Response out;
  ByteBuffer current;
  size_t cursor = 0;
  int64_t total = static_cast<int64_t>(frame.size());
  for (Pending& p : pending_) {
    const uint8_t* base = frame.data();
    const void* hit = memmem(base + cursor, frame.size() - cursor, p.marker.data(), kMarkerBytes);
    if (hit == nullptr || static_cast<const uint8_t*>(hit) - base < static_cast<ptrdiff_t>(old_prefix)) {
      return absl::InternalError("fetch response marker not found in the encoded frame");
    }
    size_t at = static_cast<size_t>(static_cast<const uint8_t*>(hit) - base);
    current.Append(base + cursor, at - old_prefix - cursor);
    AppendLengthPrefix(current, p.length, flexible);
    total += static_cast<int64_t>(LengthPrefixSize(p.length, flexible)) - old_prefix -
             static_cast<int64_t>(kMarkerBytes) + p.length;
    out.chunks.emplace_back(std::move(current));
    current = ByteBuffer();
    for (storage::FileSlice& s : p.slices) {
      out.chunks.emplace_back(FileRange{std::move(s.file), s.fd, s.position, s.length});
    }
    cursor = at + kMarkerBytes;
  }
  current.Append(frame.data() + cursor, frame.size() - cursor);
  out.chunks.emplace_back(std::move(current));
  // The frame's size prefix counts everything after itself.
  int64_t payload = total - static_cast<int64_t>(protocol::kFrameSizeBytes);
  if (payload > INT32_MAX) return absl::OutOfRangeError("fetch response above 2 GiB");
  ByteBuffer& first = std::get<ByteBuffer>(out.chunks[0]);
  uint32_t v = static_cast<uint32_t>(payload);
  first.data()[0] = static_cast<uint8_t>(v >> 24);
  first.data()[1] = static_cast<uint8_t>(v >> 16);
  first.data()[2] = static_cast<uint8_t>(v >> 8);
  first.data()[3] = static_cast<uint8_t>(v);
  return out;
}

}  // namespace runnel::broker
