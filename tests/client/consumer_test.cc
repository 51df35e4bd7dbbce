// The consumer against librdkafka's mock cluster (an independent broker):
// every codec read back with keys, headers and timestamps; manual
// assignment with Seek, Pause/Resume, offsets and watermarks; Close in time
// with every broker down; records that outlive their consumer. Against an
// in-process runnel-broker: the prefetch bound on inflated bytes, watermarks
// while the broker holds a fetch. The group tests are in
// consumer_group_test.cc.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "tests/broker/broker_fixture.h"
#include "tests/client/consumer_util.h"
#include "tests/client/mock_cluster.h"

namespace runnel::client {
namespace {

using testing::MakeConsumer;
using testing::MockCluster;
using testing::ProduceNumbered;
using testing::QuickConsumerOptions;

// Polls until `n` records came or `timeout` passed.
std::vector<ConsumerRecord> PollN(Consumer& c, size_t n, absl::Duration timeout) {
  std::vector<ConsumerRecord> out;
  const absl::Time deadline = absl::Now() + timeout;
  while (out.size() < n && absl::Now() < deadline) {
    auto batch = c.Poll(absl::Milliseconds(100));
    INFO(batch.status().ToString());
    REQUIRE(batch.ok());
    for (auto& r : *batch) out.push_back(std::move(r));
  }
  return out;
}

TEST_CASE("consume with every codec: keys, values, headers, timestamps intact",
          "[consumer]") {
  MockCluster mock(3);
  for (const char* codec : {"none", "gzip", "snappy", "lz4", "zstd"}) {
    DYNAMIC_SECTION("codec " << codec) {
      const std::string topic = std::string("codec-") + codec;
      mock.CreateTopic(topic, 3);
      constexpr int kRecords = 300;
      ProduceNumbered(mock.bootstraps(), topic, kRecords, 3, codec);
      auto o = QuickConsumerOptions(mock.bootstraps(), std::string("g-") + codec);
      o.enable_auto_commit = false;
      auto c = MakeConsumer(o);
      REQUIRE(c->Subscribe({topic}).ok());
      auto got = PollN(*c, kRecords, absl::Seconds(20));
      REQUIRE(got.size() == kRecords);
      std::map<TopicPartition, int64_t> next;
      for (const auto& r : got) {
        const int i = std::stoi(std::string(r.value->substr(1)));
        CHECK(r.topic == topic);
        CHECK(r.partition == i % 3);
        CHECK(r.offset == i / 3);  // each partition in order, from 0
        CHECK(r.key == "k" + std::to_string(i));
        CHECK(r.timestamp_ms == 1700000000000 + i);
        REQUIRE(r.headers.size() == 1);
        CHECK(r.headers[0].first == "i");
        CHECK(r.headers[0].second == std::to_string(i));
        next[{r.topic, r.partition}] = r.offset + 1;
      }
      REQUIRE(c->Commit(absl::Seconds(15)).ok());  // may wait out a rebalance
      auto committed = c->Committed({{topic, 0}, {topic, 1}, {topic, 2}}, absl::Seconds(5));
      REQUIRE(committed.ok());
      for (int p = 0; p < 3; ++p) {
        REQUIRE(committed->count({topic, p}) == 1);
        CHECK(committed->at({topic, p}).offset == next[{topic, p}]);
      }
      CHECK(c->metrics().records_consumed == kRecords);
      CHECK(c->Close(absl::Seconds(5)).ok());
    }
  }
}

TEST_CASE("manual assignment: positions, Seek, Pause/Resume, watermarks", "[consumer]") {
  MockCluster mock(1);
  mock.CreateTopic("m", 2);
  ProduceNumbered(mock.bootstraps(), "m", 40, 2);
  auto o = QuickConsumerOptions(mock.bootstraps(), "manual");
  o.enable_auto_commit = false;
  auto c = MakeConsumer(o);
  const TopicPartition p0{"m", 0}, p1{"m", 1};
  REQUIRE(c->Assign({p0, p1}).ok());
  CHECK(c->Assignment() == std::vector<TopicPartition>{p0, p1});
  CHECK(c->Subscribe({"m"}).ok());  // replaces the manual assignment

  // A group with a subscribed member refuses commits from outside it, so
  // the manual consumers use a group of their own.
  o.group_id = "manual-only";
  auto c2 = MakeConsumer(o);
  REQUIRE(c2->Assign({p0, p1}).ok());
  auto pos = c2->Position(p0, absl::Seconds(5));
  REQUIRE(pos.ok());
  CHECK(*pos == 0);  // no commit: earliest
  auto wm = c2->WatermarkOffsets(p1, absl::Seconds(5));
  REQUIRE(wm.ok());
  CHECK(wm->first == 0);
  CHECK(wm->second == 20);

  c2->Pause({p1});
  CHECK(c2->Paused() == std::vector<TopicPartition>{p1});
  auto got = PollN(*c2, 20, absl::Seconds(10));
  REQUIRE(got.size() == 20);
  for (const auto& r : got) CHECK(r.partition == 0);
  CHECK(c2->Poll(absl::Milliseconds(300))->empty());  // p1 stays paused
  c2->Resume({p1});
  REQUIRE(c2->Seek(p1, 15).ok());
  got = PollN(*c2, 5, absl::Seconds(10));
  REQUIRE(got.size() == 5);
  CHECK(got.front().offset == 15);
  CHECK(got.back().offset == 19);
  CHECK(*c2->Position(p1, absl::Seconds(1)) == 20);

  REQUIRE(c2->SeekToBeginning({p0}).ok());
  got = PollN(*c2, 1, absl::Seconds(10));
  REQUIRE(!got.empty());
  CHECK(got.front().offset == 0);
  REQUIRE(c2->SeekToEnd({p0, p1}).ok());
  CHECK(*c2->Position(p0, absl::Seconds(5)) == 20);
  CHECK(c2->Seek({"m", 7}, 0).code() == absl::StatusCode::kFailedPrecondition);

  // Commit with metadata, read it back.
  {
    absl::Status s = c2->Commit({{p0, {12, "checkpoint-a", -1}}}, absl::Seconds(5));
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  auto committed = c2->Committed({p0, p1}, absl::Seconds(5));
  REQUIRE(committed.ok());
  REQUIRE(committed->count(p0) == 1);
  CHECK(committed->at(p0).offset == 12);
  CHECK(committed->at(p0).metadata == "checkpoint-a");
  CHECK(committed->count(p1) == 0);

  // A new consumer of the group starts where the group committed.
  auto c3 = MakeConsumer(o);
  REQUIRE(c3->Assign({p0}).ok());
  CHECK(*c3->Position(p0, absl::Seconds(5)) == 12);

  // CommitAsync reports on the I/O thread.
  std::promise<absl::Status> done;
  c3->CommitAsync({{p0, {13, "", -1}}}, [&done](const absl::Status& s) { done.set_value(s); });
  auto f = done.get_future();
  REQUIRE(f.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(f.get().ok());
}

TEST_CASE("auto.offset.reset latest and none", "[consumer]") {
  MockCluster mock(1);
  mock.CreateTopic("r", 1);
  ProduceNumbered(mock.bootstraps(), "r", 10, 1);
  auto o = QuickConsumerOptions(mock.bootstraps(), "reset");
  o.enable_auto_commit = false;
  o.auto_offset_reset = OffsetReset::kLatest;
  auto c = MakeConsumer(o);
  REQUIRE(c->Assign({{"r", 0}}).ok());
  CHECK(*c->Position({"r", 0}, absl::Seconds(5)) == 10);
  o.auto_offset_reset = OffsetReset::kNone;
  auto none = MakeConsumer(o);
  REQUIRE(none->Assign({{"r", 0}}).ok());
  auto polled = none->Poll(absl::Seconds(5));
  CHECK(polled.status().code() == absl::StatusCode::kOutOfRange);
}

TEST_CASE("options from Kafka property names", "[consumer]") {
  auto o = ConsumerOptions::FromProperties({{"bootstrap.servers", "127.0.0.1:9092"},
                                            {"group.id", "g"},
                                            {"partition.assignment.strategy",
                                             "org.apache.kafka.clients.consumer.RangeAssignor"},
                                            {"auto.offset.reset", "earliest"},
                                            {"enable.auto.commit", "false"},
                                            {"isolation.level", "read_committed"},
                                            {"max.poll.records", "7"}});
  REQUIRE(o.ok());
  CHECK(o->assignment_strategies == std::vector<std::string>{"range"});
  CHECK(o->auto_offset_reset == OffsetReset::kEarliest);
  CHECK_FALSE(o->enable_auto_commit);
  CHECK(o->isolation_level == IsolationLevel::kReadCommitted);
  CHECK(o->max_poll_records == 7);
  auto bad = ConsumerOptions::FromProperties({{"bootstrap.servers", "h:1"}, {"fetch.min.byte", "1"}});
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.status().message()).find("fetch.min.byte") != std::string::npos);
  auto bad_value = ConsumerOptions::FromProperties(
      {{"bootstrap.servers", "h:1"}, {"auto.offset.reset", "sometimes"}});
  CHECK(std::string(bad_value.status().message()).find("auto.offset.reset") != std::string::npos);
  ConsumerOptions no_group;
  no_group.client.bootstrap_servers = "127.0.0.1:1";
  auto c = MakeConsumer(no_group);
  CHECK(c->Subscribe({"t"}).code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("Close returns in time with every broker down", "[consumer]") {
  MockCluster mock(3);
  mock.CreateTopic("gone", 3);
  ProduceNumbered(mock.bootstraps(), "gone", 30, 3);
  auto o = QuickConsumerOptions(mock.bootstraps(), "gone-group");
  o.client.request_timeout = absl::Seconds(30);  // longer than Close's timeout
  auto c = MakeConsumer(o);
  REQUIRE(c->Subscribe({"gone"}).ok());
  auto got = PollN(*c, 30, absl::Seconds(20));
  REQUIRE(got.size() == 30);
  for (int b = 1; b <= 3; ++b) rd_kafka_mock_broker_set_down(mock.mock(), b);
  const absl::Time start = absl::Now();
  c->Close(absl::Seconds(1)).IgnoreError();  // the commit cannot succeed
  CHECK(absl::Now() - start < absl::Milliseconds(1500));
  CHECK(c->Poll(absl::Milliseconds(10)).status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("records stay valid after later Polls and Close: they share their batch",
          "[consumer]") {
  MockCluster mock(1);
  for (const char* codec : {"none", "zstd"}) {
    DYNAMIC_SECTION("codec " << codec) {
      const std::string topic = std::string("keep-") + codec;
      mock.CreateTopic(topic, 1);
      constexpr int kRecords = 200;
      ProduceNumbered(mock.bootstraps(), topic, kRecords, 1, codec);
      auto o = QuickConsumerOptions(mock.bootstraps(), "");
      o.enable_auto_commit = false;
      o.max_poll_records = 7;  // many Polls per fetched batch
      std::vector<ConsumerRecord> kept;  // copies of each Poll's first record
      {
        auto c = MakeConsumer(o);
        REQUIRE(c->Assign({{topic, 0}}).ok());
        size_t n = 0;
        const absl::Time deadline = absl::Now() + absl::Seconds(20);
        while (n < kRecords && absl::Now() < deadline) {
          auto batch = c->Poll(absl::Milliseconds(100));
          REQUIRE(batch.ok());
          n += batch->size();
          if (!batch->empty()) kept.push_back(batch->front());
        }
        REQUIRE(n == kRecords);
        REQUIRE(c->Seek({topic, 0}, 0).ok());  // drops what was prefetched
        CHECK(c->Close(absl::Seconds(5)).ok());
      }
      // The consumer and every batch vector are gone; reuse freed memory.
      std::vector<std::string> churn;
      for (int i = 0; i < 2000; ++i) churn.emplace_back(4096, '#');
      REQUIRE(kept.size() >= kRecords / 7);
      for (const ConsumerRecord& r : kept) {
        const std::string i = std::to_string(r.offset);
        REQUIRE(r.key.has_value());
        REQUIRE(r.value.has_value());
        CHECK(*r.key == "k" + i);
        CHECK(*r.value == "v" + i);
        REQUIRE(r.headers.size() == 1);
        CHECK(r.headers[0].first == "i");
        CHECK(r.headers[0].second == i);
        CHECK(r.buffer != nullptr);
      }
    }
  }
}

TEST_CASE("the prefetch bound counts fetched records inflated", "[consumer]") {
  broker::testing::BrokerFixture broker;
  const std::string bootstrap = broker.broker().bootstrap_address();
  // 200 values of 64 KiB that zstd shrinks to a few dozen bytes each: one
  // fetch (1 MiB a partition, compressed) brings all 12.5 MiB of them.
  constexpr int kRecords = 200;
  constexpr size_t kSize = 64 << 10;
  {
    ProducerOptions po;
    po.client.bootstrap_servers = bootstrap;
    po.client.request_timeout = absl::Seconds(5);
    REQUIRE(po.Set("compression.type", "zstd").ok());
    auto p = Producer::Create(po);
    REQUIRE(p.ok());
    std::atomic<int> acked{0};
    for (int i = 0; i < kRecords; ++i) {
      ProducerRecord r;
      r.topic = "inflate";
      r.partition = 0;
      r.value.emplace(kSize, static_cast<char>('a' + i % 26));
      REQUIRE((*p)->Send(std::move(r), [&acked](absl::StatusOr<RecordMetadata> m) {
                    if (m.ok()) ++acked;  // the sender's thread: no REQUIRE here
                  }).ok());
    }
    REQUIRE((*p)->Flush(absl::Seconds(20)).ok());
    REQUIRE(acked.load() == kRecords);
    REQUIRE((*p)->Close(absl::Seconds(5)).ok());
  }
  auto o = QuickConsumerOptions(bootstrap, "");
  o.enable_auto_commit = false;
  o.queued_max_bytes = 1 << 20;
  auto c = MakeConsumer(o);
  REQUIRE(c->Assign({{"inflate", 0}}).ok());
  // No Poll: the fetcher fills what the bound lets it.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (c->metrics().queued_bytes == 0 && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // more fetches, if it would
  const ConsumerMetrics m = c->metrics();
  INFO("queued_bytes " << m.queued_bytes << " fetched " << m.bytes_fetched);
  CHECK(m.queued_bytes > 0);
  // The bound plus one batch (one 64 KiB record) and the compressed rest.
  CHECK(m.queued_bytes <= o.queued_max_bytes + (256 << 10));
  // Everything still comes, in order, as Poll makes room.
  int64_t next = 0;
  const absl::Time end = absl::Now() + absl::Seconds(20);
  while (next < kRecords && absl::Now() < end) {
    auto batch = c->Poll(absl::Milliseconds(100));
    REQUIRE(batch.ok());
    for (const auto& r : *batch) {
      REQUIRE(r.offset == next);
      REQUIRE(r.value.has_value());
      CHECK(r.value->size() == kSize);
      CHECK(r.value->front() == static_cast<char>('a' + next % 26));
      ++next;
    }
    CHECK(c->metrics().queued_bytes <= o.queued_max_bytes + (256 << 10));
  }
  CHECK(next == kRecords);
  CHECK(c->Close(absl::Seconds(5)).ok());
}

TEST_CASE("WatermarkOffsets answers while the broker holds a fetch", "[consumer]") {
  broker::testing::BrokerFixture broker;
  const std::string bootstrap = broker.broker().bootstrap_address();
  ProduceNumbered(bootstrap, "wm", 10, 1);
  auto o = QuickConsumerOptions(bootstrap, "");
  o.enable_auto_commit = false;
  o.fetch_max_wait = absl::Seconds(5);
  auto c = MakeConsumer(o);
  const TopicPartition tp{"wm", 0};
  REQUIRE(c->Assign({tp}).ok());
  REQUIRE(PollN(*c, 10, absl::Seconds(10)).size() == 10);
  // The next fetch is now parked at the broker for up to 5 s, on the
  // connection a ListOffsets to the leader would take; the call's 2 s
  // timeout would run out behind it.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto wm = c->WatermarkOffsets(tp, absl::Seconds(2));
  INFO(wm.status().ToString());
  REQUIRE(wm.ok());
  CHECK(wm->first == 0);
  CHECK(wm->second == 10);
  ProduceNumbered(bootstrap, "wm", 5, 1, "none", 10);
  REQUIRE(PollN(*c, 5, absl::Seconds(10)).size() == 5);
  wm = c->WatermarkOffsets(tp, absl::Seconds(2));
  INFO(wm.status().ToString());
  REQUIRE(wm.ok());
  CHECK(wm->second == 15);
  // A partition not assigned is asked of its leader.
  auto other = MakeConsumer(o);
  wm = other->WatermarkOffsets(tp, absl::Seconds(5));
  INFO(wm.status().ToString());
  REQUIRE(wm.ok());
  CHECK(*wm == std::make_pair(int64_t{0}, int64_t{15}));
  CHECK(c->Close(absl::Seconds(5)).ok());
}

// Issue 5: a manually assigned partition that does not exist (7 of a
// one-partition topic) must not keep the real one from getting a position;
// it is only retried. Without a group (ListOffsets for auto.offset.reset)
// and with one (OffsetFetch first). The budget is under request.timeout.ms
// (5 s), the time a lookup for the missing partition waits for a leader.
TEST_CASE("a partition that does not exist does not block the others", "[consumer]") {
  broker::testing::BrokerFixture broker;
  const std::string bootstrap = broker.broker().bootstrap_address();
  ProduceNumbered(bootstrap, "one", 10, 1);
  for (const char* group : {"", "g-missing"}) {
    DYNAMIC_SECTION("group '" << group << "'") {
      auto o = QuickConsumerOptions(bootstrap, group);
      o.enable_auto_commit = false;
      auto c = MakeConsumer(o);
      const TopicPartition real{"one", 0}, missing{"one", 7};
      REQUIRE(c->Assign({real, missing}).ok());
      const absl::Time start = absl::Now();
      auto got = PollN(*c, 10, absl::Seconds(4));
      REQUIRE(got.size() == 10);
      CHECK(absl::Now() - start < absl::Seconds(4));
      for (size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].partition == 0);
        CHECK(got[i].offset == static_cast<int64_t>(i));
      }
      auto pos = c->Position(real, absl::Seconds(1));
      REQUIRE(pos.ok());
      CHECK(*pos == 10);
      CHECK(c->Close(absl::Seconds(5)).ok());
    }
  }
}

// The same against librdkafka's mock cluster, whose OffsetFetch answers the
// missing partition with UNKNOWN_TOPIC_OR_PARTITION of its own.
TEST_CASE("a partition that does not exist does not block the others: mock cluster",
          "[consumer]") {
  MockCluster mock(1);
  mock.CreateTopic("one", 1);
  ProduceNumbered(mock.bootstraps(), "one", 10, 1);
  for (const char* group : {"", "g-missing"}) {
    DYNAMIC_SECTION("group '" << group << "'") {
      auto o = QuickConsumerOptions(mock.bootstraps(), group);
      o.enable_auto_commit = false;
      auto c = MakeConsumer(o);
      REQUIRE(c->Assign({{"one", 0}, {"one", 7}}).ok());
      auto got = PollN(*c, 10, absl::Seconds(4));
      REQUIRE(got.size() == 10);
      for (const auto& r : got) CHECK(r.partition == 0);
      CHECK(c->Close(absl::Seconds(5)).ok());
    }
  }
}

}  // namespace
}  // namespace runnel::client
