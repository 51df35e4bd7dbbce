// The classic consumer group protocol, run on the ClientCore's I/O thread:
// FindCoordinator, JoinGroup (with MEMBER_ID_REQUIRED), the leader's
// assignment, SyncGroup, Heartbeat every heartbeat.interval.ms, LeaveGroup.
//
// Eager protocols (range, roundrobin) revoke every partition before joining;
// cooperative-sticky keeps its partitions through the join, revokes only what
// the new assignment takes away and then joins again, so the partitions move
// in the next rebalance. Revoking commits what Poll returned of the
// partitions (auto-commit) in the same step that stops Poll returning them,
// so a commit is exactly what was consumed; should that commit fail (the
// next rebalance began first), the member keeps claiming the partitions in
// its joins until a commit under a later generation succeeds, so their next
// owner never starts from an older commit (unreleased_). The leader assigns
// from metadata refreshed after the join.
//
// Logging (runnel/client_log.h): each join's result, the leader's
// assignment, each member's assignment, revocations and leaving at info;
// the requests and their answers at debug in the "cgrp" context.
#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/consumer_impl.h"
#include "client/group/consumer_protocol.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/find_coordinator.h"
#include "runnel/protocol/messages/heartbeat.h"
#include "runnel/protocol/messages/join_group.h"
#include "runnel/protocol/messages/leave_group.h"
#include "runnel/protocol/messages/sync_group.h"

