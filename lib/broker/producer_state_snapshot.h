// Producer-state snapshots: a partition's ProducerStateTable (producer_state.h)
// saved beside its log, so a restart reads the table back and replays only
// the records after it instead of the log from the expiry point on. Written
// at a segment roll (the state as of the new segment's base offset) and at
// clean shutdown (as of the log end); the newest two are kept. The file is
// Kafka's own (ProducerStateManager, snapshot version 1), so Kafka's tools
// and brokers read it:
//
//   <partition dir>/<offset, 20 digits>.snapshot: the state after every
//   record below <offset>. All integers big-endian; sizes in bytes.
//
//   snapshot := version:int16 (= 1)                                   (2)
//               crc:uint32  CRC-32C of every byte after it            (4)
//               count:int32 entry{count}                              (4)
//   entry    := producer_id:int64 epoch:int16 last_sequence:int32
//               last_offset:int64 offset_delta:int32 timestamp:int64
//               coordinator_epoch:int32 current_txn_first_offset:int64 (46)
//     offset_delta = last_offset - first offset of the batch
//                  = last_sequence - first sequence (mod 2^31);
//     coordinator_epoch and current_txn_first_offset are -1 (no
//     transactions).
//
// Kafka writes one entry per producer, its last batch. Runnel writes one per
// remembered batch (up to five a producer, oldest first, producers by id), so
// a retry of any of the last five batches is still a duplicate after a
// restart. Kafka reading the file keeps the last entry of each producer id,
// which is the entry it would have written itself.
//
//   RUNNEL_RETURN_IF_ERROR(WriteProducerSnapshot(log.dir(), rolled_at, table));
//   absl::StatusOr<std::optional<ProducerSnapshot>> s =
//       LoadLatestProducerSnapshot(log.dir(), log.log_start_offset(), log.log_end_offset());
//
// Files go through <name>.tmp, fsynced and renamed, so a crash leaves the
// old snapshot or the new one whole; one that is torn anyway fails its CRC
// and is skipped. Storage removes snapshots above the log end when the end
// moves down (runnel/log.h Truncate). Threads: any; the caller serialises
// writers of one directory (the partition's append lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "broker/producer_state.h"

namespace runnel::broker {

inline constexpr int16_t kProducerSnapshotVersion = 1;
inline constexpr size_t kProducerSnapshotHeaderSize = 10;  // version, crc, count
inline constexpr size_t kProducerSnapshotCrcOffset = 2;
inline constexpr size_t kProducerSnapshotEntriesOffset = 6;  // the CRC covers from here
inline constexpr size_t kProducerSnapshotEntrySize = 46;
// How many snapshots a partition keeps: the newest and the one before it.
inline constexpr int kProducerSnapshotsKept = 2;

// The file's bytes for `table`.
std::vector<uint8_t> EncodeProducerSnapshot(const ProducerStateTable& table);

// Reads a snapshot back. DataLoss naming `path` and the byte for a wrong
// version, size or CRC.
absl::StatusOr<std::unique_ptr<ProducerStateTable>> DecodeProducerSnapshot(
    std::span<const uint8_t> bytes, const std::string& path);

// Writes `table` as <dir>/<offset>.snapshot (replacing one already there),
// then deletes all but the newest kProducerSnapshotsKept.
absl::Status WriteProducerSnapshot(const std::string& dir, int64_t offset,
                                   const ProducerStateTable& table);

// The offsets of the snapshots in `dir`, ascending.
absl::StatusOr<std::vector<int64_t>> ListProducerSnapshots(const std::string& dir);

struct ProducerSnapshot {
  int64_t offset = 0;
  std::unique_ptr<ProducerStateTable> table;
};

// The newest snapshot in `dir` whose offset is in [min_offset, max_offset]
// (the log's start and end: one below the start misses what retention
// removed, one above the end describes records the log does not have) and
// that reads back whole. A corrupt one is deleted with a warning and the
// next older one tried, as Kafka does. nullopt when none is left.
absl::StatusOr<std::optional<ProducerSnapshot>> LoadLatestProducerSnapshot(const std::string& dir,
                                                                           int64_t min_offset,
                                                                           int64_t max_offset);

}  // namespace runnel::broker
