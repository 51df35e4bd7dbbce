// Puts the group coordinator behind the broker's request router: the eleven
// classic group APIs, each at the versions the coordinator implements
// (FindCoordinator 0-4, JoinGroup 0-9, SyncGroup 0-5, Heartbeat 0-4,
// LeaveGroup 0-5, OffsetCommit 2-8, OffsetFetch 1-8, ListGroups 0-4,
// DescribeGroups 0-5, DeleteGroups 0-2, OffsetDelete 0).
//
//   auto coordinator = group::GroupCoordinator::Create(logs, timers, options);
//   group::RegisterGroupHandlers(router, coordinator->get());
//   RUNNEL_RETURN_IF_ERROR((*coordinator)->Load());  // answers LOAD_IN_PROGRESS until then
//
// Call at start-up, before the router handles requests. The coordinator
// must outlive the router's last request.
#pragma once

#include <string>
#include <string_view>

#include "broker/group/group_coordinator.h"
#include "broker/router.h"

namespace runnel::broker::group {

void RegisterGroupHandlers(RequestRouter& router, GroupCoordinator* coordinator);

// Kafka's clientHost for a peer "host:port" ("[v6]:port"): "/host", as
// DescribeGroups shows it.
std::string ClientHostOf(std::string_view peer);

}  // namespace runnel::broker::group
