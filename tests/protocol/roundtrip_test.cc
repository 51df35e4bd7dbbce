// Every (API, version) of the generated messages round-trips, with distinct
// values in every field and with nulls and empties; plus decoding of bytes
// written by hand from the Kafka protocol specification.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "catch2/catch.hpp"
#include "roundtrip_check.h"
#include "runnel/protocol/api_keys.h"
#include "runnel/protocol/messages/api_versions.h"
#include "runnel/protocol/messages/corner_cases.h"
#include "runnel/protocol/messages/metadata.h"
#include "runnel/protocol/messages/produce.h"

namespace runnel::protocol {
namespace testing {
// From corner_cases_testing.cc (tests/protocol/gen_corner_cases.schema).
absl::Status RoundTripCornerCases(bool request, int16_t version, FillMode mode);
}  // namespace testing
namespace {

using testing::AllRoundTrips;
using testing::FillMode;

// a then b, built at its final size: `a.insert(a.end(), {...})` makes GCC 12
// at -O3 warn falsely (-Warray-bounds in the reallocating insert).
std::vector<uint8_t> Cat(const std::vector<uint8_t>& a, std::initializer_list<uint8_t> b) {
  std::vector<uint8_t> out(a.size() + b.size());
  std::copy(a.begin(), a.end(), out.begin());
  std::copy(b.begin(), b.end(), out.begin() + static_cast<ptrdiff_t>(a.size()));
  return out;
}

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

TEST_CASE("generator corner cases round-trip in every version", "[protocol][roundtrip]") {
  for (int16_t v = kCornerCasesApi.min_version; v <= kCornerCasesApi.max_version; ++v) {
    for (bool request : {true, false}) {
      for (FillMode mode : {FillMode::kDistinct, FillMode::kNullOrEmpty}) {
        INFO("v" << v << (request ? " request" : " response")
                 << (mode == FillMode::kDistinct ? " distinct" : " null/empty"));
        CHECK(testing::RoundTripCornerCases(request, v, mode).ToString() == "OK");
      }
    }
  }
}

TEST_CASE("corner cases: defaults, nullable structs and tags, byte for byte", "[protocol]") {
  CornerCasesRequest req;
  const std::vector<uint8_t> fixed = {
      0x01,                    // flag: default true
      0xfd,                    // small: default -3
      0x00, 0x00,              // port uint16
      0x00, 0x00, 0x00, 0x00,  // crc uint32 (v1+)
      0x3f, 0xe0, 0, 0, 0, 0, 0, 0,  // ratio: 0.5
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // id: zero uuid (v1+)
      0x80, 0, 0, 0, 0, 0, 0, 0,  // big: int64 min
      0x80, 0, 0, 0,              // min: int32 min
  };
  const std::vector<uint8_t> v1 = Cat(fixed, {
      0x00, 0x04, 'd', 'f', 'l', 't',  // default: "dflt"
      0x00, 0x00, 0x00, 0x00,          // delete: empty bytes
      0xff, 0xff, 0xff, 0xff,          // records: null
      0x00, 0x00, 0x00, 0x00,          // names: empty
      0x00, 0x00, 0x00, 0x00,          // numbers: empty (v1+)
      0xff,                            // maybe: null struct marker
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // always: a = 0, b = ""
      0x00, 0x00, 0x00, 0x00,          // items: empty
  });
  CHECK(Encode(req, 1) == v1);

  req.maybe.emplace().a = 1;
  req.maybe->b.reset();
  req.tagged_int = 9;
  req.tagged_string.emplace(1, 't');  // not = "t": GCC 12 warns falsely (-Wrestrict)
  const std::vector<uint8_t> v3 = Cat(fixed, {
      0x05, 'd', 'f', 'l', 't',  // default: compact "dflt"
      0x01,                      // delete: compact empty bytes
      0x00,                      // records: compact null
      0x01, 0x01, 0x01,          // names, numbers, ids: compact empty
      0x01, 0, 0, 0, 1, 0x00, 0x00,  // maybe: present, a = 1, b = null, no tags
      0, 0, 0, 0, 0x01, 0x00,    // always: a = 0, b = "", no tags
      0x01, 0x01,                // items, more (v3+): compact empty
      0x02,                      // two tagged fields, ascending
      0x00, 0x02, 0x02, 't',     // tag 0 tagged_string "t"
      0x01, 0x04, 0, 0, 0, 9,    // tag 1 tagged_int 9
  });
  CHECK(Encode(req, 3) == v3);
  absl::StatusOr<CornerCasesRequest> back = CornerCasesRequest::Decode(v3, 3);
  REQUIRE(back.ok());
  CHECK(*back == req);
  // delete_ is nullable from v2 only: null cannot be encoded in v1.
  req.delete_.reset();
  ByteBuffer buf;
  Writer w(&buf);
  req.Encode(w, 1);
  CHECK_FALSE(w.status().ok());
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
