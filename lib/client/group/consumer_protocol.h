// The "consumer" embedded protocol: what a consumer puts in JoinGroup's
// protocol metadata (its subscription) and what the leader hands each member
// in SyncGroup (its assignment). Kafka's ConsumerProtocolSubscription and
// ConsumerProtocolAssignment (message/ConsumerProtocol*.json), versions 0-3,
// never flexible; all integers big-endian, string = int16 length + bytes,
// bytes = int32 length (-1 = null), array = int32 count:
//
//   Subscription  version:int16
//                 topics:[]string
//                 user_data:nullable bytes
//                 owned_partitions:[]{topic:string partitions:[]int32}  (v1+)
//                 generation_id:int32                                   (v2+)
//                 rack_id:nullable string                               (v3+)
//
//   Assignment    version:int16
//                 assigned_partitions:[]{topic:string partitions:[]int32}
//                 user_data:nullable bytes
//
// (Assignment versions 1-3 add no field; they follow the subscription's.)
// A newer version than we know is read with the newest format we know and
// its extra bytes are ignored, as Kafka's Java client does: new versions only
// append fields. An empty assignment (zero bytes, what a broker sends a
// member the leader left out) decodes as no partitions.
//
// Thread-compatible value types and free functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace runnel::client::group {

// The protocol type of every consumer group's JoinGroup.
inline constexpr char kConsumerProtocolType[] = "consumer";
// The newest ConsumerProtocol version we write and fully read.
inline constexpr int16_t kConsumerProtocolVersion = 3;

// Partitions of one topic.
struct TopicPartitions {
  std::string topic;
  std::vector<int32_t> partitions;
  friend bool operator==(const TopicPartitions&, const TopicPartitions&) = default;
};

struct Subscription {
  std::vector<std::string> topics;
  std::optional<std::vector<uint8_t>> user_data;
  // What the member owns now (v1+): cooperative assignors keep these.
  std::vector<TopicPartitions> owned_partitions;
  // The generation in which `owned_partitions` was assigned (v2+); -1 unknown.
  int32_t generation_id = -1;
  std::optional<std::string> rack_id;  // v3+
  friend bool operator==(const Subscription&, const Subscription&) = default;
};

struct Assignment {
  std::vector<TopicPartitions> partitions;
  std::optional<std::vector<uint8_t>> user_data;
  friend bool operator==(const Assignment&, const Assignment&) = default;
};

// Fields the version does not carry are left out.
std::vector<uint8_t> EncodeSubscription(const Subscription& s,
                                        int16_t version = kConsumerProtocolVersion);
std::vector<uint8_t> EncodeAssignment(const Assignment& a,
                                      int16_t version = kConsumerProtocolVersion);

// InvalidArgument on malformed bytes (they come from other group members).
absl::StatusOr<Subscription> DecodeSubscription(std::span<const uint8_t> bytes);
absl::StatusOr<Assignment> DecodeAssignment(std::span<const uint8_t> bytes);

}  // namespace runnel::client::group
