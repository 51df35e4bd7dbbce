#include "broker/extensions.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/broker_context.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/header.h"

namespace runnel::broker {

using protocol::ErrorCode;

RequestInfo MakeRequestInfo(const Request& request) {
  RequestInfo info;
  info.api_key = request.header.api_key;
  info.api_version = request.header.api_version;
  info.correlation_id = request.header.correlation_id;
  info.client_id = request.header.client_id.value_or("");
  info.principal = request.principal;
  info.peer = request.peer;
  return info;
}

TopicError CheckTopicPolicy(const BrokerContext& ctx, const Request& request, TopicOperation op,
                            const std::string& topic) {
  if (ctx.topic_policy == nullptr) return {};
  absl::Status s = ctx.topic_policy->Check(MakeRequestInfo(request), op, topic);
  if (s.ok()) return {};
  std::string message(s.message());
  if (op == TopicOperation::kCreate && !absl::IsPermissionDenied(s)) {
    return {ErrorCode::kPolicyViolation, message};
  }
  return {ErrorCode::kTopicAuthorizationFailed, message};
}

absl::StatusOr<Response> FrameResponseBody(const Request& request, std::span<const uint8_t> body) {
  ByteBuffer frame;
  size_t start = protocol::BeginFrame(frame);
  protocol::Writer w(&frame);
  protocol::ResponseHeader{request.header.correlation_id, {}}.Encode(
      w, protocol::ResponseHeaderVersion(request.header.api_key, request.header.api_version));
  if (!w.status().ok()) return w.status();
  frame.Append(body);
  if (absl::Status s = protocol::FinishFrame(frame, start); !s.ok()) return s;
  return Response::Bytes(std::move(frame));
}

absl::Status RegisterCustomApis(RequestRouter* router, const std::vector<CustomApi>& apis) {
  for (const CustomApi& api : apis) {
    if (api.api_key < 0 || api.min_version < 0 || api.max_version < api.min_version) {
      return absl::InvalidArgumentError(absl::StrCat("custom API key ", api.api_key,
                                                     " with versions ", api.min_version, "-",
                                                     api.max_version, " is not valid"));
    }
    if (!api.handler) {
      return absl::InvalidArgumentError(
          absl::StrCat("custom API key ", api.api_key, " has no handler"));
    }
    auto handler = std::make_shared<decltype(api.handler)>(api.handler);
    router->Register(api.api_key, api.min_version, api.max_version,
                     [handler](const Request& request, Respond respond) {
                       absl::StatusOr<std::vector<uint8_t>> body =
                           (*handler)(MakeRequestInfo(request), request.body);
                       if (!body.ok()) return respond(body.status());
                       respond(FrameResponseBody(request, *body));
                     });
  }
  return absl::OkStatus();
}

}  // namespace runnel::broker
