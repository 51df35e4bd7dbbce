// runnel::Admin against runnel-broker (an in-process runnel::Broker): every
// operation's success and its per-item Kafka errors, with the outcome read
// back through another operation (a created topic is listed and described, an
// altered config is described with its new value and source, a deleted
// record range moves the earliest offset).
#include "runnel/admin.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "runnel/broker.h"
#include "runnel/consumer.h"
#include "runnel/producer.h"
#include "runnel/protocol/error_code.h"
#include "tests/broker/broker_fixture.h"

namespace runnel {
namespace {

using protocol::ErrorCode;
using protocol::ErrorCodeFromStatus;

// The shared in-process broker fixture, with this file's topic defaults.
std::map<std::string, std::string> BrokerProperties() {
  return {{"num.partitions", "2"}, {"offsets.topic.num.partitions", "2"}};
}

std::unique_ptr<Admin> MakeAdmin(const std::string& bootstrap) {
  AdminOptions o;
  o.client.bootstrap_servers = bootstrap;
  o.client.request_timeout = absl::Seconds(10);
  o.client.retry_backoff = absl::Milliseconds(50);
  o.operation_timeout = absl::Seconds(5);
  auto admin = Admin::Create(o);
  INFO(admin.status().ToString());
  REQUIRE(admin.ok());
  return std::move(*admin);
}

std::optional<ErrorCode> CodeOf(const absl::Status& s) { return ErrorCodeFromStatus(s); }

void Produce(const std::string& bootstrap, const std::string& topic, int32_t partition, int n,
             int64_t first_timestamp) {
  ProducerOptions o;
  o.client.bootstrap_servers = bootstrap;
  o.linger = absl::Milliseconds(1);
  auto producer = Producer::Create(o);
  REQUIRE(producer.ok());
  for (int i = 0; i < n; ++i) {
    ProducerRecord r;
    r.topic = topic;
    r.partition = partition;
    r.value.emplace("v" + std::to_string(i));
    r.timestamp_ms = first_timestamp + i;
    auto md = (*producer)->Send(std::move(r)).get();
    INFO(md.status().ToString());
    REQUIRE(md.ok());
  }
  REQUIRE((*producer)->Close(absl::Seconds(10)).ok());
}

TEST_CASE("admin: create, list, describe, grow and delete topics with per-topic errors") {
  broker::testing::BrokerFixture b(BrokerProperties());
  auto admin = MakeAdmin(b.broker().bootstrap_address());

  auto cluster = admin->DescribeCluster();
  REQUIRE(cluster.ok());
  REQUIRE(cluster->brokers.size() == 1);
  CHECK(cluster->controller_id == cluster->brokers[0].id);
  CHECK(!cluster->cluster_id.empty());

  // validate_only creates nothing.
  auto checked = admin->CreateTopics({NewTopic{.name = "orders", .partitions = 3}}, true);
  REQUIRE(checked.ok());
  REQUIRE(checked->size() == 1);
  CHECK((*checked)[0].status.ok());
  auto listed = admin->ListTopics();
  REQUIRE(listed.ok());
  CHECK(listed->empty());

  auto created = admin->CreateTopics({
      NewTopic{.name = "orders",
               .partitions = 3,
               .replication_factor = 1,
               .configs = {{"retention.ms", "3600000"}}},
      NewTopic{.name = "defaults"},
      NewTopic{.name = "bad-config", .partitions = 1, .configs = {{"retention.ms", "soon"}}},
      NewTopic{.name = "bad-rf", .partitions = 1, .replication_factor = 3},
  });
  REQUIRE(created.ok());
  REQUIRE(created->size() == 4);
  std::map<std::string, TopicResult> by_name;
  for (const auto& r : *created) by_name[r.name] = r;
  INFO(by_name["orders"].status.ToString());
  CHECK(by_name["orders"].status.ok());
  CHECK(by_name["orders"].partitions == 3);
  CHECK(by_name["defaults"].status.ok());
  CHECK(by_name["defaults"].partitions == 2);  // the broker's num.partitions
  CHECK(CodeOf(by_name["bad-config"].status) == ErrorCode::kInvalidConfig);
  CHECK(CodeOf(by_name["bad-rf"].status) == ErrorCode::kInvalidReplicationFactor);

  auto again = admin->CreateTopics({NewTopic{.name = "orders", .partitions = 1}});
  REQUIRE(again.ok());
  CHECK(CodeOf((*again)[0].status) == ErrorCode::kTopicAlreadyExists);
  CHECK((*again)[0].status.message().find("orders") != absl::string_view::npos);

  listed = admin->ListTopics();
  REQUIRE(listed.ok());
  std::vector<std::string> names;
  for (const auto& t : *listed) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"defaults", "orders"});

