// ConsumerImpl: the Consumer behind include/runnel/consumer.h, split by job:
//   consumer.cc          the public calls (Poll, Seek, Pause, Close, ...)
//   consumer_group.cc    the classic group protocol on the I/O thread
//   consumer_fetch.cc    fetching and offset resets on the I/O thread
//   consumer_offsets.cc  OffsetCommit / OffsetFetch / ListOffsets
//   consumer_missing.cc  the watch over assigned partitions that do not exist
//   consumer_options.cc  ConsumerOptions from Kafka property names
//
// Threads and state. Everything mutable lives under mu_: the user's thread
// (Poll and friends) and the ClientCore's I/O thread (response callbacks,
// timers) both take it for short, non-blocking sections and never call out
// (listener, core) while holding it. The group protocol's own sequencing
// (joining, heartbeat generation) is only touched on the I/O thread but
// sits under mu_ too, which costs nothing and keeps the annotations simple.
//
// Positions: `position` is the next offset Poll returns (what commits
// commit); `fetch_offset` the next one to ask the broker for. Prefetched
// records sit between them in `buffered`. A Seek, a reset or a reassignment
// bumps `epoch`, and a fetch answer carrying an older epoch is dropped.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/client_core.h"
#include "client/client_logger.h"
#include "client/group/assignor.h"
#include "runnel/consumer.h"
#include "runnel/protocol/messages/fetch.h"
#include "runnel/protocol/messages/join_group.h"

namespace runnel::client {

// What a prefetched record counts against queued_max_bytes: itself and the
// bytes it views (about its share of the batch buffer it keeps alive).
inline int64_t RecordBytes(const ConsumerRecord& r) {
  int64_t n = sizeof(ConsumerRecord);
  if (r.key) n += static_cast<int64_t>(r.key->size());
  if (r.value) n += static_cast<int64_t>(r.value->size());
  for (const auto& [k, v] : r.headers) n += static_cast<int64_t>(k.size() + (v ? v->size() : 0));
  return n;
}

// How often an assigned partition that does not exist is warned about
// after the first warning (its lookup is retried once a second).
inline constexpr absl::Duration kMissingPartitionWarnInterval = absl::Seconds(30);

// Whether `md` says `tp` does not exist: its topic is known and has no such
// partition (consumer_missing.cc).
bool PartitionMissing(const ClusterMetadata& md, const TopicPartition& tp);

// One partition's records of a fetch answer, decoded bit by bit
// (consumer_fetch.cc).
struct FetchedPartition;

class ConsumerImpl final : public Consumer {
 public:
  ConsumerImpl(const ConsumerOptions& options, std::unique_ptr<ClientCore> core,
               std::unique_ptr<ClientCore> group_core,
               std::vector<std::unique_ptr<group::Assignor>> assignors);
  ~ConsumerImpl() override;

  absl::Status Subscribe(const std::vector<std::string>& topics,
                         RebalanceListener* listener) override;
  absl::Status SubscribePattern(const std::string& regex, RebalanceListener* listener) override;
  absl::Status Unsubscribe() override;
  absl::Status Assign(const std::vector<TopicPartition>& partitions) override;
  std::vector<TopicPartition> Assignment() const override;
  absl::StatusOr<std::vector<ConsumerRecord>> Poll(absl::Duration timeout) override;
  absl::Status Commit(absl::Duration timeout) override;
  absl::Status Commit(const TopicPartitionOffsets& offsets, absl::Duration timeout) override;
  void CommitAsync(CommitCallback done) override;
  void CommitAsync(const TopicPartitionOffsets& offsets, CommitCallback done) override;
  absl::StatusOr<TopicPartitionOffsets> Committed(const std::vector<TopicPartition>& partitions,
                                                  absl::Duration timeout) override;
  absl::StatusOr<int64_t> Position(const TopicPartition& tp, absl::Duration timeout) override;
  absl::Status Seek(const TopicPartition& tp, int64_t offset) override;
  absl::Status SeekToBeginning(const std::vector<TopicPartition>& partitions) override;
  absl::Status SeekToEnd(const std::vector<TopicPartition>& partitions) override;
  absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> OffsetsForTimes(
      const std::map<TopicPartition, int64_t>& timestamps, absl::Duration timeout) override;
  absl::StatusOr<std::pair<int64_t, int64_t>> WatermarkOffsets(const TopicPartition& tp,
                                                               absl::Duration timeout) override;
  void Pause(const std::vector<TopicPartition>& partitions) override;
  void Resume(const std::vector<TopicPartition>& partitions) override;
  std::vector<TopicPartition> Paused() const override;
  std::pair<std::string, int32_t> GroupMember() const override;
  ConsumerMetrics metrics() const override;
  absl::Status Close(absl::Duration timeout) override;