namespace runnel::client {

using protocol::ErrorCode;

namespace {

std::vector<TopicPartition> ToPublic(const std::vector<group::TopicPartition>& tps) {
  std::vector<TopicPartition> out;
  for (const auto& tp : tps) out.push_back({tp.topic, tp.partition});
  return out;
}

std::vector<group::TopicPartition> ToGroup(const std::vector<TopicPartition>& tps) {
  std::vector<group::TopicPartition> out;
  for (const auto& tp : tps) out.push_back({tp.topic, tp.partition});
  return out;
}

// "orders[0,3] audit[1]" for log lines; "-" for none.
template <typename TP>
std::string PartitionsText(const std::vector<TP>& tps) {
  std::map<std::string, std::vector<int32_t>> by_topic;
  for (const auto& tp : tps) by_topic[tp.topic].push_back(tp.partition);
  std::string out;
  for (auto& [topic, parts] : by_topic) {
    std::sort(parts.begin(), parts.end());
    if (!out.empty()) out += " ";
    absl::StrAppend(&out, topic, "[", absl::StrJoin(parts, ","), "]");
  }
  return out.empty() ? "-" : out;
}

std::string ErrorName(ErrorCode ec) { return std::string(protocol::ErrorCodeName(ec)); }

}  // namespace

void ConsumerImpl::FindCoordinator(absl::AnyInvocable<void(absl::StatusOr<int32_t>)> then) {
  {
    absl::MutexLock l(&mu_);
    if (coordinator_) {
      const int32_t node = *coordinator_;
      mu_.Unlock();
      then(node);
      mu_.Lock();
      return;
    }
  }
  protocol::FindCoordinatorRequest req;
  req.key = options_.group_id;
  req.key_type = 0;
  req.coordinator_keys = {options_.group_id};
  group_core_->Send<protocol::FindCoordinatorResponse>(
      Target::AnyBroker(), std::move(req),
      [this, then = std::move(then)](
          absl::StatusOr<Reply<protocol::FindCoordinatorResponse>> reply) mutable {
        if (!reply.ok()) return then(reply.status());
        const auto& r = reply->response;
        int16_t error = r.error_code;
        int32_t node = r.node_id;
        if (reply->api_version >= 4) {
          if (r.coordinators.empty()) {
            return then(absl::UnavailableError("FindCoordinator: empty answer"));
          }
          error = r.coordinators[0].error_code;
          node = r.coordinators[0].node_id;
        }
        if (error != 0) {
          return then(protocol::ErrorCodeToStatus(static_cast<ErrorCode>(error),
                                                  "find coordinator"));
        }
        {
          absl::MutexLock l(&mu_);
          coordinator_ = node;
        }
        RUNNEL_CLIENT_DEBUG(log_, kCgrp, "group coordinator",
                            {{"group", options_.group_id}, {"coordinator", std::to_string(node)}});
        then(node);
      });
}

void ConsumerImpl::RequestRejoin() {
  group_core_->Post([this] {
    absl::MutexLock l(&mu_);
    // A join under way either carries the new subscription already or
    // rejoins when it is done (joined_version_ != subscription_version_).
    if (join_in_flight_ || closed_ || !subscribed_) return;
    mu_.Unlock();
    StartGroup();
    mu_.Lock();
  });
}

// Rejoins: eager protocols revoke everything first.
void ConsumerImpl::StartGroup() {
  std::vector<TopicPartition> revoke;
  {
    absl::MutexLock l(&mu_);
    if (join_in_flight_ || closed_ || !subscribed_) return;
    // OnMetadata starts the group once the metadata is in.
    if (group_state_ == GroupState::kIdle && !MetadataCoversSubscription(core_->metadata())) return;
    const group::Assignor* current = nullptr;
    for (const auto& a : assignors_) {
      if (a->name() == protocol_name_) current = a.get();
    }
    const bool eager =
        current == nullptr || current->protocol() == group::RebalanceProtocol::kEager;
    if (eager) {
      for (const auto& [tp, ps] : assigned_) revoke.push_back(tp);
    }
    join_in_flight_ = true;  // nothing else starts a join meanwhile
  }
  if (revoke.empty()) return Join();
  RevokeThen(std::move(revoke), [this] { Join(); });
}

void ConsumerImpl::Join() {
  std::vector<protocol::JoinGroupRequest::JoinGroupRequestProtocol> protocols;
  protocol::JoinGroupRequest req;
  std::string owned_text;
  int32_t joined_generation;
  {
    absl::MutexLock l(&mu_);
    if (closed_ || !subscribed_) {
      join_in_flight_ = false;
      rebalancing_ = false;
      return;
    }
    join_in_flight_ = true;
    joined_version_ = subscription_version_;
    rebalancing_ = true;
    group_state_ = GroupState::kJoining;
    ++session_;
    group::Subscription sub;
    sub.topics = SubscribedTopics(*core_->metadata());
    std::vector<TopicPartition> owned;
    for (const auto& [tp, ps] : assigned_) owned.push_back(tp);
    // Revoked partitions whose commit has not gone through are still ours:
    // no one may take them before it does (else their next owner starts
    // from the older commit and reads records again).
    for (const auto& [tp, offset] : unreleased_) owned.push_back(tp);
    std::sort(owned.begin(), owned.end());
    sub.owned_partitions = group::GroupByTopic(ToGroup(owned));
    sub.generation_id = generation_;
    joined_generation = generation_;
    joined_counts_ = CountsOf(sub.topics);
    for (const auto& a : assignors_) {
      auto& p = req.protocols.emplace_back();
      p.name = std::string(a->name());
      p.metadata = group::EncodeSubscription(sub);
    }
    req.group_id = options_.group_id;
    req.session_timeout_ms = static_cast<int32_t>(absl::ToInt64Milliseconds(options_.session_timeout));
    req.rebalance_timeout_ms =
        static_cast<int32_t>(absl::ToInt64Milliseconds(options_.max_poll_interval));
    req.member_id = member_id_;
    req.group_instance_id = options_.group_instance_id;
    req.protocol_type = group::kConsumerProtocolType;
    owned_text = PartitionsText(owned);
  }
  // The sink is never called under mu_ (runnel/client_log.h).
  RUNNEL_CLIENT_DEBUG(log_, kCgrp, "JoinGroup",
                      {{"group", options_.group_id},
                       {"member", req.member_id},
                       {"generation", std::to_string(joined_generation)},
                       {"owned", owned_text}});
  FindCoordinator([this, req = std::move(req)](absl::StatusOr<int32_t> coordinator) mutable {
    auto retry = [this] {
      {
        absl::MutexLock l(&mu_);
        join_in_flight_ = false;
        rebalancing_ = false;
      }
      group_core_->PostAfter(group_core_->options().retry_backoff, [this] { StartGroup(); });
    };
    if (!coordinator.ok()) return retry();
    RequestOptions ro;
    // The coordinator holds JoinGroup until every member has joined.
    ro.timeout = options_.max_poll_interval + options_.client.request_timeout;
    group_core_->Send<protocol::JoinGroupResponse>(
        Target::Node(*coordinator), std::move(req),
        [this, retry](absl::StatusOr<Reply<protocol::JoinGroupResponse>> reply) mutable {
          if (!reply.ok()) {
            RUNNEL_CLIENT_LOG(log_, kInfo, "JoinGroup failed",
                              {{"group", options_.group_id}, {"error", reply.status().ToString()}});
            {
              absl::MutexLock l(&mu_);
              coordinator_.reset();
            }
            return retry();
          }
          const auto ec = static_cast<ErrorCode>(reply->response.error_code);
          if (ec != ErrorCode::kNone) {
            RUNNEL_CLIENT_DEBUG(log_, kCgrp, "JoinGroup answered",
                                {{"group", options_.group_id}, {"error", ErrorName(ec)}});
          }
          if (ec == ErrorCode::kMemberIdRequired) {
            {
              absl::MutexLock l(&mu_);
              member_id_ = reply->response.member_id;
            }
            return Join();
          }
          if (ec != ErrorCode::kNone) {
            if (HandleGroupError(ec, "JoinGroup")) retry();
            return;
          }
          OnJoined(reply->response);
        },
        ro);
  });
}

void ConsumerImpl::OnJoined(const protocol::JoinGroupResponse& r) {
  std::string protocol_name = r.protocol_name.value_or("");
  bool leader;
  uint64_t session;
  {
    absl::MutexLock l(&mu_);
    generation_ = r.generation_id;
    member_id_ = r.member_id;
    protocol_name_ = protocol_name;
    leader = r.leader == r.member_id;
    session = session_;
  }
  RUNNEL_CLIENT_LOG(log_, kInfo, "joined group",
                    {{"group", options_.group_id},
                     {"generation", std::to_string(r.generation_id)},
                     {"member", r.member_id},
                     {"leader", r.leader},
                     {"protocol", protocol_name},
                     {"members", std::to_string(r.members.size())}});
  // KIP-345: a static leader that rejoined a stable group keeps the current
  // assignment (the coordinator hands each member its stored one), so it
  // must not compute a new one.
  if (!leader || r.skip_assignment) return SyncGroup({});
  group::GroupMembers members;
  std::vector<std::string> all_topics;
  for (const auto& m : r.members) {
    auto sub = group::DecodeSubscription(m.metadata);
    if (!sub.ok()) continue;  // a member we cannot read gets nothing
    all_topics.insert(all_topics.end(), sub->topics.begin(), sub->topics.end());
    members.push_back({m.member_id, m.group_instance_id, std::move(*sub)});
  }
  std::sort(all_topics.begin(), all_topics.end());
  all_topics.erase(std::unique(all_topics.begin(), all_topics.end()), all_topics.end());
  // As librdkafka's and Java's leaders do, assign from metadata fetched
  // after the join: other members may subscribe to topics this one does not
  // track yet, and partitions may have been added since the last refresh.
  // (It also lets the followers' SyncGroup reach the coordinator first,
  // which librdkafka 2.0.2's mock cluster needs: it ends the sync round at
  // the leader's SyncGroup and refuses followers that come later.)
  core_->AddTopics(all_topics);
  AfterMetadataRefresh([this, session, protocol_name = std::move(protocol_name),
                        generation = r.generation_id, members = std::move(members),
                        all_topics = std::move(all_topics)]() mutable {
    {
      absl::MutexLock l(&mu_);
      if (session != session_) {  // closed or rejoining meanwhile
        join_in_flight_ = false;
        rebalancing_ = false;
        return;
      }
    }
    AssignAndSync(generation, protocol_name, members, all_topics);
  });
}

void ConsumerImpl::AfterMetadataRefresh(absl::AnyInvocable<void()> then) {
  struct Once {
    std::atomic<bool> done{false};
    absl::AnyInvocable<void()> fn;
  };
  auto once = std::make_shared<Once>();
  once->fn = std::move(then);
  auto run = [once] {
    if (!once->done.exchange(true)) once->fn();
  };
  {
    absl::MutexLock l(&mu_);
    metadata_waiters_.push_back(run);
  }
  core_->RequestMetadataRefresh();
  // Without an answer in time, go on with the metadata there is.
  group_core_->PostAfter(options_.client.request_timeout, run);
}

void ConsumerImpl::AssignAndSync(int32_t generation, const std::string& protocol_name,
                                 const group::GroupMembers& members,
                                 const std::vector<std::string>& all_topics) {
  const group::Assignor* assignor = nullptr;
  for (const auto& a : assignors_) {
    if (a->name() == protocol_name) assignor = a.get();
  }
  std::vector<std::pair<std::string, std::vector<uint8_t>>> out;
  if (assignor == nullptr) {
    absl::MutexLock l(&mu_);
    fatal_ = absl::FailedPreconditionError(
        absl::StrCat("the group chose assignor '", protocol_name, "', which this consumer lacks"));
    cv_.SignalAll();
    join_in_flight_ = false;
    rebalancing_ = false;
    return;
  }
  auto assignment = assignor->Assign(CountsOf(all_topics), members);
  if (assignment.ok()) {
    for (const auto& [member, tps] : *assignment) {
      group::Assignment a;
      a.partitions = group::GroupByTopic(tps);
      out.emplace_back(member, group::EncodeAssignment(a));
    }
  }
  if (log_.Enabled(ClientLogLevel::kInfo)) {
    for (const auto& m : members) {
      std::string assigned = "-";
      if (assignment.ok() && assignment->count(m.member_id)) {
        assigned = PartitionsText(assignment->at(m.member_id));
      }
      log_.Log(ClientLogLevel::kInfo, "group assignment computed",
               {{"group", options_.group_id},
                {"generation", std::to_string(generation)},
                {"member", m.member_id},
                {"owned", PartitionsText(group::Flatten(m.subscription.owned_partitions))},
                {"owned_generation", std::to_string(m.subscription.generation_id)},
                {"assigned", assigned}});
    }
  }
  if (!assignment.ok()) {
    RUNNEL_CLIENT_LOG(log_, kWarn, "group assignment failed",
                      {{"group", options_.group_id}, {"error", assignment.status().ToString()}});
  }
  SyncGroup(std::move(out));
}

void ConsumerImpl::SyncGroup(std::vector<std::pair<std::string, std::vector<uint8_t>>> assignments) {
  protocol::SyncGroupRequest req;
  int32_t coordinator;
  {
    absl::MutexLock l(&mu_);
    req.group_id = options_.group_id;
    req.generation_id = generation_;
    req.member_id = member_id_;
    req.group_instance_id = options_.group_instance_id;
    req.protocol_type.emplace(group::kConsumerProtocolType);
    req.protocol_name = protocol_name_;
    coordinator = coordinator_.value_or(-1);
  }
  for (auto& [member, bytes] : assignments) {
    auto& a = req.assignments.emplace_back();
    a.member_id = member;
    a.assignment = std::move(bytes);
  }
  RUNNEL_CLIENT_DEBUG(log_, kCgrp, "SyncGroup",
                      {{"group", options_.group_id},
                       {"generation", std::to_string(req.generation_id)},
                       {"member", req.member_id},
                       {"assignments", std::to_string(req.assignments.size())}});
  group_core_->Send<protocol::SyncGroupResponse>(
      Target::Node(coordinator), std::move(req),
      [this](absl::StatusOr<Reply<protocol::SyncGroupResponse>> reply) {
        auto retry = [this] {
          {
            absl::MutexLock l(&mu_);
            join_in_flight_ = false;
            rebalancing_ = false;
          }
          group_core_->PostAfter(group_core_->options().retry_backoff, [this] { StartGroup(); });
        };
        if (!reply.ok()) {
          RUNNEL_CLIENT_LOG(log_, kInfo, "SyncGroup failed",
                            {{"group", options_.group_id}, {"error", reply.status().ToString()}});
          {
            absl::MutexLock l(&mu_);
            coordinator_.reset();
          }
          return retry();
        }
        const auto ec = static_cast<ErrorCode>(reply->response.error_code);
        if (ec != ErrorCode::kNone) {
          RUNNEL_CLIENT_LOG(log_, kInfo, "SyncGroup failed",
                            {{"group", options_.group_id}, {"error", ErrorName(ec)}});
          if (HandleGroupError(ec, "SyncGroup")) retry();
          return;
        }
        auto a = group::DecodeAssignment(reply->response.assignment);
        if (!a.ok()) {
          absl::MutexLock l(&mu_);
          fatal_ = a.status();
          cv_.SignalAll();
          join_in_flight_ = false;
          rebalancing_ = false;
          return;
        }
        OnAssignment(*a);
      },
      RequestOptions{options_.max_poll_interval + options_.client.request_timeout});
}

void ConsumerImpl::OnAssignment(const group::Assignment& a) {
  const auto next = ToPublic(group::Flatten(a.partitions));
  std::vector<TopicPartition> revoked, added;
  // Unreleased partitions (their revocation's commit failed): those
  // assigned to this member again resume at the uncommitted position; the
  // others are committed now, under this generation, and released by
  // rejoining once that succeeds.
  std::map<TopicPartition, int64_t> resume;
  TopicPartitionOffsets release;
  uint64_t session;
  int32_t generation;
  std::string member;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [tp, offset] : unreleased_) {
      if (std::binary_search(next.begin(), next.end(), tp)) {
        resume[tp] = offset;
      } else {
        release[tp] = OffsetAndMetadata{offset, "", -1};
      }
    }
    unreleased_.clear();
    for (const auto& [tp, om] : release) unreleased_[tp] = om.offset;
    for (const auto& [tp, ps] : assigned_) {
      if (!std::binary_search(next.begin(), next.end(), tp)) revoked.push_back(tp);
    }
    for (const auto& tp : next) {
      if (!assigned_.count(tp)) added.push_back(tp);
    }
    group_state_ = GroupState::kStable;
    rebalancing_ = false;
    session = session_;
    generation = generation_;
    member = member_id_;
    absl::MutexLock ml(&metrics_mu_);
    ++metrics_.rebalances;
  }
  RUNNEL_CLIENT_LOG(log_, kInfo, "group assignment",
                    {{"group", options_.group_id},
                     {"generation", std::to_string(generation)},
                     {"member", member},
                     {"assigned", PartitionsText(next)},
                     {"added", PartitionsText(added)},
                     {"revoked", PartitionsText(revoked)}});
  auto finish = [this, added, session, resume, release, rejoin = !revoked.empty()] {
    bool again;
    {
      absl::MutexLock l(&mu_);
      for (const auto& tp : added) {
        assigned_[tp].epoch = ++epoch_counter_;
        auto r = resume.find(tp);
        if (r != resume.end()) SetPosition(assigned_[tp], r->second);
      }
      events_.push_back({EventKind::kAssigned, added});
      cv_.SignalAll();
      join_in_flight_ = false;
      rebalancing_ = false;
      again = rejoin || !release.empty() || joined_version_ != subscription_version_;
    }
    ScheduleHeartbeat(session);
    InitPositions();
    PumpSoon();
    if (!release.empty()) {
      // Rejoin either way: released if the commit went through, claimed
      // again (and retried next round) if not.
      return SendCommit(release, [this, release](absl::Status s) {
        ReleaseAfterCommit(release, s);
        StartGroup();
      });
    }
    // Cooperative: what was revoked goes to its new owner in the next round.
    if (again) StartGroup();
  };
  if (revoked.empty()) return finish();
  RevokeThen(std::move(revoked), std::move(finish));
}