  auto described = admin->DescribeTopics({"orders", "missing"});
  REQUIRE(described.ok());
  REQUIRE(described->size() == 2);
  CHECK((*described)[0].status.ok());
  REQUIRE((*described)[0].partitions.size() == 3);
  for (int p = 0; p < 3; ++p) {
    CHECK((*described)[0].partitions[p].partition == p);
    CHECK((*described)[0].partitions[p].leader == cluster->controller_id);
    CHECK((*described)[0].partitions[p].replicas == std::vector<int32_t>{cluster->controller_id});
  }
  CHECK(CodeOf((*described)[1].status) == ErrorCode::kUnknownTopicOrPartition);

  auto grown = admin->CreatePartitions({{"orders", 5}, {"defaults", 1}, {"missing", 4}});
  REQUIRE(grown.ok());
  REQUIRE(grown->size() == 3);
  for (const auto& r : *grown) by_name[r.name] = r;
  CHECK(by_name["orders"].status.ok());
  CHECK(CodeOf(by_name["defaults"].status) == ErrorCode::kInvalidPartitions);
  CHECK(CodeOf(by_name["missing"].status) == ErrorCode::kUnknownTopicOrPartition);
  described = admin->DescribeTopics({"orders"});
  REQUIRE(described.ok());
  CHECK((*described)[0].partitions.size() == 5);

  auto deleted = admin->DeleteTopics({"orders", "missing"});
  REQUIRE(deleted.ok());
  REQUIRE(deleted->size() == 2);
  for (const auto& r : *deleted) by_name[r.name] = r;
  CHECK(by_name["orders"].status.ok());
  CHECK(CodeOf(by_name["missing"].status) == ErrorCode::kUnknownTopicOrPartition);
  listed = admin->ListTopics();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].name == "defaults");

  // Internal topics only when asked (__consumer_offsets exists from start-up).
  auto all = admin->ListTopics(true);
  REQUIRE(all.ok());
  bool internal = false;
  for (const auto& t : *all) internal |= (t.name == "__consumer_offsets" && t.is_internal);
  CHECK(internal);
}

