// runnel::Consumer: reads records from Kafka topics, alone (Assign) or as a
// member of a consumer group that shares the partitions of the topics it
// subscribes to (Subscribe), committing how far it got.
//
//   runnel::ConsumerOptions options;
//   options.client.bootstrap_servers = "127.0.0.1:9092";
//   options.group_id = "billing";
//   options.auto_offset_reset = runnel::OffsetReset::kEarliest;
//   auto consumer = runnel::Consumer::Create(options);
//   if (!consumer.ok()) return consumer.status();
//   (*consumer)->Subscribe({"orders"});
//   while (running) {
//     absl::StatusOr<std::vector<runnel::ConsumerRecord>> batch =
//         (*consumer)->Poll(absl::Milliseconds(500));
//     if (!batch.ok()) return batch.status();
//     for (const auto& r : *batch) Handle(r.topic, r.partition, r.offset, r.value);
//   }   // offsets of what Poll returned are committed every 5 s
//   (*consumer)->Close(absl::Seconds(10));
//
// The library runs the group protocol (FindCoordinator, JoinGroup,
// SyncGroup, Heartbeat) and fetching on its own I/O thread: Poll only hands
// over what the fetcher prefetched (bounded by queued_max_bytes) and runs
// the rebalance listener. Close (and the destructor) leaves the group,
// commits when auto-commit is on, and returns within its timeout whether or
// not brokers answer.
//
// Threads: one thread at a time may call the Consumer (as Kafka's Java
// consumer); RebalanceListener callbacks run on the thread that calls Poll,
// inside Poll. The Consumer owns its threads and connections; the listener
// is the caller's and must outlive the subscription.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runnel/client_options.h"

namespace runnel {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

// One record Poll returned. key, value and the headers are views into the
// fetched bytes the record came from, which `buffer` owns and shares with
// their other records: no copy is made. A record, and every copy of it,
// stays valid for as long as it lives: across later Polls, after a Seek and
// after Close. Holding one record holds all those bytes: its partition's
// share of a fetch answer (about max.partition.fetch.bytes) when its batch
// was uncompressed, else its batch inflated. To keep a few records long,
// copy their bytes out (std::string(*r.value)) and drop the records.
// A record built by hand (tests, adapters) points its views at bytes that
// outlive it, or sets `buffer` to their owner.
struct ConsumerRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = -1;
  bool log_append_time = false;  // timestamp set by the broker, not the producer
  int32_t leader_epoch = -1;
  std::optional<std::string_view> key;    // nullopt: a null key
  std::optional<std::string_view> value;  // nullopt: a null value (tombstone)
  std::vector<std::pair<std::string_view, std::optional<std::string_view>>> headers;
  // Owns the bytes key, value and headers view (null when they view bytes
  // someone else keeps alive).
  std::shared_ptr<const void> buffer;
};

struct OffsetAndMetadata {
  int64_t offset = 0;  // the next offset to read
  std::string metadata;
  int32_t leader_epoch = -1;
  friend bool operator==(const OffsetAndMetadata&, const OffsetAndMetadata&) = default;
};
using TopicPartitionOffsets = std::map<TopicPartition, OffsetAndMetadata>;

// auto.offset.reset: where to start a partition with no committed offset
// (or an offset the log no longer holds).
enum class OffsetReset { kEarliest, kLatest, kNone /* Poll fails instead */ };
// isolation.level.
enum class IsolationLevel : int8_t { kReadUncommitted = 0, kReadCommitted = 1 };

struct ConsumerOptions {
  ClientOptions client;

