// An in-process Broker driven by raw requests: produce then fetch, list
// offsets, create and delete topics, restart with the same data directory.
#include <catch2/catch.hpp>

#include <thread>

#include "broker_fixture.h"
#include "raw_client.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/create_partitions.h"
#include "runnel/protocol/messages/create_topics.h"
#include "runnel/protocol/messages/delete_topics.h"
#include "runnel/protocol/messages/fetch.h"
#include "runnel/protocol/messages/list_offsets.h"
#include "runnel/protocol/messages/metadata.h"
#include "runnel/protocol/messages/produce.h"

namespace runnel::broker::testing {
namespace {

using protocol::ErrorCode;

int16_t Code(ErrorCode c) { return static_cast<int16_t>(c); }

protocol::CreateTopicsResponse CreateTopic(RawClient& c, const std::string& name,
                                           int32_t partitions, int16_t rf = -1,
                                           std::map<std::string, std::string> configs = {}) {
  protocol::CreateTopicsRequest req;
  protocol::CreateTopicsRequest::CreatableTopic t;
  t.name = name;
  t.num_partitions = partitions;
  t.replication_factor = rf;
  for (const auto& [k, v] : configs) t.configs.push_back({k, v, {}});
  req.topics.push_back(t);
  c.Send(req, 7, 11);
  return c.Receive<protocol::CreateTopicsResponse>(7, 11);
}

protocol::ProduceResponse Produce(RawClient& c, const std::string& topic, int32_t partition,
                                  std::vector<uint8_t> batch, int16_t acks = -1) {
  protocol::ProduceRequest req;
  req.acks = acks;
  req.timeout_ms = 1000;
  protocol::ProduceRequest::TopicProduceData td;
  td.name = topic;
  td.partition_data.push_back({partition, std::move(batch), {}});
  req.topic_data.push_back(std::move(td));
  c.Send(req, 9, 21);
  if (acks == 0) return {};
  return c.Receive<protocol::ProduceResponse>(9, 21);
}

protocol::FetchResponse Fetch(RawClient& c, const std::string& topic, int32_t partition,
                              int64_t offset, int32_t max_wait_ms = 0, int16_t version = 12) {
  protocol::FetchRequest req;
  req.max_wait_ms = max_wait_ms;
  req.min_bytes = 1;
  protocol::FetchRequest::FetchTopic ft;
  ft.topic = topic;
  protocol::FetchRequest::FetchPartition fp;
  fp.partition = partition;
  fp.fetch_offset = offset;
  fp.partition_max_bytes = 1 << 20;
  ft.partitions.push_back(fp);
  req.topics.push_back(ft);
  c.Send(req, version, 31);
  return c.Receive<protocol::FetchResponse>(version, 31);
}

int64_t ListOffset(RawClient& c, const std::string& topic, int64_t timestamp, int16_t* error) {
  protocol::ListOffsetsRequest req;
  req.replica_id = -1;
  protocol::ListOffsetsRequest::ListOffsetsTopic t;
  t.name = topic;
  t.partitions.push_back({0, -1, timestamp, {}});
  req.topics.push_back(t);
  c.Send(req, 6, 41);
  auto resp = c.Receive<protocol::ListOffsetsResponse>(6, 41);
  REQUIRE(resp.topics.size() == 1);
  REQUIRE(resp.topics[0].partitions.size() == 1);
  *error = resp.topics[0].partitions[0].error_code;
  return resp.topics[0].partitions[0].offset;
}

TEST_CASE("produce then fetch returns the records at their offsets", "[broker]") {
  BrokerFixture f;
  RawClient c(f.port());
  auto created = CreateTopic(c, "events", 2);
  REQUIRE(created.topics.size() == 1);
  CHECK(created.topics[0].error_code == 0);
  CHECK(created.topics[0].num_partitions == 2);

  auto p1 = Produce(c, "events", 1, MakeBatch({"a", "b"}));
  REQUIRE(p1.responses.size() == 1);
  CHECK(p1.responses[0].partition_responses[0].error_code == 0);
  CHECK(p1.responses[0].partition_responses[0].base_offset == 0);
  auto p2 = Produce(c, "events", 1, MakeBatch({"c"}, protocol::CompressionType::kZstd));
  CHECK(p2.responses[0].partition_responses[0].base_offset == 2);
  CHECK(p2.responses[0].partition_responses[0].log_start_offset == 0);

  for (int16_t version : {4, 11, 12}) {
    auto fetched = Fetch(c, "events", 1, 0, 0, version);
    REQUIRE(fetched.responses.size() == 1);
    const auto& pd = fetched.responses[0].partitions[0];
    CHECK(pd.error_code == 0);
    CHECK(pd.high_watermark == 3);
    REQUIRE(pd.records.has_value());
    std::vector<int64_t> offsets;
    CHECK(Values(*pd.records, &offsets) == std::vector<std::string>{"a", "b", "c"});
    CHECK(offsets == std::vector<int64_t>{0, 1, 2});
  }
  auto middle = Fetch(c, "events", 1, 2);
  CHECK(Values(*middle.responses[0].partitions[0].records) == std::vector<std::string>{"c"});

  auto out_of_range = Fetch(c, "events", 1, 10);
  CHECK(out_of_range.responses[0].partitions[0].error_code == Code(ErrorCode::kOffsetOutOfRange));
  auto unknown = Fetch(c, "nope", 0, 0);
  CHECK(unknown.responses[0].partitions[0].error_code ==
        Code(ErrorCode::kUnknownTopicOrPartition));
}

// Requests this large append their partitions side by side (the I/O thread
// and helper threads): each partition still gets its batches whole, in
// request order, and each answer goes to its own partition.
TEST_CASE("large produce requests of several partitions append each partition in order",
          "[broker]") {
  BrokerFixture f;
  RawClient c(f.port());
  REQUIRE(CreateTopic(c, "wide", 4).topics[0].error_code == 0);
  constexpr int kRequests = 5;
  constexpr int kRecords = 100;  // 100 x 1 KB a partition: 400 KB a request
  auto value = [](int request, int partition, int record) {
    std::string v = "r" + std::to_string(request) + "-p" + std::to_string(partition) + "-" +
                    std::to_string(record) + "-";
    v.resize(1000, 'x');
    return v;
  };
  // Pipelined: all sent before any answer is read.
  for (int r = 0; r < kRequests; ++r) {
    protocol::ProduceRequest req;
    req.acks = -1;
    req.timeout_ms = 1000;
    protocol::ProduceRequest::TopicProduceData td;
    td.name = "wide";
    for (int p = 0; p < 4; ++p) {
      std::vector<std::string> values;
      for (int i = 0; i < kRecords; ++i) values.push_back(value(r, p, i));
      td.partition_data.push_back({p, MakeBatch(values), {}});
    }
    req.topic_data.push_back(std::move(td));
    c.Send(req, 9, 100 + r);
  }
  for (int r = 0; r < kRequests; ++r) {
    auto resp = c.Receive<protocol::ProduceResponse>(9, 100 + r);
    REQUIRE(resp.responses.size() == 1);
    REQUIRE(resp.responses[0].partition_responses.size() == 4);
    for (int p = 0; p < 4; ++p) {
      const auto& pr = resp.responses[0].partition_responses[static_cast<size_t>(p)];
      CHECK(pr.index == p);
      CHECK(pr.error_code == 0);
      CHECK(pr.base_offset == int64_t{r} * kRecords);
    }
  }
  for (int p = 0; p < 4; ++p) {
    auto fetched = Fetch(c, "wide", p, 0);
    const auto& pd = fetched.responses[0].partitions[0];
    CHECK(pd.high_watermark == int64_t{kRequests} * kRecords);
    REQUIRE(pd.records.has_value());
    std::vector<std::string> want;
    for (int r = 0; r < kRequests; ++r) {
      for (int i = 0; i < kRecords; ++i) want.push_back(value(r, p, i));
    }
    CHECK(Values(*pd.records) == want);
  }
}

TEST_CASE("produce errors are per partition", "[broker]") {
  BrokerFixture f;
  RawClient c(f.port());
  CreateTopic(c, "t", 1);
  auto unknown = Produce(c, "missing", 0, MakeBatch({"x"}));
  CHECK(unknown.responses[0].partition_responses[0].error_code ==
        Code(ErrorCode::kUnknownTopicOrPartition));
  std::vector<uint8_t> corrupt = MakeBatch({"x"});
  corrupt.back() ^= 0xff;  // breaks the CRC
  auto bad = Produce(c, "t", 0, corrupt);
  CHECK(bad.responses[0].partition_responses[0].error_code == Code(ErrorCode::kCorruptMessage));
  // acks=0 gets no response; the next request's answer comes next.
  Produce(c, "t", 0, MakeBatch({"quiet"}), 0);
  auto fetched = Fetch(c, "t", 0, 0);
  CHECK(Values(*fetched.responses[0].partitions[0].records) == std::vector<std::string>{"quiet"});
}

TEST_CASE("a long-poll fetch answers when data arrives", "[broker]") {
  BrokerFixture f;
  RawClient consumer(f.port());
  RawClient producer(f.port());
  CreateTopic(producer, "poll", 1);
  protocol::FetchRequest req;
  req.max_wait_ms = 10000;
  req.min_bytes = 1;
  req.topics.push_back({"poll", {{0, -1, 0, -1, -1, 1 << 20, {}}}, {}});
  consumer.Send(req, 12, 51);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto start = std::chrono::steady_clock::now();
  Produce(producer, "poll", 0, MakeBatch({"late"}));
  auto resp = consumer.Receive<protocol::FetchResponse>(12, 51);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK(Values(*resp.responses[0].partitions[0].records) == std::vector<std::string>{"late"});

  // And with nothing arriving it answers empty after max_wait_ms.
  req.max_wait_ms = 300;
  req.topics[0].partitions[0].fetch_offset = 1;
  consumer.Send(req, 12, 52);
  auto empty = consumer.Receive<protocol::FetchResponse>(12, 52);
  CHECK(empty.responses[0].partitions[0].error_code == 0);
  CHECK(empty.responses[0].partitions[0].records->empty());
}

TEST_CASE("a long-poll fetch waits for min_bytes and answers at the append that brings them",
          "[broker]") {
  BrokerFixture f;
  RawClient consumer(f.port());
  RawClient producer(f.port());
  CreateTopic(producer, "minb", 1);
  const std::vector<uint8_t> small = MakeBatch({"s"});
  const std::vector<uint8_t> large = MakeBatch({std::string(4000, 'L')});
  protocol::FetchRequest req;
  req.max_wait_ms = 10000;
  // More than the small batch, less than both together.
  req.min_bytes = static_cast<int32_t>(small.size() + 100);
  req.topics.push_back({"minb", {{0, -1, 0, -1, -1, 1 << 20, {}}}, {}});
  consumer.Send(req, 12, 61);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Produce(producer, "minb", 0, small);
  // The small batch alone wakes the fetch but does not answer it.
  CHECK(!consumer.ReadFrame(500).has_value());
  const auto start = std::chrono::steady_clock::now();
  Produce(producer, "minb", 0, large);
  auto resp = consumer.Receive<protocol::FetchResponse>(12, 61);
  // Well before max_wait_ms: the append answered it, not the timer.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  CHECK(Values(*resp.responses[0].partitions[0].records) ==
        std::vector<std::string>{"s", std::string(4000, 'L')});
}

// A fetch reads, finds too little, then parks. An append that lands between
// the read and the park must still wake it: the race is narrow, so it is
// run many times, each append sent the moment the fetch is.
TEST_CASE("a long-poll fetch is woken by an append racing its park", "[broker]") {
  BrokerFixture f;
  RawClient consumer(f.port());
  RawClient producer(f.port());
  CreateTopic(producer, "race", 1);
  constexpr int kRounds = 300;
  int late = 0;
  for (int i = 0; i < kRounds; ++i) {
    protocol::FetchRequest req;
    req.max_wait_ms = 4000;  // under Receive's 5 s
    req.min_bytes = 1;
    req.topics.push_back({"race", {{0, -1, i, -1, -1, 1 << 20, {}}}, {}});
    consumer.Send(req, 12, 1000 + i);
    const auto start = std::chrono::steady_clock::now();
    Produce(producer, "race", 0, MakeBatch({"r" + std::to_string(i)}));
    auto resp = consumer.Receive<protocol::FetchResponse>(12, 1000 + i);
    // Answered by the timer, not the append: the wake-up was lost.
    if (std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(3000)) ++late;
    REQUIRE(resp.responses[0].partitions[0].records.has_value());
    CHECK(Values(*resp.responses[0].partitions[0].records) ==
          std::vector<std::string>{"r" + std::to_string(i)});
  }
  CHECK(late == 0);
}

TEST_CASE("list offsets: earliest, latest, by timestamp", "[broker]") {
  BrokerFixture f;
  RawClient c(f.port());
  CreateTopic(c, "lo", 1);
  Produce(c, "lo", 0, MakeBatch({"a", "b", "c"}));
  int16_t err = 0;
  CHECK(ListOffset(c, "lo", -2, &err) == 0);
  CHECK(err == 0);
  CHECK(ListOffset(c, "lo", -1, &err) == 3);
  CHECK(ListOffset(c, "lo", 1'600'000'000'000, &err) == 0);
  CHECK(ListOffset(c, "lo", 1'800'000'000'000, &err) == -1);
  ListOffset(c, "missing", -1, &err);
  CHECK(err == Code(ErrorCode::kUnknownTopicOrPartition));
}

TEST_CASE("create and delete topics", "[broker]") {
  BrokerFixture f;
  RawClient c(f.port());
  CHECK(CreateTopic(c, "x", 3).topics[0].error_code == 0);
  CHECK(CreateTopic(c, "x", 3).topics[0].error_code == Code(ErrorCode::kTopicAlreadyExists));
  CHECK(CreateTopic(c, "y", 0).topics[0].error_code == Code(ErrorCode::kInvalidPartitions));
  CHECK(CreateTopic(c, "y", 1, 3).topics[0].error_code ==
        Code(ErrorCode::kInvalidReplicationFactor));
  CHECK(CreateTopic(c, "bad name!", 1).topics[0].error_code ==
        Code(ErrorCode::kInvalidTopicException));
  auto bad_config = CreateTopic(c, "y", 1, 1, {{"retention.ms", "soon"}});
  CHECK(bad_config.topics[0].error_code == Code(ErrorCode::kInvalidConfig));
  CHECK(bad_config.topics[0].error_message.value_or("").find("retention.ms") != std::string::npos);

  protocol::CreatePartitionsRequest grow;
  grow.topics.push_back({"x", 5, std::nullopt, {}});
  c.Send(grow, 3, 61);
  auto grown = c.Receive<protocol::CreatePartitionsResponse>(3, 61);
  CHECK(grown.results[0].error_code == 0);

  protocol::MetadataRequest md;
  md.topics = std::vector<protocol::MetadataRequest::MetadataRequestTopic>{{{}, "x", {}}};
  md.allow_auto_topic_creation = false;
  c.Send(md, 12, 62);
  auto meta = c.Receive<protocol::MetadataResponse>(12, 62);
  REQUIRE(meta.topics.size() == 1);
  CHECK(meta.topics[0].partitions.size() == 5);
  CHECK(!meta.topics[0].topic_id.IsZero());

  protocol::DeleteTopicsRequest del;
  del.topic_names = {"x", "never"};
  c.Send(del, 5, 63);
  auto deleted = c.Receive<protocol::DeleteTopicsResponse>(5, 63);
  REQUIRE(deleted.responses.size() == 2);
  CHECK(deleted.responses[0].error_code == 0);
  CHECK(deleted.responses[1].error_code == Code(ErrorCode::kUnknownTopicOrPartition));
  c.Send(md, 12, 64);
  auto after = c.Receive<protocol::MetadataResponse>(12, 64);
  CHECK(after.topics[0].error_code == Code(ErrorCode::kUnknownTopicOrPartition));
}

TEST_CASE("metadata auto-creates topics when enabled", "[broker]") {
  BrokerFixture f;
  RawClient c(f.port());
  protocol::MetadataRequest md;
  md.topics = std::vector<protocol::MetadataRequest::MetadataRequestTopic>{{{}, "auto", {}}};
  c.Send(md, 9, 71);
  auto meta = c.Receive<protocol::MetadataResponse>(9, 71);
  REQUIRE(meta.topics.size() == 1);
  CHECK(meta.topics[0].error_code == 0);
  CHECK(meta.topics[0].partitions.size() == 1);
  CHECK(meta.controller_id == 0);
  CHECK(meta.brokers.size() == 1);
}

TEST_CASE("a restart keeps topics and data", "[broker]") {
  BrokerFixture f;
  protocol::Uuid id;
  {
    RawClient c(f.port());
    id = CreateTopic(c, "durable", 2).topics[0].topic_id;
    CHECK(!id.IsZero());
    Produce(c, "durable", 1, MakeBatch({"one", "two"}));
    CreateTopic(c, "gone", 1);
    protocol::DeleteTopicsRequest del;
    del.topic_names = {"gone"};
    c.Send(del, 5, 80);
    CHECK(c.Receive<protocol::DeleteTopicsResponse>(5, 80).responses[0].error_code == 0);
  }
  f.Restart();
  RawClient c(f.port());
  auto fetched = Fetch(c, "durable", 1, 0);
  CHECK(fetched.responses[0].partitions[0].high_watermark == 2);
  CHECK(Values(*fetched.responses[0].partitions[0].records) ==
        std::vector<std::string>{"one", "two"});
  protocol::MetadataRequest md;
  md.topics = std::nullopt;
  c.Send(md, 12, 81);
  auto meta = c.Receive<protocol::MetadataResponse>(12, 81);
  // The deleted topic stays deleted; the other keeps its id (metadata log).
  // Every-topic Metadata also lists the internal __consumer_offsets, as Kafka.
  std::vector<protocol::MetadataResponse::MetadataResponseTopic> user_topics;
  for (auto& topic : meta.topics) {
    if (topic.is_internal) {
      CHECK(topic.name == "__consumer_offsets");
    } else {
      user_topics.push_back(topic);
    }
  }
  REQUIRE(user_topics.size() == 1);
  CHECK(user_topics[0].name == "durable");
  CHECK(user_topics[0].topic_id == id);
  CHECK(user_topics[0].partitions.size() == 2);
}

}  // namespace
}  // namespace runnel::broker::testing