TEST_CASE("admin: describe, alter and incrementally alter topic configs") {
  broker::testing::BrokerFixture b(BrokerProperties());
  auto admin = MakeAdmin(b.broker().bootstrap_address());
  REQUIRE(admin->CreateTopics({NewTopic{.name = "t", .partitions = 1}}).ok());
  const ConfigResource topic{ConfigResourceType::kTopic, "t"};
  const ConfigResource missing{ConfigResourceType::kTopic, "missing"};

  auto described = admin->DescribeConfigs({topic, missing}, {}, true);
  REQUIRE(described.ok());
  REQUIRE(described->size() == 2);
  REQUIRE((*described)[0].status.ok());
  const ConfigEntry* retention = (*described)[0].Find("retention.ms");
  REQUIRE(retention != nullptr);
  CHECK(retention->source != ConfigSource::kDynamicTopic);
  CHECK(CodeOf((*described)[1].status) == ErrorCode::kUnknownTopicOrPartition);

  auto altered = admin->IncrementalAlterConfigs(
      {{topic, {AlterConfigOp{"retention.ms", AlterConfigOpType::kSet, "60000"}}},
       {missing, {AlterConfigOp{"retention.ms", AlterConfigOpType::kSet, "60000"}}}});
  REQUIRE(altered.ok());
  REQUIRE(altered->size() == 2);
  for (const auto& r : *altered) {
    if (r.resource == topic) CHECK(r.status.ok());
    if (r.resource == missing) CHECK(CodeOf(r.status) == ErrorCode::kUnknownTopicOrPartition);
  }
  described = admin->DescribeConfigs({topic}, {"retention.ms"});
  REQUIRE(described.ok());
  REQUIRE((*described)[0].entries.size() == 1);
  CHECK((*described)[0].entries[0].value == std::optional<std::string>("60000"));
  CHECK((*described)[0].entries[0].source == ConfigSource::kDynamicTopic);

  // A bad value: INVALID_CONFIG with the broker's reason; validate_only
  // changes nothing.
  auto bad = admin->IncrementalAlterConfigs(
      {{topic, {AlterConfigOp{"retention.ms", AlterConfigOpType::kSet, "forever"}}}});
  REQUIRE(bad.ok());
  CHECK(CodeOf((*bad)[0].status) == ErrorCode::kInvalidConfig);
  auto dry = admin->IncrementalAlterConfigs(
      {{topic, {AlterConfigOp{"retention.ms", AlterConfigOpType::kSet, "1000"}}}}, true);
  REQUIRE(dry.ok());
  CHECK((*dry)[0].status.ok());
  described = admin->DescribeConfigs({topic}, {"retention.ms"});
  REQUIRE(described.ok());
  CHECK((*described)[0].entries[0].value == std::optional<std::string>("60000"));

  // Legacy AlterConfigs replaces the whole set: retention.ms goes back to
  // its default.
  auto replaced = admin->AlterConfigs({{topic, {{"segment.bytes", "1048576"}}}});
  REQUIRE(replaced.ok());
  REQUIRE(replaced->size() == 1);
  CHECK((*replaced)[0].status.ok());
  described = admin->DescribeConfigs({topic}, {"retention.ms", "segment.bytes"});
  REQUIRE(described.ok());
  const ConfigEntry* r = (*described)[0].Find("retention.ms");
  const ConfigEntry* s = (*described)[0].Find("segment.bytes");
  REQUIRE(r != nullptr);
  REQUIRE(s != nullptr);
  CHECK(r->source != ConfigSource::kDynamicTopic);
  CHECK(s->value == std::optional<std::string>("1048576"));
  CHECK(s->source == ConfigSource::kDynamicTopic);
  auto legacy_bad = admin->AlterConfigs({{topic, {{"segment.bytes", "big"}}}});
  REQUIRE(legacy_bad.ok());
  CHECK(CodeOf((*legacy_bad)[0].status) == ErrorCode::kInvalidConfig);

  // The broker's own configs, from the broker itself.
  auto cluster = admin->DescribeCluster();
  REQUIRE(cluster.ok());
  const ConfigResource broker{ConfigResourceType::kBroker, std::to_string(cluster->controller_id)};
  auto bconf = admin->DescribeConfigs({broker});
  REQUIRE(bconf.ok());
  REQUIRE((*bconf)[0].status.ok());
  const ConfigEntry* np = (*bconf)[0].Find("num.partitions");
  REQUIRE(np != nullptr);
  CHECK(np->value == std::optional<std::string>("2"));
  CHECK(np->read_only);
}

