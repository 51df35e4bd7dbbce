#include "storage/offset_map.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

namespace runnel::storage {
namespace {

inline uint64_t Rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t Fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

inline uint64_t LoadLittle64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Below this the table is zeroed with memset; above, its pages are returned
// to the kernel, which hands back zero pages on the next touch.
constexpr size_t kMadviseThreshold = 1 << 20;

}  // namespace

OffsetMap::KeyHash OffsetMap::Hash(std::string_view key) {
  // MurmurHash3_x64_128 (Austin Appleby, public domain), seed 0.
  const auto* data = reinterpret_cast<const uint8_t*>(key.data());
  const size_t len = key.size();
  const size_t nblocks = len / 16;
  constexpr uint64_t c1 = 0x87c37b91114253d5ULL;
  constexpr uint64_t c2 = 0x4cf5ad432745937fULL;
  uint64_t h1 = 0;
  uint64_t h2 = 0;
  for (size_t i = 0; i < nblocks; ++i) {
    uint64_t k1 = LoadLittle64(data + i * 16);
    uint64_t k2 = LoadLittle64(data + i * 16 + 8);
    k1 *= c1;
    k1 = Rotl64(k1, 31);
    k1 *= c2;
    h1 ^= k1;
    h1 = Rotl64(h1, 27);
    h1 += h2;
    h1 = h1 * 5 + 0x52dce729;
    k2 *= c2;
    k2 = Rotl64(k2, 33);
    k2 *= c1;
    h2 ^= k2;
    h2 = Rotl64(h2, 31);
    h2 += h1;
    h2 = h2 * 5 + 0x38495ab5;
  }
  const uint8_t* tail = data + nblocks * 16;
  const size_t rest = len & 15;
  uint64_t k1 = 0;
  uint64_t k2 = 0;
  for (size_t i = rest; i > 8; --i) k2 = (k2 << 8) | tail[i - 1];
  for (size_t i = std::min<size_t>(rest, 8); i > 0; --i) k1 = (k1 << 8) | tail[i - 1];
  if (rest > 8) {
    k2 *= c2;
    k2 = Rotl64(k2, 33);
    k2 *= c1;
    h2 ^= k2;
  }
  if (rest > 0) {
    k1 *= c1;
    k1 = Rotl64(k1, 31);
    k1 *= c2;
    h1 ^= k1;
  }
  h1 ^= len;
  h2 ^= len;
  h1 += h2;
  h2 += h1;
  h1 = Fmix64(h1);
  h2 = Fmix64(h2);
  h1 += h2;
  h2 += h1;
  if (h1 == 0 && h2 == 0) h2 = 1;  // {0, 0} marks an empty slot
  return {h1, h2};
}

OffsetMap::OffsetMap(int64_t memory_bytes) {
  // At least two slots: one always stays empty, which ends every probe.
  slot_count_ =
      std::max<size_t>(2, static_cast<size_t>(std::max<int64_t>(memory_bytes, 0)) / kEntryBytes);
  mapped_bytes_ = slot_count_ * kEntryBytes;
  void* p =
      mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p != MAP_FAILED) {
    slots_ = static_cast<Slot*>(p);
    mmapped_ = true;
  } else {
    // No address space for the budget: fall back to the heap, which fails
    // loudly if even that is impossible.
    slots_ = new Slot[slot_count_]();
  }
  capacity_ =
      std::clamp<int64_t>(static_cast<int64_t>(static_cast<double>(slot_count_) * kMaxLoadFactor),
                          1, static_cast<int64_t>(slot_count_) - 1);
}

OffsetMap::~OffsetMap() {
  if (mmapped_) {
    munmap(slots_, mapped_bytes_);
  } else {
    delete[] slots_;
  }
}

size_t OffsetMap::IndexOf(const KeyHash& hash) const {
  // The low half indexes, the high half is compared too: 128 bits decide
  // equality.
  return static_cast<size_t>(hash.lo % slot_count_);
}

bool OffsetMap::Put(const KeyHash& hash, int64_t offset) {
  size_t i = IndexOf(hash);
  while (true) {
    Slot& s = slots_[i];
    if (s.hi == 0 && s.lo == 0) {
      if (size_ >= capacity_) return false;
      s = Slot{hash.hi, hash.lo, offset};
      ++size_;
      break;
    }
    if (s.hi == hash.hi && s.lo == hash.lo) {
      s.offset = offset;
      ++updates_;
      break;
    }
    if (++i == slot_count_) i = 0;
  }
  latest_offset_ = std::max(latest_offset_, offset);
  return true;
}

std::optional<int64_t> OffsetMap::Get(const KeyHash& hash) const {
  size_t i = IndexOf(hash);
  // The load factor leaves empty slots, so every probe sequence ends.
  while (true) {
    const Slot& s = slots_[i];
    if (s.hi == 0 && s.lo == 0) return std::nullopt;
    if (s.hi == hash.hi && s.lo == hash.lo) return s.offset;
    if (++i == slot_count_) i = 0;
  }
}

void OffsetMap::Clear() {
  if (size_ > 0 || latest_offset_ >= 0) {
    if (mmapped_ && mapped_bytes_ >= kMadviseThreshold &&
        madvise(slots_, mapped_bytes_, MADV_DONTNEED) == 0) {
      // Private anonymous pages read back as zeros.
    } else {
      std::memset(static_cast<void*>(slots_), 0, mapped_bytes_);
    }
  }
  size_ = 0;
  latest_offset_ = -1;
  updates_ = 0;
}

}  // namespace runnel::storage