void ConsumerImpl::RevokeThen(std::vector<TopicPartition> revoked,
                              absl::AnyInvocable<void()> then) {
  // As in Kafka's consumer, revocation happens inside Poll: by then the
  // application has finished with what the last Poll returned, so the
  // listener can commit it and auto-commit commits exactly that. The
  // rebalance waits (up to max.poll.interval.ms, the rebalance timeout).
  absl::MutexLock l(&mu_);
  events_.push_back({EventKind::kRevoked, std::move(revoked), std::move(then)});
  cv_.SignalAll();
}

void ConsumerImpl::FinishRevocation(const std::vector<TopicPartition>& revoked,
                                    absl::AnyInvocable<void()> then) {
  TopicPartitionOffsets offsets;
  {
    absl::MutexLock l(&mu_);
    // One lock section: what is committed is exactly what Poll returned,
    // and Poll returns nothing more of these partitions.
    if (options_.enable_auto_commit) offsets = UncommittedPositions(&revoked);
    for (const auto& tp : revoked) {
      auto it = assigned_.find(tp);
      if (it == assigned_.end()) continue;
      queued_bytes_ -= it->second.buffered_bytes;
      assigned_.erase(it);
    }
  }
  if (!revoked.empty()) {
    RUNNEL_CLIENT_LOG(log_, kInfo, "partitions revoked",
                      {{"group", options_.group_id},
                       {"revoked", PartitionsText(revoked)},
                       {"committing", std::to_string(offsets.size())}});
  }
  if (!then) return;
  if (offsets.empty()) return group_core_->Post(std::move(then));
  {
    // Cooperative: a partition whose commit fails stays claimed by this
    // member (unreleased_) until a later commit succeeds. The commit fails
    // when another member's rejoin has started the next rebalance first
    // and the coordinator refuses commits meanwhile (librdkafka's mock
    // does, through the whole rebalance; Kafka only between the JoinGroup
    // and SyncGroup answers).
    absl::MutexLock l(&mu_);
    if (Cooperative()) {
      for (const auto& [tp, om] : offsets) unreleased_[tp] = om.offset;
    }
  }
  SendCommit(offsets, [this, offsets, then = std::move(then)](absl::Status s) mutable {
    ReleaseAfterCommit(offsets, s);
    then();
  });
}

