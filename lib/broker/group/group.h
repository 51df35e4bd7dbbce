// Group: the state machine of one classic consumer group (JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup) and its committed offsets.
//
//   Empty --join--> PreparingRebalance --all joined / rebalance timeout-->
//   CompletingRebalance --leader's SyncGroup--> Stable
//   Stable / CompletingRebalance --join of a new member, protocol change,
//       leave, session expiry--> PreparingRebalance
//   PreparingRebalance --nobody rejoined--> Empty;  Empty --DeleteGroups--> Dead
//
// The generation id increases each time a join phase completes; requests
// naming another generation get ILLEGAL_GENERATION. Membership and
// assignments are written to __consumer_offsets when the leader's
// assignment arrives (and when the group empties), offsets on every commit.
//
// Threads: every public method is thread-safe; the group's mutex guards all
// state. Callbacks (JoinGroup/SyncGroup responses) never run under it: they
// run on the caller's thread before the method returns, or on whichever
// thread completes the rebalance (another request's, or the timer thread).
// Owned by the GroupCoordinator through shared_ptr; timers hold weak_ptrs,
// so a timer firing after the group was dropped does nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "broker/group/group_config.h"
#include "broker/group/member.h"
#include "broker/group/offsets_topic.h"
#include "broker/group/record_formats.h"
#include "broker/group/timer_service.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/describe_groups.h"
#include "runnel/protocol/messages/heartbeat.h"
#include "runnel/protocol/messages/leave_group.h"
#include "runnel/protocol/messages/offset_commit.h"
#include "runnel/protocol/messages/offset_delete.h"
#include "runnel/protocol/messages/offset_fetch.h"

namespace runnel::broker::group {

using protocol::ErrorCode;

enum class GroupState { kEmpty, kPreparingRebalance, kCompletingRebalance, kStable, kDead };

// Kafka's names ("PreparingRebalance", ...), as DescribeGroups/ListGroups
// report them.
std::string_view GroupStateName(GroupState state);

// Who sent a request: the client.id of its header and the peer's address.
struct ClientInfo {
  int16_t api_version = 0;
  std::string client_id;
  std::string client_host;
};

// Collects response callbacks while a lock is held and runs them when it
// goes out of scope: declared before the MutexLock, it is destroyed after
// the lock is released.
class DeferredCalls {
 public:
  DeferredCalls() = default;
  DeferredCalls(const DeferredCalls&) = delete;
  DeferredCalls& operator=(const DeferredCalls&) = delete;
  ~DeferredCalls() {
    for (auto& f : calls_) f();
  }
  void Add(std::function<void()> f) { calls_.push_back(std::move(f)); }

 private:
  std::vector<std::function<void()>> calls_;
};

struct TopicPartitionKey {
  std::string topic;
  int32_t partition = 0;
  friend auto operator<=>(const TopicPartitionKey&, const TopicPartitionKey&) = default;
};

class Group : public std::enable_shared_from_this<Group> {
 public:
  Group(std::string group_id, int32_t offsets_partition, const GroupConfig* config,
        TimerService* timers, OffsetsTopic* topic);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  const std::string& group_id() const { return group_id_; }

  // --- Membership (group_join.cc, group_membership.cc) ---
  void Join(const ClientInfo& client, const protocol::JoinGroupRequest& request, JoinCallback done);
  void Sync(const ClientInfo& client, const protocol::SyncGroupRequest& request, SyncCallback done);
  ErrorCode Heartbeat(const protocol::HeartbeatRequest& request);
  protocol::LeaveGroupResponse Leave(const ClientInfo& client,
                                     const protocol::LeaveGroupRequest& request);

  // --- Offsets (group_offsets.cc) ---
  protocol::OffsetCommitResponse CommitOffsets(const ClientInfo& client,
                                               const protocol::OffsetCommitRequest& request);
  // `topics` nullopt: every committed offset.
  struct FetchedOffset {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = -1;
    int32_t leader_epoch = -1;
    std::string metadata;
  };
  std::vector<FetchedOffset> FetchOffsets(
      const std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>>& topics);
  protocol::OffsetDeleteResponse DeleteOffsets(const protocol::OffsetDeleteRequest& request);
  // Tombstones expired offsets of an empty group (offsets.retention.ms after
  // their commit). True when the group is now empty of everything and was
  // marked Dead, so the coordinator may forget it.
  bool ExpireOffsets(int64_t now_ms);

  // --- Administration (group_offsets.cc) ---
  // DeleteGroups: tombstones the group and its offsets and marks it Dead.
  // NON_EMPTY_GROUP unless Empty.
  ErrorCode Delete();
  protocol::DescribeGroupsResponse::DescribedGroup Describe();
  GroupState state();
  std::string protocol_type();
  // Whether the group is Dead (deleted); callers that found it in the map
  // then treat it as missing.
  bool is_dead();

