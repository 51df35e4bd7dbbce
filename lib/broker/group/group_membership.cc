// A classic group's members after they joined: SyncGroup, Heartbeat,
// LeaveGroup, session expiry, and the group's own metadata record.
#include <algorithm>

#include "broker/group/group.h"

namespace runnel::broker::group {

std::string_view GroupStateName(GroupState state) {
  switch (state) {
    case GroupState::kEmpty:
      return "Empty";
    case GroupState::kPreparingRebalance:
      return "PreparingRebalance";
    case GroupState::kCompletingRebalance:
      return "CompletingRebalance";
    case GroupState::kStable:
      return "Stable";
    case GroupState::kDead:
      return "Dead";
  }
  return "Unknown";
}

Group::Group(std::string group_id, int32_t offsets_partition, const GroupConfig* config,
             TimerService* timers, OffsetsTopic* topic)
    : group_id_(std::move(group_id)),
      offsets_partition_(offsets_partition),
      config_(config),
      timers_(timers),
      topic_(topic) {}

Group::~Group() { Shutdown(); }

void Group::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (join_timer_ != 0) timers_->Cancel(join_timer_);
  join_timer_ = 0;
  ++join_seq_;
  for (auto& [id, m] : members_) timers_->Cancel(m.heartbeat_timer);
  for (auto& [id, timer] : pending_members_) timers_->Cancel(timer);
}

void Group::TransitionTo(GroupState state) {
  state_ = state;
  state_timestamp_ms_ = timers_->NowMs();
}

ErrorCode Group::ValidateMember(const std::string& member_id,
                                const std::optional<std::string>& instance_id) const {
  if (instance_id.has_value()) {
    auto it = static_members_.find(*instance_id);
    if (it == static_members_.end()) return ErrorCode::kUnknownMemberId;
    // Another process took over this instance id: this one is a zombie.
    if (it->second != member_id) return ErrorCode::kFencedInstanceId;
    return ErrorCode::kNone;
  }
  return members_.contains(member_id) ? ErrorCode::kNone : ErrorCode::kUnknownMemberId;
}

void Group::Sync(const ClientInfo& client, const protocol::SyncGroupRequest& request,
                 SyncCallback done) {
  DeferredCalls deferred;
  absl::MutexLock lock(&mu_);
  auto reply = [&](ErrorCode error, std::vector<uint8_t> assignment = {}) {
    protocol::SyncGroupResponse r;
    r.error_code = static_cast<int16_t>(error);
    if (error == ErrorCode::kNone) {
      r.protocol_type = protocol_type_;
      r.protocol_name = protocol_name_;
    }
    r.assignment = std::move(assignment);
    deferred.Add([done, r] { done(r); });
  };
  if (state_ == GroupState::kDead) return reply(ErrorCode::kCoordinatorNotAvailable);
  if (ErrorCode e = ValidateMember(request.member_id, request.group_instance_id);
      e != ErrorCode::kNone) {
    return reply(e);
  }
  if (request.generation_id != generation_) return reply(ErrorCode::kIllegalGeneration);
  if ((request.protocol_type.has_value() && request.protocol_type != protocol_type_) ||
      (request.protocol_name.has_value() && request.protocol_name != protocol_name_)) {
    return reply(ErrorCode::kInconsistentGroupProtocol);
  }
  Member& member = members_.at(request.member_id);
  switch (state_) {
    case GroupState::kEmpty:
    case GroupState::kDead:
      return reply(ErrorCode::kUnknownMemberId);
    case GroupState::kPreparingRebalance:
      return reply(ErrorCode::kRebalanceInProgress);
    case GroupState::kStable:
      ScheduleHeartbeatExpiry(member);
      return reply(ErrorCode::kNone, member.assignment);
    case GroupState::kCompletingRebalance:
      break;
  }
  if (member.awaiting_sync) {
    protocol::SyncGroupResponse r;
    r.error_code = static_cast<int16_t>(ErrorCode::kRebalanceInProgress);
    deferred.Add([cb = std::move(member.awaiting_sync), r] { cb(r); });
  }
  member.awaiting_sync = std::move(done);
  pending_sync_.erase(request.member_id);
  ScheduleHeartbeatExpiry(member);
  if (leader_id_ != request.member_id) return;

  // The leader's assignment: members it left out get an empty one.
  for (auto& [id, m] : members_) m.assignment.clear();
  for (const auto& a : request.assignments) {
    auto it = members_.find(a.member_id);
    if (it != members_.end()) it->second.assignment = a.assignment;
  }
  if (absl::Status stored = StoreGroup(); !stored.ok()) {
    for (auto& [id, m] : members_) m.assignment.clear();
    ResetSyncsWithError(ErrorCode::kCoordinatorNotAvailable, deferred);
    PrepareRebalance(deferred);
    return;
  }
  if (join_timer_ != 0) timers_->Cancel(join_timer_);
  join_timer_ = 0;
  ++join_seq_;
  pending_sync_.clear();
  TransitionTo(GroupState::kStable);
  for (auto& [id, m] : members_) {
    if (!m.awaiting_sync) continue;
    protocol::SyncGroupResponse r;
    r.protocol_type = protocol_type_;
    r.protocol_name = protocol_name_;
    r.assignment = m.assignment;
    deferred.Add([cb = std::move(m.awaiting_sync), r] { cb(r); });
    m.awaiting_sync = nullptr;
  }
}