void ConsumerImpl::ReleaseAfterCommit(const TopicPartitionOffsets& offsets, const absl::Status& s) {
  const auto ec = protocol::ErrorCodeFromStatus(s);
  // Kept only while the commit may still succeed under a later generation.
  const bool keep =
      !s.ok() &&
      (!ec.has_value() || *ec == ErrorCode::kRebalanceInProgress ||
       *ec == ErrorCode::kNotCoordinator || *ec == ErrorCode::kCoordinatorNotAvailable ||
       *ec == ErrorCode::kCoordinatorLoadInProgress || *ec == ErrorCode::kRequestTimedOut);
  bool kept = false;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [tp, om] : offsets) {
      auto it = unreleased_.find(tp);
      if (it == unreleased_.end() || it->second != om.offset) continue;
      if (keep) {
        kept = true;
      } else {
        unreleased_.erase(it);
      }
    }
  }
  if (kept && log_.Enabled(ClientLogLevel::kInfo)) {
    std::vector<TopicPartition> tps;
    for (const auto& [tp, om] : offsets) tps.push_back(tp);
    log_.Log(ClientLogLevel::kInfo, "revoked partitions kept until their commit succeeds",
             {{"group", options_.group_id},
              {"partitions", PartitionsText(tps)},
              {"error", s.ToString()}});
  }
}

