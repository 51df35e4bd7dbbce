// __consumer_offsets records against bytes written by hand from Kafka's
// internal-topics definitions (OffsetCommitKey/Value, GroupMetadataKey/Value),
// and the group -> partition mapping against Java's String.hashCode.
#include "broker/group/record_formats.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "broker/group/offsets_topic.h"

namespace runnel::broker::group {
namespace {

// The byte tables below are laid out field by field; clang-format would
// reflow them.
// clang-format off

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s.push_back(static_cast<char>(v));
  return s;
}

std::span<const uint8_t> Span(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST_CASE("OffsetCommitKey v1 is version, group, topic, partition", "[group][records]") {
  const std::string expected = Bytes({0x00, 0x01,                  // version 1
                                      0x00, 0x02, 'g', '1',        // group
                                      0x00, 0x01, 't',             // topic
                                      0x00, 0x00, 0x00, 0x03});    // partition
  CHECK(EncodeOffsetCommitKey({"g1", "t", 3}) == expected);
  auto key = DecodeOffsetsTopicKey(Span(expected));
  REQUIRE(key.ok());
  CHECK(std::get<OffsetCommitKey>(*key) == OffsetCommitKey{"g1", "t", 3});
  // Version 0 has the same fields.
  std::string v0 = expected;
  v0[1] = 0;
  CHECK(std::get<OffsetCommitKey>(*DecodeOffsetsTopicKey(Span(v0))) ==
        OffsetCommitKey{"g1", "t", 3});
}

TEST_CASE("GroupMetadataKey v2 is version and group", "[group][records]") {
  const std::string expected = Bytes({0x00, 0x02, 0x00, 0x02, 'g', '1'});
  CHECK(EncodeGroupMetadataKey({"g1"}) == expected);
  auto key = DecodeOffsetsTopicKey(Span(expected));
  REQUIRE(key.ok());
  CHECK(std::get<GroupMetadataKey>(*key).group == "g1");
}

TEST_CASE("Unknown key versions are Unimplemented, garbage is DataLoss", "[group][records]") {
  const std::string future = Bytes({0x00, 0x05, 0x00, 0x00});
  const std::string short_group = Bytes({0x00, 0x01, 0x00, 0x09, 'x'});
  const std::string trailing = Bytes({0x00, 0x02, 0x00, 0x00, 0x01});
  CHECK(absl::IsUnimplemented(DecodeOffsetsTopicKey(Span(future)).status()));
  CHECK(absl::IsDataLoss(DecodeOffsetsTopicKey(Span(short_group)).status()));
  CHECK(absl::IsDataLoss(DecodeOffsetsTopicKey(Span(trailing)).status()));
}

TEST_CASE("OffsetCommitValue v3 carries the leader epoch", "[group][records]") {
  const std::string expected =
      Bytes({0x00, 0x03,                                          // version 3
             0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64,      // offset 100
             0x00, 0x00, 0x00, 0x05,                              // leaderEpoch 5
             0x00, 0x02, 'm', 'd',                                // metadata
             0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05});    // commitTimestamp
  OffsetCommitValue v{100, 5, "md", 0x0102030405, -1};
  CHECK(EncodeOffsetCommitValue(v) == expected);
  auto back = DecodeOffsetCommitValue(Span(expected));
  REQUIRE(back.ok());
  CHECK(*back == v);
}

TEST_CASE("OffsetCommitValue v0, v1 and flexible v4 decode", "[group][records]") {
  const std::string v0 = Bytes({0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x07, 0x00, 0x00,
                                0, 0, 0, 0, 0, 0, 0, 0x09});
  CHECK(*DecodeOffsetCommitValue(Span(v0)) == OffsetCommitValue{7, -1, "", 9, -1});
  const std::string v1 = Bytes({0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x07, 0x00, 0x01, 'x',
                                0, 0, 0, 0, 0, 0, 0, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x0A});
  CHECK(*DecodeOffsetCommitValue(Span(v1)) == OffsetCommitValue{7, -1, "x", 9, 10});
  // v4: compact string (length + 1), then an empty tagged-field section.
  const std::string v4 = Bytes({0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0x02,
                                0x03, 'm', 'd', 0, 0, 0, 0, 0, 0, 0, 0x09, 0x00});
  CHECK(*DecodeOffsetCommitValue(Span(v4)) == OffsetCommitValue{7, 2, "md", 9, -1});
  CHECK(absl::IsDataLoss(DecodeOffsetCommitValue(Span(Bytes({0x00, 0x03, 0x00}))).status()));
  CHECK(absl::IsDataLoss(DecodeOffsetCommitValue(Span(Bytes({0x00, 0x09}))).status()));
}

GroupMetadataValue SampleGroup() {
  GroupMetadataValue v;
  v.protocol_type = "consumer";
  v.generation = 2;
  v.protocol = "range";
  v.leader = "m1";
  v.current_state_timestamp_ms = 1000;
  GroupMemberRecord m;
  m.member_id = "m1";
  m.client_id = "c";
  m.client_host = "h";
  m.rebalance_timeout_ms = 30000;
  m.session_timeout_ms = 10000;
  m.subscription = {1, 2};
  m.assignment = {3};
  v.members.push_back(m);
  return v;
}

TEST_CASE("GroupMetadataValue v3 is byte for byte Kafka's", "[group][records]") {
  const std::string expected = Bytes({
      0x00, 0x03,                                                   // version 3
      0x00, 0x08, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r',           // protocolType
      0x00, 0x00, 0x00, 0x02,                                       // generation
      0x00, 0x05, 'r', 'a', 'n', 'g', 'e',                          // protocol
      0x00, 0x02, 'm', '1',                                         // leader
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xE8,               // currentStateTimestamp
      0x00, 0x00, 0x00, 0x01,                                       // 1 member
      0x00, 0x02, 'm', '1',                                         //   memberId
      0xFF, 0xFF,                                                   //   groupInstanceId null
      0x00, 0x01, 'c',                                              //   clientId
      0x00, 0x01, 'h',                                              //   clientHost
      0x00, 0x00, 0x75, 0x30,                                       //   rebalanceTimeout
      0x00, 0x00, 0x27, 0x10,                                       //   sessionTimeout
      0x00, 0x00, 0x00, 0x02, 0x01, 0x02,                           //   subscription
      0x00, 0x00, 0x00, 0x01, 0x03});                               //   assignment
  CHECK(EncodeGroupMetadataValue(SampleGroup()) == expected);
  auto back = DecodeGroupMetadataValue(Span(expected));
  REQUIRE(back.ok());
  CHECK(*back == SampleGroup());
}

TEST_CASE("GroupMetadataValue v0 (empty group) and flexible v4 decode", "[group][records]") {
  const std::string v0 = Bytes({0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
                                0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00});
  auto empty = DecodeGroupMetadataValue(Span(v0));
  REQUIRE(empty.ok());
  CHECK(empty->generation == 5);
  CHECK(!empty->protocol.has_value());
  CHECK(!empty->leader.has_value());
  CHECK(empty->current_state_timestamp_ms == -1);
  CHECK(empty->members.empty());

  const std::string v4 = Bytes({
      0x00, 0x04, 0x09, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r', 0x00, 0x00, 0x00, 0x02,
      0x06, 'r', 'a', 'n', 'g', 'e', 0x03, 'm', '1',
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xE8,
      0x02,                                   // 1 member (compact)
      0x03, 'm', '1', 0x00, 0x02, 'c', 0x02, 'h',
      0x00, 0x00, 0x75, 0x30, 0x00, 0x00, 0x27, 0x10,
      0x03, 0x01, 0x02, 0x02, 0x03,
      0x00,                                   // member tagged fields
      0x00});                                 // value tagged fields
  auto flexible = DecodeGroupMetadataValue(Span(v4));
  REQUIRE(flexible.ok());
  CHECK(*flexible == SampleGroup());
}

TEST_CASE("A group's partition is abs(Java hashCode) % partitions", "[group][records]") {
  // Values of Java's "...".hashCode().
  CHECK(JavaStringHashCode("g") == 103);
  CHECK(JavaStringHashCode("my-group") == -1906497762);
  CHECK(JavaStringHashCode("console-consumer-12345") == 158455506);
  CHECK(JavaStringHashCode("\xC3\xA9") == 233);            // U+00E9
  CHECK(JavaStringHashCode("\xF0\x9F\x98\x80") == 1772899);  // U+1F600: a surrogate pair
  CHECK(OffsetsPartitionFor("my-group", 50) == 12);
  CHECK(OffsetsPartitionFor("console-consumer-12345", 50) == 6);
  // Its hashCode is Integer.MIN_VALUE, whose Utils.abs is 0.
  CHECK(JavaStringHashCode("polygenelubricants") == INT32_MIN);
  CHECK(OffsetsPartitionFor("polygenelubricants", 50) == 0);
}

// clang-format on

}  // namespace
}  // namespace runnel::broker::group
