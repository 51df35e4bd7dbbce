// ConsumerProtocolSubscription / ConsumerProtocolAssignment: golden bytes
// written out from the encoding rules of Kafka's message definitions
// (message/ConsumerProtocol*.json: never flexible, int16 string lengths,
// int32 bytes lengths and array counts), round trips of every version, and
// the forward-compatibility rule (a newer version's extra bytes are ignored).
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "client/group/consumer_protocol.h"

namespace runnel::client::group {
namespace {

using Bytes = std::vector<uint8_t>;

Subscription FullSubscription() {
  Subscription s;
  s.topics = {"orders", "t"};
  s.user_data.emplace(Bytes{0xde, 0xad});
  s.owned_partitions = {{"orders", {0, 2}}};
  s.generation_id = 7;
  s.rack_id.emplace("r1");
  return s;
}

TEST_CASE("subscription v0 bytes: version, topics, null user data", "[consumer_protocol]") {
  Subscription s;
  s.topics = {"t"};
  const Bytes expected = {0x00, 0x00,                // version 0
                          0x00, 0x00, 0x00, 0x01,    // one topic
                          0x00, 0x01, 't',           // "t"
                          0xff, 0xff, 0xff, 0xff};   // user_data null
  CHECK(EncodeSubscription(s, 0) == expected);
  auto back = DecodeSubscription(expected);
  REQUIRE(back.ok());
  CHECK(back->topics == std::vector<std::string>{"t"});
  CHECK_FALSE(back->user_data.has_value());
  CHECK(back->generation_id == -1);
}

TEST_CASE("subscription v3 bytes carry owned partitions, generation and rack",
          "[consumer_protocol]") {
  const Bytes expected = {
      0x00, 0x03,                                    // version 3
      0x00, 0x00, 0x00, 0x02,                        // two topics
      0x00, 0x06, 'o', 'r', 'd', 'e', 'r', 's',      //
      0x00, 0x01, 't',                               //
      0x00, 0x00, 0x00, 0x02, 0xde, 0xad,            // user_data
      0x00, 0x00, 0x00, 0x01,                        // one owned topic
      0x00, 0x06, 'o', 'r', 'd', 'e', 'r', 's',      //
      0x00, 0x00, 0x00, 0x02,                        // two partitions
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
      0x00, 0x00, 0x00, 0x07,                        // generation 7
      0x00, 0x02, 'r', '1'};                         // rack
  CHECK(EncodeSubscription(FullSubscription(), 3) == expected);
  auto back = DecodeSubscription(expected);
  REQUIRE(back.ok());
  CHECK(*back == FullSubscription());
}

TEST_CASE("each subscription version carries only its fields", "[consumer_protocol]") {
  const Subscription full = FullSubscription();
  for (int16_t v = 0; v <= 3; ++v) {
    INFO("version " << v);
    auto back = DecodeSubscription(EncodeSubscription(full, v));
    REQUIRE(back.ok());
    CHECK(back->topics == full.topics);
    CHECK(back->user_data == full.user_data);
    CHECK(back->owned_partitions.empty() == (v < 1));
    CHECK(back->generation_id == (v >= 2 ? 7 : -1));
    CHECK(back->rack_id.has_value() == (v >= 3));
  }
}

TEST_CASE("assignment bytes and round trip", "[consumer_protocol]") {
  Assignment a;
  a.partitions = {{"t", {1}}};
  const Bytes expected = {0x00, 0x01,                          // version 1
                          0x00, 0x00, 0x00, 0x01,              // one topic
                          0x00, 0x01, 't',                     //
                          0x00, 0x00, 0x00, 0x01,              // one partition
                          0x00, 0x00, 0x00, 0x01,              // partition 1
                          0xff, 0xff, 0xff, 0xff};             // user_data null
  CHECK(EncodeAssignment(a, 1) == expected);
  for (int16_t v = 0; v <= 3; ++v) {
    auto back = DecodeAssignment(EncodeAssignment(a, v));
    REQUIRE(back.ok());
    CHECK(*back == a);
  }
}

TEST_CASE("an empty assignment decodes as no partitions", "[consumer_protocol]") {
  auto a = DecodeAssignment(Bytes{});
  REQUIRE(a.ok());
  CHECK(a->partitions.empty());
}

TEST_CASE("a newer version is read with the newest known format", "[consumer_protocol]") {
  Bytes bytes = EncodeSubscription(FullSubscription(), 3);
  bytes[1] = 4;  // version 4, with a field we do not know appended
  bytes.insert(bytes.end(), {0x01, 0x02, 0x03});
  auto back = DecodeSubscription(bytes);
  REQUIRE(back.ok());
  CHECK(back->rack_id == std::optional<std::string>("r1"));
  CHECK(back->generation_id == 7);
}

TEST_CASE("truncated or hostile bytes fail with InvalidArgument", "[consumer_protocol]") {
  const Bytes full = EncodeSubscription(FullSubscription(), 3);
  for (size_t n = 0; n < full.size(); ++n) {
    INFO("first " << n << " bytes");
    auto s = DecodeSubscription(std::span<const uint8_t>(full.data(), n));
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
  }
  // A count of two billion topics in a 10-byte message.
  const Bytes hostile = {0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0x00, 0x01, 'x', 0x00};
  CHECK_FALSE(DecodeSubscription(hostile).ok());
  const Bytes negative = {0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff};
  CHECK_FALSE(DecodeAssignment(negative).ok());
}

}  // namespace
}  // namespace runnel::client::group
