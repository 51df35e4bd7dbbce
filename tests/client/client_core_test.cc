// The client core against librdkafka's mock cluster: options from Kafka
// properties, metadata, routing to leaders, version negotiation and
// failures (too-old broker, broker down, shutdown).
#include <catch2/catch.hpp>

#include <atomic>

#include "client/client_core.h"
#include "client/properties.h"
#include "runnel/client_options.h"
#include "runnel/protocol/messages/list_offsets.h"
#include "runnel/protocol/messages/metadata.h"
#include "runnel/protocol/messages/produce.h"
#include "tests/client/mock_cluster.h"

namespace runnel::client {
namespace {

using testing::MockCluster;

std::unique_ptr<ClientCore> Connect(const std::string& bootstrap,
                                    absl::Duration timeout = absl::Seconds(10)) {
  ClientOptions o;
  o.bootstrap_servers = bootstrap;
  o.request_timeout = timeout;
  o.reconnect_backoff = absl::Milliseconds(10);
  o.retry_backoff = absl::Milliseconds(20);
  auto core = ClientCore::Create(o);
  REQUIRE(core.ok());
  return std::move(*core);
}

TEST_CASE("client options: Kafka properties, unknown and invalid ones named") {
  ProducerOptions o;
  REQUIRE(o.Set("bootstrap.servers", "a:1,b:2").ok());
  REQUIRE(o.Set("linger.ms", "7").ok());
  REQUIRE(o.Set("compression.type", "zstd").ok());
  REQUIRE(o.Set("acks", "1").ok());
  CHECK(o.client.bootstrap_servers == "a:1,b:2");
  CHECK(o.linger == absl::Milliseconds(7));
  CHECK(o.compression == Compression::kZstd);
  CHECK(o.acks == Acks::kLeader);

  absl::Status unknown = o.Set("lingerr.ms", "5");
  CHECK(unknown.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(unknown.message()).find("'lingerr.ms'") != std::string::npos);
  absl::Status bad = o.Set("linger.ms", "soon");
  CHECK(bad.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.message()).find("'linger.ms'") != std::string::npos);
  CHECK(std::string(bad.message()).find("'soon'") != std::string::npos);
  CHECK(!o.Set("acks", "2").ok());
  CHECK(!o.Set("bootstrap.servers", "nohost").ok());