bool ConsumerImpl::Cooperative() const {
  for (const auto& a : assignors_) {
    if (a->name() == protocol_name_) return a->protocol() == group::RebalanceProtocol::kCooperative;
  }
  return false;
}

void ConsumerImpl::LoseAll(std::string_view why) {
  absl::MutexLock l(&mu_);
  std::vector<TopicPartition> lost;
  for (const auto& [tp, ps] : assigned_) lost.push_back(tp);
  assigned_.clear();
  unreleased_.clear();  // the group moved on without this member
  queued_bytes_ = 0;
  if (!lost.empty()) events_.push_back({EventKind::kLost, lost});
  cv_.SignalAll();
}

bool ConsumerImpl::HandleGroupError(ErrorCode ec, std::string_view where) {
  switch (ec) {
    case ErrorCode::kNotCoordinator:
    case ErrorCode::kCoordinatorNotAvailable: {
      absl::MutexLock l(&mu_);
      coordinator_.reset();
      return true;
    }
    case ErrorCode::kCoordinatorLoadInProgress:
    case ErrorCode::kRebalanceInProgress:
      return true;
    case ErrorCode::kUnknownMemberId:
    case ErrorCode::kIllegalGeneration: {
      LoseAll(where);
      absl::MutexLock l(&mu_);
      if (ec == ErrorCode::kUnknownMemberId && !options_.group_instance_id) member_id_.clear();
      generation_ = -1;
      return true;
    }
    default: {
      if (protocol::IsRetriable(ec)) return true;
      absl::MutexLock l(&mu_);
      fatal_ = protocol::ErrorCodeToStatus(ec, absl::StrCat(std::string(where), " for group '",
                                                             options_.group_id, "'"));
      join_in_flight_ = false;
      rebalancing_ = false;
      cv_.SignalAll();
      return false;
    }
  }
}

