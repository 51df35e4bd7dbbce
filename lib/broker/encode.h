// Helpers for handlers: decode a request body and encode a response frame
// for the request's version.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "broker/request_handler.h"
#include "runnel/protocol/header.h"

namespace runnel::broker {

template <typename Req>
absl::StatusOr<Req> DecodeBody(const Request& request) {
  return Req::Decode(request.body, request.header.api_version);
}

template <typename Resp>
absl::StatusOr<Response> EncodeResponse(const Request& request, const Resp& body) {
  ByteBuffer frame;
  absl::Status s = protocol::EncodeResponseFrame(request.header.correlation_id,
                                                 request.header.api_version, body, &frame);
  if (!s.ok()) return s;
  return Response::Bytes(std::move(frame));
}

}  // namespace runnel::broker
