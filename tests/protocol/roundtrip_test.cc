// Every (API, version) of the generated messages round-trips, with distinct
// values in every field and with nulls and empties; plus decoding of bytes
// written by hand from the Kafka protocol specification.
#include <cstdint>
#include <vector>

#include "catch2/catch.hpp"
#include "roundtrip_check.h"
#include "runnel/protocol/api_keys.h"
#include "runnel/protocol/messages/api_versions.h"
#include "runnel/protocol/messages/metadata.h"
#include "runnel/protocol/messages/produce.h"

namespace runnel::protocol {
namespace {

using testing::AllRoundTrips;
using testing::FillMode;

std::vector<uint8_t> Encode(const auto& msg, int16_t version) {
  ByteBuffer buf;
  Writer w(&buf);
  msg.Encode(w, version);
  REQUIRE(w.status().ok());
  return {buf.data(), buf.data() + buf.size()};
}

TEST_CASE("every API, version and message round-trips", "[protocol][roundtrip]") {
  REQUIRE(AllRoundTrips().size() == AllApis().size());
  int cases = 0;
  for (const testing::RoundTripEntry& e : AllRoundTrips()) {
    const ApiDescriptor* api = FindApi(e.key);
    REQUIRE(api != nullptr);
    for (int16_t v = api->min_version; v <= api->max_version; ++v) {
      for (bool request : {true, false}) {
        for (FillMode mode : {FillMode::kDistinct, FillMode::kNullOrEmpty}) {
          INFO(api->name << " v" << v << (request ? " request" : " response")
                         << (mode == FillMode::kDistinct ? " distinct" : " null/empty"));
          CHECK(e.run(request, v, mode).ToString() == "OK");
          ++cases;
        }
      }
    }
  }
  INFO("cases: " << cases);
  CHECK(cases >= 4 * 3);
}

TEST_CASE("API table matches the generated descriptors", "[protocol]") {
  const ApiDescriptor* produce = FindApi(ApiKey::kProduce);
  REQUIRE(produce != nullptr);
  CHECK(produce->name == "Produce");
  CHECK(produce == FindApi(int16_t{0}));
  CHECK(FindApi(int16_t{-5}) == nullptr);
  CHECK(kApiVersionsApi.key == 18);
  CHECK(kApiVersionsApi.first_flexible == 3);
  for (size_t i = 1; i < AllApis().size(); ++i) CHECK(AllApis()[i - 1].key < AllApis()[i].key);
}

TEST_CASE("Metadata request encodings from the spec", "[protocol]") {
  MetadataRequest req;
  req.topics.emplace().push_back({.name = "t"});
  // v0: topics int32 count 1, topic name int16 length 1 "t".
  CHECK(Encode(req, 0) == std::vector<uint8_t>{0, 0, 0, 1, 0, 1, 't'});
  // v9 (flexible): compact array 1+1, uuid absent before v10, compact string
  // 1+1 "t", topic tags 0, allow_auto_topic_creation true (the default),
  // include_cluster_authorized_operations false, include_topic_authorized_
  // operations false, message tags 0.
  CHECK(Encode(req, 9) == std::vector<uint8_t>{2, 2, 't', 0, 1, 0, 0, 0});
  // Null topics (all topics): -1 in v1, 0 as a compact length in v9.
  req.topics.reset();
  CHECK(Encode(req, 1) == std::vector<uint8_t>{0xff, 0xff, 0xff, 0xff});
  CHECK(Encode(req, 9) == std::vector<uint8_t>{0, 1, 0, 0, 0});
  // Null is not allowed in v0: the encoder reports it.
  ByteBuffer buf;
  Writer w(&buf);
  req.Encode(w, 0);
  CHECK_FALSE(w.status().ok());
}

TEST_CASE("ApiVersions v3 response with tagged fields, from the spec", "[protocol]") {
  const std::vector<uint8_t> wire = {
      0x00, 0x00,                    // error_code 0
      0x02,                          // api_keys: compact array of 1
      0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00,  // key 18, min 0, max 4, no tags
      0x00, 0x00, 0x00, 0x0a,        // throttle_time_ms 10
      0x02,                          // 2 tagged fields
      0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x07,  // tag 1 finalized_features_epoch = 7
      0x03, 0x01, 0x01,              // tag 3 zk_migration_ready = true
  };
  absl::StatusOr<ApiVersionsResponse> r = ApiVersionsResponse::Decode(wire, 3);
  REQUIRE(r.ok());
  REQUIRE(r->api_keys.size() == 1);
  CHECK(r->api_keys[0].api_key == 18);
  CHECK(r->api_keys[0].max_version == 4);
  CHECK(r->throttle_time_ms == 10);
  CHECK(r->finalized_features_epoch == 7);
  CHECK(r->zk_migration_ready);
  CHECK(r->supported_features.empty());
  CHECK(Encode(*r, 3) == wire);
}

TEST_CASE("unknown tagged fields are kept and re-encoded in tag order", "[protocol]") {
  const std::vector<uint8_t> wire = {
      0x01,  // client_software_name ""
      0x01,  // client_software_version ""
      0x02,        // 2 tagged fields
      0x05, 0x02, 0xab, 0xcd,  // tag 5, 2 bytes
      0x09, 0x00,              // tag 9, empty
  };
  absl::StatusOr<ApiVersionsRequest> r = ApiVersionsRequest::Decode(wire, 3);
  REQUIRE(r.ok());
  REQUIRE(r->unknown_tagged_fields.size() == 2);
  CHECK(r->unknown_tagged_fields[0] == TaggedField{5, {0xab, 0xcd}});
  CHECK(r->unknown_tagged_fields[1] == TaggedField{9, {}});
  CHECK(Encode(*r, 3) == wire);
}

TEST_CASE("decode errors name the message, version, field and offset", "[protocol]") {
  // ProduceRequest v3: transactional_id null, acks, timeout, then a topic
  // array claiming 1000 entries in 2 bytes.
  const std::vector<uint8_t> wire = {0xff, 0xff, 0, 1, 0, 0, 0x03, 0xe8,
                                     0, 0, 0x03, 0xe8, 0, 0};
  absl::StatusOr<ProduceRequest> r = ProduceRequest::Decode(wire, 3);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(r.status().message() ==
        "ProduceRequest v3: field 'topic_data' at byte 8: array of 1000 elements cannot fit "
        "in the 2 bytes left");
  CHECK_FALSE(ProduceRequest::Decode(wire, 2).ok());  // below the supported range
  CHECK_FALSE(ProduceRequest::Decode(wire, 12).ok());
}

}  // namespace
}  // namespace runnel::protocol
