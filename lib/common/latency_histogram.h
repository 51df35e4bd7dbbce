// LatencyHistogram: counts of values (latencies in microseconds, sizes) in
// logarithmic buckets, HdrHistogram's layout: values below 64 each have a
// bucket; above, every power of two is split into 32 buckets, so a bucket
// is at most 1/32 (3.1%) of its values wide whatever the magnitude. 1,888
// fixed buckets cover 0 to 2^63; recording is two relaxed atomic adds and a
// max, with no allocation and no lock, so a hot path can record every
// request.
//
//   LatencyHistogram h;
//   h.Record(absl::ToInt64Microseconds(absl::Now() - sent));  // any thread
//   int64_t p99 = h.Percentile(0.99);   // >= the true p99, within 3.1%
//
// Percentile(q) is the upper bound of the bucket holding the ceil(q*count)-th
// smallest value (capped at the largest value recorded), so it never
// understates a latency. Reads concurrent with Record see a mix of before
// and after; each count is exact once recording stops.
//
// Threads: every member may be called from any thread at once.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace runnel {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 5;
  static constexpr int64_t kSubBuckets = int64_t{1} << kSubBucketBits;  // 32
  // Exact buckets for [0, 2 * kSubBuckets), then kSubBuckets a power of
  // two from 2^6 to 2^62.
  static constexpr int kBuckets = 2 * kSubBuckets + (62 - kSubBucketBits) * kSubBuckets;

  LatencyHistogram() = default;
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  // Negative values count as 0.
  void Record(int64_t value);

  int64_t count() const { return count_.load(std::memory_order_relaxed); }
  int64_t max() const { return max_.load(std::memory_order_relaxed); }
  // q in [0, 1]; 0 when nothing was recorded.
  int64_t Percentile(double q) const;

  // The bucket of `value` and the values a bucket holds (for tests).
  static int BucketOf(int64_t value);
  static int64_t BucketLow(int bucket);
  static int64_t BucketHigh(int bucket);

 private:
  std::array<std::atomic<int64_t>, kBuckets> buckets_{};
  std::atomic<int64_t> count_{0};
  std::atomic<int64_t> max_{0};
};

}  // namespace runnel
