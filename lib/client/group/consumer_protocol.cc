#include "client/group/consumer_protocol.h"

#include <algorithm>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/protocol/wire.h"

namespace runnel::client::group {
namespace {

using protocol::Reader;
using protocol::Writer;

constexpr bool kClassic = false;  // never flexible

void WriteTopicPartitions(Writer& w, const std::vector<TopicPartitions>& tps) {
  w.ArrayLength(tps.size(), kClassic);
  for (const auto& tp : tps) {
    w.String(tp.topic, kClassic);
    w.ArrayLength(tp.partitions.size(), kClassic);
    for (int32_t p : tp.partitions) w.Int32(p);
  }
}

std::vector<TopicPartitions> ReadTopicPartitions(Reader& r, std::string_view field) {
  std::vector<TopicPartitions> out;
  // Each entry is at least a 2-byte topic length and a 4-byte count.
  const int32_t n = r.ArrayLength(field, kClassic, /*nullable=*/false, 6);
  for (int32_t i = 0; i < n && r.ok(); ++i) {
    TopicPartitions tp;
    tp.topic = r.String("topic", kClassic);
    const int32_t np = r.ArrayLength("partitions", kClassic, false, 4);
    tp.partitions.reserve(std::max(np, 0));
    for (int32_t j = 0; j < np && r.ok(); ++j) tp.partitions.push_back(r.Int32("partition"));
    out.push_back(std::move(tp));
  }
  return out;
}

std::vector<uint8_t> ToVector(const ByteBuffer& buf) {
  return std::vector<uint8_t>(buf.data(), buf.data() + buf.size());
}

absl::Status Malformed(const Reader& r) {
  return absl::InvalidArgumentError(std::string(r.status().message()));
}

}  // namespace

std::vector<uint8_t> EncodeSubscription(const Subscription& s, int16_t version) {
  ByteBuffer buf;
  Writer w(&buf);
  w.Int16(version);
  w.ArrayLength(s.topics.size(), kClassic);
  for (const auto& t : s.topics) w.String(t, kClassic);
  w.NullableBytes(s.user_data, kClassic);
  if (version >= 1) WriteTopicPartitions(w, s.owned_partitions);
  if (version >= 2) w.Int32(s.generation_id);
  if (version >= 3) w.NullableString(s.rack_id, kClassic);
  return ToVector(buf);
}

std::vector<uint8_t> EncodeAssignment(const Assignment& a, int16_t version) {
  ByteBuffer buf;
  Writer w(&buf);
  w.Int16(version);
  WriteTopicPartitions(w, a.partitions);
  w.NullableBytes(a.user_data, kClassic);
  return ToVector(buf);
}

absl::StatusOr<Subscription> DecodeSubscription(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  const int16_t version = r.Int16("version");
  r.SetContext("ConsumerProtocolSubscription", version);
  if (r.ok() && version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ConsumerProtocolSubscription: negative version ", version));
  }
  Subscription s;
  const int32_t n = r.ArrayLength("topics", kClassic, false, 2);
  for (int32_t i = 0; i < n && r.ok(); ++i) s.topics.push_back(r.String("topics", kClassic));
  s.user_data = r.NullableBytes("user_data", kClassic);
  if (version >= 1) s.owned_partitions = ReadTopicPartitions(r, "owned_partitions");
  if (version >= 2) s.generation_id = r.Int32("generation_id");
  if (version >= 3) s.rack_id = r.NullableString("rack_id", kClassic);
  if (!r.ok()) return Malformed(r);
  return s;
}

absl::StatusOr<Assignment> DecodeAssignment(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return Assignment{};
  Reader r(bytes);
  const int16_t version = r.Int16("version");
  r.SetContext("ConsumerProtocolAssignment", version);
  if (r.ok() && version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ConsumerProtocolAssignment: negative version ", version));
  }
  Assignment a;
  a.partitions = ReadTopicPartitions(r, "assigned_partitions");
  a.user_data = r.NullableBytes("user_data", kClassic);
  if (!r.ok()) return Malformed(r);
  return a;
}

}  // namespace runnel::client::group
