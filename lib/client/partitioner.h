// Partitioners for records that name no partition: murmur2 of the key for
// keyed records, exactly as the Java client's default partitioner and
// librdkafka's "murmur2_random" compute it (so both put a key where Runnel
// does), and "sticky" for keyless records: one partition per topic until
// its batch is sent, then another at random (KIP-480), so keyless records
// fill batches instead of spreading one record over every partition.
//
//   int32_t p = Murmur2Partition("user-17", 12);    // same as Java/librdkafka
//   StickyPartitioner sticky;
//   int32_t q = sticky.Partition("topic", 12);
//   sticky.OnBatchClosed("topic", q);   // its batch filled up or left
//
// Murmur2 functions are pure. StickyPartitioner is not thread-safe; the
// producer calls it under its accumulator lock.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"

namespace runnel::client {

// Kafka's murmur2 (Utils.murmur2: seed 0x9747b28c), as a signed 32-bit
// value like Java's.
int32_t Murmur2(std::string_view data);
// (murmur2(key) & 0x7fffffff) % partition_count.
int32_t Murmur2Partition(std::string_view key, int32_t partition_count);

class StickyPartitioner {
 public:
  // The partition for the next keyless record of `topic`: the current
  // sticky one, or a random one when none is current.
  int32_t Partition(const std::string& topic, int32_t partition_count);
  // Called when a batch of `topic`'s sticky `partition` is closed (full or
  // sent): the next keyless record picks a new partition.
  void OnBatchClosed(const std::string& topic, int32_t partition);

 private:
  absl::flat_hash_map<std::string, int32_t> current_;
  std::minstd_rand rng_{std::random_device{}()};
};

}  // namespace runnel::client