void ConsumerImpl::ScheduleHeartbeat(uint64_t session) {
  group_core_->PostAfter(options_.heartbeat_interval, [this, session] { Heartbeat(session); });
}

void ConsumerImpl::Heartbeat(uint64_t session) {
  protocol::HeartbeatRequest req;
  int32_t coordinator;
  {
    absl::MutexLock l(&mu_);
    if (closed_ || session != session_ || group_state_ != GroupState::kStable) return;
    if (absl::Now() - last_poll_ > options_.max_poll_interval) {
      // The application stopped polling: give the partitions up so others
      // can make progress; the next Poll joins again.
      left_for_poll_timeout_ = true;
      group_state_ = GroupState::kLeft;
      ++session_;
      mu_.Unlock();
      LoseAll("max.poll.interval.ms passed");
      LeaveGroup(absl::InfinitePast());
      mu_.Lock();
      return;
    }
    if (!coordinator_) {
      mu_.Unlock();
      FindCoordinator([this, session](absl::StatusOr<int32_t>) { ScheduleHeartbeat(session); });
      mu_.Lock();
      return;
    }
    coordinator = *coordinator_;
    req.group_id = options_.group_id;
    req.generation_id = generation_;
    req.member_id = member_id_;
    req.group_instance_id = options_.group_instance_id;
  }
  group_core_->Send<protocol::HeartbeatResponse>(
      Target::Node(coordinator), std::move(req),
      [this, session](absl::StatusOr<Reply<protocol::HeartbeatResponse>> reply) {
        if (!reply.ok()) {
          {
            absl::MutexLock l(&mu_);
            coordinator_.reset();
          }
          return ScheduleHeartbeat(session);
        }
        const auto ec = static_cast<ErrorCode>(reply->response.error_code);
        if (ec == ErrorCode::kNone) return ScheduleHeartbeat(session);
        RUNNEL_CLIENT_DEBUG(log_, kCgrp, "Heartbeat answered",
                            {{"group", options_.group_id}, {"error", ErrorName(ec)}});
        if (ec == ErrorCode::kRebalanceInProgress) return StartGroup();
        if (!HandleGroupError(ec, "Heartbeat")) return;
        {
          absl::MutexLock l(&mu_);
          if (ec != ErrorCode::kUnknownMemberId && ec != ErrorCode::kIllegalGeneration) {
            mu_.Unlock();
            ScheduleHeartbeat(session);
            mu_.Lock();
            return;
          }
        }
        StartGroup();
      });
}

