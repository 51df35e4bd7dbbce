// The cleaner's view of transactions: which data batches belong to aborted
// transactions, and when a commit or abort marker may go (Kafka's
// CleanedTransactionMetadata, with the aborted ranges learnt from the log
// itself instead of a transaction index).
//
// A pass walks every batch from the log start to its end twice:
//   1. TxnCollector, over batch headers (and the one record of each control
//      batch), learns each producer's transactions: a transaction opens at
//      the producer's first transactional data batch after its last marker
//      and closes at its next commit or abort marker. An aborted one becomes
//      an AbortedTxn [first data offset, marker offset]. A transaction still
//      open at the end is undecided: `first_unstable()` is its first offset
//      (Kafka's last stable offset), and the pass cleans nothing from the
//      segment holding it on.
//   2. CleanedTxnMetadata, fed the batches in the same order while the
//      offset map is built and again while segments are rewritten, says of a
//      data batch whether it is aborted (its records then go: aborted data
//      neither enters the offset map nor survives) and of a marker whether
//      its transaction has no batch left (the marker may then go once its
//      delete horizon, KIP-534, has passed).
//
// Empty data batches (records all compacted away, kept for a producer's
// state or a group's offset range) carry no data a marker must describe, so
// they neither open a transaction nor keep a marker.
//
// Thread-compatible; the cleaner thread uses them.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "runnel/protocol/record_batch.h"

namespace runnel::storage {

// The fields of a batch header that transactions depend on.
struct TxnBatch {
  int64_t producer_id = -1;
  int64_t base_offset = 0;
  int64_t last_offset = 0;
  int32_t record_count = 0;
  bool transactional = false;
  bool control = false;

  static TxnBatch Of(const protocol::RecordBatchHeader& h);
};

// An aborted transaction's offsets: its first data batch to its marker.
struct AbortedTxn {
  int64_t producer_id = -1;
  int64_t first_offset = 0;
  int64_t last_offset = 0;  // the abort marker's
  friend bool operator==(const AbortedTxn&, const AbortedTxn&) = default;
};

// The type of a control batch's (first) record; nullopt for an empty control
// batch (its marker was already removed). `batch` is one whole batch.
absl::StatusOr<std::optional<protocol::ControlRecordType>> ControlTypeOf(
    std::span<const uint8_t> batch);

class TxnCollector {
 public:
  // Batches in offset order; `control_type` for control batches.
  void OnBatch(const TxnBatch& b, std::optional<protocol::ControlRecordType> control_type);

  // Ordered by first offset.
  const std::vector<AbortedTxn>& aborted() const { return aborted_; }
  // The first offset of the oldest transaction still open; nullopt if none.
  std::optional<int64_t> first_unstable() const;

 private:
  std::map<int64_t, int64_t> open_;  // producer id -> first offset
  std::vector<AbortedTxn> aborted_;
};

class CleanedTxnMetadata {
 public:
  explicit CleanedTxnMetadata(std::vector<AbortedTxn> aborted);

  // A data batch: true when it belongs to an aborted transaction.
  bool OnDataBatch(const TxnBatch& b);
  // A control batch: true when no batch of its transaction was read since
  // the transaction began (so the marker describes nothing any more), or
  // when it is empty. Unknown marker types are kept (false).
  bool OnControlBatch(const TxnBatch& b, std::optional<protocol::ControlRecordType> type);

 private:
  struct Ongoing {
    AbortedTxn txn;
    bool batch_seen = false;
  };
  void ConsumeAbortedUpTo(int64_t offset);

  std::deque<AbortedTxn> pending_;
  std::map<int64_t, Ongoing> ongoing_aborted_;  // by producer id
  std::set<int64_t> ongoing_committed_;         // producer ids with a batch seen
};

}  // namespace runnel::storage
