// The producer against runnel-broker (an in-process runnel::Broker), read
// back with librdkafka's consumer: idempotent (InitProducerId) produce with
// codecs, keys, headers and timestamps; every record once and in order when
// answers are lost with their connection and across a broker restart; Close
// in time once the broker is gone.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "client/partitioner.h"
#include "runnel/broker.h"
#include "runnel/producer.h"
#include "tests/client/cutting_proxy.h"
#include "tests/client/rdkafka_consumer.h"
#include "tests/broker/broker_fixture.h"

namespace runnel::client {
namespace {

using std::chrono::milliseconds;

// The shared in-process broker fixture, with this file's topic defaults.
std::map<std::string, std::string> BrokerProperties() { return {{"num.partitions", "3"}}; }

ProducerOptions Options(const std::string& bootstrap) {
  ProducerOptions o;
  o.client.bootstrap_servers = bootstrap;
  o.client.request_timeout = absl::Seconds(5);
  o.client.retry_backoff = absl::Milliseconds(20);
  o.linger = absl::Milliseconds(2);
  o.max_block = absl::Seconds(10);
  return o;
}

TEST_CASE("runnel-broker: idempotent produce with codecs, read back by librdkafka") {
  broker::testing::BrokerFixture b(BrokerProperties());
  const std::string bootstrap = b.broker().bootstrap_address();
  for (const char* codec : {"none", "zstd", "lz4"}) {
    DYNAMIC_SECTION("compression " << codec) {
      const std::string topic = std::string("rb-") + codec;  // auto-created, 3 partitions
      ProducerOptions o = Options(bootstrap);
      REQUIRE(o.Set("compression.type", codec).ok());
      auto producer = Producer::Create(o);
      REQUIRE(producer.ok());
      std::mutex mu;
      std::map<std::string, RecordMetadata> acked;
      constexpr int kRecords = 200;
      for (int i = 0; i < kRecords; ++i) {
        ProducerRecord r;
        r.topic = topic;
        r.key.emplace("k" + std::to_string(i % 11));
        r.value.emplace("v" + std::to_string(i));
        r.headers.push_back({"n", std::to_string(i)});
        r.timestamp_ms = 1600000000000 + i;
        const std::string value = *r.value;
        REQUIRE((*producer)->Send(std::move(r), [&, value](absl::StatusOr<RecordMetadata> md) {
          if (!md.ok()) return;
          std::lock_guard<std::mutex> lock(mu);
          acked[value] = *md;
        }).ok());
      }
      REQUIRE((*producer)->Flush(absl::Seconds(20)).ok());
      REQUIRE((*producer)->Close(absl::Seconds(5)).ok());
      REQUIRE(acked.size() == kRecords);

      auto got = testing::ConsumeAll(bootstrap, topic, 3, kRecords, milliseconds(15000));
      REQUIRE(got.size() == kRecords);
      for (const auto& r : got) {
        REQUIRE(r.value.has_value());
        int i = std::stoi(r.value->substr(1));
        CHECK(r.key == "k" + std::to_string(i % 11));
        CHECK(r.partition == Murmur2Partition("k" + std::to_string(i % 11), 3));
        CHECK(r.timestamp_ms == 1600000000000 + i);
        REQUIRE(r.headers.size() == 1);
        CHECK(r.headers[0].second == std::to_string(i));
        // The delivery report named the offset the record is at.
        CHECK(acked[*r.value].partition == r.partition);
        CHECK(acked[*r.value].offset == r.offset);
      }
    }
  }
}

// Sends `n` numbered records to partition 0 of `topic` steadily (ten every
// 10 ms), from its own thread, counting those acknowledged and those Send
// refused.
class SteadySender {
 public:
  SteadySender(Producer& producer, std::string topic, int n) {
    thread_ = std::thread([this, &producer, topic = std::move(topic), n] {
      for (int i = 0; i < n; ++i) {
        ProducerRecord r{.topic = topic, .partition = 0, .value = std::to_string(i)};
        absl::Status s = producer.Send(std::move(r), [this](absl::StatusOr<RecordMetadata> md) {
          if (md.ok()) acked++;
        });
        if (!s.ok()) refused++;
        if (i % 10 == 9) absl::SleepFor(absl::Milliseconds(10));
      }
    });
  }
  ~SteadySender() { Join(); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  // Waits (up to 20 s) until `count` records were acknowledged.
  bool WaitAcked(int count) {
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (acked.load() < count && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
    return acked.load() >= count;
  }

  std::atomic<int> acked{0};
  std::atomic<int> refused{0};

 private:
  std::thread thread_;
};

ProducerOptions SmallBatchOptions(const std::string& bootstrap) {
  ProducerOptions o = Options(bootstrap);
  o.batch_size = 200;  // many small batches, several requests in flight
  o.client.reconnect_backoff = absl::Milliseconds(10);
  o.client.reconnect_backoff_max = absl::Milliseconds(100);
  o.delivery_timeout = absl::Seconds(30);
  return o;
}

void CheckExactlyOnceInOrder(const std::string& bootstrap, const std::string& topic, int n) {
  auto got = testing::ConsumeAll(bootstrap, topic, 3, static_cast<size_t>(n) + 1,
                                 milliseconds(5000));
  REQUIRE(got.size() == static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    INFO("record " << i);
    REQUIRE(got[i].value == std::to_string(i));
  }
}

// The broker-down cases of the mock tests (producer_test.cc) against a
// broker that checks sequences: the mock appends whatever it is sent, so
// only here is "once" checked for batches resent after their answers were
// lost.
TEST_CASE("runnel-broker: an idempotent producer whose answers are lost with the connection "
          "writes every record once, in order") {
  testing::CuttingProxy proxy;
  const uint16_t broker_port = testing::CuttingProxy::FreePort();
  proxy.Forward(broker_port);
  std::map<std::string, std::string> properties = BrokerProperties();
  properties["advertised.listeners"] = "PLAINTEXT://127.0.0.1:" + std::to_string(proxy.port());
  broker::testing::BrokerFixture b(properties, broker_port);
  const std::string bootstrap = b.broker().bootstrap_address();  // the proxy
  auto producer = Producer::Create(SmallBatchOptions(bootstrap));
  REQUIRE(producer.ok());
  constexpr int kRecords = 2000;
  {
    SteadySender sender(**producer, "cut", kRecords);
    REQUIRE(sender.WaitAcked(kRecords / 4));
    // The broker has appended what went up in the last 200 ms; the producer
    // hears nothing back and must resend it, and the broker drop the copies.
    proxy.Cut(absl::Milliseconds(200));
    REQUIRE(sender.WaitAcked(kRecords / 2));
    proxy.Cut(absl::Milliseconds(200));
    sender.Join();
    CHECK(sender.refused.load() == 0);
    REQUIRE((*producer)->Flush(absl::Seconds(30)).ok());
    CHECK(sender.acked.load() == kRecords);
  }
  CHECK(proxy.cut() >= 2);
  CHECK((*producer)->metrics().retries > 0);
  REQUIRE((*producer)->Close(absl::Seconds(5)).ok());
  CheckExactlyOnceInOrder(bootstrap, "cut", kRecords);
}

TEST_CASE("runnel-broker: an idempotent producer survives a broker restart, every record once, "
          "in order") {
  broker::testing::BrokerFixture b(BrokerProperties());
  const std::string bootstrap = b.broker().bootstrap_address();
  auto producer = Producer::Create(SmallBatchOptions(bootstrap));
  REQUIRE(producer.ok());
  constexpr int kRecords = 2000;
  {
    SteadySender sender(**producer, "restart", kRecords);
    REQUIRE(sender.WaitAcked(kRecords / 4));
    b.Stop();  // answers what it has read, then closes the connections
    absl::SleepFor(absl::Milliseconds(300));
    b.Start({}, b.port());
    sender.Join();
    CHECK(sender.refused.load() == 0);
    REQUIRE((*producer)->Flush(absl::Seconds(30)).ok());
    CHECK(sender.acked.load() == kRecords);
  }
  REQUIRE((*producer)->Close(absl::Seconds(5)).ok());
  CheckExactlyOnceInOrder(bootstrap, "restart", kRecords);
}

TEST_CASE("runnel-broker: Close returns in time after the broker stopped") {
  broker::testing::BrokerFixture b(BrokerProperties());
  ProducerOptions o = Options(b.broker().bootstrap_address());
  o.client.request_timeout = absl::Seconds(30);
  auto producer = Producer::Create(o);
  REQUIRE(producer.ok());
  REQUIRE((*producer)->Send(ProducerRecord{.topic = "stop", .value = "first"}).get().ok());
  REQUIRE(b.broker().Stop(absl::Seconds(5)).ok());
  std::atomic<int> failed{0};
  for (int i = 0; i < 50; ++i) {
    REQUIRE((*producer)->Send(ProducerRecord{.topic = "stop", .value = "x"},
                              [&](absl::StatusOr<RecordMetadata> md) {
                                if (!md.ok()) failed++;
                              }).ok());
  }
  absl::Time start = absl::Now();
  absl::Status s = (*producer)->Close(absl::Milliseconds(800));
  CHECK(absl::Now() - start < absl::Milliseconds(1300));
  CHECK(!s.ok());
  CHECK(failed.load() == 50);
}

}  // namespace
}  // namespace runnel::client