 private:
  struct PartitionState {
    int64_t position = -1;      // next offset Poll returns; -1 unknown
    int64_t fetch_offset = -1;  // next offset to fetch
    int64_t high_watermark = -1;
    // New at every position change (Seek, a reset, a new assignment): a
    // fetch or offset lookup answers only the epoch it was sent at.
    uint64_t epoch = 0;
    bool paused = false;
    bool resetting = false;  // an offset lookup is in flight
    // The partition does not exist (consumer_missing.cc): InitPositions and
    // ResetOffsets ask nothing for it until a metadata snapshot lists it.
    // A flag of its own, not `resetting` held: a lookup in flight when it
    // goes missing still answers (and is dropped for it), and one still in
    // flight when it appears keeps InitPositions from asking twice.
    bool missing = false;
    std::optional<int64_t> reset_to;  // ListOffsets timestamp to reset with
    std::deque<ConsumerRecord> buffered;
    // RecordBytes of `buffered`, plus undecoded_bytes.
    int64_t buffered_bytes = 0;
    // The rest of a fetch answer whose decoding stopped at queued_max_bytes
    // (consumer_fetch.cc), and its compressed bytes left; not fetched again
    // until decoded.
    std::shared_ptr<FetchedPartition> undecoded;
    int64_t undecoded_bytes = 0;
    // From the latest fetch answer, for WatermarkOffsets.
    int64_t log_start_offset = -1;
    int64_t end_offset = -1;  // high watermark, or last stable offset (read_committed)
    absl::Time watermarks_at = absl::InfinitePast();
  };
  // An assigned partition the metadata says does not exist, from the first
  // snapshot that said so until one lists it (or it is unassigned).
  struct MissingPartition {
    absl::Time since;
    absl::Time warned;    // the latest warning
    int64_t retries = 0;  // metadata refreshes asked for it since `since`
  };
  enum class EventKind { kAssigned, kRevoked, kLost };
  struct Event {
    EventKind kind;
    std::vector<TopicPartition> partitions;
    // kRevoked from the group protocol: what continues the rebalance once
    // Poll has run the listener and committed.
    absl::AnyInvocable<void()> then;
  };
  enum class GroupState { kIdle, kFindingCoordinator, kJoining, kStable, kLeft };
  using Done = absl::AnyInvocable<void(absl::Status)>;

  // --- consumer_group.cc (I/O thread)
  void StartGroup();
  void FindCoordinator(absl::AnyInvocable<void(absl::StatusOr<int32_t>)> then);
  void RequestRejoin();  // any thread
  void Join();
  void OnJoined(const protocol::JoinGroupResponse& r);
  // Runs `then` on the I/O thread once a metadata refresh asked for now has
  // answered (or request.timeout.ms passed).
  void AfterMetadataRefresh(absl::AnyInvocable<void()> then);
  // The leader's half of a join: the assignor over `members`, then SyncGroup.
  void AssignAndSync(int32_t generation, const std::string& protocol_name,
                     const group::GroupMembers& members, const std::vector<std::string>& all_topics);
  void SyncGroup(std::vector<std::pair<std::string, std::vector<uint8_t>>> assignments);
  void OnAssignment(const group::Assignment& a);
  void ScheduleHeartbeat(uint64_t session);
  void Heartbeat(uint64_t session);
  // Handles a group error code; returns false when it is not one of the
  // codes that restart the protocol.
  bool HandleGroupError(protocol::ErrorCode ec, std::string_view where);
  void LoseAll(std::string_view why);
  // After the commit of revoked partitions (`offsets`) answered `s`: drops
  // them from unreleased_ unless the commit may yet succeed (a rebalance,
  // a moving coordinator, a lost connection).
  void ReleaseAfterCommit(const TopicPartitionOffsets& offsets, const absl::Status& s);
  // Whether the group's chosen assignor is cooperative.
  bool Cooperative() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Hands the revocation to Poll's thread (listener, then auto-commit, then
  // the partitions go), and runs `then` on the I/O thread afterwards.
  void RevokeThen(std::vector<TopicPartition> revoked, absl::AnyInvocable<void()> then);
  // Poll's half: commits (auto-commit) and drops the partitions.
  void FinishRevocation(const std::vector<TopicPartition>& revoked,
                        absl::AnyInvocable<void()> then);
  void OnMetadata(const std::shared_ptr<const ClusterMetadata>& md);
  std::vector<std::string> SubscribedTopics(const ClusterMetadata& md) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Whether `md` says anything (partitions or an error) about every topic of
  // the subscription. A join before that would record partition counts that
  // the metadata's arrival then "changes", and the leader's rejoin for that
  // change is a needless rebalance of the whole group.
  bool MetadataCoversSubscription(const std::shared_ptr<const ClusterMetadata>& md) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  group::TopicPartitionCounts CountsOf(const std::vector<std::string>& topics) const;
  void LeaveGroup(absl::Time deadline);  // user thread, at Close
  void ScheduleAutoCommit();

