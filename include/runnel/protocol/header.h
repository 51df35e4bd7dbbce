// Kafka request and response headers, and the size-prefixed frames they
// travel in.
//
// Grammar (integers big-endian):
//   frame               size:int32 (bytes that follow), header, body
//   request header v0   api_key:int16 api_version:int16 correlation_id:int32
//   request header v1   v0, client_id:nullable string (int16 length, even in
//                       flexible versions, so any broker can read it)
//   request header v2   v1, tagged fields
//   response header v0  correlation_id:int32
//   response header v1  v0, tagged fields
// From an API's first flexible version on a request uses header v2 and a
// response header v1; ApiVersions responses always use v0, so that a client
// that does not yet know the broker's versions can read them.
//
//   runnel::ByteBuffer frame;
//   RequestHeader h{.api_key = MetadataRequest::kApiKey, .api_version = 12,
//                   .correlation_id = 7, .client_id = "app"};
//   RUNNEL_RETURN_IF_ERROR(EncodeRequestFrame(h, MetadataRequest{}, &frame));
//
//   // Broker side, after reading ParseFrameSize() bytes into `payload`:
//   Reader r(payload);
//   RUNNEL_ASSIGN_OR_RETURN(RequestHeader h, DecodeRequestHeader(r));
//   // the body starts at r.offset()
//
// Plain values and free functions; thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/protocol/wire.h"

namespace runnel::protocol {

inline constexpr size_t kFrameSizeBytes = 4;
// Kafka's socket.request.max.bytes default (100 MiB).
inline constexpr size_t kDefaultMaxFrameSize = 100 * 1024 * 1024;

struct RequestHeader {
  int16_t api_key = 0;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  std::optional<std::string> client_id;  // header v1+
  UnknownTaggedFields unknown_tagged_fields;  // header v2

  void Encode(Writer& w, int16_t header_version) const;
  friend bool operator==(const RequestHeader&, const RequestHeader&) = default;
};

struct ResponseHeader {
  int32_t correlation_id = 0;
  UnknownTaggedFields unknown_tagged_fields;  // header v1

  void Encode(Writer& w, int16_t header_version) const;
  static absl::StatusOr<ResponseHeader> Decode(Reader& r, int16_t header_version);
  friend bool operator==(const ResponseHeader&, const ResponseHeader&) = default;
};

// Header versions (0, 1 or 2 for requests; 0 or 1 for responses) for a
// message of (api_key, api_version). An API key Runnel does not know gets
// request header v1 and response header v0: enough to read the correlation id
// and answer with an error.
int16_t RequestHeaderVersion(int16_t api_key, int16_t api_version);
int16_t ResponseHeaderVersion(int16_t api_key, int16_t api_version);

// Reads api_key and api_version, picks the header version from them and reads
// the rest; the body starts at r.offset() afterwards.
absl::StatusOr<RequestHeader> DecodeRequestHeader(Reader& r);

// The payload size of a frame from its 4-byte prefix (`prefix` must hold at
// least kFrameSizeBytes). Fails on negative sizes and sizes above
// `max_frame_size`, before anything is allocated.
absl::StatusOr<size_t> ParseFrameSize(std::span<const uint8_t> prefix,
                                      size_t max_frame_size = kDefaultMaxFrameSize);

// Reserves a frame's size field at the end of `out` and returns its position;
// FinishFrame writes the number of bytes appended since, plus
// `gathered_bytes` that belong to the frame but are sent from elsewhere
// (Writer's gathered records values). Too large a frame is truncated away.
size_t BeginFrame(ByteBuffer& out);
absl::Status FinishFrame(ByteBuffer& out, size_t frame_start, size_t gathered_bytes = 0);

// Appends a whole request frame: size, header (at the version its API and
// version call for) and `body` encoded at header.api_version.
template <typename Request>
absl::Status EncodeRequestFrame(const RequestHeader& header, const Request& body,
                                ByteBuffer* out) {
  if (header.api_key != Request::kApiKey) {
    return absl::InvalidArgumentError("request header api_key does not match the body");
  }
  size_t start = BeginFrame(*out);
  Writer w(out);
  header.Encode(w, RequestHeaderVersion(header.api_key, header.api_version));
  body.Encode(w, header.api_version);
  if (!w.status().ok()) {
    out->Truncate(start);
    return w.status();
  }
  return FinishFrame(*out, start);
}

// Appends a whole response frame for a request of `api_version`.
template <typename Response>
absl::Status EncodeResponseFrame(int32_t correlation_id, int16_t api_version,
                                 const Response& body, ByteBuffer* out) {
  size_t start = BeginFrame(*out);
  Writer w(out);
  ResponseHeader{correlation_id, {}}.Encode(
      w, ResponseHeaderVersion(Response::kApiKey, api_version));
  body.Encode(w, api_version);
  if (!w.status().ok()) {
    out->Truncate(start);
    return w.status();
  }
  return FinishFrame(*out, start);
}

}  // namespace runnel::protocol