  // group.id: needed for Subscribe and for committing; empty is fine for a
  // consumer that only Assigns and never commits.
  std::string group_id;
  // group.instance.id: static membership. A restarted member with the same
  // id gets its partitions back without a rebalance, if it returns within
  // session_timeout.
  std::optional<std::string> group_instance_id;
  // partition.assignment.strategy, in order of preference: "range",
  // "roundrobin", "cooperative-sticky". The group uses the first one every
  // member supports. cooperative-sticky moves only partitions that change
  // owner; eager ones stop every member during a rebalance.
  std::vector<std::string> assignment_strategies = {"cooperative-sticky", "range"};
  // session.timeout.ms: a member not heard from this long is removed and its
  // partitions reassigned. Shorter detects crashes sooner; longer survives
  // GC pauses and network blips.
  absl::Duration session_timeout = absl::Seconds(45);
  // heartbeat.interval.ms: how often the I/O thread tells the coordinator
  // this member lives; also how soon it learns of a rebalance.
  absl::Duration heartbeat_interval = absl::Seconds(3);
  // max.poll.interval.ms: a member whose application does not call Poll
  // this long leaves the group (its partitions go to others); the next Poll
  // rejoins.
  absl::Duration max_poll_interval = absl::Minutes(5);
  // enable.auto.commit / auto.commit.interval.ms: commit the offsets of what
  // Poll returned, every interval, on rebalance and on Close. Off: call
  // Commit yourself (at-least-once needs a commit after processing).
  bool enable_auto_commit = true;
  absl::Duration auto_commit_interval = absl::Seconds(5);
  OffsetReset auto_offset_reset = OffsetReset::kLatest;
  // fetch.min.bytes / fetch.max.wait.ms: a broker answers a fetch once it has
  // this many bytes or the wait is over. Larger waits give bigger batches
  // at more latency.
  int32_t fetch_min_bytes = 1;
  absl::Duration fetch_max_wait = absl::Milliseconds(500);
  // fetch.max.bytes / max.partition.fetch.bytes: the most one fetch response
  // and one partition in it may carry (a larger first batch still comes).
  int32_t fetch_max_bytes = 50 * 1024 * 1024;
  int32_t max_partition_fetch_bytes = 1024 * 1024;
  // queued.max.messages.kbytes (in bytes here): bytes prefetched and not yet
  // returned by Poll, counted decompressed: each buffered record's key,
  // value, headers and sizeof(ConsumerRecord), plus the compressed bytes of
  // fetched answers not yet decoded. The fetcher asks for no more than the
  // room left, and stops decoding an answer once its records fill the room
  // (the rest waits, compressed, until Poll makes room), so a slow
  // application bounds the consumer's memory: about this, plus one record
  // batch inflated, plus per partition the rest of the fetched bytes its
  // buffered records share (up to max.partition.fetch.bytes). Records Poll
  // returned no longer count.
  int64_t queued_max_bytes = 64 * 1024 * 1024;
  // max.poll.records: the most records one Poll returns.
  int32_t max_poll_records = 500;
  // check.crcs: check each fetched batch's CRC-32C (a corrupt one stops
  // Poll with DataLoss). Off skips a pass over every byte fetched, as
  // librdkafka does by default; TCP and the broker have checked them, and a
  // batch's framing is still checked either way.
  bool check_crcs = true;
  // isolation.level: kReadCommitted hides records of aborted transactions
  // and stops at the last stable offset.
  IsolationLevel isolation_level = IsolationLevel::kReadUncommitted;

  // As ClientOptions::Set, for the client-wide and consumer keys (group.id,
  // group.instance.id, partition.assignment.strategy, session.timeout.ms,
  // heartbeat.interval.ms, max.poll.interval.ms, enable.auto.commit,
  // auto.commit.interval.ms, auto.offset.reset, fetch.min.bytes,
  // fetch.max.wait.ms, fetch.max.bytes, max.partition.fetch.bytes,
  // queued.max.messages.kbytes, max.poll.records, check.crcs,
  // isolation.level). Unknown keys are errors naming the key.
  absl::Status Set(std::string_view key, std::string_view value);
  static absl::StatusOr<ConsumerOptions> FromProperties(
      const std::map<std::string, std::string>& properties);
  absl::Status Validate() const;
};

// Hears of assignment changes, on the thread calling Poll, inside Poll.
// OnPartitionsRevoked runs after the partitions stopped being fetched and,
// with auto-commit, after what Poll returned of them was committed;
// OnPartitionsLost when the member was thrown out of the group (session
// timeout, fencing): someone else may own them already, so nothing was
// committed.
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  virtual void OnPartitionsAssigned(const std::vector<TopicPartition>& partitions) = 0;
  virtual void OnPartitionsRevoked(const std::vector<TopicPartition>& partitions) = 0;
  virtual void OnPartitionsLost(const std::vector<TopicPartition>& partitions) {
    OnPartitionsRevoked(partitions);
  }
};

struct ConsumerMetrics {
  int64_t records_consumed = 0;  // returned by Poll
  int64_t bytes_fetched = 0;     // record batch bytes received
  int64_t fetch_requests = 0;
  int64_t rebalances = 0;        // assignments received
  int64_t commits = 0;           // successful OffsetCommit requests
  int64_t queued_bytes = 0;      // prefetched, not yet polled
  // Per assigned partition: high watermark - position (when both known).
  std::map<TopicPartition, int64_t> lag;
};

// The partition a Poll error is about when it ends nothing (an assigned
// partition that does not exist: Poll again); nullopt for any other status.
//
//   auto batch = consumer->Poll(absl::Milliseconds(500));
//   if (!batch.ok() && runnel::PollErrorPartition(batch.status())) {
//     LogWarning(batch.status());  // and go on polling
//   } else if (!batch.ok()) {
//     return batch.status();
//   }
std::optional<TopicPartition> PollErrorPartition(const absl::Status& status);

class Consumer {
 public:
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(const ConsumerOptions& options);
  virtual ~Consumer() = default;