  // Idempotence (the default) with acks=1 is refused as a whole.
  auto from = ProducerOptions::FromProperties({{"bootstrap.servers", "h:9092"}, {"acks", "1"}});
  CHECK(!from.ok());
  from = ProducerOptions::FromProperties(
      {{"bootstrap.servers", "h:9092"}, {"acks", "1"}, {"enable.idempotence", "false"}});
  CHECK(from.ok());
}

TEST_CASE("bootstrap.servers parsing") {
  auto hp = ParseBootstrapServers(" a:1 , [::1]:9092,b.example:65535");
  REQUIRE(hp.ok());
  REQUIRE(hp->size() == 3);
  CHECK((*hp)[0] == HostPort{"a", 1});
  CHECK((*hp)[1] == HostPort{"::1", 9092});
  CHECK((*hp)[2].port == 65535);
  CHECK(!ParseBootstrapServers("").ok());
  CHECK(!ParseBootstrapServers("a:0").ok());
  CHECK(!ParseBootstrapServers("a:70000").ok());
  CHECK(!ParseBootstrapServers("a").ok());
}

TEST_CASE("core: metadata and leaders from a three-broker mock") {
  MockCluster mock(3);
  mock.CreateTopic("orders", 6);
  auto core = Connect(mock.bootstraps());
  auto md = core->WaitForTopic("orders", absl::Now() + absl::Seconds(10));
  REQUIRE(md.ok());
  CHECK((*md)->brokers.size() == 3);
  const TopicMetadata* t = (*md)->FindTopic("orders");
  REQUIRE(t != nullptr);
  REQUIRE(t->partitions.size() == 6);
  for (int p = 0; p < 6; ++p) {
    auto leader = (*md)->LeaderOf("orders", p);
    REQUIRE(leader.has_value());
    CHECK(*leader >= 1);
    CHECK(*leader <= 3);
  }

  // Requests to the leader of each partition: ListOffsets is answered for
  // the partition only by its leader (others say NOT_LEADER_OR_FOLLOWER).
  std::vector<std::future<absl::StatusOr<Reply<protocol::ListOffsetsResponse>>>> futures;
  for (int p = 0; p < 6; ++p) {
    protocol::ListOffsetsRequest req;
    req.replica_id = -1;
    auto& topic = req.topics.emplace_back();
    topic.name = "orders";
    auto& part = topic.partitions.emplace_back();
    part.partition_index = p;
    part.timestamp = -1;
    // librdkafka 2.0.2's mock adds 4 stray bytes to ListOffsets v4+ answers.
    RequestOptions ro;
    ro.max_version = 3;
    futures.push_back(
        core->Call<protocol::ListOffsetsResponse>(Target::LeaderOf("orders", p), req, ro));
  }
  for (int p = 0; p < 6; ++p) {
    auto reply = futures[p].get();
    INFO(reply.status().ToString());
    REQUIRE(reply.ok());
    CHECK(reply->node_id == *(*md)->LeaderOf("orders", p));
    REQUIRE(reply->response.topics.size() == 1);
    REQUIRE(reply->response.topics[0].partitions.size() == 1);
    CHECK(reply->response.topics[0].partitions[0].error_code == 0);
  }
  // The version is the highest both sides speak. Node 1's versions are
  // known once a connection to it has negotiated them: it may lead none of
  // the partitions above, so ask after the call, not before.
  auto reply = core->Call<protocol::MetadataResponse>(Target::Node(1), protocol::MetadataRequest{})
                   .get();
  REQUIRE(reply.ok());
  auto v = core->BrokerVersions(1, protocol::MetadataRequest::kApiKey);
  REQUIRE(v.has_value());
  CHECK(reply->api_version == std::min<int16_t>(v->second, protocol::kMetadataApi.max_version));
}

TEST_CASE("core: a broker too old for a request is a clear error") {
  MockCluster mock(1);
  mock.CreateTopic("t", 1);
  // The mock now claims Produce v0-2; Runnel needs v3 (record batch v2).
  rd_kafka_mock_set_apiversion(mock.mock(), protocol::ProduceRequest::kApiKey, 0, 2);
  auto core = Connect(mock.bootstraps());
  REQUIRE(core->WaitForTopic("t", absl::Now() + absl::Seconds(10)).ok());
  auto reply =
      core->Call<protocol::ProduceResponse>(Target::LeaderOf("t", 0), protocol::ProduceRequest{})
          .get();
  REQUIRE(!reply.ok());
  CHECK(reply.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(reply.status().message()).find("supports Produce v0-2") != std::string::npos);
  CHECK(std::string(reply.status().message()).find("needs v3-") != std::string::npos);
}

TEST_CASE("core: pipelined requests on one connection all answered") {
  MockCluster mock(1);
  auto core = Connect(mock.bootstraps());
  std::atomic<int> ok{0};
  std::atomic<int> done{0};
  constexpr int kRequests = 200;
  for (int i = 0; i < kRequests; ++i) {
    core->Send<protocol::MetadataResponse>(
        Target::AnyBroker(), protocol::MetadataRequest{},
        [&](absl::StatusOr<Reply<protocol::MetadataResponse>> r) {
          if (r.ok() && r->response.brokers.size() == 1) ok++;
          done++;
        });
  }
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (done.load() < kRequests && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  CHECK(ok.load() == kRequests);
}

TEST_CASE("core: a down broker fails requests by their timeout, and shutdown cancels") {
  MockCluster mock(1);
  auto core = Connect(mock.bootstraps(), absl::Milliseconds(500));
  REQUIRE(core->Call<protocol::MetadataResponse>(Target::Node(1), protocol::MetadataRequest{})
              .get()
              .ok());
  rd_kafka_mock_broker_set_down(mock.mock(), 1);
  absl::Time start = absl::Now();
  auto r = core->Call<protocol::MetadataResponse>(Target::Node(1), protocol::MetadataRequest{})
               .get();
  absl::Duration took = absl::Now() - start;
  REQUIRE(!r.ok());
  CHECK((r.status().code() == absl::StatusCode::kDeadlineExceeded ||
         r.status().code() == absl::StatusCode::kUnavailable));
  CHECK(took < absl::Seconds(3));

  RequestOptions long_wait;
  long_wait.timeout = absl::Seconds(30);
  auto pending =
      core->Call<protocol::MetadataResponse>(Target::Node(1), protocol::MetadataRequest{}, long_wait);
  start = absl::Now();
  core->Shutdown(absl::Now() + absl::Seconds(1));
  auto cancelled = pending.get();
  CHECK(absl::Now() - start < absl::Seconds(2));
  REQUIRE(!cancelled.ok());
  CHECK(cancelled.status().code() == absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace runnel::client
