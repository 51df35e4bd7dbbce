#include "broker/group/record_formats.h"

#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/protocol/wire.h"

namespace runnel::broker::group {
namespace {

using protocol::Reader;
using protocol::Writer;

std::string ToString(const ByteBuffer& buf) { return std::string(buf.view()); }

// Reader errors become DataLoss: these bytes come from our own log.
absl::Status Corrupt(const Reader& r) {
  return absl::DataLossError(std::string(r.status().message()));
}

absl::Status CheckConsumed(const Reader& r, std::string_view what) {
  if (!r.ok()) return Corrupt(r);
  if (r.remaining() != 0) {
    return absl::DataLossError(absl::StrCat(std::string(what), ": ", r.remaining(),
                                            " trailing bytes at byte ", r.offset()));
  }
  return absl::OkStatus();
}

// The tagged-field section of a flexible struct; all of them are unknown to
// us (neither record defines any), so they are skipped.
void SkipTaggedFields(Reader& r, std::string_view where) {
  const uint32_t n = r.TaggedFieldCount(where);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    auto field = r.BeginTaggedField(where);
    protocol::UnknownTaggedFields ignored;
    r.SkipTaggedField(field, &ignored);
  }
}

}  // namespace

std::string EncodeOffsetCommitKey(const OffsetCommitKey& key) {
  ByteBuffer buf;
  Writer w(&buf);
  w.Int16(kOffsetCommitKeyVersion);
  w.String(key.group, false);
  w.String(key.topic, false);
  w.Int32(key.partition);
  return ToString(buf);
}

std::string EncodeGroupMetadataKey(const GroupMetadataKey& key) {
  ByteBuffer buf;
  Writer w(&buf);
  w.Int16(kGroupMetadataKeyVersion);
  w.String(key.group, false);
  return ToString(buf);
}

std::string EncodeOffsetCommitValue(const OffsetCommitValue& value) {
  ByteBuffer buf;
  Writer w(&buf);
  w.Int16(kOffsetCommitValueVersion);
  w.Int64(value.offset);
  w.Int32(value.leader_epoch);
  w.String(value.metadata, false);
  w.Int64(value.commit_timestamp_ms);
  return ToString(buf);
}

std::string EncodeGroupMetadataValue(const GroupMetadataValue& value) {
  ByteBuffer buf;
  Writer w(&buf);
  w.Int16(kGroupMetadataValueVersion);
  w.String(value.protocol_type, false);
  w.Int32(value.generation);
  w.NullableString(value.protocol, false);
  w.NullableString(value.leader, false);
  w.Int64(value.current_state_timestamp_ms);
  w.ArrayLength(value.members.size(), false);
  for (const GroupMemberRecord& m : value.members) {
    w.String(m.member_id, false);
    w.NullableString(m.group_instance_id, false);
    w.String(m.client_id, false);
    w.String(m.client_host, false);
    w.Int32(m.rebalance_timeout_ms);
    w.Int32(m.session_timeout_ms);
    w.Bytes(m.subscription, false);
    w.Bytes(m.assignment, false);
  }
  return ToString(buf);
}

absl::StatusOr<OffsetsTopicKey> DecodeOffsetsTopicKey(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  r.SetContext("__consumer_offsets key", -1);
  const int16_t version = r.Int16("version");
  if (!r.ok()) return Corrupt(r);
  if (version == 0 || version == 1) {
    OffsetCommitKey key;
    key.group = r.String("group", false);
    key.topic = r.String("topic", false);
    key.partition = r.Int32("partition");
    absl::Status s = CheckConsumed(r, "OffsetCommitKey");
    if (!s.ok()) return s;
    return OffsetsTopicKey(std::move(key));
  }
  if (version == 2) {
    GroupMetadataKey key;
    key.group = r.String("group", false);
    absl::Status s = CheckConsumed(r, "GroupMetadataKey");
    if (!s.ok()) return s;
    return OffsetsTopicKey(std::move(key));
  }
  return absl::UnimplementedError(absl::StrCat("__consumer_offsets key version ", version));
}

absl::StatusOr<OffsetCommitValue> DecodeOffsetCommitValue(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  const int16_t version = r.Int16("version");
  r.SetContext("OffsetCommitValue", version);
  if (!r.ok()) return Corrupt(r);
  if (version < 0 || version > 4) {
    return absl::DataLossError(absl::StrCat("OffsetCommitValue version ", version));
  }
  const bool flexible = version >= 4;
  OffsetCommitValue v;
  v.offset = r.Int64("offset");
  if (version >= 3) v.leader_epoch = r.Int32("leaderEpoch");
  v.metadata = r.String("metadata", flexible);
  v.commit_timestamp_ms = r.Int64("commitTimestamp");
  if (version == 1) v.expire_timestamp_ms = r.Int64("expireTimestamp");
  if (flexible) SkipTaggedFields(r, "OffsetCommitValue");
  absl::Status s = CheckConsumed(r, "OffsetCommitValue");
  if (!s.ok()) return s;
  return v;
}

absl::StatusOr<GroupMetadataValue> DecodeGroupMetadataValue(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  const int16_t version = r.Int16("version");
  r.SetContext("GroupMetadataValue", version);
  if (!r.ok()) return Corrupt(r);
  if (version < 0 || version > 4) {
    return absl::DataLossError(absl::StrCat("GroupMetadataValue version ", version));
  }
  const bool flexible = version >= 4;
  GroupMetadataValue v;
  v.protocol_type = r.String("protocolType", flexible);
  v.generation = r.Int32("generation");
  v.protocol = r.NullableString("protocol", flexible);
  v.leader = r.NullableString("leader", flexible);
  if (version >= 2) v.current_state_timestamp_ms = r.Int64("currentStateTimestamp");
  // A member is at least six empty strings/bytes and an int32.
  const int32_t n = r.ArrayLength("members", flexible, false, 4 * 2 + 4 + 2 * 4);
  for (int32_t i = 0; i < n && r.ok(); ++i) {
    GroupMemberRecord m;
    m.member_id = r.String("memberId", flexible);
    if (version >= 3) m.group_instance_id = r.NullableString("groupInstanceId", flexible);
    m.client_id = r.String("clientId", flexible);
    m.client_host = r.String("clientHost", flexible);
    if (version >= 1) m.rebalance_timeout_ms = r.Int32("rebalanceTimeout");
    m.session_timeout_ms = r.Int32("sessionTimeout");
    m.subscription = r.Bytes("subscription", flexible);
    m.assignment = r.Bytes("assignment", flexible);
    if (flexible) SkipTaggedFields(r, "MemberMetadata");
    v.members.push_back(std::move(m));
  }
  if (flexible) SkipTaggedFields(r, "GroupMetadataValue");
  absl::Status s = CheckConsumed(r, "GroupMetadataValue");
  if (!s.ok()) return s;
  return v;
}

}  // namespace runnel::broker::group
