// runnel::Admin: manages a Kafka cluster: topics and their partitions and
// configs, consumer groups and their committed offsets, partition offsets and
// record deletion. What Kafka's Java AdminClient and kafka-topics.sh /
// kafka-consumer-groups.sh do, over the same wire APIs.
//
//   runnel::AdminOptions options;
//   options.client.bootstrap_servers = "127.0.0.1:9092";
//   absl::StatusOr<std::unique_ptr<runnel::Admin>> admin = runnel::Admin::Create(options);
//   if (!admin.ok()) return admin.status();
//   runnel::NewTopic topic{.name = "orders", .partitions = 6, .replication_factor = 1,
//                          .configs = {{"retention.ms", "86400000"}}};
//   absl::StatusOr<std::vector<runnel::TopicResult>> created = (*admin)->CreateTopics({topic});
//   if (!created.ok()) return created.status();          // the request failed as a whole
//   for (const runnel::TopicResult& r : *created) {
//     if (!r.status.ok()) std::cerr << r.name << ": " << r.status << "\n";   // per topic
//   }
//
// Two levels of errors. The outer Status of a call is the request as a
// whole: no broker reachable (Unavailable), no answer in time
// (DeadlineExceeded), or a broker that does not serve the API at all
// (FailedPrecondition naming the API and the versions it offers). Each item
// of a result (topic, partition, group, config resource) then carries its own
// Status: OK, or the broker's Kafka error (TOPIC_ALREADY_EXISTS,
// UNKNOWN_TOPIC_OR_PARTITION, INVALID_CONFIG, GROUP_ID_NOT_FOUND, ...) with
// the broker's message; protocol::ErrorCodeFromStatus(status) gives back the
// code.
//
// Routing, as Kafka's AdminClient does it: topic and config changes go to
// the controller (the Metadata response's controller id; NOT_CONTROLLER is
// retried after a new look-up), group requests to the group's coordinator
// (FindCoordinator; NOT_COORDINATOR and COORDINATOR_LOAD_IN_PROGRESS are
// retried), ListOffsets and DeleteRecords to each partition's leader, config
// requests for a broker resource to that broker, ListGroups to every broker.
//
// Threads and ownership: every member may be called from any thread at the
// same time; each call blocks its caller until the answer (or
// AdminOptions::client.request_timeout per request, with up to
// AdminOptions::retries retries). The Admin owns its I/O thread and
// connections; destroying it fails calls in progress with Cancelled and
// returns promptly, brokers up or down.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runnel/client_options.h"
#include "runnel/consumer.h"  // TopicPartition, OffsetAndMetadata, IsolationLevel

