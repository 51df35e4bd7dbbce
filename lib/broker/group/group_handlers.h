// The group APIs on the wire: decodes a request body, runs it on the
// GroupCoordinator and encodes the response frame, so the broker's request
// router needs one call per request whatever its own handler interface.
//
//   if (group::IsGroupApi(header.api_key)) {
//     group::HandleGroupRequest(*coordinator,
//         {header.api_key, header.correlation_id, {header.api_version, client_id, peer}, body},
//         [conn](absl::StatusOr<ByteBuffer> frame) {
//           if (!frame.ok()) return conn->Close(frame.status());  // undecodable request
//           conn->Send(*std::move(frame));
//         });
//   }
//
// Threads: as GroupCoordinator; `respond` runs exactly once, on the calling
// thread or (JoinGroup, SyncGroup) on the thread that completes the
// rebalance. The body is decoded before HandleGroupRequest returns, so it
// need not outlive the call.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "absl/status/statusor.h"
#include "broker/group/group_coordinator.h"
#include "runnel/common/byte_buffer.h"

namespace runnel::broker::group {

struct GroupRequest {
  int16_t api_key = 0;
  int32_t correlation_id = 0;
  ClientInfo client;              // client.api_version is the request's version
  std::span<const uint8_t> body;  // after the request header
};

// The whole response frame (size, header, body), or InvalidArgument when the
// request does not decode or names a version this API lacks (the router
// then closes the connection, as Kafka does).
using GroupRespondFn = std::function<void(absl::StatusOr<ByteBuffer>)>;

// FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
// OffsetFetch, ListGroups, DescribeGroups, DeleteGroups, OffsetDelete.
bool IsGroupApi(int16_t api_key);

void HandleGroupRequest(GroupCoordinator& coordinator, const GroupRequest& request,
                        GroupRespondFn respond);

}  // namespace runnel::broker::group
