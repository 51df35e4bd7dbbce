// consumer_group: two consumers share a topic's partitions as one group,
// with a rebalance listener printing who got what; each commits what it
// consumed, and the group's committed offsets are checked at the end.
//
//   consumer_group [BOOTSTRAP [TOPIC]]
//
// Without BOOTSTRAP it starts an in-process runnel::Broker on a free port
// (data in a fresh directory under /tmp, topics of 4 partitions). It writes
// 400 records with Runnel's producer, consumes them with the group and exits
// non-zero unless every record was read once and committed, so it doubles
// as a test.
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runnel/broker.h"
#include "runnel/consumer.h"
#include "runnel/producer.h"

namespace {

constexpr int kRecords = 400;
constexpr int kPartitions = 4;

// Runs on the thread that calls Poll.
class PrintingListener : public runnel::RebalanceListener {
 public:
  explicit PrintingListener(std::string name) : name_(std::move(name)) {}
  void OnPartitionsAssigned(const std::vector<runnel::TopicPartition>& tps) override {
    Print("assigned", tps);
  }
  void OnPartitionsRevoked(const std::vector<runnel::TopicPartition>& tps) override {
    Print("revoked", tps);
  }

 private:
  void Print(const char* what, const std::vector<runnel::TopicPartition>& tps) {
    std::string list;
    for (const auto& tp : tps) list += " " + tp.topic + "-" + std::to_string(tp.partition);
    std::printf("%s %s:%s\n", name_.c_str(), what, list.c_str());
  }
  std::string name_;
};

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<runnel::Broker> broker;
  std::string bootstrap = argc > 1 ? argv[1] : "";
  const std::string topic = argc > 2 ? argv[2] : "example-payments";
  if (bootstrap.empty()) {
    char dir[] = "/tmp/runnel-consumer-example-XXXXXX";
    if (mkdtemp(dir) == nullptr) return 1;
    runnel::BrokerOptions bo;
    bo.port = 0;
    bo.data_dir = dir;
    bo.io_threads = 1;
    bo.properties = {{"num.partitions", std::to_string(kPartitions)}};
    auto started = runnel::Broker::Start(bo);
    if (!started.ok()) {
      std::fprintf(stderr, "broker: %s\n", started.status().ToString().c_str());
      return 1;
    }
    broker = std::move(*started);
    bootstrap = broker->bootstrap_address();
  }

  // Some records to read.
  runnel::ProducerOptions po;
  po.client.bootstrap_servers = bootstrap;
  auto producer = runnel::Producer::Create(po);
  if (!producer.ok()) return 1;
  for (int i = 0; i < kRecords; ++i) {
    runnel::ProducerRecord r;
    r.topic = topic;
    r.key.emplace("customer-" + std::to_string(i % 13));
    r.value.emplace("payment " + std::to_string(i));
    (*producer)->Send(std::move(r), [](absl::StatusOr<runnel::RecordMetadata>) {}).IgnoreError();
  }
  if (!(*producer)->Close(absl::Seconds(20)).ok()) return 1;

  // Two members of one group, each polling on its own thread.
  runnel::ConsumerOptions co;
  co.client.bootstrap_servers = bootstrap;
  co.group_id = "example-billing";
  co.auto_offset_reset = runnel::OffsetReset::kEarliest;
  co.enable_auto_commit = false;  // commit after handling each batch instead
  co.heartbeat_interval = absl::Milliseconds(300);

  std::mutex mu;
  std::map<std::pair<int32_t, int64_t>, int> seen;  // (partition, offset) -> times read
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  auto member = [&](std::string name) {
    PrintingListener listener(name);
    auto consumer = runnel::Consumer::Create(co);
    if (!consumer.ok() || !(*consumer)->Subscribe({topic}, &listener).ok()) {
      ++failures;
      return;
    }
    while (!stop) {
      auto batch = (*consumer)->Poll(absl::Milliseconds(200));
      if (!batch.ok()) {
        std::fprintf(stderr, "%s: %s\n", name.c_str(), batch.status().ToString().c_str());
        ++failures;
        break;
      }
      {
        std::lock_guard<std::mutex> l(mu);
        for (const auto& r : *batch) ++seen[{r.partition, r.offset}];
      }
      if (!batch->empty() && !(*consumer)->Commit(absl::Seconds(5)).ok()) ++failures;
    }
    if (!(*consumer)->Close(absl::Seconds(5)).ok()) ++failures;
  };
  std::thread a(member, "consumer-a"), b(member, "consumer-b");
  const absl::Time deadline = absl::Now() + absl::Seconds(40);
  while (absl::Now() < deadline) {
    {
      std::lock_guard<std::mutex> l(mu);
      if (seen.size() == kRecords) break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  stop = true;
  a.join();
  b.join();

  // What the group committed, per partition, must be where reading ended.
  auto checker = runnel::Consumer::Create(co);
  if (!checker.ok()) return 1;
  std::vector<runnel::TopicPartition> tps;
  for (int p = 0; p < kPartitions; ++p) tps.push_back({topic, p});
  auto committed = (*checker)->Committed(tps, absl::Seconds(5));
  if (!committed.ok()) return 1;
  int64_t committed_total = 0;
  for (const auto& [tp, om] : *committed) committed_total += om.offset;
  int duplicates = 0;
  for (const auto& [key, n] : seen) duplicates += n - 1;
  std::printf("read %zu distinct records (%d duplicates), committed %lld\n", seen.size(),
              duplicates, static_cast<long long>(committed_total));
  const bool ok = failures == 0 && seen.size() == kRecords && committed_total == kRecords;
  return ok ? 0 : 1;
}
