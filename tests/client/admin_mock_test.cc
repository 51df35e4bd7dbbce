// runnel::Admin against librdkafka's mock cluster (three brokers), an
// independent implementation of the broker side: what the mock serves
// (Metadata, ListOffsets, FindCoordinator, OffsetCommit/OffsetFetch) works,
// a coordinator that is loading or moved is retried, and what the mock does
// not serve (CreateTopics, ListGroups, DescribeGroups in librdkafka 2.0)
// fails the call with FailedPrecondition naming the API.
#include <catch2/catch.hpp>

#include "runnel/admin.h"
#include "runnel/producer.h"
#include "runnel/protocol/error_code.h"
#include "tests/client/mock_cluster.h"

namespace runnel {
namespace {

using client::testing::MockCluster;

std::unique_ptr<Admin> MakeAdmin(const std::string& bootstrap) {
  AdminOptions o;
  o.client.bootstrap_servers = bootstrap;
  o.client.request_timeout = absl::Seconds(5);
  o.client.retry_backoff = absl::Milliseconds(20);
  auto admin = Admin::Create(o);
  INFO(admin.status().ToString());
  REQUIRE(admin.ok());
  return std::move(*admin);
}

TEST_CASE("admin/mock: cluster, topics and partition offsets") {
  MockCluster mock(3);
  mock.CreateTopic("t", 4, 3);
  auto admin = MakeAdmin(mock.bootstraps());

  auto cluster = admin->DescribeCluster();
  REQUIRE(cluster.ok());
  REQUIRE(cluster->brokers.size() == 3);
  CHECK(cluster->brokers[0].id == 1);
  CHECK(cluster->brokers[2].id == 3);

  auto listed = admin->ListTopics();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].name == "t");

  // (The mock creates any topic it is asked about, so no missing-topic case.)
  auto described = admin->DescribeTopics({"t"});
  REQUIRE(described.ok());
  REQUIRE(described->size() == 1);
  REQUIRE((*described)[0].status.ok());
  REQUIRE((*described)[0].partitions.size() == 4);
  for (const PartitionInfo& p : (*described)[0].partitions) {
    CHECK(p.replicas.size() == 3);
    CHECK(p.leader >= 1);
  }

  // Records in partitions 1 and 2 (different leaders in a 3-broker mock).
  ProducerOptions po;
  po.client.bootstrap_servers = mock.bootstraps();
  po.linger = absl::Milliseconds(1);
  auto producer = Producer::Create(po);
  REQUIRE(producer.ok());
  for (int i = 0; i < 7; ++i) {
    ProducerRecord r;
    r.topic = "t";
    r.partition = 1 + i % 2;  // 4 to partition 1, 3 to partition 2
    r.value.emplace("v");
    auto md = (*producer)->Send(std::move(r)).get();
    REQUIRE(md.ok());
  }
  REQUIRE((*producer)->Close(absl::Seconds(5)).ok());

  const TopicPartition p0{"t", 0}, p1{"t", 1}, p2{"t", 2};
  auto offsets = admin->ListOffsets(
      {{p0, OffsetSpec::Latest()}, {p1, OffsetSpec::Latest()}, {p2, OffsetSpec::Latest()}});
  INFO(offsets.status().ToString());
  REQUIRE(offsets.ok());
  CHECK((*offsets)[p0].offset == 0);
  CHECK((*offsets)[p1].offset == 4);
  CHECK((*offsets)[p2].offset == 3);
  auto earliest = admin->ListOffsets({{p1, OffsetSpec::Earliest()}});
  REQUIRE(earliest.ok());
  CHECK((*earliest)[p1].status.ok());
  CHECK((*earliest)[p1].offset == 0);
}

TEST_CASE("admin/mock: group offsets through the coordinator, with retried coordinator errors") {
  MockCluster mock(3);
  mock.CreateTopic("t", 2, 1);
  auto admin = MakeAdmin(mock.bootstraps());

  // The first commit meets a loading coordinator, then a moved one.
  rd_kafka_mock_push_request_errors(mock.mock(), 8 /* OffsetCommit */, 2,
                                    RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                                    RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
  auto altered = admin->AlterConsumerGroupOffsets(
      "g", {{TopicPartition{"t", 0}, OffsetAndMetadata{5, "m", -1}},
            {TopicPartition{"t", 1}, OffsetAndMetadata{7, "", -1}}});
  REQUIRE(altered.ok());
  REQUIRE(altered->size() == 2);
  for (const auto& [tp, s] : *altered) {
    INFO(s.ToString());
    CHECK(s.ok());
  }

  rd_kafka_mock_push_request_errors(mock.mock(), 9 /* OffsetFetch */, 1,
                                    RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
  auto committed =
      admin->ListConsumerGroupOffsets("g", std::vector<TopicPartition>{{"t", 0}, {"t", 1}});
  REQUIRE(committed.ok());
  CHECK((*committed)[TopicPartition{"t", 0}].committed.offset == 5);
  CHECK((*committed)[TopicPartition{"t", 0}].committed.metadata == "m");
  CHECK((*committed)[TopicPartition{"t", 1}].committed.offset == 7);
}

TEST_CASE("admin/mock: an API the cluster does not serve fails with a clear error") {
  MockCluster mock(1);
  auto admin = MakeAdmin(mock.bootstraps());

  auto created = admin->CreateTopics({NewTopic{.name = "x", .partitions = 1}});
  REQUIRE(!created.ok());
  CHECK(absl::IsFailedPrecondition(created.status()));
  INFO(created.status().ToString());
  CHECK(created.status().message().find("does not support CreateTopics") !=
        absl::string_view::npos);

  auto groups = admin->ListGroups();
  REQUIRE(!groups.ok());
  CHECK(absl::IsFailedPrecondition(groups.status()));
  CHECK(groups.status().message().find("ListGroups") != absl::string_view::npos);

  auto described = admin->DescribeGroups({"g"});
  REQUIRE(!described.ok());
  CHECK(absl::IsFailedPrecondition(described.status()));
  CHECK(described.status().message().find("DescribeGroups") != absl::string_view::npos);
}

}  // namespace
}  // namespace runnel
