#include "broker/group/group_registration.h"

#include <utility>

#include "broker/group/group_handlers.h"

namespace runnel::broker::group {

std::string ClientHostOf(std::string_view peer) {
  std::string_view host = peer;
  if (const size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string out = "/";  // not "/" + std::string(host): GCC 12 -O3 -Wrestrict (bug 105329)
  out.append(host);
  return out;
}

void RegisterGroupHandlers(RequestRouter& router, GroupCoordinator* coordinator) {
  static constexpr const protocol::ApiDescriptor* kApis[] = {
      &protocol::kFindCoordinatorApi, &protocol::kJoinGroupApi,    &protocol::kSyncGroupApi,
      &protocol::kHeartbeatApi,       &protocol::kLeaveGroupApi,   &protocol::kOffsetCommitApi,
      &protocol::kOffsetFetchApi,     &protocol::kListGroupsApi,   &protocol::kDescribeGroupsApi,
      &protocol::kDeleteGroupsApi,    &protocol::kOffsetDeleteApi,
  };
  for (const protocol::ApiDescriptor* api : kApis) {
    router.Register(api->key, api->min_version, api->max_version,
                    [coordinator](const Request& req, Respond respond) {
                      GroupRequest request;
                      request.api_key = req.header.api_key;
                      request.correlation_id = req.header.correlation_id;
                      request.client.api_version = req.header.api_version;
                      request.client.client_id = req.header.client_id.value_or("");
                      request.client.client_host = ClientHostOf(req.peer);
                      request.body = req.body;
                      // The body is decoded before HandleGroupRequest returns, as
                      // Request::body requires.
                      HandleGroupRequest(
                          *coordinator, request,
                          [respond = std::move(respond)](absl::StatusOr<ByteBuffer> frame) {
                            if (!frame.ok()) return respond(frame.status());
                            respond(Response::Bytes(*std::move(frame)));
                          });
                    });
  }
}

}  // namespace runnel::broker::group
