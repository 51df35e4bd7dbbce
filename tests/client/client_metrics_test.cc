// Metrics readable from the API against an in-process runnel-broker: the
// producer's record counts and request latency percentiles, the consumer's
// lag per partition (high watermark - position) as records are produced
// and consumed.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "runnel/consumer.h"
#include "runnel/producer.h"
#include "tests/broker/broker_fixture.h"

namespace runnel::client {
namespace {

using broker::testing::BrokerFixture;

void ProduceN(Producer& p, const std::string& topic, int n) {
  std::atomic<int> ok{0};
  for (int i = 0; i < n; ++i) {
    ProducerRecord r{.topic = topic, .partition = 0, .value = "value-" + std::to_string(i)};
    REQUIRE(p.Send(std::move(r), [&ok](absl::StatusOr<RecordMetadata> m) {
               if (m.ok()) ++ok;
             }).ok());
  }
  REQUIRE(p.Flush(absl::Seconds(20)).ok());
  REQUIRE(ok.load() == n);
}

// Polls until `n` records came (or 15 s).
size_t PollN(Consumer& c, size_t n) {
  size_t got = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (got < n && absl::Now() < deadline) {
    auto batch = c.Poll(absl::Milliseconds(100));
    REQUIRE(batch.ok());
    got += batch->size();
  }
  return got;
}

// Waits (without polling) until the consumer reports `want` lag on `tp`.
int64_t WaitForLag(Consumer& c, const TopicPartition& tp, int64_t want) {
  int64_t lag = -1;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    ConsumerMetrics m = c.metrics();
    auto it = m.lag.find(tp);
    lag = it == m.lag.end() ? -1 : it->second;
    if (lag == want) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return lag;
}

TEST_CASE("metrics: producer counts and latency percentiles, consumer lag") {
  BrokerFixture b(std::map<std::string, std::string>{{"num.partitions", "1"}});
  const std::string bootstrap = "127.0.0.1:" + std::to_string(b.port());
  const std::string topic = "metered";
  constexpr int kFirst = 200;
  constexpr int kMore = 30;

  ProducerOptions po;
  po.client.bootstrap_servers = bootstrap;
  po.linger = absl::Milliseconds(1);
  po.batch_size = 1024;  // several requests, so the percentiles have data
  auto producer = Producer::Create(po);
  REQUIRE(producer.ok());
  ProduceN(**producer, topic, kFirst);

  ProducerMetrics pm = (*producer)->metrics();
  CHECK(pm.records_sent == kFirst);
  CHECK(pm.records_failed == 0);
  CHECK(pm.requests_sent >= 2);
  CHECK(pm.p50_request_latency_ms > 0);
  CHECK(pm.p50_request_latency_ms <= pm.p95_request_latency_ms);
  CHECK(pm.p95_request_latency_ms <= pm.p99_request_latency_ms);
  CHECK(pm.p99_request_latency_ms <= pm.max_request_latency_ms);
  CHECK(pm.max_request_latency_ms < 20000);  // a real round trip, not garbage

  ConsumerOptions co;
  co.client.bootstrap_servers = bootstrap;
  co.auto_offset_reset = OffsetReset::kEarliest;
  co.enable_auto_commit = false;
  co.fetch_max_wait = absl::Milliseconds(50);
  auto consumer = Consumer::Create(co);
  REQUIRE(consumer.ok());
  const TopicPartition tp{topic, 0};
  REQUIRE((*consumer)->Assign({tp}).ok());
  CHECK(PollN(**consumer, kFirst) == kFirst);
  CHECK(WaitForLag(**consumer, tp, 0) == 0);
  CHECK((*consumer)->metrics().records_consumed == kFirst);

  // More records arrive; the consumer's prefetch sees the new high
  // watermark while the application has not polled them.
  ProduceN(**producer, topic, kMore);
  CHECK((*producer)->metrics().records_sent == kFirst + kMore);
  CHECK(WaitForLag(**consumer, tp, kMore) == kMore);
  CHECK(PollN(**consumer, kMore) == kMore);
  CHECK(WaitForLag(**consumer, tp, 0) == 0);

  CHECK((*consumer)->Close(absl::Seconds(5)).ok());
  CHECK((*producer)->Close(absl::Seconds(5)).ok());
}

}  // namespace
}  // namespace runnel::client