namespace runnel::broker::testing {
namespace {

TEST_CASE("server.properties: an unknown key or a bad value stops start-up", "[broker]") {
  BrokerOptions options;
  options.port = 0;
  options.data_dir = "/tmp/runnel-broker-test-never-created";
  options.properties = {{"log.retention.hourz", "5"}};
  auto unknown = Broker::Start(options);
  REQUIRE(!unknown.ok());
  CHECK(std::string(unknown.status().message()).find("log.retention.hourz") != std::string::npos);
  options.properties = {{"num.partitions", "zero"}};
  auto bad = Broker::Start(options);
  REQUIRE(!bad.ok());
  CHECK(std::string(bad.status().message()).find("num.partitions") != std::string::npos);
}

TEST_CASE("num.partitions applies to auto-created topics", "[broker]") {
  BrokerFixture f;
  (void)f.broker().Stop(absl::Seconds(5));
  f.Start({{"num.partitions", "3"}, {"log.segment.bytes", "1048576"}});
  RawClient c(f.port());
  protocol::MetadataRequest md;
  md.topics = std::vector<protocol::MetadataRequest::MetadataRequestTopic>{{{}, "three", {}}};
  c.Send(md, 12, 91);
  auto meta = c.Receive<protocol::MetadataResponse>(12, 91);
  REQUIRE(meta.topics.size() == 1);
  CHECK(meta.topics[0].partitions.size() == 3);
}

}  // namespace
}  // namespace runnel::broker::testing
