// ClusterMetadata: an immutable snapshot of what the cluster told us in its
// last Metadata response (brokers by node id, each topic's partitions and
// their leaders). ClientCore publishes a new snapshot after every refresh;
// readers hold a shared_ptr to one and never see it change.
//
//   std::shared_ptr<const ClusterMetadata> md = core->metadata();
//   if (const TopicMetadata* t = md->FindTopic("orders")) {
//     int32_t leader = t->partitions[3].leader;   // -1 when leaderless
//   }
//
// Plain values; safe to share read-only between threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/properties.h"
#include "runnel/protocol/error_code.h"

namespace runnel::protocol {
struct MetadataResponse;
}

namespace runnel::client {

struct PartitionMetadata {
  int32_t partition = 0;
  int32_t leader = -1;  // node id; -1 while the partition has no leader
  int32_t leader_epoch = -1;
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::vector<int32_t> replicas;
  std::vector<int32_t> isr;
};

struct TopicMetadata {
  std::string name;
  // UNKNOWN_TOPIC_OR_PARTITION (not created yet), LEADER_NOT_AVAILABLE
  // (being created), TOPIC_AUTHORIZATION_FAILED, ...; partitions is empty
  // unless kNone.
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  bool is_internal = false;
  // Indexed by partition id (the response's partitions, sorted; Kafka
  // partitions are 0..n-1).
  std::vector<PartitionMetadata> partitions;
};

struct ClusterMetadata {
  std::map<int32_t, HostPort> brokers;  // node id -> advertised address
  std::optional<std::string> cluster_id;
  int32_t controller_id = -1;
  std::map<std::string, TopicMetadata> topics;

  const TopicMetadata* FindTopic(const std::string& name) const;
  // The leader's node id, or nullopt when the topic, partition or leader is
  // unknown.
  std::optional<int32_t> LeaderOf(const std::string& topic, int32_t partition) const;

  // A snapshot from a response. Topics absent from `response` are taken
  // from `previous` (a refresh for some topics keeps the others).
  static ClusterMetadata FromResponse(const protocol::MetadataResponse& response,
                                      const ClusterMetadata* previous);
};

}  // namespace runnel::client