  // Joins the group for these topics (replacing any earlier subscription
  // or manual assignment). FailedPrecondition without a group.id.
  virtual absl::Status Subscribe(const std::vector<std::string>& topics,
                                 RebalanceListener* listener = nullptr) = 0;
  // Every topic whose whole name matches the ECMAScript `regex`, checked
  // again at each metadata refresh (new topics join the subscription).
  virtual absl::Status SubscribePattern(const std::string& regex,
                                        RebalanceListener* listener = nullptr) = 0;
  virtual absl::Status Unsubscribe() = 0;
  // Reads exactly these partitions, outside any group (commits still go to
  // group.id when one is set).
  virtual absl::Status Assign(const std::vector<TopicPartition>& partitions) = 0;
  virtual std::vector<TopicPartition> Assignment() const = 0;

  // Returns up to max_poll_records prefetched records, waiting up to
  // `timeout` for the first; empty when none came. Runs the rebalance
  // listener. Errors that end the consumer: a partition without a start
  // offset under OffsetReset::kNone (OutOfRange), a fatal group error
  // (fenced static member: FailedPrecondition), or a closed consumer.
  // One that does not: an assigned partition that does not exist
  // (UNKNOWN_TOPIC_OR_PARTITION, as librdkafka's consumer error event) is
  // reported by one Poll, once; PollErrorPartition names it. The consumer
  // keeps checking for it (it may be created) and the next Poll returns the
  // other partitions' records.
  virtual absl::StatusOr<std::vector<ConsumerRecord>> Poll(absl::Duration timeout) = 0;

  // Commits the positions of every assigned partition (what Poll returned),
  // or the given offsets, and waits up to `timeout`. Per-partition errors
  // come back as the first failed partition's status.
  virtual absl::Status Commit(absl::Duration timeout) = 0;
  virtual absl::Status Commit(const TopicPartitionOffsets& offsets, absl::Duration timeout) = 0;
  // As Commit without waiting; `done` runs on the library's I/O thread.
  using CommitCallback = std::function<void(const absl::Status&)>;
  virtual void CommitAsync(CommitCallback done = nullptr) = 0;
  virtual void CommitAsync(const TopicPartitionOffsets& offsets, CommitCallback done) = 0;
  // The group's committed offsets; partitions without one are absent.
  virtual absl::StatusOr<TopicPartitionOffsets> Committed(
      const std::vector<TopicPartition>& partitions, absl::Duration timeout) = 0;

  // The next offset Poll returns for an assigned partition, looking it up
  // (committed offset, else auto.offset.reset) if not known yet.
  virtual absl::StatusOr<int64_t> Position(const TopicPartition& tp, absl::Duration timeout) = 0;
  // Moves the position of an assigned partition; prefetched records of it
  // are dropped. FailedPrecondition for a partition not assigned.
  virtual absl::Status Seek(const TopicPartition& tp, int64_t offset) = 0;
  virtual absl::Status SeekToBeginning(const std::vector<TopicPartition>& partitions) = 0;
  virtual absl::Status SeekToEnd(const std::vector<TopicPartition>& partitions) = 0;
  // The earliest offset whose timestamp is >= the given one (ms), per
  // partition; nullopt when no such record exists.
  virtual absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> OffsetsForTimes(
      const std::map<TopicPartition, int64_t>& timestamps, absl::Duration timeout) = 0;
  // The first and the next-to-be-written offsets (the last stable offset
  // under read_committed). For a partition this consumer fetches whose
  // latest fetch answer is younger than fetch.max.wait.ms, answered at once
  // from that answer (as librdkafka's get_watermark_offsets), not waiting
  // behind the fetch the broker holds; otherwise asked of the partition's
  // leader (ListOffsets), which answers after any fetch it holds on the
  // same connection (up to fetch.max.wait.ms later).
  virtual absl::StatusOr<std::pair<int64_t, int64_t>> WatermarkOffsets(
      const TopicPartition& tp, absl::Duration timeout) = 0;

  // Paused partitions stay assigned but are not fetched.
  virtual void Pause(const std::vector<TopicPartition>& partitions) = 0;
  virtual void Resume(const std::vector<TopicPartition>& partitions) = 0;
  virtual std::vector<TopicPartition> Paused() const = 0;

  // The member id the coordinator gave this member ("" outside a group) and
  // the group generation.
  virtual std::pair<std::string, int32_t> GroupMember() const = 0;
  virtual ConsumerMetrics metrics() const = 0;

  // Commits (auto-commit), leaves the group and shuts the I/O thread down,
  // returning by `timeout` even when no broker answers (what is left
  // undone is abandoned). Idempotent; later calls fail FailedPrecondition.
  virtual absl::Status Close(absl::Duration timeout) = 0;
};

}  // namespace runnel
