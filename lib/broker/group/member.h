// Member: what the coordinator knows of one member of a classic group.
//
// Owned by its Group and guarded by the group's mutex; plain data.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/group/timer_service.h"
#include "runnel/protocol/messages/join_group.h"
#include "runnel/protocol/messages/sync_group.h"

namespace runnel::broker::group {

using JoinCallback = std::function<void(protocol::JoinGroupResponse)>;
using SyncCallback = std::function<void(protocol::SyncGroupResponse)>;

struct MemberProtocol {
  std::string name;
  std::vector<uint8_t> metadata;
  friend bool operator==(const MemberProtocol&, const MemberProtocol&) = default;
};

struct Member {
  std::string member_id;
  std::optional<std::string> group_instance_id;  // set: a static member
  std::string client_id;
  std::string client_host;
  int32_t rebalance_timeout_ms = 0;
  int32_t session_timeout_ms = 0;
  std::string protocol_type;
  // The member's assignors in its order of preference.
  std::vector<MemberProtocol> protocols;
  // What the leader assigned it in the current generation.
  std::vector<uint8_t> assignment;

  // Set while a JoinGroup / SyncGroup waits for the rebalance to finish.
  JoinCallback awaiting_join;
  SyncCallback awaiting_sync;

  // Session expiry: each reschedule bumps heartbeat_seq, so a timer that
  // fires after a newer one was set recognises itself as stale.
  TimerId heartbeat_timer = 0;
  uint64_t heartbeat_seq = 0;

  bool is_static() const { return group_instance_id.has_value(); }
  bool awaiting_join_response() const { return static_cast<bool>(awaiting_join); }
  bool awaiting_sync_response() const { return static_cast<bool>(awaiting_sync); }

  // Metadata the member gave for `protocol`, or nullptr if it does not
  // support it.
  const std::vector<uint8_t>* MetadataFor(const std::string& protocol) const {
    for (const MemberProtocol& p : protocols) {
      if (p.name == protocol) return &p.metadata;
    }
    return nullptr;
  }
};

}  // namespace runnel::broker::group
