// Request/response headers and frames, checked against byte layouts written
// out by hand from the Kafka protocol guide.
#include "runnel/protocol/header.h"

#include <cstdint>
#include <vector>

#include "catch2/catch.hpp"
#include "runnel/protocol/api_keys.h"
#include "runnel/protocol/messages/api_versions.h"
#include "runnel/protocol/messages/metadata.h"

namespace runnel::protocol {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes ToBytes(const ByteBuffer& b) { return {b.data(), b.data() + b.size()}; }

TEST_CASE("header versions", "[header]") {
  CHECK(RequestHeaderVersion(0, 8) == 1);   // Produce before flexible versions
  CHECK(RequestHeaderVersion(0, 9) == 2);
  CHECK(RequestHeaderVersion(18, 2) == 1);  // ApiVersions
  CHECK(RequestHeaderVersion(18, 3) == 2);
  CHECK(RequestHeaderVersion(18, 7) == 2);  // newer than we speak: still flexible
  CHECK(RequestHeaderVersion(7, 0) == 0);   // ControlledShutdown v0
  CHECK(RequestHeaderVersion(999, 5) == 1);
  CHECK(ResponseHeaderVersion(3, 8) == 0);  // Metadata
  CHECK(ResponseHeaderVersion(3, 9) == 1);
  CHECK(ResponseHeaderVersion(18, 3) == 0);  // ApiVersions: always v0
  CHECK(ResponseHeaderVersion(18, 4) == 0);
  CHECK(ResponseHeaderVersion(999, 5) == 0);
}

TEST_CASE("ApiVersions v3 request frame, byte for byte", "[header]") {
  RequestHeader h{.api_key = 18, .api_version = 3, .correlation_id = 1, .client_id = "cli"};
  ApiVersionsRequest req{.client_software_name = "runnel", .client_software_version = "0.1.0"};
  ByteBuffer frame;
  REQUIRE(EncodeRequestFrame(h, req, &frame).ok());
  const Bytes expected = {
      0x00, 0x00, 0x00, 0x1c,               // size 28
      0x00, 0x12, 0x00, 0x03,               // api_key 18, api_version 3
      0x00, 0x00, 0x00, 0x01,               // correlation_id 1
      0x00, 0x03, 'c', 'l', 'i',            // client_id: int16 length, even in v2
      0x00,                                 // header tagged fields
      0x07, 'r', 'u', 'n', 'n', 'e', 'l',   // compact string, length + 1
      0x06, '0', '.', '1', '.', '0',        // compact string
      0x00,                                 // body tagged fields
  };
  CHECK(ToBytes(frame) == expected);

  absl::StatusOr<size_t> size = ParseFrameSize(frame.span());
  REQUIRE(size.ok());
  CHECK(*size == frame.size() - kFrameSizeBytes);
  Reader r(frame.span().subspan(kFrameSizeBytes));
  absl::StatusOr<RequestHeader> back = DecodeRequestHeader(r);
  REQUIRE(back.ok());
  CHECK(*back == h);
  CHECK(r.offset() == 14);
  absl::StatusOr<ApiVersionsRequest> body =
      ApiVersionsRequest::Decode(frame.span().subspan(kFrameSizeBytes + r.offset()), 3);
  REQUIRE(body.ok());
  CHECK(*body == req);
}

TEST_CASE("ApiVersions responses use header v0 even when flexible", "[header]") {
  ApiVersionsResponse resp;
  resp.api_keys.push_back({.api_key = 18, .min_version = 0, .max_version = 4});
  ByteBuffer frame;
  REQUIRE(EncodeResponseFrame(42, 3, resp, &frame).ok());
  const Bytes expected = {
      0x00, 0x00, 0x00, 0x13,  // size 19
      0x00, 0x00, 0x00, 0x2a,  // correlation_id 42, no header tags
      0x00, 0x00,              // error_code
      0x02, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x00, 0x00,  // throttle_time_ms
      0x00,                    // tagged fields
  };
  CHECK(ToBytes(frame) == expected);

  // A flexible Metadata response carries header tags.
  ByteBuffer m;
  REQUIRE(EncodeResponseFrame(42, 9, MetadataResponse{}, &m).ok());
  Reader r(m.span().subspan(kFrameSizeBytes));
  absl::StatusOr<ResponseHeader> h = ResponseHeader::Decode(r, ResponseHeaderVersion(3, 9));
  REQUIRE(h.ok());
  CHECK(h->correlation_id == 42);
  CHECK(r.offset() == 5);
}

TEST_CASE("request headers of every version round-trip", "[header]") {
  for (int16_t v : {0, 1, 2}) {
    RequestHeader h{.api_key = 3, .api_version = 9, .correlation_id = -7};
    if (v >= 1) h.client_id = std::nullopt;
    if (v == 2) h.unknown_tagged_fields = {{4, {1, 2}}};
    ByteBuffer buf;
    Writer w(&buf);
    h.Encode(w, v);
    CHECK(buf.size() == (v == 0 ? 8u : v == 1 ? 10u : 15u));
  }
  // The decoder picks the version from the key: Metadata v9 is flexible.
  RequestHeader h{.api_key = 3, .api_version = 9, .correlation_id = 5, .client_id = std::nullopt,
                  .unknown_tagged_fields = {{4, {1, 2}}}};
  ByteBuffer buf;
  Writer w(&buf);
  h.Encode(w, 2);
  Reader r(buf.span());
  absl::StatusOr<RequestHeader> back = DecodeRequestHeader(r);
  REQUIRE(back.ok());
  CHECK(*back == h);
  // Truncated client id.
  Bytes bad = {0, 3, 0, 1, 0, 0, 0, 5, 0, 9, 'x'};
  Reader r2(bad);
  absl::StatusOr<RequestHeader> fail = DecodeRequestHeader(r2);
  REQUIRE_FALSE(fail.ok());
  CHECK(fail.status().message() ==
        "RequestHeader v1: field 'client_id' at byte 8: string length 9 exceeds the 1 bytes left");
}

TEST_CASE("frame sizes are checked before anything is allocated", "[header]") {
  CHECK(*ParseFrameSize(Bytes{0, 0, 0, 0}) == 0);
  CHECK(*ParseFrameSize(Bytes{0, 1, 0, 0}, 65536) == 65536);
  CHECK(ParseFrameSize(Bytes{0, 1, 0, 1}, 65536).status().code() ==
        absl::StatusCode::kResourceExhausted);
  CHECK(ParseFrameSize(Bytes{0x80, 0, 0, 0}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(ParseFrameSize(Bytes{0, 0, 1}).ok());
  // A body whose key does not match the header is refused.
  ByteBuffer buf;
  RequestHeader h{.api_key = 0, .api_version = 3};
  CHECK_FALSE(EncodeRequestFrame(h, ApiVersionsRequest{}, &buf).ok());
  CHECK(buf.empty());
}

}  // namespace
}  // namespace runnel::protocol