void ConsumerImpl::OnMetadata(const std::shared_ptr<const ClusterMetadata>& md) {
  bool rejoin = false;
  std::vector<absl::AnyInvocable<void()>> waiters;
  {
    absl::MutexLock l(&mu_);
    waiters.swap(metadata_waiters_);
  }
  for (auto& w : waiters) group_core_->Post(std::move(w));
  {
    absl::MutexLock l(&mu_);
    if (!subscribed_ || closed_) return;
    if (group_state_ == GroupState::kIdle) {
      rejoin = true;
    } else if (group_state_ == GroupState::kStable && !join_in_flight_) {
      rejoin = CountsOf(SubscribedTopics(*md)) != joined_counts_;
    }
  }
  if (rejoin) StartGroup();
}

bool ConsumerImpl::MetadataCoversSubscription(
    const std::shared_ptr<const ClusterMetadata>& md) const {
  if (pattern_) return md != metadata_at_subscribe_;
  for (const auto& t : topics_) {
    if (md->FindTopic(t) == nullptr) return false;
  }
  return true;
}

std::vector<std::string> ConsumerImpl::SubscribedTopics(const ClusterMetadata& md) const {
  if (!pattern_) return topics_;
  std::vector<std::string> out;
  for (const auto& [name, t] : md.topics) {
    if (!t.is_internal && std::regex_match(name, *pattern_)) out.push_back(name);
  }
  return out;
}