TEST_CASE("admin: list offsets and delete records on partition leaders") {
  broker::testing::BrokerFixture b(BrokerProperties());
  const std::string bootstrap = b.broker().bootstrap_address();
  auto admin = MakeAdmin(bootstrap);
  REQUIRE(admin->CreateTopics({NewTopic{.name = "t", .partitions = 2}}).ok());
  // Timestamps 1000..1009, the largest at offset 9.
  Produce(bootstrap, "t", 0, 10, 1000);

  const TopicPartition p0{"t", 0}, p1{"t", 1}, p9{"t", 9}, nope{"nope", 0};
  auto offsets = admin->ListOffsets({{p0, OffsetSpec::Latest()},
                                     {p1, OffsetSpec::Earliest()},
                                     {p9, OffsetSpec::Latest()},
                                     {nope, OffsetSpec::Latest()}});
  REQUIRE(offsets.ok());
  REQUIRE(offsets->size() == 4);
  CHECK((*offsets)[p0].status.ok());
  CHECK((*offsets)[p0].offset == 10);
  CHECK((*offsets)[p1].offset == 0);
  CHECK(CodeOf((*offsets)[p9].status) == ErrorCode::kUnknownTopicOrPartition);
  CHECK(CodeOf((*offsets)[nope].status) == ErrorCode::kUnknownTopicOrPartition);

  auto by_time = admin->ListOffsets({{p0, OffsetSpec::ForTimestamp(1004)}});
  REQUIRE(by_time.ok());
  CHECK((*by_time)[p0].offset == 4);
  CHECK((*by_time)[p0].timestamp_ms == 1004);
  auto max_ts = admin->ListOffsets({{p0, OffsetSpec::MaxTimestamp()}});
  REQUIRE(max_ts.ok());
  CHECK((*max_ts)[p0].status.ok());
  CHECK((*max_ts)[p0].offset == 9);
  CHECK((*max_ts)[p0].timestamp_ms == 1009);
  auto after = admin->ListOffsets({{p0, OffsetSpec::ForTimestamp(5000)}});
  REQUIRE(after.ok());
  CHECK((*after)[p0].offset == -1);

  auto deleted = admin->DeleteRecords({{p0, 6}, {p1, 5}, {nope, 1}});
  REQUIRE(deleted.ok());
  REQUIRE(deleted->size() == 3);
  CHECK((*deleted)[p0].status.ok());
  CHECK((*deleted)[p0].low_watermark == 6);
  CHECK(CodeOf((*deleted)[p1].status) == ErrorCode::kOffsetOutOfRange);  // past the end
  CHECK(CodeOf((*deleted)[nope].status) == ErrorCode::kUnknownTopicOrPartition);
  auto earliest = admin->ListOffsets({{p0, OffsetSpec::Earliest()}});
  REQUIRE(earliest.ok());
  CHECK((*earliest)[p0].offset == 6);
  auto to_end = admin->DeleteRecords({{p0, -1}});
  REQUIRE(to_end.ok());
  CHECK((*to_end)[p0].low_watermark == 10);
}

