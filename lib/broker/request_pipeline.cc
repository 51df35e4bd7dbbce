#include "broker/request_pipeline.h"

#include <chrono>
#include <utility>

#include "broker/extensions.h"
#include "runnel/protocol/header.h"
#include "runnel/protocol/wire.h"

namespace runnel::broker {
namespace {

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The response body after the size prefix and header, when the whole frame
// is one in-memory chunk.
bool BodyOf(const Request& request, const Response& response, std::span<const uint8_t>* body) {
  if (response.chunks.size() != 1) return false;
  const auto* bytes = std::get_if<ByteBuffer>(&response.chunks[0]);
  if (bytes == nullptr || bytes->size() < protocol::kFrameSizeBytes) return false;
  std::span<const uint8_t> frame(bytes->data() + protocol::kFrameSizeBytes,
                                 bytes->size() - protocol::kFrameSizeBytes);
  protocol::Reader r(frame);
  absl::StatusOr<protocol::ResponseHeader> h = protocol::ResponseHeader::Decode(
      r, protocol::ResponseHeaderVersion(request.header.api_key, request.header.api_version));
  if (!h.ok()) return false;
  *body = frame.subspan(r.offset());
  return true;
}

}  // namespace

void RequestPipeline::Handle(const Request& request, Respond respond) {
  int64_t start_us = NowUs();
  if (!hooks_.empty()) return HandleWithHooks(request, std::move(respond), start_us);
  next_->Handle(request, [metrics = metrics_, key = request.header.api_key, start_us,
                          respond = std::move(respond)](absl::StatusOr<Response> response) {
    metrics->RecordRequest(key, NowUs() - start_us, response.ok());
    respond(std::move(response));
  });
}

void RequestPipeline::HandleWithHooks(const Request& request, Respond respond, int64_t start_us) {
  auto info = std::make_shared<RequestInfo>(MakeRequestInfo(request));
  // After-hooks run in every case, the connection-closing ones included.
  Respond finish = [this, info, request_header = request.header, start_us,
                    respond = std::move(respond)](absl::StatusOr<Response> response) {
    int64_t latency_us = NowUs() - start_us;
    metrics_->RecordRequest(info->api_key, latency_us, response.ok());
    ResponseInfo ri;
    ri.latency = absl::Microseconds(latency_us);
    if (response.ok()) {
      ri.size_bytes = response->size();
      Request header_only{request_header, {}, info->peer, info->principal};
      ri.body_available = BodyOf(header_only, *response, &ri.body);
    } else {
      ri.status = response.status();
    }
    for (const auto& hook : hooks_) hook->AfterResponse(*info, ri);
    respond(std::move(response));
  };

  std::vector<uint8_t> rewritten;
  std::span<const uint8_t> body = request.body;
  for (const auto& hook : hooks_) {
    HookDecision d = hook->BeforeRequest(*info, body);
    switch (d.action) {
      case HookDecision::Action::kContinue:
        continue;
      case HookDecision::Action::kRewrite:
        rewritten = std::move(d.body);
        body = rewritten;
        continue;
      case HookDecision::Action::kRespond:
        return finish(FrameResponseBody(request, d.body));
      case HookDecision::Action::kReject:
        return finish(d.status.ok() ? absl::PermissionDeniedError("rejected by a request hook")
                                    : d.status);
    }
  }
  Request next{request.header, body, request.peer, request.principal};
  next_->Handle(next, std::move(finish));
}

}  // namespace runnel::broker
