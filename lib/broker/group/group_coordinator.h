// GroupCoordinator: the broker's coordinator for classic consumer groups
// (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
// OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups,
// OffsetDelete), with group metadata and offsets kept in __consumer_offsets.
//
// It knows nothing of sockets: each method takes a decoded request and the
// caller's ClientInfo, and hands the response to `done`. JoinGroup and
// SyncGroup answer when the rebalance gets there; the others before
// returning. Time comes from a TimerService, so tests drive rebalances and
// session expiry with a ManualTimerService.
//
//   ManualTimerService timers;
//   auto coordinator = GroupCoordinator::Create(log_manager.get(), &timers, {});
//   RUNNEL_RETURN_IF_ERROR((*coordinator)->Load());  // replays __consumer_offsets
//   (*coordinator)->JoinGroup({.api_version = 9, .client_id = "c1"}, request,
//                             [](protocol::JoinGroupResponse r) { Reply(r); });
//
// Threads: every method is thread-safe and may be called from any number of
// I/O threads. `done` runs exactly once: on the calling thread for every API
// but JoinGroup/SyncGroup, which may complete on the thread of another
// member's request or on the TimerService's thread. `done` must not block;
// it may call back into the coordinator.
//
// Owns its groups. Does not own the LogManager or the TimerService, which
// must outlive it. Until Load() finishes, requests are answered with
// COORDINATOR_LOAD_IN_PROGRESS.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "broker/group/group.h"
#include "broker/group/group_config.h"
#include "broker/group/offsets_topic.h"
#include "broker/group/timer_service.h"
#include "runnel/log_manager.h"
#include "runnel/protocol/messages/delete_groups.h"
#include "runnel/protocol/messages/describe_groups.h"
#include "runnel/protocol/messages/find_coordinator.h"
#include "runnel/protocol/messages/heartbeat.h"
#include "runnel/protocol/messages/join_group.h"
#include "runnel/protocol/messages/leave_group.h"
#include "runnel/protocol/messages/list_groups.h"
#include "runnel/protocol/messages/offset_commit.h"
#include "runnel/protocol/messages/offset_delete.h"
#include "runnel/protocol/messages/offset_fetch.h"
#include "runnel/protocol/messages/sync_group.h"

namespace runnel::broker::group {

struct GroupCoordinatorOptions {
  // Where FindCoordinator sends clients: this broker (a single-node
  // cluster coordinates every group).
  int32_t node_id = 0;
  std::string host = "localhost";
  int32_t port = 9092;
  GroupConfig group;
  OffsetsTopicOptions offsets_topic;
};

template <typename Response>
using Done = std::function<void(Response)>;

class GroupCoordinator {
 public:
  static absl::StatusOr<std::unique_ptr<GroupCoordinator>> Create(
      storage::LogManager* logs, TimerService* timers, const GroupCoordinatorOptions& options);
  ~GroupCoordinator();
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  // Creates the __consumer_offsets partitions that are missing, replays
  // every partition (groups, members, assignments, offsets; tombstones
  // remove) and starts answering. Members restored are expired one session
  // timeout later unless they heartbeat. Call once, before or while
  // requests arrive.
  absl::Status Load();

  void FindCoordinator(const ClientInfo& client, const protocol::FindCoordinatorRequest& request,
                       Done<protocol::FindCoordinatorResponse> done);
  void JoinGroup(const ClientInfo& client, const protocol::JoinGroupRequest& request,
                 Done<protocol::JoinGroupResponse> done);
  void SyncGroup(const ClientInfo& client, const protocol::SyncGroupRequest& request,
                 Done<protocol::SyncGroupResponse> done);
  void Heartbeat(const ClientInfo& client, const protocol::HeartbeatRequest& request,
                 Done<protocol::HeartbeatResponse> done);
  void LeaveGroup(const ClientInfo& client, const protocol::LeaveGroupRequest& request,
                  Done<protocol::LeaveGroupResponse> done);
  // Answers after the offsets are in the log.
  void OffsetCommit(const ClientInfo& client, const protocol::OffsetCommitRequest& request,
                    Done<protocol::OffsetCommitResponse> done);
  void OffsetFetch(const ClientInfo& client, const protocol::OffsetFetchRequest& request,
                   Done<protocol::OffsetFetchResponse> done);
  void ListGroups(const ClientInfo& client, const protocol::ListGroupsRequest& request,
                  Done<protocol::ListGroupsResponse> done);
  void DescribeGroups(const ClientInfo& client, const protocol::DescribeGroupsRequest& request,
                      Done<protocol::DescribeGroupsResponse> done);
  void DeleteGroups(const ClientInfo& client, const protocol::DeleteGroupsRequest& request,
                    Done<protocol::DeleteGroupsResponse> done);
  void OffsetDelete(const ClientInfo& client, const protocol::OffsetDeleteRequest& request,
                    Done<protocol::OffsetDeleteResponse> done);

  // What FindCoordinator answers from now on: a broker listening on port 0
  // learns its advertised address only after the server started.
  void SetEndpoint(int32_t node_id, const std::string& host, int32_t port);

  // One pass of offsets.retention.minutes expiry over every group (a timer
  // runs it every offsets_retention_check_interval_ms).
  void ExpireOffsetsOnce();

  int32_t PartitionFor(const std::string& group_id) const { return topic_.PartitionFor(group_id); }

  // Groups by state name ("Stable", "Empty", ...; Dead ones left out), for
  // the runnel_groups gauge. Any thread.
  std::map<std::string, int64_t> CountByState() const;

 private:
  GroupCoordinator(storage::LogManager* logs, TimerService* timers,
                   const GroupCoordinatorOptions& options);
  bool loaded() const;
  std::shared_ptr<Group> Find(const std::string& group_id) const;
  std::shared_ptr<Group> GetOrCreate(const std::string& group_id);
  std::vector<Group::FetchedOffset> FetchFor(
      const std::string& group_id,
      const std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>>& topics) const;
  void ScheduleRetention();

  // Lets the retention timer reach the coordinator only while it exists:
  // the destructor clears `self` under `mu`, waiting out a running pass.
  struct Lifeline {
    absl::Mutex mu;
    GroupCoordinator* self ABSL_GUARDED_BY(mu);
  };

  const GroupCoordinatorOptions options_;
  TimerService* const timers_;
  OffsetsTopic topic_;
  std::shared_ptr<Lifeline> lifeline_;
  TimerId retention_timer_ = 0;

  mutable absl::Mutex mu_;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  int32_t node_id_ ABSL_GUARDED_BY(mu_);
  std::string host_ ABSL_GUARDED_BY(mu_);
  int32_t port_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<Group>> groups_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::broker::group
