// The cleaner's offset map: latest offset per key hash within a fixed memory
// budget.
#include "storage/offset_map.h"

#include <catch2/catch.hpp>
#include <random>
#include <set>
#include <string>
#include <unordered_map>

namespace runnel::storage {
namespace {

TEST_CASE("offset map hash is MurmurHash3 x64/128", "[offset_map]") {
  // Reference values of MurmurHash3_x64_128 with seed 0, h1 and h2 as the
  // two 64-bit halves; "foo" is the example in the README of Python's mmh3
  // (hash64("foo") == (-2129773440516405919, 9128664383759220103)).
  OffsetMap::KeyHash foo = OffsetMap::Hash("foo");
  CHECK(foo.hi == 0xe271865701f54561ULL);
  CHECK(foo.lo == 0x7eaf87e42bba7d87ULL);
  OffsetMap::KeyHash empty = OffsetMap::Hash("");
  CHECK(empty.hi == 0);
  CHECK(empty.lo == 1);  // the all-zero hash is remapped: {0, 0} marks empty slots
  OffsetMap::KeyHash hello = OffsetMap::Hash("hello");
  CHECK(hello.hi == 0xcbd8a7b341bd9b02ULL);
  CHECK(hello.lo == 0x5b1e906a48ae1d19ULL);
  // Every tail length (0..15 bytes past a block) changes the hash.
  std::set<std::pair<uint64_t, uint64_t>> seen;
  std::string key;
  for (int i = 0; i < 40; ++i) {
    OffsetMap::KeyHash h = OffsetMap::Hash(key);
    CHECK(seen.insert({h.hi, h.lo}).second);
    key.push_back(static_cast<char>('a' + i % 26));
  }
}

TEST_CASE("offset map keeps the latest offset per key", "[offset_map]") {
  OffsetMap map(1 << 20);
  CHECK(map.capacity() == static_cast<int64_t>((1 << 20) / 24 * 0.75));
  CHECK_FALSE(map.Get(OffsetMap::Hash("a")).has_value());
  REQUIRE(map.Put(OffsetMap::Hash("a"), 1));
  REQUIRE(map.Put(OffsetMap::Hash("b"), 2));
  REQUIRE(map.Put(OffsetMap::Hash("a"), 3));
  CHECK(map.Get(OffsetMap::Hash("a")) == 3);
  CHECK(map.Get(OffsetMap::Hash("b")) == 2);
  CHECK_FALSE(map.Get(OffsetMap::Hash("c")).has_value());
  CHECK(map.size() == 2);
  CHECK(map.updates() == 1);
  CHECK(map.latest_offset() == 3);
  map.Clear();
  CHECK(map.size() == 0);
  CHECK(map.latest_offset() == -1);
  CHECK_FALSE(map.Get(OffsetMap::Hash("a")).has_value());
}

TEST_CASE("offset map matches a reference map under random use", "[offset_map]") {
  std::mt19937_64 rng(42);
  OffsetMap map(64 * 24);  // 64 slots, 48 entries
  REQUIRE(map.capacity() == 48);
  for (int round = 0; round < 3; ++round) {
    std::unordered_map<std::string, int64_t> reference;
    int64_t offset = 0;
    bool filled = false;
    for (int i = 0; i < 2000; ++i) {
      std::string key = "key-" + std::to_string(rng() % 60);
      const bool known = reference.contains(key);
      const bool put = map.Put(OffsetMap::Hash(key), offset);
      // A new key is refused exactly when the map is at capacity; an update
      // always succeeds.
      CHECK(put == (known || static_cast<int64_t>(reference.size()) < 48));
      if (put) {
        reference[key] = offset;
      } else {
        filled = true;
      }
      ++offset;
    }
    CHECK(filled);
    CHECK(map.full());
    for (int k = 0; k < 60; ++k) {
      std::string key = "key-" + std::to_string(k);
      auto it = reference.find(key);
      std::optional<int64_t> got = map.Get(OffsetMap::Hash(key));
      if (it == reference.end()) {
        CHECK_FALSE(got.has_value());
      } else {
        CHECK(got == it->second);
      }
    }
    map.Clear();
  }
}

TEST_CASE("offset map with the smallest budget still works", "[offset_map]") {
  OffsetMap map(0);
  CHECK(map.capacity() == 1);
  CHECK(map.Put(OffsetMap::Hash("x"), 5));
  CHECK_FALSE(map.Put(OffsetMap::Hash("y"), 6));
  CHECK(map.Put(OffsetMap::Hash("x"), 7));
  CHECK(map.Get(OffsetMap::Hash("x")) == 7);
  CHECK_FALSE(map.Get(OffsetMap::Hash("y")).has_value());
}

TEST_CASE("offset map clears a large table by returning its pages", "[offset_map]") {
  OffsetMap map(8 << 20);
  for (int i = 0; i < 10000; ++i) REQUIRE(map.Put(OffsetMap::Hash(std::to_string(i)), i));
  map.Clear();
  for (int i = 0; i < 10000; ++i) REQUIRE_FALSE(map.Get(OffsetMap::Hash(std::to_string(i))));
}

}  // namespace
}  // namespace runnel::storage
