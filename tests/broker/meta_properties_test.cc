// meta.properties: a random Kafka-style cluster id made once per data
// directory, reused on restart and shown to clients; a node id mismatch
// stops start-up.
#include "broker/meta_properties.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "broker_fixture.h"
#include "raw_client.h"
#include "runnel/protocol/messages/describe_cluster.h"
#include "runnel/protocol/messages/metadata.h"
#include "tests/temp_dir.h"

namespace runnel::broker::testing {
namespace {

std::string ClusterIdFromMetadata(uint16_t port) {
  RawClient c(port);
  protocol::MetadataRequest req;
  req.topics = std::vector<protocol::MetadataRequest::MetadataRequestTopic>{};
  c.Send(req, 12, 3);
  auto resp = c.Receive<protocol::MetadataResponse>(12, 3);
  REQUIRE(resp.cluster_id.has_value());
  return *resp.cluster_id;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using runnel::testing::TempDir;

TEST_CASE("cluster ids look like Kafka's and differ", "[meta]") {
  std::string a = NewClusterId(), b = NewClusterId();
  CHECK(a != b);
  for (const std::string& id : {a, b}) {
    REQUIRE(id.size() == 22);
    CHECK(id[0] != '-');
    for (char ch : id) {
      bool ok = std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
      CHECK(ok);
    }
  }
}

TEST_CASE("meta.properties is written once and read back", "[meta]") {
  TempDir dir;
  auto first = LoadOrCreateMetaProperties(dir.path() + "/data", 3);
  REQUIRE(first.ok());
  std::string text = ReadFile(dir.path() + "/data/meta.properties");
  CHECK(text.find("cluster.id=" + first->cluster_id + "\n") != std::string::npos);
  CHECK(text.find("node.id=3\n") != std::string::npos);
  CHECK(text.find("version=1\n") != std::string::npos);
  auto again = LoadOrCreateMetaProperties(dir.path() + "/data", 3);
  REQUIRE(again.ok());
  CHECK(again->cluster_id == first->cluster_id);

  auto other = LoadOrCreateMetaProperties(dir.path() + "/data", 4);
  REQUIRE(!other.ok());
  CHECK(other.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(other.status().message()).find("stored node id 3") != std::string::npos);
}

TEST_CASE("a meta.properties without cluster.id is refused", "[meta]") {
  TempDir dir;
  std::ofstream(dir.path() + "/meta.properties") << "version=1\nnode.id=0\n";
  auto meta = LoadOrCreateMetaProperties(dir.path(), 0);
  REQUIRE(!meta.ok());
  CHECK(meta.status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("the broker keeps its cluster id across restarts", "[meta]") {
  BrokerFixture f;
  std::string before = ClusterIdFromMetadata(f.port());
  CHECK(before.size() == 22);
  {
    RawClient c(f.port());
    c.Send(protocol::DescribeClusterRequest{}, 0, 4);
    auto resp = c.Receive<protocol::DescribeClusterResponse>(0, 4);
    CHECK(resp.cluster_id == before);
  }
  f.Restart();
  CHECK(ClusterIdFromMetadata(f.port()) == before);
}

TEST_CASE("a data directory of another node id stops start-up", "[meta]") {
  TempDir dir;
  BrokerOptions options;
  options.port = 0;
  options.data_dir = dir.path();
  options.io_threads = 1;
  {
    auto b = Broker::Start(options);
    REQUIRE(b.ok());
    REQUIRE((*b)->Stop(absl::Seconds(5)).ok());
  }
  options.node_id = 7;
  auto b = Broker::Start(options);
  REQUIRE(!b.ok());
  CHECK(std::string(b.status().message()).find("node id") != std::string::npos);
  // node.id from server.properties is checked the same way.
  options.node_id = 0;
  options.properties = {{"node.id", "5"}};
  b = Broker::Start(options);
  REQUIRE(!b.ok());
  options.properties = {{"node.id", "0"}};
  b = Broker::Start(options);
  CHECK(b.ok());
}

}  // namespace
}  // namespace runnel::broker::testing
