// The records of the internal topic __consumer_offsets, in Kafka's own
// formats (internal-topics/{OffsetCommit,GroupMetadata}{Key,Value}.json), so
// Kafka's tools read our offsets topic and we read theirs.
//
// Every key and value starts with its version as an int16; then, with the
// classic (non-flexible) encoding, big-endian:
//
//   OffsetCommitKey v0-1      group:string topic:string partition:int32
//   GroupMetadataKey v2       group:string
//
//   OffsetCommitValue         offset:int64
//                             leaderEpoch:int32               (v3+)
//                             metadata:string
//                             commitTimestamp:int64
//                             expireTimestamp:int64           (v1 only)
//
//   GroupMetadataValue        protocolType:string generation:int32
//                             protocol:nullable string leader:nullable string
//                             currentStateTimestamp:int64     (v2+)
//                             members:array of
//                               memberId:string
//                               groupInstanceId:nullable string (v3+)
//                               clientId:string clientHost:string
//                               rebalanceTimeout:int32        (v1+)
//                               sessionTimeout:int32
//                               subscription:bytes assignment:bytes
//
// Version 4 of both values is flexible (compact strings/bytes/arrays, a
// tagged-field section after each struct). string = int16 length + bytes,
// nullable string length -1 = null, bytes/array = int32 length/count.
// A null value is a tombstone: the group or the offset was deleted.
//
// We write OffsetCommitKey v1, OffsetCommitValue v3, GroupMetadataKey v2 and
// GroupMetadataValue v3; we read every version above.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace runnel::broker::group {

inline constexpr int16_t kOffsetCommitKeyVersion = 1;
inline constexpr int16_t kGroupMetadataKeyVersion = 2;
inline constexpr int16_t kOffsetCommitValueVersion = 3;
inline constexpr int16_t kGroupMetadataValueVersion = 3;

struct OffsetCommitKey {
  std::string group;
  std::string topic;
  int32_t partition = 0;
  friend bool operator==(const OffsetCommitKey&, const OffsetCommitKey&) = default;
};

struct GroupMetadataKey {
  std::string group;
  friend bool operator==(const GroupMetadataKey&, const GroupMetadataKey&) = default;
};

using OffsetsTopicKey = std::variant<OffsetCommitKey, GroupMetadataKey>;

struct OffsetCommitValue {
  int64_t offset = 0;
  int32_t leader_epoch = -1;
  std::string metadata;
  int64_t commit_timestamp_ms = 0;
  int64_t expire_timestamp_ms = -1;  // v1 only; read, never written
  friend bool operator==(const OffsetCommitValue&, const OffsetCommitValue&) = default;
};

struct GroupMemberRecord {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  int32_t rebalance_timeout_ms = -1;
  int32_t session_timeout_ms = 0;
  std::vector<uint8_t> subscription;
  std::vector<uint8_t> assignment;
  friend bool operator==(const GroupMemberRecord&, const GroupMemberRecord&) = default;
};

struct GroupMetadataValue {
  std::string protocol_type;
  int32_t generation = 0;
  std::optional<std::string> protocol;
  std::optional<std::string> leader;
  int64_t current_state_timestamp_ms = -1;
  std::vector<GroupMemberRecord> members;
  friend bool operator==(const GroupMetadataValue&, const GroupMetadataValue&) = default;
};

std::string EncodeOffsetCommitKey(const OffsetCommitKey& key);
std::string EncodeGroupMetadataKey(const GroupMetadataKey& key);
std::string EncodeOffsetCommitValue(const OffsetCommitValue& value);
std::string EncodeGroupMetadataValue(const GroupMetadataValue& value);

// Unimplemented for a key version this code does not know (the KIP-848
// consumer-group records share the topic, versions 3+): callers skip those.
// DataLoss for malformed bytes.
absl::StatusOr<OffsetsTopicKey> DecodeOffsetsTopicKey(std::span<const uint8_t> bytes);
absl::StatusOr<OffsetCommitValue> DecodeOffsetCommitValue(std::span<const uint8_t> bytes);
absl::StatusOr<GroupMetadataValue> DecodeGroupMetadataValue(std::span<const uint8_t> bytes);

}  // namespace runnel::broker::group
