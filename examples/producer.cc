// producer: sends keyed records to a topic with Runnel's producer and
// reports where each landed. Delivery reports arrive on the producer's own
// thread; nothing needs polling.
//
//   producer [BOOTSTRAP [TOPIC]]
//
// Without BOOTSTRAP it starts an in-process runnel::Broker on a free port
// (data in a fresh directory under /tmp) and produces to that. It exits
// non-zero when a record is not delivered, so it doubles as a test.
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runnel/broker.h"
#include "runnel/producer.h"

int main(int argc, char** argv) {
  std::unique_ptr<runnel::Broker> broker;
  std::string bootstrap = argc > 1 ? argv[1] : "";
  std::string topic = argc > 2 ? argv[2] : "example-orders";
  if (bootstrap.empty()) {
    char dir[] = "/tmp/runnel-producer-example-XXXXXX";
    if (mkdtemp(dir) == nullptr) return 1;
    runnel::BrokerOptions bo;
    bo.port = 0;
    bo.data_dir = dir;
    bo.io_threads = 1;
    absl::StatusOr<std::unique_ptr<runnel::Broker>> started = runnel::Broker::Start(bo);
    if (!started.ok()) {
      std::fprintf(stderr, "broker: %s\n", started.status().ToString().c_str());
      return 1;
    }
    broker = std::move(*started);
    bootstrap = broker->bootstrap_address();
  }

  // Options as a librdkafka or Java user would write them.
  absl::StatusOr<runnel::ProducerOptions> options = runnel::ProducerOptions::FromProperties({
      {"bootstrap.servers", bootstrap},
      {"client.id", "producer-example"},
      {"linger.ms", "5"},
      {"compression.type", "zstd"},
      {"delivery.timeout.ms", "60000"},
  });
  if (!options.ok()) {
    std::fprintf(stderr, "options: %s\n", options.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<runnel::Producer>> producer = runnel::Producer::Create(*options);
  if (!producer.ok()) {
    std::fprintf(stderr, "producer: %s\n", producer.status().ToString().c_str());
    return 1;
  }

  constexpr int kRecords = 1000;
  std::mutex mu;
  std::map<int32_t, int> per_partition;
  std::atomic<int> failed{0};
  for (int i = 0; i < kRecords; ++i) {
    runnel::ProducerRecord record;
    record.topic = topic;
    record.key = "customer-" + std::to_string(i % 10);  // same key, same partition
    record.value = "{\"order\":" + std::to_string(i) + "}";
    record.headers.push_back({"source", std::string("example")});
    absl::Status s = (*producer)->Send(std::move(record),
                                       [&](absl::StatusOr<runnel::RecordMetadata> md) {
                                         // The producer's sender thread.
                                         if (!md.ok()) {
                                           if (failed++ == 0) {
                                             std::fprintf(stderr, "delivery: %s\n",
                                                          md.status().ToString().c_str());
                                           }
                                           return;
                                         }
                                         std::lock_guard<std::mutex> lock(mu);
                                         per_partition[md->partition]++;
                                       });
    if (!s.ok()) {
      std::fprintf(stderr, "send: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  // A record whose outcome we wait for in place.
  absl::StatusOr<runnel::RecordMetadata> last =
      (*producer)->Send(runnel::ProducerRecord{.topic = topic, .value = "last"}).get();
  absl::Status flushed = (*producer)->Flush(absl::Seconds(30));
  runnel::ProducerMetrics m = (*producer)->metrics();
  absl::Status closed = (*producer)->Close(absl::Seconds(10));
  if (broker != nullptr) (void)broker->Stop(absl::Seconds(5));

  if (!last.ok() || !flushed.ok() || !closed.ok() || failed.load() > 0) {
    std::fprintf(stderr, "not everything was delivered: %s / %s / %s, %d failed\n",
                 last.status().ToString().c_str(), flushed.ToString().c_str(),
                 closed.ToString().c_str(), failed.load());
    return 1;
  }
  std::printf("delivered %lld records in %lld batches (%.0f bytes each on average, "
              "zstd) to %s; the last at %s-%d@%lld\n",
              static_cast<long long>(m.records_sent), static_cast<long long>(m.batches_sent),
              m.avg_batch_bytes, bootstrap.c_str(), topic.c_str(), last->partition,
              static_cast<long long>(last->offset));
  for (const auto& [partition, n] : per_partition) {
    std::printf("  partition %d: %d records\n", partition, n);
  }
  return 0;
}
