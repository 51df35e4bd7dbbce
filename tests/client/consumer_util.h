// Helpers for the consumer tests: options tuned for quick tests, a producer
// that writes numbered records, and a consumer running Poll on its own
// thread (as an application would) that records what it got and what its
// rebalance listener heard.
#pragma once

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runnel/consumer.h"
#include "runnel/producer.h"

namespace runnel::client::testing {

inline ConsumerOptions QuickConsumerOptions(const std::string& bootstrap,
                                            const std::string& group) {
  ConsumerOptions o;
  o.client.bootstrap_servers = bootstrap;
  o.client.request_timeout = absl::Seconds(5);
  o.client.retry_backoff = absl::Milliseconds(50);
  o.client.reconnect_backoff = absl::Milliseconds(10);
  o.client.reconnect_backoff_max = absl::Milliseconds(200);
  o.client.metadata_max_age = absl::Seconds(2);
  o.group_id = group;
  o.session_timeout = absl::Seconds(6);
  o.heartbeat_interval = absl::Milliseconds(200);
  o.max_poll_interval = absl::Seconds(10);
  o.fetch_max_wait = absl::Milliseconds(100);
  o.auto_offset_reset = OffsetReset::kEarliest;
  return o;
}

inline std::unique_ptr<Consumer> MakeConsumer(const ConsumerOptions& o) {
  auto c = Consumer::Create(o);
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  return std::move(*c);
}

// Writes `n` records "v<i>" with key "k<i>" to `topic`, partition i % parts
// (or the partitioner when parts is 0), and waits for them.
inline void ProduceNumbered(const std::string& bootstrap, const std::string& topic, int n,
                            int parts, const std::string& codec = "none", int first = 0) {
  ProducerOptions o;
  o.client.bootstrap_servers = bootstrap;
  o.client.request_timeout = absl::Seconds(5);
  o.linger = absl::Milliseconds(2);
  REQUIRE(o.Set("compression.type", codec).ok());
  auto p = Producer::Create(o);
  REQUIRE(p.ok());
  std::atomic<int> ok{0};
  for (int i = first; i < first + n; ++i) {
    ProducerRecord r;
    r.topic = topic;
    if (parts > 0) r.partition = i % parts;
    r.key.emplace("k" + std::to_string(i));
    r.value.emplace("v" + std::to_string(i));
    r.headers.push_back({"i", std::to_string(i)});
    r.timestamp_ms = 1700000000000 + i;
    REQUIRE((*p)->Send(std::move(r), [&ok](absl::StatusOr<RecordMetadata> m) {
      if (m.ok()) ++ok;
    }).ok());
  }
  REQUIRE((*p)->Flush(absl::Seconds(20)).ok());
  REQUIRE(ok.load() == n);
  REQUIRE((*p)->Close(absl::Seconds(5)).ok());
}

// A consumer polling on its own thread; Commit after each non-empty Poll
// when `commit_each` (so a test knows exactly what was committed).
class PollingMember : public RebalanceListener {
 public:
  PollingMember(const ConsumerOptions& o, std::vector<std::string> topics, bool commit_each)
      : consumer_(MakeConsumer(o)), commit_each_(commit_each) {
    REQUIRE(consumer_->Subscribe(topics, this).ok());
    thread_ = std::thread([this] { Run(); });
  }
  ~PollingMember() override { Stop(absl::Seconds(10)).IgnoreError(); }

  absl::Status Stop(absl::Duration close_timeout) {
    if (!thread_.joinable()) return absl::OkStatus();
    stop_ = true;
    thread_.join();
    return consumer_->Close(close_timeout);
  }

  void OnPartitionsAssigned(const std::vector<TopicPartition>& tps) override {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& tp : tps) owned_.insert(tp);
    ++assigned_calls_;
  }
  void OnPartitionsRevoked(const std::vector<TopicPartition>& tps) override {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& tp : tps) {
      owned_.erase(tp);
      revoked_.push_back(tp);
    }
  }
  void OnPartitionsLost(const std::vector<TopicPartition>& tps) override {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& tp : tps) owned_.erase(tp);
    lost_ += tps.size();
  }

  std::set<TopicPartition> owned() {
    std::lock_guard<std::mutex> l(mu_);
    return owned_;
  }
  std::vector<TopicPartition> revoked() {
    std::lock_guard<std::mutex> l(mu_);
    return revoked_;
  }
  size_t lost() {
    std::lock_guard<std::mutex> l(mu_);
    return lost_;
  }
  // offset -> times consumed, per partition.
  std::map<TopicPartition, std::map<int64_t, int>> consumed() {
    std::lock_guard<std::mutex> l(mu_);
    return consumed_;
  }
  std::vector<absl::Status> errors() {
    std::lock_guard<std::mutex> l(mu_);
    return errors_;
  }
  Consumer& consumer() { return *consumer_; }

 private:
  void Run() {
    while (!stop_) {
      auto batch = consumer_->Poll(absl::Milliseconds(100));
      std::lock_guard<std::mutex> l(mu_);
      if (!batch.ok()) {
        errors_.push_back(batch.status());
        continue;
      }
      for (const auto& r : *batch) ++consumed_[{r.topic, r.partition}][r.offset];
      if (commit_each_ && !batch->empty()) {
        absl::Status s = consumer_->Commit(absl::Seconds(5));
        if (!s.ok()) errors_.push_back(s);
      }
    }
  }

  std::unique_ptr<Consumer> consumer_;
  const bool commit_each_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::set<TopicPartition> owned_;
  std::vector<TopicPartition> revoked_;
  size_t lost_ = 0;
  int assigned_calls_ = 0;
  std::map<TopicPartition, std::map<int64_t, int>> consumed_;
  std::vector<absl::Status> errors_;
};

// Waits until `pred` holds, up to `timeout`.
template <typename Pred>
bool WaitFor(Pred pred, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace runnel::client::testing