namespace runnel {

struct AdminOptions {
  ClientOptions client;
  // The timeout_ms sent with CreateTopics, DeleteTopics, CreatePartitions
  // and DeleteRecords: how long the broker may take to finish the change
  // before it answers REQUEST_TIMED_OUT. Keep it below
  // client.request_timeout, or the connection times out first.
  absl::Duration operation_timeout = absl::Seconds(20);
  // Retries of a request that failed as a whole with a retriable error
  // (lost connection, NOT_CONTROLLER, NOT_COORDINATOR, coordinator loading),
  // each after client.retry_backoff. Per-item errors are never retried: a
  // retried CreateTopics would turn a success into TOPIC_ALREADY_EXISTS.
  int retries = 5;
};

// --- Topics

struct NewTopic {
  std::string name;
  // -1: the broker's num.partitions (or the size of replica_assignment).
  int32_t partitions = -1;
  // -1: the broker's default.replication.factor.
  int16_t replication_factor = -1;
  std::map<std::string, std::string> configs;
  // Optional manual placement: partition -> broker ids (then partitions and
  // replication_factor must be -1).
  std::map<int32_t, std::vector<int32_t>> replica_assignment;
};

// One topic's outcome for CreateTopics, DeleteTopics and CreatePartitions.
struct TopicResult {
  std::string name;
  absl::Status status;
  // CreateTopics from brokers that say (v5+; -1/empty otherwise): what the
  // topic got, defaults included.
  std::string topic_id;  // Kafka's base64 form; "" when not sent
  int32_t partitions = -1;
  int16_t replication_factor = -1;
  std::map<std::string, std::string> configs;
};

struct TopicListing {
  std::string name;
  bool is_internal = false;
};

struct PartitionInfo {
  int32_t partition = 0;
  int32_t leader = -1;  // -1: no leader now
  int32_t leader_epoch = -1;
  std::vector<int32_t> replicas;
  std::vector<int32_t> isr;
};

struct TopicDescription {
  std::string name;
  absl::Status status;  // e.g. UNKNOWN_TOPIC_OR_PARTITION
  bool is_internal = false;
  std::string topic_id;  // "" when the broker sends none (Metadata < v10)
  std::vector<PartitionInfo> partitions;
};

struct BrokerNode {
  int32_t id = 0;
  std::string host;
  int32_t port = 0;
  std::optional<std::string> rack;
};

struct ClusterDescription {
  std::string cluster_id;  // "" from brokers that send none
  int32_t controller_id = -1;
  std::vector<BrokerNode> brokers;
};

// --- Configs

enum class ConfigResourceType : int8_t { kTopic = 2, kBroker = 4 };

struct ConfigResource {
  ConfigResourceType type = ConfigResourceType::kTopic;
  std::string name;  // topic name, or broker id in decimal
  friend auto operator<=>(const ConfigResource&, const ConfigResource&) = default;
};

// Where a config's value comes from (Kafka's ConfigSource).
enum class ConfigSource : int8_t {
  kUnknown = 0,
  kDynamicTopic = 1,
  kDynamicBroker = 2,
  kDynamicDefaultBroker = 3,
  kStaticBroker = 4,
  kDefault = 5,
  kDynamicBrokerLogger = 6,
};

struct ConfigSynonym {
  std::string name;
  std::optional<std::string> value;
  ConfigSource source = ConfigSource::kUnknown;
};

struct ConfigEntry {
  std::string name;
  std::optional<std::string> value;  // nullopt for sensitive or unset values
  ConfigSource source = ConfigSource::kUnknown;
  bool read_only = false;
  bool is_sensitive = false;
  std::vector<ConfigSynonym> synonyms;  // only with include_synonyms
};

struct ConfigResult {
  ConfigResource resource;
  absl::Status status;
  std::vector<ConfigEntry> entries;
  // The entry named `name`, or nullptr.
  const ConfigEntry* Find(const std::string& name) const;
};

struct ConfigResourceResult {
  ConfigResource resource;
  absl::Status status;  // e.g. INVALID_CONFIG with the broker's reason
};

enum class AlterConfigOpType : int8_t { kSet = 0, kDelete = 1, kAppend = 2, kSubtract = 3 };

struct AlterConfigOp {
  std::string name;
  AlterConfigOpType op = AlterConfigOpType::kSet;
  std::optional<std::string> value;  // unused by kDelete
};

// --- Groups

struct GroupListing {
  std::string group_id;
  std::string protocol_type;  // "consumer" for consumer groups
  std::string state;          // "Stable", "Empty", ...; "" from brokers before ListGroups v4
  int32_t coordinator = -1;   // the broker that listed it
};

struct MemberDescription {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  // Decoded from the member's assignment when the group is a consumer
  // group; empty otherwise (or while it rebalances).
  std::vector<TopicPartition> assignment;
};

struct GroupDescription {
  std::string group_id;
  absl::Status status;  // e.g. COORDINATOR_NOT_AVAILABLE; a missing group is state "Dead"
  std::string state;
  std::string protocol_type;
  std::string protocol;  // the assignor, e.g. "range"
  int32_t coordinator = -1;
  std::vector<MemberDescription> members;
};

struct GroupResult {
  std::string group_id;
  absl::Status status;  // e.g. GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP
};

struct CommittedOffset {
  // -1 when the group has no offset for the partition.
  OffsetAndMetadata committed;
  absl::Status status;
};

// --- Partition offsets

// Which offset ListOffsets looks for.
struct OffsetSpec {
  enum class Kind { kEarliest, kLatest, kMaxTimestamp, kTimestamp };
  Kind kind = Kind::kLatest;
  int64_t timestamp_ms = 0;  // kTimestamp: the first offset with a timestamp >= this