group::TopicPartitionCounts ConsumerImpl::CountsOf(const std::vector<std::string>& topics) const {
  const auto md = core_->metadata();
  group::TopicPartitionCounts out;
  for (const auto& t : topics) {
    const TopicMetadata* tm = md->FindTopic(t);
    if (tm != nullptr && tm->error == ErrorCode::kNone && !tm->partitions.empty()) {
      out[t] = static_cast<int32_t>(tm->partitions.size());
    }
  }
  return out;
}

void ConsumerImpl::LeaveGroup(absl::Time deadline) {
  protocol::LeaveGroupRequest req;
  int32_t coordinator;
  {
    absl::MutexLock l(&mu_);
    // A static member keeps its place for session.timeout.ms: leaving would
    // hand its partitions out, which is what static membership avoids.
    if (member_id_.empty() || !coordinator_ || options_.group_instance_id) return;
    unreleased_.clear();  // leaving gives up every claim
    coordinator = *coordinator_;
    req.group_id = options_.group_id;
    req.member_id = member_id_;
    auto& m = req.members.emplace_back();
    m.member_id = member_id_;
    m.reason.emplace("the consumer is closing");
    member_id_.clear();
    generation_ = -1;
  }
  RUNNEL_CLIENT_LOG(log_, kInfo, "leaving group",
                    {{"group", options_.group_id}, {"member", req.member_id}});
  RequestOptions ro;
  if (deadline != absl::InfinitePast()) ro.timeout = std::max(deadline - absl::Now(), absl::Milliseconds(1));
  auto f = group_core_->Call<protocol::LeaveGroupResponse>(Target::Node(coordinator), std::move(req), ro);
  if (deadline == absl::InfinitePast()) return;  // I/O thread: do not wait
  f.wait_until(absl::ToChronoTime(deadline));
}

void ConsumerImpl::ScheduleAutoCommit() {
  group_core_->PostAfter(options_.auto_commit_interval, [this] {
    TopicPartitionOffsets offsets;
    {
      absl::MutexLock l(&mu_);
      if (closed_) return;
      offsets = UncommittedPositions(nullptr);
    }
    SendCommit(offsets, [](absl::Status) {});
    ScheduleAutoCommit();
  });
}

}  // namespace runnel::client
