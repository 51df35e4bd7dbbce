// LatencyHistogram: bucket layout (exact below 64, then 32 buckets a power
// of two, each at most 1/32 of its values wide) and percentiles on inputs
// whose true percentiles are known.
#include "common/latency_histogram.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <thread>
#include <vector>

namespace runnel {
namespace {

TEST_CASE("latency histogram: buckets tile the values, each within 1/32") {
  CHECK(LatencyHistogram::BucketOf(0) == 0);
  CHECK(LatencyHistogram::BucketOf(63) == 63);
  CHECK(LatencyHistogram::BucketOf(64) == 64);
  CHECK(LatencyHistogram::BucketOf(65) == 64);  // 64 and 65 share [64, 65]
  CHECK(LatencyHistogram::BucketOf(66) == 65);
  CHECK(LatencyHistogram::BucketOf(INT64_MAX) == LatencyHistogram::kBuckets - 1);
  CHECK(LatencyHistogram::BucketHigh(LatencyHistogram::kBuckets - 1) == INT64_MAX);
  // Consecutive buckets meet with no gap or overlap, and none is wider than
  // 1/32 of its lowest value.
  for (int b = 0; b + 1 < LatencyHistogram::kBuckets; ++b) {
    INFO("bucket " << b);
    const int64_t low = LatencyHistogram::BucketLow(b);
    const int64_t high = LatencyHistogram::BucketHigh(b);
    REQUIRE(LatencyHistogram::BucketLow(b + 1) == high + 1);
    REQUIRE(LatencyHistogram::BucketOf(low) == b);
    REQUIRE(LatencyHistogram::BucketOf(high) == b);
    if (low >= 64) REQUIRE(high - low + 1 <= low / 32);
  }
}

TEST_CASE("latency histogram: percentiles of known inputs") {
  LatencyHistogram h;
  CHECK(h.Percentile(0.5) == 0);  // empty
  CHECK(h.count() == 0);

  SECTION("small values are exact") {
    for (int v = 1; v <= 50; ++v) h.Record(v);
    CHECK(h.count() == 50);
    CHECK(h.Percentile(0.5) == 25);
    CHECK(h.Percentile(0.9) == 45);
    CHECK(h.Percentile(1.0) == 50);
    CHECK(h.Percentile(0.0) == 1);
    CHECK(h.max() == 50);
  }

  SECTION("1..100000: never below the true value, at most 1/32 above") {
    for (int64_t v = 1; v <= 100000; ++v) h.Record(v);
    for (double q : {0.5, 0.9, 0.95, 0.99, 0.999}) {
      const auto exact = static_cast<int64_t>(q * 100000);
      const int64_t got = h.Percentile(q);
      INFO("q=" << q << " exact=" << exact << " got=" << got);
      CHECK(got >= exact);
      CHECK(got <= exact + exact / 32);
    }
    CHECK(h.Percentile(1.0) == 100000);  // capped at the largest recorded
    CHECK(h.max() == 100000);
  }

  SECTION("a skewed mix: the tail shows in p99, not in p50") {
    // 980 fast requests at 200 us, 20 slow ones at 50 ms.
    for (int i = 0; i < 980; ++i) h.Record(200);
    for (int i = 0; i < 20; ++i) h.Record(50000);
    CHECK(h.Percentile(0.50) >= 200);
    CHECK(h.Percentile(0.50) <= 206);
    CHECK(h.Percentile(0.98) <= 206);  // the 980th value is still fast
    CHECK(h.Percentile(0.99) == 50000);
    CHECK(h.max() == 50000);
  }

  SECTION("negative values count as zero") {
    h.Record(-5);
    CHECK(h.count() == 1);
    CHECK(h.Percentile(0.5) == 0);
  }
}

TEST_CASE("latency histogram: concurrent recording loses nothing") {
  LatencyHistogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < 50000; ++i) h.Record(t * 1000 + i % 1000);
    });
  }
  for (auto& th : threads) th.join();
  CHECK(h.count() == 200000);
  CHECK(h.max() == 3999);
  CHECK(h.Percentile(1.0) == 3999);
}

}  // namespace
}  // namespace runnel
