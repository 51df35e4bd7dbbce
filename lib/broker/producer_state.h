// ProducerStateTable: one partition's idempotent producers, as Kafka's
// ProducerStateManager keeps them. For every producer id that wrote to the
// partition it remembers the epoch and the last five batches (sequence range,
// offsets, timestamp), which is enough to
//   - answer a retried batch (same producer id, epoch and sequence range as
//     one of the last five) with the offsets it was first written at, without
//     writing it again;
//   - refuse a gap in the sequence (OUT_OF_ORDER_SEQUENCE_NUMBER) and a batch
//     from an older epoch (INVALID_PRODUCER_EPOCH: what Kafka 2.7+ answers a
//     Produce of any version with; PRODUCER_FENCED is InitProducerId's).
// Five is the producer's max.in.flight.requests.per.connection cap with
// idempotence, so every batch a producer may still retry is remembered.
//
// As in Kafka 3.x (KIP-360), a producer id the partition does not know (new,
// or expired) is accepted at any sequence, and a newer epoch must start at
// sequence 0; UNKNOWN_PRODUCER_ID is no longer sent for Produce.
//
//   ProducerStateTable table;
//   ProducerBatch b = ProducerBatch::FromHeader(header);
//   ProducerCheck c = table.Check(b);
//   if (c.error != ErrorCode::kNone) return Fail(c.error, c.message);
//   if (c.duplicate) return Answer(c.duplicate->first_offset);
//   ... append the batch at `base_offset` ...
//   table.Update(b, base_offset, timestamp_ms);
//
// State is loaded (LoadProducerState) the first time a partition is
// produced to after start-up: from the newest snapshot
// (producer_state_snapshot.h, written at segment rolls and clean shutdown)
// plus the records after it, or from the log alone when there is none. A
// producer is forgotten once its last batch is older than
// producer.id.expiration.ms (Kafka's default, one day).
//
// Threads: none of its own. The broker keeps one table per partition and
// calls it under the partition's append lock, so a check and the append it
// allows are atomic even when requests for the partition arrive on several
// connections and I/O threads.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "runnel/log.h"
#include "runnel/protocol/error_code.h"

namespace runnel::record_batch {
struct BatchHeader;
}

namespace runnel::broker {

// Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN.
inline constexpr int kProducerBatchesRetained = 5;
// producer.id.expiration.ms and producer.id.expiration.check.interval.ms
// defaults (Kafka 3.4+, KIP-854).
inline constexpr int64_t kDefaultProducerIdExpirationMs = 24 * 60 * 60 * 1000;
inline constexpr int64_t kProducerIdExpirationCheckIntervalMs = 10 * 60 * 1000;

// The idempotence fields of one record batch header.
struct ProducerBatch {
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int32_t last_offset_delta = 0;
  int64_t max_timestamp_ms = -1;

  static ProducerBatch FromHeader(const record_batch::BatchHeader& h);
  // Kafka's RecordBatch.hasProducerId.
  bool has_producer_id() const { return producer_id >= 0; }
  // The sequence of the last record; sequences wrap from INT32_MAX to 0.
  int32_t last_sequence() const;
};

// A batch a producer wrote, as remembered for duplicate detection.
struct ProducerBatchMetadata {
  int32_t first_sequence = 0;
  int32_t last_sequence = 0;
  int64_t first_offset = 0;
  int64_t last_offset = 0;
  int64_t timestamp_ms = -1;  // the batch's max timestamp

  bool operator==(const ProducerBatchMetadata&) const = default;
};

struct ProducerEntry {
  int16_t epoch = -1;
  // Oldest first; at most kProducerBatchesRetained, all of `epoch`.
  std::deque<ProducerBatchMetadata> batches;
  int64_t last_timestamp_ms = -1;

  bool operator==(const ProducerEntry&) const = default;
};

// What Check decided. error != kNone: refuse the batch with `message`;
// else `duplicate` set: answer with its offsets and write nothing; else
// append.
struct ProducerCheck {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::string message;
  std::optional<ProducerBatchMetadata> duplicate;
};

class ProducerStateTable {
 public:
  // Kafka's order: a duplicate of one of the last five batches of the
  // producer's current epoch first, then the epoch, then the sequence.
  // `batch` must have a producer id.
  ProducerCheck Check(const ProducerBatch& batch) const;

  // Records `batch`, written at `first_offset`, with `timestamp_ms` (its max
  // timestamp as stored: the append time under LogAppendTime). No checks:
  // also used to replay the log.
  void Update(const ProducerBatch& batch, int64_t first_offset, int64_t timestamp_ms);

  // Forgets producers whose last batch is `expiration_ms` or more older than
  // `now_ms` (Kafka compares the batch's timestamp with the broker's clock
  // the same way). Returns how many went.
  int RemoveExpired(int64_t now_ms, int64_t expiration_ms);

  // RemoveExpired at most once per kProducerIdExpirationCheckIntervalMs.
  void MaybeRemoveExpired(int64_t now_ms, int64_t expiration_ms);

  const ProducerEntry* Find(int64_t producer_id) const;
  size_t size() const { return producers_.size(); }
  // Every producer, by id (unordered); for snapshots and tests.
  const absl::flat_hash_map<int64_t, ProducerEntry>& producers() const { return producers_; }

 private:
  absl::flat_hash_map<int64_t, ProducerEntry> producers_;
  int64_t last_expiry_check_ms_ = -1;
};

struct LoadedProducerState {
  std::unique_ptr<ProducerStateTable> table;
  int64_t snapshot_offset = -1;  // the snapshot it started from; -1: none
  int64_t replayed_from = -1;    // the first offset read from the log
};

// Rebuilds a partition's producer state: the newest valid snapshot in the
// log's directory between its start and end offsets (a corrupt one is
// deleted and an older one tried), then every batch with a producer id from
// there to the log end, reading batch headers only. Records older than
// `expiration_ms` (found with the time index) are not read: their producers
// would expire at once. The caller holds the partition's append lock.
absl::StatusOr<LoadedProducerState> LoadProducerState(const storage::Log& log, int64_t now_ms,
                                                      int64_t expiration_ms);

}  // namespace runnel::broker
