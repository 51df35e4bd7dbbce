// How kafka-python 2.0.2 (Debian 12's python3-kafka) finds out what it talks
// to: it sends ApiVersions v0 and, right behind it on the same connection,
// Metadata v0, and reads both answers. A broker that closes the connection
// on the second loses the first too, and the client then takes it for
// Kafka 0.8 and refuses to run its admin client.
#include <catch2/catch.hpp>

#include <algorithm>

#include "absl/strings/str_cat.h"

#include "broker_fixture.h"
#include "raw_client.h"
#include "runnel/protocol/messages/api_versions.h"
#include "runnel/protocol/messages/metadata.h"

namespace runnel::broker::testing {
namespace {

TEST_CASE("broker: ApiVersions v0 with Metadata v0 pipelined behind it, as kafka-python probes",
          "[broker]") {
  BrokerFixture f;
  RawClient c(f.port());
  // A topic to list (auto-created by name at v1).
  protocol::MetadataRequest create;
  create.topics = std::vector<protocol::MetadataRequest::MetadataRequestTopic>{{}};
  create.topics->front().name.emplace("probe");
  c.Send(create, 1, 1);
  auto created = c.Receive<protocol::MetadataResponse>(1, 1);
  REQUIRE(created.topics.size() == 1);
  CHECK(created.topics[0].error_code == 0);

  c.Send(protocol::ApiVersionsRequest{}, 0, 2);
  protocol::MetadataRequest all;
  all.topics = std::vector<protocol::MetadataRequest::MetadataRequestTopic>{};  // v0: all topics
  c.Send(all, 0, 3);

  auto versions = c.Receive<protocol::ApiVersionsResponse>(0, 2);
  CHECK(versions.error_code == 0);
  auto metadata_range =
      std::find_if(versions.api_keys.begin(), versions.api_keys.end(),
                   [](const auto& k) { return k.api_key == protocol::MetadataRequest::kApiKey; });
  REQUIRE(metadata_range != versions.api_keys.end());
  CHECK(metadata_range->min_version == 0);
  CHECK(metadata_range->max_version == 12);

  auto md = c.Receive<protocol::MetadataResponse>(0, 3);
  REQUIRE(md.brokers.size() == 1);
  CHECK(absl::StrCat(md.brokers[0].host, ":", md.brokers[0].port) ==
        f.broker().bootstrap_address());
  std::vector<std::string> names;
  for (const auto& t : md.topics) names.push_back(t.name.value_or(""));
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"__consumer_offsets", "probe"});
}

}  // namespace
}  // namespace runnel::broker::testing
