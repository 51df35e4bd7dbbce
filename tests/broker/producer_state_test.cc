// ProducerStateTable: Kafka's sequence and epoch rules for idempotent
// producers, checked without a broker.
#include <catch2/catch.hpp>

#include <limits>

#include "broker/producer_state.h"

namespace runnel::broker {
namespace {

using protocol::ErrorCode;

constexpr int64_t kNow = 1'800'000'000'000;

ProducerBatch Batch(int64_t pid, int16_t epoch, int32_t seq, int32_t records,
                    int64_t ts = kNow) {
  ProducerBatch b;
  b.producer_id = pid;
  b.producer_epoch = epoch;
  b.base_sequence = seq;
  b.last_offset_delta = records - 1;
  b.max_timestamp_ms = ts;
  return b;
}

// Checks `b` and, when it may be appended, records it at `*next_offset`.
ProducerCheck Produce(ProducerStateTable& t, const ProducerBatch& b, int64_t* next_offset) {
  ProducerCheck c = t.Check(b);
  if (c.error == ErrorCode::kNone && !c.duplicate.has_value()) {
    t.Update(b, *next_offset, b.max_timestamp_ms);
    *next_offset += b.last_offset_delta + 1;
  }
  return c;
}

TEST_CASE("an unknown producer may start at any sequence, then must continue it",
          "[producer_state]") {
  ProducerStateTable t;
  int64_t next = 100;
  CHECK(Produce(t, Batch(7, 0, 42, 3), &next).error == ErrorCode::kNone);
  CHECK(Produce(t, Batch(7, 0, 45, 2), &next).error == ErrorCode::kNone);
  CHECK(next == 105);
  // A gap (47 expected) and a step back that matches no remembered batch.
  CHECK(Produce(t, Batch(7, 0, 48, 1), &next).error == ErrorCode::kOutOfOrderSequenceNumber);
  CHECK(Produce(t, Batch(7, 0, 43, 2), &next).error == ErrorCode::kOutOfOrderSequenceNumber);
  CHECK(Produce(t, Batch(7, 0, 47, 1), &next).error == ErrorCode::kNone);
  REQUIRE(t.Find(7) != nullptr);
  CHECK(t.Find(7)->batches.back().last_sequence == 47);
}

TEST_CASE("a retried batch is a duplicate with its first offsets while among the last five",
          "[producer_state]") {
  ProducerStateTable t;
  int64_t next = 0;
  for (int i = 0; i < 6; ++i) {
    REQUIRE(Produce(t, Batch(1, 3, i * 2, 2), &next).error == ErrorCode::kNone);
  }
  // Batches 1..5 (sequences 2..11, offsets 2..11) are remembered.
  ProducerCheck dup = t.Check(Batch(1, 3, 4, 2));
  REQUIRE(dup.error == ErrorCode::kNone);
  REQUIRE(dup.duplicate.has_value());
  CHECK(dup.duplicate->first_offset == 4);
  CHECK(dup.duplicate->last_offset == 5);
  CHECK(t.Check(Batch(1, 3, 10, 2)).duplicate->first_offset == 10);
  // The first batch fell out of the window: no longer a duplicate, and out
  // of order (as Kafka answers a retry that old).
  ProducerCheck old = t.Check(Batch(1, 3, 0, 2));
  CHECK_FALSE(old.duplicate.has_value());
  CHECK(old.error == ErrorCode::kOutOfOrderSequenceNumber);
  // Same start, different length: not the same batch.
  CHECK(t.Check(Batch(1, 3, 4, 1)).error == ErrorCode::kOutOfOrderSequenceNumber);
  CHECK(t.Find(1)->batches.size() == kProducerBatchesRetained);
}

TEST_CASE("an older epoch is INVALID_PRODUCER_EPOCH, even for what would be a duplicate",
          "[producer_state]") {
  ProducerStateTable t;
  int64_t next = 0;
  REQUIRE(Produce(t, Batch(5, 1, 0, 1), &next).error == ErrorCode::kNone);
  REQUIRE(Produce(t, Batch(5, 2, 0, 1), &next).error == ErrorCode::kNone);
  CHECK(Produce(t, Batch(5, 1, 0, 1), &next).error == ErrorCode::kInvalidProducerEpoch);
  CHECK(Produce(t, Batch(5, 1, 1, 1), &next).error == ErrorCode::kInvalidProducerEpoch);
  CHECK(next == 2);
}

TEST_CASE("a bumped epoch must restart at sequence 0 and forgets the old epoch's batches",
          "[producer_state]") {
  ProducerStateTable t;
  int64_t next = 0;
  REQUIRE(Produce(t, Batch(9, 0, 0, 5), &next).error == ErrorCode::kNone);
  CHECK(Produce(t, Batch(9, 1, 5, 1), &next).error == ErrorCode::kOutOfOrderSequenceNumber);
  CHECK(Produce(t, Batch(9, 1, 0, 2), &next).error == ErrorCode::kNone);
  CHECK(t.Find(9)->epoch == 1);
  CHECK(t.Find(9)->batches.size() == 1);
  CHECK(t.Check(Batch(9, 1, 2, 1)).error == ErrorCode::kNone);
}

TEST_CASE("producers are independent and sequences wrap after INT32_MAX", "[producer_state]") {
  ProducerStateTable t;
  int64_t next = 0;
  constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
  REQUIRE(Produce(t, Batch(1, 0, kMax - 1, 2), &next).error == ErrorCode::kNone);
  CHECK(Batch(1, 0, kMax, 3).last_sequence() == 1);
  CHECK(t.Find(1)->batches.back().last_sequence == kMax);
  CHECK(Produce(t, Batch(1, 0, 0, 1), &next).error == ErrorCode::kNone);
  // Producer 2 has its own sequence.
  CHECK(Produce(t, Batch(2, 0, 0, 1), &next).error == ErrorCode::kNone);
  CHECK(Produce(t, Batch(2, 0, 1, 1), &next).error == ErrorCode::kNone);
  CHECK(Produce(t, Batch(1, 0, 1, 1), &next).error == ErrorCode::kNone);
  CHECK(t.size() == 2);
}

TEST_CASE("a batch with a producer id and no sequence is INVALID_RECORD", "[producer_state]") {
  ProducerStateTable t;
  CHECK(t.Check(Batch(1, 0, -1, 1)).error == ErrorCode::kInvalidRecord);
}

TEST_CASE("producers expire producer.id.expiration.ms after their last batch, then start afresh",
          "[producer_state]") {
  ProducerStateTable t;
  int64_t next = 0;
  const int64_t day = kDefaultProducerIdExpirationMs;
  REQUIRE(Produce(t, Batch(1, 0, 0, 1, kNow - day), &next).error == ErrorCode::kNone);
  REQUIRE(Produce(t, Batch(2, 0, 0, 1, kNow - day + 1), &next).error == ErrorCode::kNone);
  CHECK(t.RemoveExpired(kNow, day) == 1);
  CHECK(t.Find(1) == nullptr);
  REQUIRE(t.Find(2) != nullptr);
  // Forgotten: any sequence is accepted again, as Kafka 3.x does.
  CHECK(t.Check(Batch(1, 0, 17, 1)).error == ErrorCode::kNone);
  CHECK(t.Check(Batch(2, 0, 17, 1)).error == ErrorCode::kOutOfOrderSequenceNumber);
  // MaybeRemoveExpired sweeps at most once per check interval.
  t.MaybeRemoveExpired(kNow + 10, day);  // first sweep: producer 2 is due
  CHECK(t.size() == 0);
  REQUIRE(Produce(t, Batch(3, 0, 0, 1, kNow - day), &next).error == ErrorCode::kNone);
  t.MaybeRemoveExpired(kNow + 20, day);
  CHECK(t.size() == 1);
  t.MaybeRemoveExpired(kNow + 10 + kProducerIdExpirationCheckIntervalMs, day);
  CHECK(t.size() == 0);
}

}  // namespace
}  // namespace runnel::broker