  // --- Loading (group_offsets.cc) ---
  // Restores the state written last; a group with members comes back
  // Stable with their session timers running, as after a coordinator
  // failover in Kafka.
  void LoadMetadata(const GroupMetadataValue& value);
  void LoadOffsets(std::map<TopicPartitionKey, OffsetCommitValue> offsets);
  // Cancels every timer (coordinator shutdown).
  void Shutdown();

 private:
  // ---- group_join.cc ----
  void JoinNewMember(const ClientInfo& client, const protocol::JoinGroupRequest& request,
                     JoinCallback done, DeferredCalls& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void JoinKnownMember(const ClientInfo& client, const protocol::JoinGroupRequest& request,
                       JoinCallback done, DeferredCalls& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReplaceStaticMember(const ClientInfo& client, const protocol::JoinGroupRequest& request,
                           const std::string& old_member_id, JoinCallback done,
                           DeferredCalls& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddMemberAndRebalance(const ClientInfo& client, const protocol::JoinGroupRequest& request,
                             const std::string& member_id, JoinCallback done,
                             DeferredCalls& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateMemberAndRebalance(Member& member, const protocol::JoinGroupRequest& request,
                                JoinCallback done, DeferredCalls& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool SupportsProtocols(const std::string& protocol_type,
                         const std::vector<MemberProtocol>& protocols) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string SelectProtocol() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybePrepareRebalance(DeferredCalls& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PrepareRebalance(DeferredCalls& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TryCompleteJoin(DeferredCalls& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CompleteJoin(DeferredCalls& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnJoinTimer(uint64_t seq);
  protocol::JoinGroupResponse JoinResponseFor(const Member& member) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int32_t MaxRebalanceTimeoutMs() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewMemberId(const std::string& prefix) const;

  // ---- group_membership.cc ----
  // UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID checks shared by every request
  // naming a member; kNone when `member_id` is the current holder.
  ErrorCode ValidateMember(const std::string& member_id,
                           const std::optional<std::string>& instance_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveMember(const std::string& member_id, DeferredCalls& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveMemberAndUpdateGroup(const std::string& member_id, DeferredCalls& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleHeartbeatExpiry(Member& member) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnHeartbeatExpired(const std::string& member_id, uint64_t seq);
  void SchedulePendingMemberExpiry(const std::string& member_id, int32_t session_timeout_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnPendingMemberExpired(const std::string& member_id);
  void ResetSyncsWithError(ErrorCode error, DeferredCalls& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TransitionTo(GroupState state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the group's metadata record (members with their assignments).
  absl::Status StoreGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  GroupMetadataValue MetadataRecord() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string group_id_;
  const int32_t offsets_partition_;
  const GroupConfig* const config_;
  TimerService* const timers_;
  OffsetsTopic* const topic_;

  mutable absl::Mutex mu_;
  GroupState state_ ABSL_GUARDED_BY(mu_) = GroupState::kEmpty;
  int64_t state_timestamp_ms_ ABSL_GUARDED_BY(mu_) = -1;
  int32_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<std::string> protocol_type_ ABSL_GUARDED_BY(mu_);
  std::optional<std::string> protocol_name_ ABSL_GUARDED_BY(mu_);
  std::optional<std::string> leader_id_ ABSL_GUARDED_BY(mu_);
  // Ordered by member id so responses and records are deterministic.
  std::map<std::string, Member> members_ ABSL_GUARDED_BY(mu_);
  // group.instance.id -> member id of its current holder.
  std::map<std::string, std::string> static_members_ ABSL_GUARDED_BY(mu_);
  // Dynamic members told MEMBER_ID_REQUIRED and expected to rejoin with
  // that id (JoinGroup v4+); the join phase waits for them.
  std::map<std::string, TimerId> pending_members_ ABSL_GUARDED_BY(mu_);
  // Members of a completed join phase that have not sent SyncGroup yet;
  // those left when the rebalance timeout passes are removed.
  std::set<std::string> pending_sync_ ABSL_GUARDED_BY(mu_);

  // The join phase's deadline (rebalance timeout or initial delay). Each
  // new phase bumps join_seq_ so a stale timer does nothing.
  TimerId join_timer_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t join_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool in_initial_delay_ ABSL_GUARDED_BY(mu_) = false;
  bool new_member_during_delay_ ABSL_GUARDED_BY(mu_) = false;
  int64_t initial_delay_remaining_ms_ ABSL_GUARDED_BY(mu_) = 0;

  std::map<TopicPartitionKey, OffsetCommitValue> offsets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::broker::group
