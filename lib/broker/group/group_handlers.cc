#include "broker/group/group_handlers.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runnel/protocol/header.h"

namespace runnel::broker::group {
namespace {

template <typename Response>
void Reply(int32_t correlation_id, int16_t version, const Response& response,
           const GroupRespondFn& respond) {
  ByteBuffer frame;
  absl::Status s = protocol::EncodeResponseFrame(correlation_id, version, response, &frame);
  if (!s.ok()) {
    respond(s);
    return;
  }
  respond(std::move(frame));
}

// Decodes Request, calls coordinator.*method, and encodes its Response.
template <typename Request, typename Response>
void Dispatch(GroupCoordinator& coordinator,
              void (GroupCoordinator::*method)(const ClientInfo&, const Request&, Done<Response>),
              const GroupRequest& request, GroupRespondFn respond) {
  const int16_t version = request.client.api_version;
  absl::StatusOr<Request> decoded = Request::Decode(request.body, version);
  if (!decoded.ok()) {
    respond(absl::InvalidArgumentError(std::string(decoded.status().message())));
    return;
  }
  (coordinator.*method)(
      request.client, *decoded,
      [correlation_id = request.correlation_id, version, respond = std::move(respond)](
          Response response) { Reply(correlation_id, version, response, respond); });
}

}  // namespace

bool IsGroupApi(int16_t api_key) {
  switch (api_key) {
    case protocol::FindCoordinatorRequest::kApiKey:
    case protocol::JoinGroupRequest::kApiKey:
    case protocol::SyncGroupRequest::kApiKey:
    case protocol::HeartbeatRequest::kApiKey:
    case protocol::LeaveGroupRequest::kApiKey:
    case protocol::OffsetCommitRequest::kApiKey:
    case protocol::OffsetFetchRequest::kApiKey:
    case protocol::ListGroupsRequest::kApiKey:
    case protocol::DescribeGroupsRequest::kApiKey:
    case protocol::DeleteGroupsRequest::kApiKey:
    case protocol::OffsetDeleteRequest::kApiKey:
      return true;
    default:
      return false;
  }
}

void HandleGroupRequest(GroupCoordinator& c, const GroupRequest& request, GroupRespondFn respond) {
  switch (request.api_key) {
    case protocol::FindCoordinatorRequest::kApiKey:
      return Dispatch(c, &GroupCoordinator::FindCoordinator, request, std::move(respond));
    case protocol::JoinGroupRequest::kApiKey:
      return Dispatch(c, &GroupCoordinator::JoinGroup, request, std::move(respond));
    case protocol::SyncGroupRequest::kApiKey:
      return Dispatch(c, &GroupCoordinator::SyncGroup, request, std::move(respond));
    case protocol::HeartbeatRequest::kApiKey:
      return Dispatch(c, &GroupCoordinator::Heartbeat, request, std::move(respond));
    case protocol::LeaveGroupRequest::kApiKey:
      return Dispatch(c, &GroupCoordinator::LeaveGroup, request, std::move(respond));
    case protocol::OffsetCommitRequest::kApiKey:
      return Dispatch(c, &GroupCoordinator::OffsetCommit, request, std::move(respond));
    case protocol::OffsetFetchRequest::kApiKey:
      return Dispatch(c, &GroupCoordinator::OffsetFetch, request, std::move(respond));
    case protocol::ListGroupsRequest::kApiKey:
      return Dispatch(c, &GroupCoordinator::ListGroups, request, std::move(respond));
    case protocol::DescribeGroupsRequest::kApiKey:
      return Dispatch(c, &GroupCoordinator::DescribeGroups, request, std::move(respond));
    case protocol::DeleteGroupsRequest::kApiKey:
      return Dispatch(c, &GroupCoordinator::DeleteGroups, request, std::move(respond));
    case protocol::OffsetDeleteRequest::kApiKey:
      return Dispatch(c, &GroupCoordinator::OffsetDelete, request, std::move(respond));
    default:
      respond(absl::InvalidArgumentError(
          absl::StrCat("api key ", request.api_key, " is not a group API")));
  }
}

}  // namespace runnel::broker::group
