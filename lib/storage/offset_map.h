// OffsetMap: the cleaner's fixed-memory map from a key's hash to the offset
// of the key's latest record in the range being cleaned (Kafka's
// SkimpyOffsetMap).
//
// The cleaner scans the dirty part of a log once, calling Put for every keyed
// record, then keeps a record of the cleaned range only when its offset is at
// least Get(key). Keys are not stored: each slot holds a 128-bit hash of the
// key (MurmurHash3 x64/128) and an offset, 24 bytes, in an open-addressing
// table with linear probing. With 128 bits a collision, which would wrongly
// drop a record, is as unlikely as a disk returning the wrong sector.
//
//   OffsetMap map(64 << 20);                 // the memory budget
//   if (!map.Put(OffsetMap::Hash(key), offset)) { /* full: stop here */ }
//   std::optional<int64_t> latest = map.Get(OffsetMap::Hash(key));
//
// The memory is an anonymous mapping allocated once; Clear() hands the pages
// back to the kernel, so an idle map costs no resident memory. The table
// accepts entries up to kMaxLoadFactor of its slots, keeping probes short.
// Thread-compatible: the cleaner thread owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace runnel::storage {

class OffsetMap {
 public:
  struct KeyHash {
    uint64_t hi = 0;
    uint64_t lo = 0;
    friend bool operator==(const KeyHash&, const KeyHash&) = default;
  };

  // Bytes a slot takes: the hash and the offset.
  static constexpr size_t kEntryBytes = 24;
  // Entries beyond this share of the slots make Put report the map full.
  static constexpr double kMaxLoadFactor = 0.75;

  // A map using at most `memory_bytes` (at least two slots).
  explicit OffsetMap(int64_t memory_bytes);
  ~OffsetMap();
  OffsetMap(const OffsetMap&) = delete;
  OffsetMap& operator=(const OffsetMap&) = delete;

  // MurmurHash3 x64/128 of `key` (seed 0). Never returns {0, 0}, which marks
  // an empty slot.
  static KeyHash Hash(std::string_view key);

  // Records `offset` as the latest for `hash` (offsets must not decrease
  // across calls). False, changing nothing, when the key is new and the map
  // already holds capacity() entries.
  bool Put(const KeyHash& hash, int64_t offset);
  // The offset last Put for `hash`, nullopt when absent.
  std::optional<int64_t> Get(const KeyHash& hash) const;

  // Forgets every entry.
  void Clear();

  // Entries held.
  int64_t size() const { return size_; }
  // Entries it accepts before Put reports it full.
  int64_t capacity() const { return capacity_; }
  bool full() const { return size_ >= capacity_; }
  // The largest offset Put so far; -1 when empty.
  int64_t latest_offset() const { return latest_offset_; }
  // Put calls that found the key already there (records the pass will drop).
  int64_t updates() const { return updates_; }

 private:
  struct Slot {
    uint64_t hi;
    uint64_t lo;
    int64_t offset;
  };
  static_assert(sizeof(Slot) == kEntryBytes);

  size_t IndexOf(const KeyHash& hash) const;

  Slot* slots_ = nullptr;
  size_t slot_count_ = 0;
  size_t mapped_bytes_ = 0;
  bool mmapped_ = false;
  int64_t capacity_ = 0;
  int64_t size_ = 0;
  int64_t latest_offset_ = -1;
  int64_t updates_ = 0;
};

}  // namespace runnel::storage
