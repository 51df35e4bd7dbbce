// The producer against runnel-broker (an in-process runnel::Broker), read
// back with librdkafka's consumer: idempotent (InitProducerId) produce with
// codecs, keys, headers and timestamps; Close in time once the broker is
// gone.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <map>
#include <mutex>

#include "client/partitioner.h"
#include "runnel/broker.h"
#include "runnel/producer.h"
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

// The broker-down case of the mock tests (producer_test.cc) against a broker
// that checks sequences: the mock appends whatever it is sent, so only here
// is "once" checked for a batch resent after its connection was lost.
TEST_CASE("runnel-broker: an idempotent producer survives a broker restart, every record once, "
          "in order") {
  broker::testing::BrokerFixture b(BrokerProperties());
  const std::string bootstrap = b.broker().bootstrap_address();
  ProducerOptions o = Options(bootstrap);
  o.batch_size = 200;  // many small batches, several requests in flight
  o.client.reconnect_backoff = absl::Milliseconds(10);
  o.client.reconnect_backoff_max = absl::Milliseconds(100);
  o.delivery_timeout = absl::Seconds(30);
  auto producer = Producer::Create(o);
  REQUIRE(producer.ok());
  std::atomic<int> ok{0};
  auto send = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      ProducerRecord r{.topic = "restart", .partition = 0, .value = std::to_string(i)};
      REQUIRE((*producer)->Send(std::move(r), [&](absl::StatusOr<RecordMetadata> md) {
        if (md.ok()) ok++;
      }).ok());
    }
  };
  constexpr int kRecords = 2000;
  send(0, kRecords / 2);
  b.Stop();  // while the first half is on its way
  send(kRecords / 2, kRecords);
  absl::SleepFor(absl::Milliseconds(300));
  b.Start({}, b.port());
  REQUIRE((*producer)->Flush(absl::Seconds(30)).ok());
  CHECK(ok.load() == kRecords);
  REQUIRE((*producer)->Close(absl::Seconds(5)).ok());
  auto got = testing::ConsumeAll(bootstrap, "restart", 3, kRecords + 1, milliseconds(5000));
  REQUIRE(got.size() == kRecords);
  for (int i = 0; i < kRecords; ++i) {
    INFO("record " << i);
    REQUIRE(got[i].value == std::to_string(i));
  }
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
