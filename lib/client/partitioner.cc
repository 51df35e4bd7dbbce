#include "client/partitioner.h"

namespace runnel::client {

int32_t Murmur2(std::string_view data) {
  // Unsigned arithmetic gives Java's wrapping int multiplication; >>> is a
  // logical shift of the unsigned value.
  const uint32_t length = static_cast<uint32_t>(data.size());
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  uint32_t h = 0x9747b28cu ^ length;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const uint32_t length4 = length / 4;
  for (uint32_t i = 0; i < length4; ++i) {
    const uint32_t i4 = i * 4;
    uint32_t k = static_cast<uint32_t>(p[i4]) | (static_cast<uint32_t>(p[i4 + 1]) << 8) |
                 (static_cast<uint32_t>(p[i4 + 2]) << 16) | (static_cast<uint32_t>(p[i4 + 3]) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const uint32_t tail = length & ~3u;
  switch (length % 4) {
    case 3:
      h ^= static_cast<uint32_t>(p[tail + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(p[tail + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= static_cast<uint32_t>(p[tail]);
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t Murmur2Partition(std::string_view key, int32_t partition_count) {
  return static_cast<int32_t>(static_cast<uint32_t>(Murmur2(key)) & 0x7fffffffu) %
         partition_count;
}

int32_t StickyPartitioner::Partition(const std::string& topic, int32_t partition_count) {
  auto it = current_.find(topic);
  if (it != current_.end() && it->second < partition_count) return it->second;
  int32_t p = static_cast<int32_t>(rng_() % static_cast<uint32_t>(partition_count));
  current_[topic] = p;
  return p;
}

void StickyPartitioner::OnBatchClosed(const std::string& topic, int32_t partition) {
  auto it = current_.find(topic);
  if (it != current_.end() && it->second == partition) current_.erase(it);
}

}  // namespace runnel::client