void Group::ResetSyncsWithError(ErrorCode error, DeferredCalls& deferred) {
  for (auto& [id, m] : members_) {
    if (!m.awaiting_sync) continue;
    protocol::SyncGroupResponse r;
    r.error_code = static_cast<int16_t>(error);
    deferred.Add([cb = std::move(m.awaiting_sync), r] { cb(r); });
    m.awaiting_sync = nullptr;
  }
}

ErrorCode Group::Heartbeat(const protocol::HeartbeatRequest& request) {
  absl::MutexLock lock(&mu_);
  if (state_ == GroupState::kDead) return ErrorCode::kCoordinatorNotAvailable;
  if (ErrorCode e = ValidateMember(request.member_id, request.group_instance_id);
      e != ErrorCode::kNone) {
    return e;
  }
  if (request.generation_id != generation_) return ErrorCode::kIllegalGeneration;
  ScheduleHeartbeatExpiry(members_.at(request.member_id));
  // The heartbeat is how members learn a rebalance started.
  return state_ == GroupState::kPreparingRebalance ? ErrorCode::kRebalanceInProgress
                                                   : ErrorCode::kNone;
}

protocol::LeaveGroupResponse Group::Leave(const ClientInfo& client,
                                          const protocol::LeaveGroupRequest& request) {
  DeferredCalls deferred;
  absl::MutexLock lock(&mu_);
  protocol::LeaveGroupResponse resp;
  std::vector<protocol::LeaveGroupRequest::MemberIdentity> leaving = request.members;
  if (client.api_version < 3) {
    protocol::LeaveGroupRequest::MemberIdentity one;
    one.member_id = request.member_id;
    leaving = {one};
  }
  if (state_ == GroupState::kDead) {
    resp.error_code = static_cast<int16_t>(ErrorCode::kCoordinatorNotAvailable);
    return resp;
  }
  for (const auto& who : leaving) {
    protocol::LeaveGroupResponse::MemberResponse mr;
    mr.member_id = who.member_id;
    mr.group_instance_id = who.group_instance_id;
    std::string member_id = who.member_id;
    ErrorCode error = ErrorCode::kNone;
    if (auto pending = pending_members_.find(member_id); pending != pending_members_.end()) {
      timers_->Cancel(pending->second);
      pending_members_.erase(pending);
      TryCompleteJoin(deferred);
    } else {
      // KIP-345: an admin removes a static member by instance id alone.
      if (member_id.empty() && who.group_instance_id.has_value()) {
        auto it = static_members_.find(*who.group_instance_id);
        if (it != static_members_.end()) member_id = it->second;
      }
      error = ValidateMember(member_id, who.group_instance_id);
      if (error == ErrorCode::kNone) RemoveMemberAndUpdateGroup(member_id, deferred);
    }
    mr.error_code = static_cast<int16_t>(error);
    resp.members.push_back(std::move(mr));
  }
  // Before v3 the one member's error is the response's.
  if (client.api_version < 3) resp.error_code = resp.members.front().error_code;
  return resp;
}