  static OffsetSpec Earliest() { return {Kind::kEarliest, 0}; }
  static OffsetSpec Latest() { return {Kind::kLatest, 0}; }
  // The record with the largest timestamp (ListOffsets v7+; Kafka 3.0+).
  static OffsetSpec MaxTimestamp() { return {Kind::kMaxTimestamp, 0}; }
  static OffsetSpec ForTimestamp(int64_t ms) { return {Kind::kTimestamp, ms}; }
};

struct ListOffsetsResult {
  absl::Status status;
  int64_t offset = -1;  // -1: no such record (e.g. a timestamp after the last)
  int64_t timestamp_ms = -1;
  int32_t leader_epoch = -1;
};

struct DeleteRecordsResult {
  absl::Status status;
  int64_t low_watermark = -1;  // the partition's new log start offset
};

class Admin {
 public:
  static absl::StatusOr<std::unique_ptr<Admin>> Create(const AdminOptions& options);
  virtual ~Admin() = default;

  // --- Topics (to the controller)
  virtual absl::StatusOr<std::vector<TopicResult>> CreateTopics(const std::vector<NewTopic>& topics,
                                                                bool validate_only = false) = 0;
  virtual absl::StatusOr<std::vector<TopicResult>> DeleteTopics(
      const std::vector<std::string>& topics) = 0;
  // Grows each topic to `total` partitions (Kafka never shrinks a topic).
  virtual absl::StatusOr<std::vector<TopicResult>> CreatePartitions(
      const std::map<std::string, int32_t>& total, bool validate_only = false) = 0;
  // Every topic, sorted by name; internal ones only with include_internal.
  virtual absl::StatusOr<std::vector<TopicListing>> ListTopics(bool include_internal = false) = 0;
  // One description per topic asked for, in order (never auto-creates).
  virtual absl::StatusOr<std::vector<TopicDescription>> DescribeTopics(
      const std::vector<std::string>& topics) = 0;
  virtual absl::StatusOr<ClusterDescription> DescribeCluster() = 0;

  // --- Configs (topics to the controller, brokers to themselves)
  // `keys` empty: every config of each resource.
  virtual absl::StatusOr<std::vector<ConfigResult>> DescribeConfigs(
      const std::vector<ConfigResource>& resources, const std::vector<std::string>& keys = {},
      bool include_synonyms = false) = 0;
  // Replaces the resource's whole dynamic config with `configs` (keys left
  // out go back to their defaults), as Kafka's legacy AlterConfigs.
  virtual absl::StatusOr<std::vector<ConfigResourceResult>> AlterConfigs(
      const std::map<ConfigResource, std::map<std::string, std::string>>& configs,
      bool validate_only = false) = 0;
  // Sets, deletes, appends to or subtracts from single keys.
  virtual absl::StatusOr<std::vector<ConfigResourceResult>> IncrementalAlterConfigs(
      const std::map<ConfigResource, std::vector<AlterConfigOp>>& ops,
      bool validate_only = false) = 0;

  // --- Consumer groups (to each group's coordinator)
  // Groups on every broker; `states` non-empty: only those states (v4+).
  virtual absl::StatusOr<std::vector<GroupListing>> ListGroups(
      const std::vector<std::string>& states = {}) = 0;
  virtual absl::StatusOr<std::vector<GroupDescription>> DescribeGroups(
      const std::vector<std::string>& groups) = 0;
  // Only empty groups can be deleted (NON_EMPTY_GROUP otherwise).
  virtual absl::StatusOr<std::vector<GroupResult>> DeleteGroups(
      const std::vector<std::string>& groups) = 0;
  // `partitions` nullopt: every partition the group has an offset for.
  virtual absl::StatusOr<std::map<TopicPartition, CommittedOffset>> ListConsumerGroupOffsets(
      const std::string& group,
      const std::optional<std::vector<TopicPartition>>& partitions = std::nullopt) = 0;
  // Commits `offsets` for the group from outside it; the group must have
  // no active members (UNKNOWN_MEMBER_ID / REBALANCE_IN_PROGRESS otherwise).
  virtual absl::StatusOr<std::map<TopicPartition, absl::Status>> AlterConsumerGroupOffsets(
      const std::string& group, const TopicPartitionOffsets& offsets) = 0;

  // --- Partition offsets and records (to each partition's leader)
  virtual absl::StatusOr<std::map<TopicPartition, ListOffsetsResult>> ListOffsets(
      const std::map<TopicPartition, OffsetSpec>& specs,
      IsolationLevel isolation = IsolationLevel::kReadUncommitted) = 0;
  // Deletes every record before the given offset (-1: the high watermark).
  virtual absl::StatusOr<std::map<TopicPartition, DeleteRecordsResult>> DeleteRecords(
      const std::map<TopicPartition, int64_t>& before) = 0;
};

}  // namespace runnel
