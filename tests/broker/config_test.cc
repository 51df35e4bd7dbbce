// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs against an
// in-process broker: values and sources as Kafka reports them, INVALID_CONFIG
// with the reason, changes that the live logs enforce at once and that
// survive a restart, and the broker's own read-only configs.
#include <catch2/catch.hpp>
#include <string>

#include "admin_util.h"

namespace runnel::broker::testing {
namespace {

using protocol::ErrorCode;

constexpr int8_t kTopic = 2;
constexpr int8_t kBrokerType = 4;
constexpr int8_t kSourceTopic = 1;
constexpr int8_t kSourceStatic = 4;
constexpr int8_t kSourceDefault = 5;

std::vector<uint8_t> BigBatch(size_t bytes) { return MakeBatch({std::string(bytes, 'x')}); }

TEST_CASE("describe configs: every topic key with its default and synonyms", "[configs]") {
  BrokerFixture f;
  RawClient c(f.port());
  REQUIRE(CreateTopicWith(c, "t", 1, {{"retention.ms", "1234"}}) == 0);
  auto r = DescribeConfigs(c, kTopic, "t");
  CHECK(r.error_code == 0);
  CHECK(!r.error_message.has_value());
  for (const char* key : {"retention.ms", "retention.bytes", "segment.bytes", "segment.ms",
                          "cleanup.policy", "min.compaction.lag.ms", "max.compaction.lag.ms",
                          "delete.retention.ms", "max.message.bytes", "message.timestamp.type",
                          "min.cleanable.dirty.ratio", "flush.ms", "flush.messages"}) {
    INFO(key);
    CHECK(!ConfigEntryOf(r, key).read_only);
  }
  auto retention = ConfigEntryOf(r, "retention.ms");
  CHECK(retention.value == "1234");
  CHECK(retention.config_source == kSourceTopic);
  REQUIRE(retention.synonyms.size() == 2);
  CHECK(retention.synonyms[0].name == "retention.ms");
  CHECK(retention.synonyms[0].source == kSourceTopic);
  // Kafka's default sits on log.retention.hours (168), not on .ms.
  CHECK(retention.synonyms[1].name == "log.retention.hours");
  CHECK(retention.synonyms[1].value == "168");
  CHECK(retention.synonyms[1].source == kSourceDefault);
  auto roll = ConfigEntryOf(r, "segment.ms");
  CHECK(roll.value == "604800000");
  CHECK(roll.config_source == kSourceDefault);
  REQUIRE(roll.synonyms.size() == 1);
  CHECK(roll.synonyms[0].name == "log.roll.hours");
  CHECK(roll.synonyms[0].value == "168");
  auto segment = ConfigEntryOf(r, "segment.bytes");
  REQUIRE(segment.synonyms.size() == 1);
  CHECK(segment.synonyms[0].name == "log.segment.bytes");
  CHECK(segment.synonyms[0].value == "1073741824");
  CHECK(segment.synonyms[0].source == kSourceDefault);

  auto policy = ConfigEntryOf(r, "cleanup.policy");
  CHECK(policy.value == "delete");
  CHECK(policy.config_source == kSourceDefault);
  CHECK(policy.config_type == 7);  // LIST
  CHECK(ConfigEntryOf(r, "max.message.bytes").value == "1048588");

  // Without include_synonyms, none; a key filter; documentation on request.
  auto plain =
      DescribeConfigs(c, kTopic, "t", false, 3, std::vector<std::string>{"segment.bytes"}, true);
  REQUIRE(plain.configs.size() == 1);
  CHECK(plain.configs[0].synonyms.empty());
  CHECK(plain.configs[0].config_type == 3);  // INT
  CHECK(plain.configs[0].documentation.value_or("").size() > 5);

  auto missing = DescribeConfigs(c, kTopic, "nope");
  CHECK(missing.error_code == Code(ErrorCode::kUnknownTopicOrPartition));
  CHECK(missing.error_message.value_or("").find("nope") != std::string::npos);
}

TEST_CASE("describe configs: server.properties defaults show as static broker configs",
          "[configs]") {
  BrokerFixture f;
  (void)f.broker().Stop(absl::Seconds(5));
  f.Start({{"log.retention.ms", "3600000"}, {"num.partitions", "2"}});
  RawClient c(f.port());
  REQUIRE(CreateTopicWith(c, "t", 1) == 0);
  auto retention = ConfigEntryOf(DescribeConfigs(c, kTopic, "t"), "retention.ms");
  CHECK(retention.value == "3600000");
  CHECK(retention.config_source == kSourceStatic);
  REQUIRE(retention.synonyms.size() == 2);
  CHECK(retention.synonyms[0].name == "log.retention.ms");
  CHECK(retention.synonyms[0].source == kSourceStatic);
  CHECK(retention.synonyms[1].source == kSourceDefault);

  auto broker = DescribeConfigs(c, kBrokerType, "0");
  CHECK(broker.error_code == 0);
  auto partitions = ConfigEntryOf(broker, "num.partitions");
  CHECK(partitions.value == "2");
  CHECK(partitions.read_only);
  CHECK(partitions.config_source == kSourceStatic);
  REQUIRE(partitions.synonyms.size() == 2);
  CHECK(partitions.synonyms[1].value == "1");
  auto auto_create = ConfigEntryOf(broker, "auto.create.topics.enable");
  CHECK(auto_create.value == "true");
  CHECK(auto_create.config_source == kSourceDefault);
  CHECK(ConfigEntryOf(broker, "log.retention.ms").value == "3600000");
  CHECK(ConfigEntryOf(broker, "node.id").value == "0");

  CHECK(DescribeConfigs(c, kBrokerType, "7").error_code == Code(ErrorCode::kInvalidRequest));
  CHECK(DescribeConfigs(c, kBrokerType, "").configs.empty());
  CHECK(DescribeConfigs(c, 3, "group").error_code == Code(ErrorCode::kInvalidRequest));
  auto alter = AlterConfigs(c, kBrokerType, "0", {{"num.partitions", "4"}});
  CHECK(alter.error_code == Code(ErrorCode::kInvalidRequest));
  CHECK(ConfigEntryOf(DescribeConfigs(c, kBrokerType, "0"), "num.partitions").value == "2");
}

TEST_CASE("alter configs replaces a topic's overrides and the logs obey at once", "[configs]") {
  BrokerFixture f;
  RawClient c(f.port());
  REQUIRE(CreateTopicWith(c, "t", 2) == 0);
  REQUIRE(ProduceOne(c, "t", 0, BigBatch(2000)).error_code == 0);

  auto set = AlterConfigs(
      c, kTopic, "t", {{"max.message.bytes", "1000"}, {"message.timestamp.type", "LogAppendTime"}});
  CHECK(set.error_code == 0);
  CHECK(!set.error_message.has_value());
  for (int32_t p : {0, 1}) {
    auto big = ProduceOne(c, "t", p, BigBatch(2000));
    CHECK(big.error_code == Code(ErrorCode::kMessageTooLarge));
    auto small = ProduceOne(c, "t", p, MakeBatch({"s"}));
    CHECK(small.error_code == 0);
    CHECK(small.log_append_time_ms > 1'700'000'000'000);  // stamped by the broker
  }
  auto described = DescribeConfigs(c, kTopic, "t");
  CHECK(ConfigEntryOf(described, "max.message.bytes").value == "1000");
  CHECK(ConfigEntryOf(described, "max.message.bytes").config_source == kSourceTopic);

  // AlterConfigs replaces the whole set: max.message.bytes goes back.
  REQUIRE(AlterConfigs(c, kTopic, "t", {{"retention.bytes", "1000000"}}, false, 0).error_code == 0);
  CHECK(ProduceOne(c, "t", 0, BigBatch(2000)).error_code == 0);
  described = DescribeConfigs(c, kTopic, "t");
  CHECK(ConfigEntryOf(described, "max.message.bytes").config_source == kSourceDefault);
  CHECK(ConfigEntryOf(described, "retention.bytes").value == "1000000");
  CHECK(ProduceOne(c, "t", 0, MakeBatch({"s"})).log_append_time_ms == -1);

  // ...and survives a restart.
  f.Restart();
  RawClient after(f.port());
  CHECK(ConfigEntryOf(DescribeConfigs(after, kTopic, "t"), "retention.bytes").value == "1000000");
  REQUIRE(AlterConfigs(after, kTopic, "t", {{"max.message.bytes", "500"}}).error_code == 0);
  f.Restart();
  RawClient again(f.port());
  CHECK(ProduceOne(again, "t", 1, BigBatch(1000)).error_code == Code(ErrorCode::kMessageTooLarge));
}

TEST_CASE("a topic's max.message.bytes may exceed the broker's message.max.bytes", "[configs]") {
  BrokerFixture f(std::map<std::string, std::string>{{"message.max.bytes", "10000"}});
  RawClient c(f.port());
  REQUIRE(CreateTopicWith(c, "small", 1) == 0);
  REQUIRE(CreateTopicWith(c, "big", 1, {{"max.message.bytes", "50000"}}) == 0);
  CHECK(ProduceOne(c, "small", 0, BigBatch(20000)).error_code == Code(ErrorCode::kMessageTooLarge));
  CHECK(ProduceOne(c, "big", 0, BigBatch(20000)).error_code == 0);
  CHECK(ProduceOne(c, "big", 0, BigBatch(60000)).error_code == Code(ErrorCode::kMessageTooLarge));
  auto d = DescribeConfigs(c, kTopic, "small");
  CHECK(ConfigEntryOf(d, "max.message.bytes").value == "10000");
  CHECK(ConfigEntryOf(d, "max.message.bytes").config_source == kSourceStatic);
}

TEST_CASE("alter configs refuses bad keys and values with the reason", "[configs]") {
  BrokerFixture f;
  RawClient c(f.port());
  REQUIRE(CreateTopicWith(c, "t", 1, {{"retention.ms", "5000"}}) == 0);
  auto bad = AlterConfigs(c, kTopic, "t", {{"retention.ms", "soon"}});
  CHECK(bad.error_code == Code(ErrorCode::kInvalidConfig));
  CHECK(bad.error_message.value_or("").find("retention.ms") != std::string::npos);
  CHECK(bad.error_message.value_or("").find("soon") != std::string::npos);
  auto unknown = AlterConfigs(c, kTopic, "t", {{"retention.msec", "1"}});
  CHECK(unknown.error_code == Code(ErrorCode::kInvalidConfig));
  CHECK(unknown.error_message.value_or("").find("retention.msec") != std::string::npos);
  auto policy = AlterConfigs(c, kTopic, "t", {{"cleanup.policy", "shred"}});
  CHECK(policy.error_code == Code(ErrorCode::kInvalidConfig));
  auto range = AlterConfigs(c, kTopic, "t", {{"segment.bytes", "10"}});
  CHECK(range.error_code == Code(ErrorCode::kInvalidConfig));
  CHECK(AlterConfigs(c, kTopic, "t", {{"retention.ms", std::nullopt}}).error_code ==
        Code(ErrorCode::kInvalidRequest));
  CHECK(AlterConfigs(c, kTopic, "t", {{"retention.ms", "1"}, {"retention.ms", "2"}}).error_code ==
        Code(ErrorCode::kInvalidRequest));
  CHECK(AlterConfigs(c, kTopic, "missing", {{"retention.ms", "1"}}).error_code ==
        Code(ErrorCode::kUnknownTopicOrPartition));
  // validate_only: checked, not applied.
  CHECK(AlterConfigs(c, kTopic, "t", {{"retention.ms", "1"}}, true).error_code == 0);
  CHECK(AlterConfigs(c, kTopic, "t", {{"retention.ms", "x"}}, true).error_code ==
        Code(ErrorCode::kInvalidConfig));
  // Nothing above changed the topic.
  CHECK(ConfigEntryOf(DescribeConfigs(c, kTopic, "t"), "retention.ms").value == "5000");
}

TEST_CASE("incremental alter configs: set, delete, append, subtract", "[configs]") {
  BrokerFixture f;
  RawClient c(f.port());
  REQUIRE(CreateTopicWith(c, "t", 1, {{"retention.ms", "5000"}, {"segment.ms", "60000"}}) == 0);
  auto r = IncrementalAlter(c, kTopic, "t",
                            {{"retention.bytes", 0, "4096"},
                             {"segment.ms", 1, std::nullopt},
                             {"cleanup.policy", 2, "compact"}});
  CHECK(r.error_code == 0);
  auto d = DescribeConfigs(c, kTopic, "t");
  CHECK(ConfigEntryOf(d, "retention.ms").value == "5000");  // untouched
  CHECK(ConfigEntryOf(d, "retention.bytes").value == "4096");
  CHECK(ConfigEntryOf(d, "segment.ms").config_source == kSourceDefault);
  CHECK(ConfigEntryOf(d, "cleanup.policy").value == "delete,compact");

  REQUIRE(
      IncrementalAlter(c, kTopic, "t", {{"cleanup.policy", 3, "delete"}}, false, 0).error_code ==
      0);
  CHECK(ConfigEntryOf(DescribeConfigs(c, kTopic, "t"), "cleanup.policy").value == "compact");
  auto empty = IncrementalAlter(c, kTopic, "t", {{"cleanup.policy", 3, "compact"}});
  CHECK(empty.error_code == Code(ErrorCode::kInvalidConfig));

  auto not_list = IncrementalAlter(c, kTopic, "t", {{"retention.ms", 2, "5"}});
  CHECK(not_list.error_code == Code(ErrorCode::kInvalidConfig));
  CHECK(not_list.error_message.value_or("").find("retention.ms") != std::string::npos);
  CHECK(IncrementalAlter(c, kTopic, "t", {{"retention.ms", 9, "5"}}).error_code ==
        Code(ErrorCode::kInvalidRequest));
  CHECK(IncrementalAlter(c, kTopic, "t", {{"retention.ms", 0, "1"}, {"retention.ms", 1, {}}})
            .error_code == Code(ErrorCode::kInvalidRequest));
  auto bad = IncrementalAlter(c, kTopic, "t", {{"delete.retention.ms", 0, "-5"}});
  CHECK(bad.error_code == Code(ErrorCode::kInvalidConfig));
  CHECK(IncrementalAlter(c, kTopic, "t", {{"retention.ms", 0, "1"}}, true).error_code == 0);
  CHECK(ConfigEntryOf(DescribeConfigs(c, kTopic, "t"), "retention.ms").value == "5000");
  CHECK(IncrementalAlter(c, kBrokerType, "0", {{"num.partitions", 0, "3"}}).error_code ==
        Code(ErrorCode::kInvalidRequest));
}

TEST_CASE("describe configs: log.retention.hours and .minutes are retention.ms's synonyms, "
          "the most precise one set wins",
          "[configs]") {
  BrokerFixture f;
  (void)f.broker().Stop(absl::Seconds(5));
  f.Start({{"log.retention.hours", "2"}, {"log.roll.hours", "1"}});
  RawClient c(f.port());
  REQUIRE(CreateTopicWith(c, "h", 1) == 0);
  auto d = DescribeConfigs(c, kTopic, "h");
  auto retention = ConfigEntryOf(d, "retention.ms");
  CHECK(retention.value == "7200000");
  CHECK(retention.config_source == kSourceStatic);
  REQUIRE(retention.synonyms.size() == 2);
  CHECK(retention.synonyms[0].name == "log.retention.hours");
  CHECK(retention.synonyms[0].value == "2");
  CHECK(retention.synonyms[0].source == kSourceStatic);
  CHECK(retention.synonyms[1].name == "log.retention.hours");
  CHECK(retention.synonyms[1].value == "168");
  CHECK(retention.synonyms[1].source == kSourceDefault);
  CHECK(ConfigEntryOf(d, "segment.ms").value == "3600000");
  // A topic override still comes first.
  REQUIRE(CreateTopicWith(c, "o", 1, {{"retention.ms", "5000"}}) == 0);
  auto over = ConfigEntryOf(DescribeConfigs(c, kTopic, "o"), "retention.ms");
  CHECK(over.value == "5000");
  REQUIRE(over.synonyms.size() == 3);
  CHECK(over.synonyms[0].source == kSourceTopic);
  CHECK(over.synonyms[1].name == "log.retention.hours");

  // The broker resource describes each synonym in its own units.
  auto broker = DescribeConfigs(c, kBrokerType, "0");
  auto hours = ConfigEntryOf(broker, "log.retention.hours");
  CHECK(hours.value == "2");
  CHECK(hours.config_source == kSourceStatic);
  auto ms = ConfigEntryOf(broker, "log.retention.ms");
  CHECK(ms.value == "7200000");
  CHECK(ms.config_source == kSourceStatic);
  REQUIRE(ms.synonyms.size() == 2);
  CHECK(ms.synonyms[0].name == "log.retention.hours");

  // log.retention.ms beats .minutes beats .hours, whatever the file order.
  (void)f.broker().Stop(absl::Seconds(5));
  f.Start({{"log.retention.hours", "2"}, {"log.retention.minutes", "3"}});
  RawClient c2(f.port());
  auto minutes = ConfigEntryOf(DescribeConfigs(c2, kTopic, "h"), "retention.ms");
  CHECK(minutes.value == "180000");
  REQUIRE(minutes.synonyms.size() == 3);
  CHECK(minutes.synonyms[0].name == "log.retention.minutes");
  CHECK(minutes.synonyms[1].name == "log.retention.hours");
  (void)f.broker().Stop(absl::Seconds(5));
  f.Start({{"log.retention.minutes", "3"}, {"log.retention.ms", "4000"}});
  RawClient c3(f.port());
  CHECK(ConfigEntryOf(DescribeConfigs(c3, kTopic, "h"), "retention.ms").value == "4000");
  (void)f.broker().Stop(absl::Seconds(5));
  f.Start({{"log.retention.hours", "-1"}});
  RawClient c4(f.port());
  CHECK(ConfigEntryOf(DescribeConfigs(c4, kTopic, "h"), "retention.ms").value == "-1");
  (void)f.broker().Stop(absl::Seconds(5));
  f.Start();
}

TEST_CASE("server properties: a bad log.retention.hours fails start-up naming the key",
          "[configs]") {
  char tmpl[] = "/tmp/runnel-broker-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  for (const char* value : {"two", "9223372036854775807"}) {
    BrokerOptions options;
    options.port = 0;
    options.data_dir = tmpl;
    options.properties["log.retention.hours"] = value;
    auto b = Broker::Start(options);
    INFO(value);
    REQUIRE(!b.ok());
    CHECK(b.status().message().find("log.retention.hours") != std::string::npos);
  }
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
}

}  // namespace
}  // namespace runnel::broker::testing
