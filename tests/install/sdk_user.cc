// A program built only from the installed headers and runnel.pc: proves that
// a C++ service can include the public API and link the SDK.
#include <cstdio>
#include <string>

#include "runnel/common/byte_buffer.h"
#include "runnel/protocol/compression.h"
#include "runnel/protocol/header.h"
#include "runnel/protocol/messages/metadata.h"
#include "runnel/protocol/wire.h"

namespace rp = runnel::protocol;

// A generated message through the installed frame helpers: the header a
// client writes, then the body decoded back as a broker would.
static bool MetadataRoundTrips() {
  rp::MetadataRequest request;
  rp::MetadataRequest::MetadataRequestTopic topic;
  topic.name = "orders";
  request.topics.emplace();
  request.topics->push_back(topic);
  rp::RequestHeader header{.api_key = rp::MetadataRequest::kApiKey,
                           .api_version = 12,
                           .correlation_id = 7,
                           .client_id = "sdk_user"};
  runnel::ByteBuffer frame;
  if (!rp::EncodeRequestFrame(header, request, &frame).ok()) return false;
  rp::Reader reader(frame.span().subspan(rp::kFrameSizeBytes));
  auto decoded_header = rp::DecodeRequestHeader(reader);
  if (!decoded_header.ok() || decoded_header->correlation_id != 7) return false;
  auto decoded = rp::MetadataRequest::Decode(reader, 12);
  return decoded.ok() && decoded->topics && decoded->topics->size() == 1 &&
         (*decoded->topics)[0].name == "orders";
}

int main() {
  std::string text(4096, 'r');
  runnel::ByteBuffer packed;
  runnel::ByteBuffer unpacked;
  auto input = std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  for (auto type : {rp::CompressionType::kGzip,
                    rp::CompressionType::kZstd}) {
    packed.Clear();
    unpacked.Clear();
    absl::Status s = rp::Compress(
        type, rp::kDefaultCompressionLevel, input, packed);
    if (s.ok()) s = rp::Decompress(type, packed.span(), 1 << 20, unpacked);
    if (!s.ok() || unpacked.view() != text) {
      std::fprintf(stderr, "round trip through %s failed: %s\n",
                   std::string(rp::CompressionTypeName(type)).c_str(),
                   s.ToString().c_str());
      return 1;
    }
  }
  if (!MetadataRoundTrips()) {
    std::fprintf(stderr, "Metadata v12 request did not survive encode and decode\n");
    return 1;
  }
  std::printf("sdk_user: linked against the installed runnel and round-tripped data\n");
  return 0;
}