void Group::RemoveMember(const std::string& member_id, DeferredCalls& deferred) {
  auto it = members_.find(member_id);
  if (it == members_.end()) return;
  Member& m = it->second;
  timers_->Cancel(m.heartbeat_timer);
  if (m.awaiting_join) {
    protocol::JoinGroupResponse r;
    r.error_code = static_cast<int16_t>(ErrorCode::kUnknownMemberId);
    r.member_id = member_id;
    r.protocol_name = "";
    deferred.Add([cb = std::move(m.awaiting_join), r] { cb(r); });
  }
  if (m.awaiting_sync) {
    protocol::SyncGroupResponse r;
    r.error_code = static_cast<int16_t>(ErrorCode::kUnknownMemberId);
    deferred.Add([cb = std::move(m.awaiting_sync), r] { cb(r); });
  }
  if (m.group_instance_id.has_value()) {
    auto s = static_members_.find(*m.group_instance_id);
    if (s != static_members_.end() && s->second == member_id) static_members_.erase(s);
  }
  members_.erase(it);
  pending_sync_.erase(member_id);
  if (leader_id_ == member_id) {
    auto next = std::find_if(members_.begin(), members_.end(), [](const auto& entry) {
      return entry.second.awaiting_join_response();
    });
    if (next == members_.end()) next = members_.begin();
    leader_id_.reset();
    if (next != members_.end()) leader_id_ = next->first;
  }
}

void Group::RemoveMemberAndUpdateGroup(const std::string& member_id, DeferredCalls& deferred) {
  RemoveMember(member_id, deferred);
  switch (state_) {
    case GroupState::kStable:
    case GroupState::kCompletingRebalance:
      PrepareRebalance(deferred);
      return;
    case GroupState::kPreparingRebalance:
      TryCompleteJoin(deferred);
      return;
    case GroupState::kEmpty:
    case GroupState::kDead:
      return;
  }
}

void Group::ScheduleHeartbeatExpiry(Member& member) {
  if (member.heartbeat_timer != 0) timers_->Cancel(member.heartbeat_timer);
  const uint64_t seq = ++member.heartbeat_seq;
  std::weak_ptr<Group> weak = weak_from_this();
  member.heartbeat_timer =
      timers_->Schedule(member.session_timeout_ms, [weak, id = member.member_id, seq] {
        if (std::shared_ptr<Group> g = weak.lock()) g->OnHeartbeatExpired(id, seq);
      });
}

void Group::OnHeartbeatExpired(const std::string& member_id, uint64_t seq) {
  DeferredCalls deferred;
  absl::MutexLock lock(&mu_);
  auto it = members_.find(member_id);
  if (it == members_.end() || it->second.heartbeat_seq != seq) return;
  Member& m = it->second;
  m.heartbeat_timer = 0;
  // A member parked in JoinGroup or SyncGroup cannot heartbeat; the
  // rebalance timeout bounds its wait instead.
  if (m.awaiting_join_response() || m.awaiting_sync_response()) {
    ScheduleHeartbeatExpiry(m);
    return;
  }
  RemoveMemberAndUpdateGroup(member_id, deferred);
}

void Group::SchedulePendingMemberExpiry(const std::string& member_id, int32_t session_timeout_ms) {
  std::weak_ptr<Group> weak = weak_from_this();
  pending_members_[member_id] = timers_->Schedule(session_timeout_ms, [weak, member_id] {
    if (std::shared_ptr<Group> g = weak.lock()) g->OnPendingMemberExpired(member_id);
  });
}

void Group::OnPendingMemberExpired(const std::string& member_id) {
  DeferredCalls deferred;
  absl::MutexLock lock(&mu_);
  if (pending_members_.erase(member_id) == 0) return;
  TryCompleteJoin(deferred);
}

GroupMetadataValue Group::MetadataRecord() const {
  GroupMetadataValue v;
  v.protocol_type = protocol_type_.value_or("");
  v.generation = generation_;
  v.protocol = protocol_name_;
  v.leader = leader_id_;
  v.current_state_timestamp_ms = state_timestamp_ms_;
  for (const auto& [id, m] : members_) {
    GroupMemberRecord r;
    r.member_id = id;
    r.group_instance_id = m.group_instance_id;
    r.client_id = m.client_id;
    r.client_host = m.client_host;
    r.rebalance_timeout_ms = m.rebalance_timeout_ms;
    r.session_timeout_ms = m.session_timeout_ms;
    if (const auto* md = m.MetadataFor(protocol_name_.value_or(""))) r.subscription = *md;
    r.assignment = m.assignment;
    v.members.push_back(std::move(r));
  }
  return v;
}

absl::Status Group::StoreGroup() {
  const OffsetsRecord record{EncodeGroupMetadataKey({group_id_}),
                             EncodeGroupMetadataValue(MetadataRecord())};
  return topic_->Append(offsets_partition_, std::span(&record, 1), timers_->NowMs());
}

}  // namespace runnel::broker::group
