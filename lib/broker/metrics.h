// BrokerMetrics: the broker's counters and latency histograms, and their
// rendering in Prometheus's text exposition format (version 0.0.4), which
// GET /metrics serves (metrics_http.h) and Broker::MetricsText returns.
//
//   BrokerMetrics metrics;
//   metrics.RecordRequest(api_key, /*latency_us=*/420, /*ok=*/true);
//   std::string text = metrics.Render({.net = &server->stats(), .topics = topics});
//
// Request figures are kept here, per API key, in relaxed atomics (recorded
// on I/O threads for every request, so no lock); byte and connection
// counters come from the net layer's ServerStats; partitions and log sizes
// are read from the TopicRegistry at render time; group counts come from a
// callback the group coordinator's owner installs.
//
// Threads: RecordRequest and Render from any thread, concurrently.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "broker/topic_registry.h"
#include "net/server.h"

namespace runnel::broker {

// Group counts by state ("Stable", "Empty", ...), for runnel_groups.
using GroupCountSource = std::function<std::map<std::string, int64_t>()>;

struct MetricsSources {
  const net::ServerStats* net = nullptr;  // nullptr: no byte/connection figures
  const TopicRegistry* topics = nullptr;  // nullptr: no partition figures
  GroupCountSource groups;                // empty: no group figures
};

class BrokerMetrics {
 public:
  // Upper bounds of the latency buckets, in microseconds (100 us .. 10 s).
  static constexpr std::array<int64_t, 16> kBucketBoundsUs = {
      100,   250,    500,    1000,   2500,    5000,    10000,   25000,
      50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
  // API keys 0..kMaxApiKey-1 are counted by key; others together as -1.
  static constexpr int kMaxApiKey = 128;

  // One answered (`ok`) or connection-closing request.
  void RecordRequest(int16_t api_key, int64_t latency_us, bool ok);

  std::string Render(const MetricsSources& sources) const;

  // For tests: requests recorded for `api_key`.
  int64_t requests(int16_t api_key) const;

 private:
  struct PerApi {
    std::atomic<int64_t> count{0};
    std::atomic<int64_t> errors{0};
    std::atomic<int64_t> sum_us{0};
    // Non-cumulative bucket counts; the last is +Inf.
    std::array<std::atomic<int64_t>, kBucketBoundsUs.size() + 1> buckets{};
  };
  const PerApi& Slot(int16_t api_key) const;
  PerApi& Slot(int16_t api_key) {
    return const_cast<PerApi&>(static_cast<const BrokerMetrics*>(this)->Slot(api_key));
  }

  std::array<PerApi, kMaxApiKey + 1> apis_;  // the last: keys outside 0..kMaxApiKey-1
};

}  // namespace runnel::broker