  // --- consumer_fetch.cc (I/O thread)
  void Pump();
  // Decodes `f` a Poll's worth at a time into its partition's buffer, until
  // it ends or the buffered records fill queued_max_bytes (then parks it in
  // PartitionState::undecoded for Pump to resume).
  void Decode(std::shared_ptr<FetchedPartition> f);
  // queued_max_bytes minus the decoded bytes buffered (not undecoded ones).
  int64_t DecodeRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PumpSoon();  // any thread
  void HandleFetch(int32_t node, std::map<TopicPartition, uint64_t> epochs,
                   absl::StatusOr<Reply<protocol::FetchResponse>> reply);
  void InitPositions();
  void ResetOffsets(std::vector<TopicPartition> tps, int64_t timestamp);
  // The partition an offset lookup (OffsetFetch or ListOffsets) sent at
  // `epoch` answers for, or null when its answer no longer applies: the
  // partition was unassigned, or a Seek, SeekToBeginning/End or a new
  // assignment gave it a new epoch since (and perhaps a lookup of its own,
  // which this stale answer must not settle).
  PartitionState* LookupTarget(const TopicPartition& tp, uint64_t epoch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- consumer_offsets.cc (any thread; callbacks on the I/O thread)
  void SendCommit(const TopicPartitionOffsets& offsets, Done done);
  // With `partition_errors`, a partition's own error goes there (the others
  // answer) instead of failing the whole call.
  void SendOffsetFetch(
      const std::vector<TopicPartition>& tps,
      absl::AnyInvocable<void(absl::StatusOr<TopicPartitionOffsets>)> done,
      std::shared_ptr<std::map<TopicPartition, absl::Status>> partition_errors = nullptr);
  // Offsets from ListOffsets (-1 latest, -2 earliest, else a timestamp),
  // per partition; nullopt where the broker knows none.
  void SendListOffsets(const std::map<TopicPartition, int64_t>& query,
                       absl::AnyInvocable<void(absl::StatusOr<
                                               std::map<TopicPartition, std::optional<int64_t>>>)>
                           done);
  // Close's commit (user thread): SendCommit again after a retriable error
  // (a rebalance, a moving coordinator, a lost connection, a generation a
  // join under way is replacing) until it succeeds or `deadline` passes.
  absl::Status CommitAtClose(const TopicPartitionOffsets& offsets, absl::Time deadline);
  // Positions of assigned partitions past their last commit.
  TopicPartitionOffsets UncommittedPositions(const std::vector<TopicPartition>* only) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- consumer_missing.cc (any thread)
  // Assigned partitions that do not exist. A partition without a position
  // that the metadata (each snapshot, at Assign, at ResetOffsets) or an
  // OffsetFetch answer says does not exist is marked `missing` (NoteMissing),
  // which InitPositions and ResetOffsets pass by, warned about once
  // (WarnMissing) and queued once for Poll to report. Once a second a tick
  // refreshes the metadata (the retry) and warns again every
  // kMissingPartitionWarnInterval with the retries so far. A snapshot that
  // lists it clears `missing`, logs it at info and looks its position up.
  void WatchMissingPartitions(const ClusterMetadata& md);
  void MissingPartitionsTick();
  bool Watched(const TopicPartition& tp) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Marks `tp` (whose state `ps` is) missing and starts watching it; false
  // if it was watched already. A true answer is the caller's to warn about
  // (WarnMissing) once off the lock.
  bool NoteMissing(const TopicPartition& tp, PartitionState& ps, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The first warning; starts the tick.
  void WarnMissing(const TopicPartition& tp) ABSL_LOCKS_EXCLUDED(mu_);

  // --- consumer.cc
  void SetAssignment(const std::vector<TopicPartition>& tps) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetPosition(PartitionState& ps, int64_t offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // SeekToBeginning (-2) and SeekToEnd (-1): forget the positions of these
  // assigned partitions and look them up again with ListOffsets(timestamp).
  absl::Status SeekToListedOffset(const std::vector<TopicPartition>& partitions,
                                  int64_t timestamp);
  absl::Status CheckOpen() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const ConsumerOptions options_;
  // The group protocol's lines (client_log.h: "cgrp" context).
  const ClientLogger log_{options_.client};
  // Fetches, ListOffsets and metadata.
  std::unique_ptr<ClientCore> core_;
  // The group protocol and offset commits/fetches, on connections of their
  // own (as Kafka's Java client keeps a separate coordinator connection): a
  // broker answers a connection's requests in order and holds JoinGroup
  // until every member has joined, which would stall fetches behind it.
  std::unique_ptr<ClientCore> group_core_;
  const std::vector<std::unique_ptr<group::Assignor>> assignors_;
  int metadata_listener_ = -1;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;  // records, events or an error arrived
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
  RebalanceListener* listener_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Subscription: a topic list or a pattern; neither = manual assignment.
  std::vector<std::string> topics_ ABSL_GUARDED_BY(mu_);
  std::optional<std::regex> pattern_ ABSL_GUARDED_BY(mu_);
  bool subscribed_ ABSL_GUARDED_BY(mu_) = false;
  std::map<TopicPartition, PartitionState> assigned_ ABSL_GUARDED_BY(mu_);
  std::map<TopicPartition, int64_t> last_committed_ ABSL_GUARDED_BY(mu_);
  // Cooperative: revoked partitions (-> the position to commit) whose
  // commit has not succeeded yet. Joins still claim them, so no one else is
  // given them before the commit lands (consumer_group.cc).
  std::map<TopicPartition, int64_t> unreleased_ ABSL_GUARDED_BY(mu_);
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  std::map<TopicPartition, MissingPartition> missing_ ABSL_GUARDED_BY(mu_);
  // Missing partitions Poll has still to report, once each.
  std::deque<TopicPartition> missing_to_report_ ABSL_GUARDED_BY(mu_);
  bool missing_tick_scheduled_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time missing_refreshed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<int32_t> fetching_nodes_ ABSL_GUARDED_BY(mu_);
  bool pump_scheduled_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t epoch_counter_ ABSL_GUARDED_BY(mu_) = 0;
  size_t poll_cursor_ ABSL_GUARDED_BY(mu_) = 0;  // round robin over partitions
  absl::Time last_poll_ ABSL_GUARDED_BY(mu_) = absl::Now();

  // Group protocol.
  GroupState group_state_ ABSL_GUARDED_BY(mu_) = GroupState::kIdle;
  std::optional<int32_t> coordinator_ ABSL_GUARDED_BY(mu_);
  std::string member_id_ ABSL_GUARDED_BY(mu_);
  int32_t generation_ ABSL_GUARDED_BY(mu_) = -1;
  std::string protocol_name_ ABSL_GUARDED_BY(mu_);
  uint64_t session_ ABSL_GUARDED_BY(mu_) = 0;  // bumped per join: stale timers stop
  // Bumped by Subscribe/SubscribePattern; a join records the one it sent.
  // A join that already carried the latest subscription needs no second
  // round: a redundant rejoin by the leader would start a rebalance.
  uint64_t subscription_version_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t joined_version_ ABSL_GUARDED_BY(mu_) = 0;
  // The metadata snapshot current at SubscribePattern: the first join waits
  // for a newer one, so the topics it matches are known.
  std::shared_ptr<const ClusterMetadata> metadata_at_subscribe_ ABSL_GUARDED_BY(mu_);
  bool join_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // From JoinGroup to the SyncGroup answer: commits wait (the coordinator
  // would hold or refuse them).
  bool rebalancing_ ABSL_GUARDED_BY(mu_) = false;
  bool left_for_poll_timeout_ ABSL_GUARDED_BY(mu_) = false;
  // What the last join saw: topic -> partition count (a change rejoins).
  group::TopicPartitionCounts joined_counts_ ABSL_GUARDED_BY(mu_);
  bool auto_commit_scheduled_ ABSL_GUARDED_BY(mu_) = false;
  // AfterMetadataRefresh's continuations, run by the next OnMetadata.
  std::vector<absl::AnyInvocable<void()>> metadata_waiters_ ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex metrics_mu_;
  ConsumerMetrics metrics_ ABSL_GUARDED_BY(metrics_mu_);
};

}  // namespace runnel::client
