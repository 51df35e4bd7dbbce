#include "common/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace runnel {

int LatencyHistogram::BucketOf(int64_t value) {
  if (value < 2 * kSubBuckets) return static_cast<int>(std::max<int64_t>(value, 0));
  int msb = 63 - std::countl_zero(static_cast<uint64_t>(value));  // >= kSubBucketBits + 1
  int shift = msb - kSubBucketBits;
  int64_t sub = value >> shift;  // [kSubBuckets, 2 * kSubBuckets)
  return static_cast<int>(2 * kSubBuckets + (msb - kSubBucketBits - 1) * kSubBuckets +
                          (sub - kSubBuckets));
}

int64_t LatencyHistogram::BucketLow(int bucket) {
  if (bucket < 2 * kSubBuckets) return bucket;
  int k = bucket - static_cast<int>(2 * kSubBuckets);
  int msb = kSubBucketBits + 1 + k / static_cast<int>(kSubBuckets);
  int64_t sub = kSubBuckets + k % kSubBuckets;
  return sub << (msb - kSubBucketBits);
}

int64_t LatencyHistogram::BucketHigh(int bucket) {
  if (bucket < 2 * kSubBuckets) return bucket;
  int k = bucket - static_cast<int>(2 * kSubBuckets);
  int msb = kSubBucketBits + 1 + k / static_cast<int>(kSubBuckets);
  int64_t sub = kSubBuckets + k % kSubBuckets;
  int shift = msb - kSubBucketBits;
  // The last bucket ends at INT64_MAX; (sub + 1) << shift would overflow.
  if (msb == 62 && sub == 2 * kSubBuckets - 1) return INT64_MAX;
  return ((sub + 1) << shift) - 1;
}

void LatencyHistogram::Record(int64_t value) {
  if (value < 0) value = 0;
  buckets_[BucketOf(value)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  int64_t seen = max_.load(std::memory_order_relaxed);
  while (value > seen && !max_.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

int64_t LatencyHistogram::Percentile(double q) const {
  // Sum the buckets rather than trust count_: concurrent Records may have
  // bumped one and not yet the other.
  int64_t total = 0;
  for (const auto& b : buckets_) total += b.load(std::memory_order_relaxed);
  if (total == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  int64_t rank =
      std::max<int64_t>(1, static_cast<int64_t>(std::ceil(q * static_cast<double>(total))));
  int64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i].load(std::memory_order_relaxed);
    if (seen >= rank) return std::min(BucketHigh(i), max());
  }
  return max();
}

}  // namespace runnel