TEST_CASE("admin: consumer groups: offsets, list, describe, delete") {
  broker::testing::BrokerFixture b(BrokerProperties());
  const std::string bootstrap = b.broker().bootstrap_address();
  auto admin = MakeAdmin(bootstrap);
  REQUIRE(admin->CreateTopics({NewTopic{.name = "t", .partitions = 2}}).ok());
  Produce(bootstrap, "t", 0, 5, 1000);

  // Offsets committed from outside make an Empty group.
  auto altered = admin->AlterConsumerGroupOffsets(
      "g1", {{TopicPartition{"t", 0}, OffsetAndMetadata{3, "meta", -1}},
             {TopicPartition{"t", 1}, OffsetAndMetadata{0, "", -1}}});
  REQUIRE(altered.ok());
  REQUIRE(altered->size() == 2);
  for (const auto& [tp, s] : *altered) CHECK(s.ok());

  auto committed = admin->ListConsumerGroupOffsets("g1");
  REQUIRE(committed.ok());
  REQUIRE(committed->size() == 2);
  CHECK((*committed)[TopicPartition{"t", 0}].committed.offset == 3);
  CHECK((*committed)[TopicPartition{"t", 0}].committed.metadata == "meta");
  CHECK((*committed)[TopicPartition{"t", 1}].committed.offset == 0);
  auto one =
      admin->ListConsumerGroupOffsets("g1", std::vector<TopicPartition>{{"t", 0}, {"other", 0}});
  REQUIRE(one.ok());
  CHECK((*one)[TopicPartition{"t", 0}].committed.offset == 3);
  CHECK((*one)[TopicPartition{"other", 0}].committed.offset == -1);  // none committed

  // A live member makes g2 Stable and not deletable.
  ConsumerOptions co;
  co.client.bootstrap_servers = bootstrap;
  co.group_id = "g2";
  co.auto_offset_reset = OffsetReset::kEarliest;
  co.assignment_strategies = {"range"};
  auto consumer = Consumer::Create(co);
  REQUIRE(consumer.ok());
  REQUIRE((*consumer)->Subscribe({"t"}).ok());
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  std::vector<GroupDescription> g2;
  while (absl::Now() < deadline) {
    REQUIRE((*consumer)->Poll(absl::Milliseconds(200)).ok());
    auto d = admin->DescribeGroups({"g2"});
    REQUIRE(d.ok());
    if ((*d)[0].state == "Stable" && !(*d)[0].members.empty() &&
        !(*d)[0].members[0].assignment.empty()) {
      g2 = *d;
      break;
    }
  }
  REQUIRE(g2.size() == 1);
  CHECK(g2[0].status.ok());
  CHECK(g2[0].protocol_type == "consumer");
  CHECK(g2[0].protocol == "range");
  REQUIRE(g2[0].members.size() == 1);
  CHECK(g2[0].members[0].assignment ==
        std::vector<TopicPartition>{TopicPartition{"t", 0}, TopicPartition{"t", 1}});

  auto groups = admin->ListGroups();
  REQUIRE(groups.ok());
  std::map<std::string, std::string> states;
  for (const auto& g : *groups) states[g.group_id] = g.state;
  CHECK(states["g1"] == "Empty");
  CHECK(states["g2"] == "Stable");
  auto stable = admin->ListGroups({"Stable"});
  REQUIRE(stable.ok());
  REQUIRE(stable->size() == 1);
  CHECK((*stable)[0].group_id == "g2");

  auto described = admin->DescribeGroups({"g1", "nobody"});
  REQUIRE(described.ok());
  REQUIRE(described->size() == 2);
  CHECK((*described)[0].state == "Empty");
  CHECK((*described)[0].members.empty());
  CHECK((*described)[1].state == "Dead");

  // Committing for a group with a live member is refused.
  auto refused = admin->AlterConsumerGroupOffsets(
      "g2", {{TopicPartition{"t", 0}, OffsetAndMetadata{1, "", -1}}});
  REQUIRE(refused.ok());
  CHECK(!(*refused)[TopicPartition{"t", 0}].ok());

  auto deleted = admin->DeleteGroups({"g1", "g2", "nobody"});
  REQUIRE(deleted.ok());
  REQUIRE(deleted->size() == 3);
  CHECK((*deleted)[0].status.ok());
  CHECK(CodeOf((*deleted)[1].status) == ErrorCode::kNonEmptyGroup);
  CHECK(CodeOf((*deleted)[2].status) == ErrorCode::kGroupIdNotFound);
  committed = admin->ListConsumerGroupOffsets("g1");
  REQUIRE(committed.ok());
  CHECK(committed->empty());
  CHECK((*consumer)->Close(absl::Seconds(5)).ok());
}

TEST_CASE("admin: calls from several threads at once") {
  broker::testing::BrokerFixture b(BrokerProperties());
  auto admin = MakeAdmin(b.broker().bootstrap_address());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      const std::string name = "par-" + std::to_string(i);
      auto c = admin->CreateTopics({NewTopic{.name = name, .partitions = 1}});
      auto d = admin->DescribeTopics({name});
      if (c.ok() && (*c)[0].status.ok() && d.ok() && (*d)[0].partitions.size() == 1) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 4);
  auto listed = admin->ListTopics();
  REQUIRE(listed.ok());
  CHECK(listed->size() == 4);
}

TEST_CASE("admin: a broker that is not there fails the call in time") {
  AdminOptions o;
  o.client.bootstrap_servers = "127.0.0.1:1";
  o.client.request_timeout = absl::Milliseconds(500);
  o.retries = 1;
  auto admin = Admin::Create(o);
  REQUIRE(admin.ok());
  absl::Time start = absl::Now();
  auto listed = (*admin)->ListTopics();
  CHECK(!listed.ok());
  CHECK(absl::Now() - start < absl::Seconds(5));
}

}  // namespace
}  // namespace runnel
