#include "client/cluster_metadata.h"

#include <algorithm>

#include "runnel/protocol/messages/metadata.h"

namespace runnel::client {

const TopicMetadata* ClusterMetadata::FindTopic(const std::string& name) const {
  auto it = topics.find(name);
  return it == topics.end() ? nullptr : &it->second;
}

std::optional<int32_t> ClusterMetadata::LeaderOf(const std::string& topic,
                                                 int32_t partition) const {
  const TopicMetadata* t = FindTopic(topic);
  if (t == nullptr || partition < 0 || partition >= static_cast<int32_t>(t->partitions.size())) {
    return std::nullopt;
  }
  const PartitionMetadata& p = t->partitions[partition];
  if (p.leader < 0 || brokers.find(p.leader) == brokers.end()) return std::nullopt;
  return p.leader;
}

ClusterMetadata ClusterMetadata::FromResponse(const protocol::MetadataResponse& response,
                                              const ClusterMetadata* previous) {
  ClusterMetadata md;
  for (const auto& b : response.brokers) {
    md.brokers[b.node_id] = HostPort{b.host, static_cast<uint16_t>(b.port)};
  }
  md.cluster_id = response.cluster_id;
  md.controller_id = response.controller_id;
  if (previous != nullptr) md.topics = previous->topics;
  for (const auto& t : response.topics) {
    if (!t.name.has_value()) continue;  // topic-id-only answers: not asked for
    TopicMetadata tm;
    tm.name = *t.name;
    tm.error = static_cast<protocol::ErrorCode>(t.error_code);
    tm.is_internal = t.is_internal;
    if (tm.error == protocol::ErrorCode::kNone) {
      int32_t count = 0;
      for (const auto& p : t.partitions) count = std::max(count, p.partition_index + 1);
      tm.partitions.resize(count);
      for (int32_t i = 0; i < count; ++i) tm.partitions[i].partition = i;
      for (const auto& p : t.partitions) {
        if (p.partition_index < 0) continue;
        PartitionMetadata& pm = tm.partitions[p.partition_index];
        pm.leader = p.leader_id;
        pm.leader_epoch = p.leader_epoch;
        pm.error = static_cast<protocol::ErrorCode>(p.error_code);
        pm.replicas = p.replica_nodes;
        pm.isr = p.isr_nodes;
      }
    }
    md.topics[tm.name] = std::move(tm);
  }
  return md;
}

}  // namespace runnel::client
