// The consumer against librdkafka's mock cluster (an independent broker):
// every codec read back with keys, headers and timestamps; manual
// assignment with Seek, Pause/Resume, offsets and watermarks; Close in time
// with every broker down; records that outlive their consumer. Against an
// in-process runnel-broker: the prefetch bound on inflated bytes, watermarks
// while the broker holds a fetch. The group tests are in
// consumer_group_test.cc.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "runnel/admin.h"
#include "runnel/client_log.h"
#include "runnel/protocol/error_code.h"

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

// A seek made while the committed-offset lookup is still in flight wins
// over its answer, as in Kafka: the mock holds the OffsetFetch 2 s and the
// seek's own ListOffsets 3 s, and the stale answer (the group's commit at
// 5), coming while the seek's lookup is in flight, must not settle it.
// Before, it did: the consumer read from 5, skipping 0-4.
TEST_CASE("a seek during the committed-offset lookup wins over its answer: mock cluster",
          "[consumer]") {
  MockCluster mock(1);
  mock.CreateTopic("seek", 1);
  ProduceNumbered(mock.bootstraps(), "seek", 10, 1);
  const TopicPartition p0{"seek", 0};
  auto o = QuickConsumerOptions(mock.bootstraps(), "g-seek");
  o.enable_auto_commit = false;
  {
    auto committer = MakeConsumer(o);
    REQUIRE(committer->Assign({p0}).ok());
    REQUIRE(committer->Commit({{p0, {5, "", -1}}}, absl::Seconds(5)).ok());
    REQUIRE(committer->Close(absl::Seconds(5)).ok());
  }
  for (const bool to_end : {false, true}) {
    INFO((to_end ? "SeekToEnd" : "SeekToBeginning"));
    mock.HoldNextAnswer(1, 9 /* OffsetFetch */, 2000);
    auto c = MakeConsumer(o);
    REQUIRE(c->Assign({p0}).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the lookup is sent
    // The seek's ListOffsets is held longer (3 s), so that the stale answer
    // comes while the seek's own lookup is in flight.
    mock.HoldNextAnswer(1, 2 /* ListOffsets */, 3000);
    REQUIRE((to_end ? c->SeekToEnd({p0}) : c->SeekToBeginning({p0})).ok());
    auto pos = c->Position(p0, absl::Seconds(5));
    REQUIRE(pos.ok());
    CHECK(*pos == (to_end ? 10 : 0));
    // Still there once both held answers have come and gone.
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    CHECK(*c->Position(p0, absl::Seconds(1)) == (to_end ? 10 : 0));
    if (!to_end) {
      auto got = PollN(*c, 10, absl::Seconds(10));
      REQUIRE(got.size() == 10);
      CHECK(got.front().offset == 0);
    }
    CHECK(c->Close(absl::Seconds(5)).ok());
  }
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

// Issue 5. Warn and info lines a consumer logged about one partition,
// collected by its log sink (on the client's threads).
class PartitionLog {
 public:
  explicit PartitionLog(TopicPartition tp) : tp_(std::move(tp)) {}
  void Attach(ConsumerOptions& o) {
    o.client.log_level = ClientLogLevel::kInfo;
    o.client.log_sink = [this](const ClientLogLine& line) {
      std::string topic, partition, retries;
      for (const auto& f : line.fields) {
        if (f.key == "topic") topic = f.value;
        if (f.key == "partition") partition = f.value;
        if (f.key == "retries") retries = f.value;
      }
      if (topic != tp_.topic || partition != std::to_string(tp_.partition)) return;
      std::lock_guard<std::mutex> l(mu_);
      lines_.push_back({line.level, std::string(line.message), retries});
    };
  }
  struct Line {
    ClientLogLevel level;
    std::string message;
    std::string retries;
  };
  std::vector<Line> Lines(ClientLogLevel level) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<Line> out;
    for (const auto& line : lines_) {
      if (line.level == level) out.push_back(line);
    }
    return out;
  }

 private:
  const TopicPartition tp_;
  std::mutex mu_;
  std::vector<Line> lines_;
};

// Polls for `duration` (at least until `n` records came, up to `max`):
// the records, and the errors Poll reported about one partition. An error
// that ends the consumer fails the test.
struct Polled {
  std::vector<ConsumerRecord> records;
  std::vector<absl::Status> partition_errors;
  absl::Duration until_n = absl::InfiniteDuration();  // when the n-th record came
};
Polled PollFor(Consumer& c, size_t n, absl::Duration duration, absl::Duration max) {
  Polled out;
  const absl::Time start = absl::Now();
  while (absl::Now() - start < max && (out.records.size() < n || absl::Now() - start < duration)) {
    auto batch = c.Poll(absl::Milliseconds(100));
    if (!batch.ok()) {
      INFO(batch.status().ToString());
      REQUIRE(PollErrorPartition(batch.status()).has_value());
      out.partition_errors.push_back(batch.status());
      continue;
    }
    for (auto& r : *batch) out.records.push_back(std::move(r));
    if (out.records.size() >= n && out.until_n == absl::InfiniteDuration()) {
      out.until_n = absl::Now() - start;
    }
  }
  return out;
}

// Poll reported `missing` exactly once, as UNKNOWN_TOPIC_OR_PARTITION.
void CheckReportedOnce(const Polled& polled, const TopicPartition& missing) {
  REQUIRE(polled.partition_errors.size() == 1);
  const absl::Status& e = polled.partition_errors.front();
  INFO(e.ToString());
  CHECK(protocol::ErrorCodeFromStatus(e) == protocol::ErrorCode::kUnknownTopicOrPartition);
  auto tp = PollErrorPartition(e);
  REQUIRE(tp.has_value());
  CHECK(*tp == missing);
  CHECK(!PollErrorPartition(absl::UnavailableError("x")).has_value());
}

// Issue 5: a manually assigned partition that does not exist (7 of a
// one-partition topic) must not keep the real one from getting a position;
// it is only retried (once a second), warned about once in the 8 s watched
// here (then every 30 s), and reported by one Poll. Without a group
// (ListOffsets for auto.offset.reset) and with one (OffsetFetch first).
// The records' budget is under request.timeout.ms (5 s), the time a lookup
// for the missing partition waits for a leader.
TEST_CASE("a partition that does not exist does not block the others", "[consumer]") {
  broker::testing::BrokerFixture broker;
  const std::string bootstrap = broker.broker().bootstrap_address();
  ProduceNumbered(bootstrap, "one", 10, 1);
  for (const char* group : {"", "g-missing"}) {
    DYNAMIC_SECTION("group '" << group << "'") {
      const TopicPartition real{"one", 0}, missing{"one", 7};
      PartitionLog log(missing);
      auto o = QuickConsumerOptions(bootstrap, group);
      o.enable_auto_commit = false;
      log.Attach(o);
      auto c = MakeConsumer(o);
      REQUIRE(c->Assign({real, missing}).ok());
      Polled got = PollFor(*c, 10, absl::Seconds(8), absl::Seconds(10));
      REQUIRE(got.records.size() == 10);
      CHECK(got.until_n < absl::Seconds(4));
      for (size_t i = 0; i < got.records.size(); ++i) {
        CHECK(got.records[i].partition == 0);
        CHECK(got.records[i].offset == static_cast<int64_t>(i));
      }
      CheckReportedOnce(got, missing);
      CHECK(log.Lines(ClientLogLevel::kWarn).size() == 1);
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
      const TopicPartition missing{"one", 7};
      PartitionLog log(missing);
      auto o = QuickConsumerOptions(mock.bootstraps(), group);
      o.enable_auto_commit = false;
      log.Attach(o);
      auto c = MakeConsumer(o);
      REQUIRE(c->Assign({{"one", 0}, missing}).ok());
      Polled got = PollFor(*c, 10, absl::Seconds(8), absl::Seconds(10));
      REQUIRE(got.records.size() == 10);
      CHECK(got.until_n < absl::Seconds(4));
      for (const auto& r : got.records) CHECK(r.partition == 0);
      CheckReportedOnce(got, missing);
      CHECK(log.Lines(ClientLogLevel::kWarn).size() == 1);
      CHECK(c->Close(absl::Seconds(5)).ok());
    }
  }
}

// A lookup in flight when the partition turns out missing: the mock holds
// the first OffsetFetch 2 s, long after the metadata said partition 7 does
// not exist, and then answers it UNKNOWN_TOPIC_OR_PARTITION too. The late
// answer must neither warn a second time nor report the partition again,
// and must still give partition 0 its position.
TEST_CASE("a lookup answering after its partition went missing warns once: mock cluster",
          "[consumer]") {
  MockCluster mock(1);
  mock.CreateTopic("one", 1);
  ProduceNumbered(mock.bootstraps(), "one", 10, 1);
  const TopicPartition missing{"one", 7};
  PartitionLog log(missing);
  auto o = QuickConsumerOptions(mock.bootstraps(), "g-slow-lookup");
  o.enable_auto_commit = false;
  log.Attach(o);
  mock.HoldNextAnswer(1, 9 /* OffsetFetch */, 2000);
  auto c = MakeConsumer(o);
  REQUIRE(c->Assign({{"one", 0}, missing}).ok());
  Polled got = PollFor(*c, 10, absl::Seconds(6), absl::Seconds(10));
  REQUIRE(got.records.size() == 10);
  for (const auto& r : got.records) CHECK(r.partition == 0);
  CheckReportedOnce(got, missing);
  CHECK(log.Lines(ClientLogLevel::kWarn).size() == 1);
  CHECK(c->Close(absl::Seconds(5)).ok());
}

// A missing assigned partition that is then created (CreatePartitions) is
// logged at info with the retries it took, and delivers from its start.
TEST_CASE("an assigned partition that does not exist yet delivers once created", "[consumer]") {
  broker::testing::BrokerFixture broker;
  const std::string bootstrap = broker.broker().bootstrap_address();
  ProduceNumbered(bootstrap, "grow", 2, 1);
  const TopicPartition missing{"grow", 2};
  PartitionLog log(missing);
  auto o = QuickConsumerOptions(bootstrap, "");
  o.enable_auto_commit = false;
  log.Attach(o);
  auto c = MakeConsumer(o);
  REQUIRE(c->Assign({{"grow", 0}, missing}).ok());
  Polled before = PollFor(*c, 2, absl::Seconds(2), absl::Seconds(10));
  REQUIRE(before.records.size() == 2);
  CheckReportedOnce(before, missing);
  CHECK(log.Lines(ClientLogLevel::kInfo).empty());

  AdminOptions ao;
  ao.client.bootstrap_servers = bootstrap;
  auto admin = Admin::Create(ao);
  REQUIRE(admin.ok());
  auto grown = (*admin)->CreatePartitions({{"grow", 3}});
  INFO(grown.status().ToString());
  REQUIRE(grown.ok());
  REQUIRE(grown->size() == 1);
  INFO(grown->front().status.ToString());
  REQUIRE(grown->front().status.ok());
  ProduceNumbered(bootstrap, "grow", 6, 3, "none", 100);  // 101 and 104 to partition 2

  Polled after = PollFor(*c, 4, absl::Seconds(0), absl::Seconds(10));
  CHECK(after.partition_errors.empty());
  std::vector<int64_t> offsets_of_2;
  for (const auto& r : after.records) {
    if (r.partition == 2) offsets_of_2.push_back(r.offset);
  }
  CHECK(offsets_of_2 == std::vector<int64_t>{0, 1});
  auto appeared = log.Lines(ClientLogLevel::kInfo);
  REQUIRE(appeared.size() == 1);
  CHECK(appeared.front().message == "assigned partition appeared");
  int64_t retries = -1;
  CHECK(absl::SimpleAtoi(appeared.front().retries, &retries));
  CHECK(retries >= 1);
  CHECK(c->Close(absl::Seconds(5)).ok());
}

}  // namespace
}  // namespace runnel::client
