#include "broker/router.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/encode.h"
#include "runnel/protocol/api_keys.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/api_versions.h"

namespace runnel::broker {

void RequestRouter::Register(int16_t api_key, int16_t min_version, int16_t max_version,
                             Handler handler) {
  handlers_[api_key] = Entry{{api_key, min_version, max_version}, std::move(handler)};
}

std::vector<ApiRange> RequestRouter::Ranges() const {
  std::vector<ApiRange> out;
  for (const auto& [key, entry] : handlers_) out.push_back(entry.range);
  std::sort(out.begin(), out.end(),
            [](const ApiRange& a, const ApiRange& b) { return a.api_key < b.api_key; });
  return out;
}

void RequestRouter::Handle(const Request& request, Respond respond) {
  const protocol::RequestHeader& h = request.header;
  auto it = handlers_.find(h.api_key);
  if (it == handlers_.end()) {
    // No response format to put an error in: Kafka closes the connection.
    respond(absl::InvalidArgumentError(absl::StrCat("unknown or unsupported API key ", h.api_key)));
    return;
  }
  const ApiRange& range = it->second.range;
  if (h.api_version >= range.min_version && h.api_version <= range.max_version) {
    it->second.handler(request, std::move(respond));
    return;
  }
  if (h.api_key == protocol::ApiVersionsResponse::kApiKey && h.api_version > range.max_version) {
    // A newer client than us: answer at v0 (the header and body every version
    // can read) with UNSUPPORTED_VERSION and our ranges, so it retries with
    // a version we have (KIP-511).
    protocol::ApiVersionsResponse resp;
    resp.error_code = static_cast<int16_t>(protocol::ErrorCode::kUnsupportedVersion);
    for (const ApiRange& r : Ranges()) {
      resp.api_keys.push_back({r.api_key, r.min_version, r.max_version, {}});
    }
    ByteBuffer frame;
    absl::Status s = protocol::EncodeResponseFrame(h.correlation_id, 0, resp, &frame);
    if (!s.ok()) return respond(s);
    respond(Response::Bytes(std::move(frame)));
    return;
  }
  // Kafka cannot parse such a request either and closes the connection; the
  // client learnt our ranges from ApiVersions and should not send it.
  const protocol::ApiDescriptor* api = protocol::FindApi(h.api_key);
  respond(absl::InvalidArgumentError(absl::StrCat(
      "unsupported version ", h.api_version, " of ", api ? std::string(api->name) : "API",
      " (key ", h.api_key, "; supported ", range.min_version, "-", range.max_version, ")")));
}

}  // namespace runnel::broker
