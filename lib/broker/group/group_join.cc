// The join phase of a classic group: JoinGroup, protocol selection, the
// initial delay and the completion of a generation.
#include <algorithm>
#include <cstdio>
#include <mutex>
#include <random>

#include "broker/group/group.h"

namespace runnel::broker::group {
namespace {

protocol::JoinGroupResponse JoinError(ErrorCode error, std::string member_id = "") {
  protocol::JoinGroupResponse r;
  r.error_code = static_cast<int16_t>(error);
  r.member_id = std::move(member_id);
  // Empty rather than null: versions before 7 cannot carry a null name.
  r.protocol_name = "";
  return r;
}

std::vector<MemberProtocol> ProtocolsOf(const protocol::JoinGroupRequest& request) {
  std::vector<MemberProtocol> out;
  out.reserve(request.protocols.size());
  for (const auto& p : request.protocols) out.push_back({p.name, p.metadata});
  return out;
}

// A random (version 4) UUID in Java's text form, as Kafka puts in member ids.
std::string RandomUuid() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  uint64_t hi, lo;
  {
    std::lock_guard<std::mutex> lock(mu);
    hi = rng();
    lo = rng();
  }
  hi = (hi & ~0xF000ULL) | 0x4000ULL;                  // version 4
  lo = (lo & ~(0xC000ULL << 48)) | (0x8000ULL << 48);  // IETF variant
  char buf[37];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

}  // namespace

std::string Group::NewMemberId(const std::string& prefix) const {
  return prefix + "-" + RandomUuid();
}

void Group::Join(const ClientInfo& client, const protocol::JoinGroupRequest& request,
                 JoinCallback done) {
  DeferredCalls deferred;
  absl::MutexLock lock(&mu_);
  if (state_ == GroupState::kDead) {
    // Deleted under the caller's feet: it finds the coordinator again and
    // joins a fresh group.
    deferred.Add(
        [done, r = JoinError(ErrorCode::kCoordinatorNotAvailable, request.member_id)] { done(r); });
    return;
  }
  if (!SupportsProtocols(request.protocol_type, ProtocolsOf(request))) {
    deferred.Add([done, r = JoinError(ErrorCode::kInconsistentGroupProtocol, request.member_id)] {
      done(r);
    });
    return;
  }
  if (request.member_id.empty()) {
    JoinNewMember(client, request, std::move(done), deferred);
  } else {
    JoinKnownMember(client, request, std::move(done), deferred);
  }
}

void Group::JoinNewMember(const ClientInfo& client, const protocol::JoinGroupRequest& request,
                          JoinCallback done, DeferredCalls& deferred) {
  const std::optional<std::string>& instance = request.group_instance_id;
  if (instance.has_value()) {
    auto it = static_members_.find(*instance);
    if (it != static_members_.end()) {
      const std::string old_id = it->second;
      ReplaceStaticMember(client, request, old_id, std::move(done), deferred);
      return;
    }
  }
  if (members_.size() + pending_members_.size() >= static_cast<size_t>(config_->max_group_size)) {
    deferred.Add([done, r = JoinError(ErrorCode::kGroupMaxSizeReached)] { done(r); });
    return;
  }
  const std::string member_id = NewMemberId(instance.value_or(client.client_id));
  if (!instance.has_value() && client.api_version >= 4) {
    // KIP-394: the member learns its id first and joins with it, so a
    // client that times out and retries does not leave a ghost member
    // behind that the group waits for.
    SchedulePendingMemberExpiry(member_id, request.session_timeout_ms);
    deferred.Add([done, r = JoinError(ErrorCode::kMemberIdRequired, member_id)] { done(r); });
    return;
  }
  AddMemberAndRebalance(client, request, member_id, std::move(done), deferred);
}

void Group::JoinKnownMember(const ClientInfo& client, const protocol::JoinGroupRequest& request,
                            JoinCallback done, DeferredCalls& deferred) {
  const std::string& member_id = request.member_id;
  if (auto pending = pending_members_.find(member_id); pending != pending_members_.end()) {
    timers_->Cancel(pending->second);
    pending_members_.erase(pending);
    AddMemberAndRebalance(client, request, member_id, std::move(done), deferred);
    return;
  }
  const ErrorCode error = ValidateMember(member_id, request.group_instance_id);
  if (error != ErrorCode::kNone) {
    deferred.Add([done, r = JoinError(error, member_id)] { done(r); });
    return;
  }
  Member& member = members_.at(member_id);
  const bool same_protocols = member.protocols == ProtocolsOf(request);
  switch (state_) {
    case GroupState::kPreparingRebalance:
      UpdateMemberAndRebalance(member, request, std::move(done), deferred);
      return;
    case GroupState::kCompletingRebalance:
      // The member lost our JoinGroup response; unless its protocols
      // changed, it gets the same one again.
      if (same_protocols) {
        deferred.Add([done, r = JoinResponseFor(member)] { done(r); });
      } else {
        UpdateMemberAndRebalance(member, request, std::move(done), deferred);
      }
      return;
    case GroupState::kStable:
      // The leader rejoining means it wants a new assignment (e.g. the
      // topics it subscribes to changed); a follower with the same
      // protocols just gets the current generation.
      if (leader_id_ == member_id || !same_protocols) {
        UpdateMemberAndRebalance(member, request, std::move(done), deferred);
      } else {
        deferred.Add([done, r = JoinResponseFor(member)] { done(r); });
      }
      return;
    case GroupState::kEmpty:
    case GroupState::kDead:
      deferred.Add([done, r = JoinError(ErrorCode::kUnknownMemberId, member_id)] { done(r); });
      return;
  }
}

void Group::ReplaceStaticMember(const ClientInfo& client, const protocol::JoinGroupRequest& request,
                                const std::string& old_member_id, JoinCallback done,
                                DeferredCalls& deferred) {
  auto node = members_.extract(old_member_id);
  Member member = std::move(node.mapped());
  timers_->Cancel(member.heartbeat_timer);
  // The old incarnation (a process that restarted, or a duplicate with the
  // same instance id) is fenced: whatever it waits for ends now.
  if (member.awaiting_join) {
    deferred.Add([cb = std::move(member.awaiting_join),
                  r = JoinError(ErrorCode::kFencedInstanceId, old_member_id)] { cb(r); });
    member.awaiting_join = nullptr;
  }
  if (member.awaiting_sync) {
    protocol::SyncGroupResponse r;
    r.error_code = static_cast<int16_t>(ErrorCode::kFencedInstanceId);
    deferred.Add([cb = std::move(member.awaiting_sync), r] { cb(r); });
    member.awaiting_sync = nullptr;
  }
  const std::string new_id = NewMemberId(*request.group_instance_id);
  member.member_id = new_id;
  member.client_id = client.client_id;
  member.client_host = client.client_host;
  member.session_timeout_ms = request.session_timeout_ms;
  member.rebalance_timeout_ms =
      request.rebalance_timeout_ms >= 0 ? request.rebalance_timeout_ms : request.session_timeout_ms;
  member.protocols = ProtocolsOf(request);
  const bool is_leader = leader_id_ == old_member_id;
  if (is_leader) leader_id_ = new_id;
  static_members_[*request.group_instance_id] = new_id;
  Member& m = members_.emplace(new_id, std::move(member)).first->second;
  ScheduleHeartbeatExpiry(m);

  if (state_ == GroupState::kStable && protocol_name_ == SelectProtocol()) {
    // KIP-345: a restarted static member takes its old place without a
    // rebalance; the new member id is persisted so a restart of the
    // coordinator does not resurrect the old one.
    absl::Status stored = StoreGroup();
    if (!stored.ok()) {
      deferred.Add([done, r = JoinError(ErrorCode::kCoordinatorNotAvailable, new_id)] { done(r); });
      return;
    }
    protocol::JoinGroupResponse r = JoinResponseFor(m);
    // The leader keeps the current assignment instead of computing one.
    r.skip_assignment = is_leader;
    deferred.Add([done, r] { done(r); });
    return;
  }
  m.awaiting_join = std::move(done);
  // During CompletingRebalance the leader may already be assigning to the
  // old member id; only a new generation gets the new id an assignment.
  MaybePrepareRebalance(deferred);
}

void Group::AddMemberAndRebalance(const ClientInfo& client,
                                  const protocol::JoinGroupRequest& request,
                                  const std::string& member_id, JoinCallback done,
                                  DeferredCalls& deferred) {
  if (members_.empty()) protocol_type_ = request.protocol_type;
  Member m;
  m.member_id = member_id;
  m.group_instance_id = request.group_instance_id;
  m.client_id = client.client_id;
  m.client_host = client.client_host;
  m.session_timeout_ms = request.session_timeout_ms;
  // v0 has no rebalance timeout; Kafka uses the session timeout.
  m.rebalance_timeout_ms =
      request.rebalance_timeout_ms >= 0 ? request.rebalance_timeout_ms : request.session_timeout_ms;
  m.protocol_type = request.protocol_type;
  m.protocols = ProtocolsOf(request);
  m.awaiting_join = std::move(done);
  if (m.group_instance_id.has_value()) static_members_[*m.group_instance_id] = member_id;
  if (!leader_id_.has_value()) leader_id_ = member_id;
  if (in_initial_delay_) new_member_during_delay_ = true;
  Member& added = members_.emplace(member_id, std::move(m)).first->second;
  ScheduleHeartbeatExpiry(added);
  MaybePrepareRebalance(deferred);
}

void Group::UpdateMemberAndRebalance(Member& member, const protocol::JoinGroupRequest& request,
                                     JoinCallback done, DeferredCalls& deferred) {
  member.protocols = ProtocolsOf(request);
  member.session_timeout_ms = request.session_timeout_ms;
  if (request.rebalance_timeout_ms >= 0) member.rebalance_timeout_ms = request.rebalance_timeout_ms;
  if (member.awaiting_join) {
    // A duplicate JoinGroup (the client retried): the newer one waits.
    deferred.Add([cb = std::move(member.awaiting_join),
                  r = JoinError(ErrorCode::kRebalanceInProgress, member.member_id)] { cb(r); });
  }
  member.awaiting_join = std::move(done);
  MaybePrepareRebalance(deferred);
}

bool Group::SupportsProtocols(const std::string& protocol_type,
                              const std::vector<MemberProtocol>& protocols) const {
  if (members_.empty()) return !protocol_type.empty() && !protocols.empty();
  if (protocol_type_ != protocol_type) return false;
  for (const MemberProtocol& p : protocols) {
    const bool all = std::all_of(members_.begin(), members_.end(), [&](const auto& entry) {
      return entry.second.MetadataFor(p.name) != nullptr;
    });
    if (all) return true;
  }
  return false;
}

std::string Group::SelectProtocol() const {
  if (members_.empty()) return "";
  // Candidates: protocols every member supports, in the first member's
  // order (the tie-break). Each member votes for the candidate it prefers
  // most; the most votes win, as in Kafka.
  std::vector<std::string> candidates;
  for (const MemberProtocol& p : members_.begin()->second.protocols) {
    const bool all = std::all_of(members_.begin(), members_.end(), [&](const auto& entry) {
      return entry.second.MetadataFor(p.name) != nullptr;
    });
    if (all) candidates.push_back(p.name);
  }
  if (candidates.empty()) return "";
  std::vector<int> votes(candidates.size(), 0);
  for (const auto& [id, m] : members_) {
    for (const MemberProtocol& p : m.protocols) {
      auto it = std::find(candidates.begin(), candidates.end(), p.name);
      if (it != candidates.end()) {
        ++votes[static_cast<size_t>(it - candidates.begin())];
        break;
      }
    }
  }
  const auto best = std::max_element(votes.begin(), votes.end());
  return candidates[static_cast<size_t>(best - votes.begin())];
}

int32_t Group::MaxRebalanceTimeoutMs() const {
  int32_t max = 0;
  for (const auto& [id, m] : members_) max = std::max(max, m.rebalance_timeout_ms);
  return max;
}

void Group::MaybePrepareRebalance(DeferredCalls& deferred) {
  switch (state_) {
    case GroupState::kEmpty:
    case GroupState::kStable:
    case GroupState::kCompletingRebalance:
      PrepareRebalance(deferred);
      return;
    case GroupState::kPreparingRebalance:
      TryCompleteJoin(deferred);
      return;
    case GroupState::kDead:
      return;
  }
}

void Group::PrepareRebalance(DeferredCalls& deferred) {
  if (state_ == GroupState::kCompletingRebalance) {
    ResetSyncsWithError(ErrorCode::kRebalanceInProgress, deferred);
  }
  const bool initial = state_ == GroupState::kEmpty;
  if (join_timer_ != 0) timers_->Cancel(join_timer_);
  const uint64_t seq = ++join_seq_;
  pending_sync_.clear();
  TransitionTo(GroupState::kPreparingRebalance);
  std::weak_ptr<Group> weak = weak_from_this();
  auto on_timer = [weak, seq] {
    if (std::shared_ptr<Group> g = weak.lock()) g->OnJoinTimer(seq);
  };
  if (initial && config_->initial_rebalance_delay_ms > 0) {
    const int64_t delay =
        std::min<int64_t>(config_->initial_rebalance_delay_ms, MaxRebalanceTimeoutMs());
    in_initial_delay_ = true;
    new_member_during_delay_ = false;
    initial_delay_remaining_ms_ = std::max<int64_t>(MaxRebalanceTimeoutMs() - delay, 0);
    join_timer_ = timers_->Schedule(delay, on_timer);
    return;
  }
  join_timer_ = timers_->Schedule(MaxRebalanceTimeoutMs(), on_timer);
  TryCompleteJoin(deferred);
}

void Group::OnJoinTimer(uint64_t seq) {
  DeferredCalls deferred;
  absl::MutexLock lock(&mu_);
  if (seq != join_seq_) return;
  join_timer_ = 0;
  if (state_ == GroupState::kCompletingRebalance) {
    // The rebalance timeout passed without the assignment reaching some
    // members (or without the leader's): those are dropped and the rest
    // start over rather than wait forever.
    const std::set<std::string> missing = std::move(pending_sync_);
    pending_sync_.clear();
    for (const std::string& id : missing) RemoveMember(id, deferred);
    PrepareRebalance(deferred);
    return;
  }
  if (state_ != GroupState::kPreparingRebalance) return;
  if (in_initial_delay_ && new_member_during_delay_ && initial_delay_remaining_ms_ > 0) {
    // Each newcomer during the initial delay buys the others another delay,
    // up to the rebalance timeout.
    new_member_during_delay_ = false;
    const int64_t delay =
        std::min<int64_t>(config_->initial_rebalance_delay_ms, initial_delay_remaining_ms_);
    initial_delay_remaining_ms_ -= delay;
    std::weak_ptr<Group> weak = weak_from_this();
    join_timer_ = timers_->Schedule(delay, [weak, seq] {
      if (std::shared_ptr<Group> g = weak.lock()) g->OnJoinTimer(seq);
    });
    return;
  }
  in_initial_delay_ = false;
  CompleteJoin(deferred);
}

void Group::TryCompleteJoin(DeferredCalls& deferred) {
  if (state_ != GroupState::kPreparingRebalance || in_initial_delay_) return;
  if (!pending_members_.empty()) return;
  const bool all_joined = std::all_of(members_.begin(), members_.end(), [](const auto& entry) {
    return entry.second.awaiting_join_response();
  });
  if (all_joined) CompleteJoin(deferred);
}

void Group::CompleteJoin(DeferredCalls& deferred) {
  if (join_timer_ != 0) timers_->Cancel(join_timer_);
  join_timer_ = 0;
  const uint64_t seq = ++join_seq_;
  in_initial_delay_ = false;
  // Dynamic members that did not rejoin in time are gone; a static member
  // keeps its place (and its partitions) until its session expires, so a
  // restart that takes a while does not move its partitions.
  std::vector<std::string> gone;
  for (const auto& [id, m] : members_) {
    if (!m.awaiting_join_response() && !m.is_static()) gone.push_back(id);
  }
  for (const std::string& id : gone) RemoveMember(id, deferred);
  if (state_ == GroupState::kDead) return;

  ++generation_;
  if (members_.empty()) {
    protocol_name_.reset();
    leader_id_.reset();
    TransitionTo(GroupState::kEmpty);
    // Best effort, as in Kafka: the empty generation only matters to
    // members that are gone.
    (void)StoreGroup();
    return;
  }
  protocol_name_ = SelectProtocol();
  if (!leader_id_.has_value() || !members_.contains(*leader_id_) ||
      !members_.at(*leader_id_).awaiting_join_response()) {
    auto it = std::find_if(members_.begin(), members_.end(),
                           [](const auto& entry) { return entry.second.awaiting_join_response(); });
    leader_id_ = (it != members_.end() ? it : members_.begin())->first;
  }
  TransitionTo(GroupState::kCompletingRebalance);
  for (auto& [id, m] : members_) {
    pending_sync_.insert(id);
    if (m.awaiting_join) {
      deferred.Add([cb = std::move(m.awaiting_join), r = JoinResponseFor(m)] { cb(r); });
      m.awaiting_join = nullptr;
    }
    ScheduleHeartbeatExpiry(m);
  }
  std::weak_ptr<Group> weak = weak_from_this();
  join_timer_ = timers_->Schedule(MaxRebalanceTimeoutMs(), [weak, seq] {
    if (std::shared_ptr<Group> g = weak.lock()) g->OnJoinTimer(seq);
  });
}

protocol::JoinGroupResponse Group::JoinResponseFor(const Member& member) const {
  protocol::JoinGroupResponse r;
  r.generation_id = generation_;
  r.protocol_type = protocol_type_;
  r.protocol_name = protocol_name_.value_or("");
  r.leader = leader_id_.value_or("");
  r.member_id = member.member_id;
  if (leader_id_ == member.member_id) {
    // Only the leader sees the members' subscriptions: it runs the assignor.
    for (const auto& [id, m] : members_) {
      protocol::JoinGroupResponse::JoinGroupResponseMember rm;
      rm.member_id = id;
      rm.group_instance_id = m.group_instance_id;
      if (const auto* md = m.MetadataFor(r.protocol_name.value_or(""))) rm.metadata = *md;
      r.members.push_back(std::move(rm));
    }
  }
  return r;
}

}  // namespace runnel::broker::group
