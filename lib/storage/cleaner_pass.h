// One cleaning pass over one log: Kafka's Cleaner.doClean.
//
//   1. Offset map: scan the dirty range [first_dirty, end) and record, per
//      key hash, the offset of the key's latest record. When the map's
//      memory budget fills, the pass stops there: `CleanStats::next_dirty`
//      is the first offset not mapped, and only segments up to that point
//      are rewritten (the rest stays dirty for the next pass).
//   2. Rewrite the segments below that point, oldest first, in groups whose
//      combined size stays within segment.bytes (small cleaned segments
//      merge), keeping a record when its key is not in the map or its offset
//      is at least the mapped one. Tombstones (null values) go too once
//      their batch's delete horizon has passed (KIP-534: the first pass to
//      write a batch holding a tombstone stamps now + delete.retention.ms
//      into it, attribute 0x40 and baseTimestamp, so the horizon survives
//      restarts), provided the map covered them (offset below next_dirty),
//      so every older record of their key goes with them.
//      Keyless records go (Kafka counts them invalid on a compacted topic).
//      See cleaner_batches.h for what happens to each batch; the last batch
//      of each producer id and the last batch of each group are kept, empty
//      if need be: the first keeps idempotent producer state, the second
//      keeps the group's offset range so that crash recovery of a swap knows
//      which old segments it covers.
//      Transactions (cleaner_txn.h, Kafka's CleanedTransactionMetadata): a
//      header scan from the log start learns each producer's transactions
//      from its markers. Records of aborted transactions never enter the
//      map and are removed; committed transactional records are compacted
//      like any others. A commit or abort marker stays while a batch of its
//      transaction remains; the first pass to find none stamps a delete
//      horizon on it and a pass after the horizon removes it (an emptied
//      batch stays if it is its producer's last). A transaction with no
//      marker below `end` is undecided: the pass stops at the segment
//      holding its first batch (`CleanStats::first_unstable_offset`).
//   3. Each group is written to `<base>.log.cleaned` (+ indexes), fsynced,
//      and swapped in with LogImpl::ReplaceSegments (.cleaned -> .swap, old
//      -> .deleted, .swap -> live; LogImpl::Open completes or discards an
//      interrupted swap).
//
// What a pass reads: a header walk of the segments it may rewrite
// (BatchScanner: 16 KiB reads, bodies of larger batches skipped) for
// producers and transactions; the dirty range once for the map, from the
// batch holding first_dirty (found with the offset index); and the
// rewritten segments once. So dirty bytes are read twice and clean ones
// once, as in Kafka (buildOffsetMap, then cleanSegments). One read could
// serve both only by holding the dirty range, or every kept batch, in
// memory until the map is complete: a later record can supersede any
// earlier one.
//
// Appends never wait for a pass: it reads only inactive segments, whose
// bytes no longer change, and ReplaceSegments takes the log's locks only for
// the renames. A truncation or retention that removed a segment meanwhile
// makes the swap fail with FailedPrecondition; the pass then stops and the
// next one starts over.
//
// Thread: the cleaner's; one pass per log at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "runnel/log_options.h"
#include "storage/log_impl.h"
#include "storage/offset_map.h"

namespace runnel::storage {

struct CleanPassOptions {
  // The range to deduplicate: [first_dirty, end), end at a segment boundary
  // (the active segment's base or the first segment within
  // min.compaction.lag.ms).
  int64_t first_dirty = 0;
  int64_t end = 0;
  int64_t now_ms = 0;
  // Read size for segment scans (log.cleaner.io.buffer.size).
  int64_t io_chunk_bytes = 1 << 20;
  // Checked between batches; a set flag stops the pass with Cancelled.
  const std::atomic<bool>* abort = nullptr;
  // Test hook: runs on the cleaner's thread once a group's replacement is
  // written and fsynced, just before the swap (`base` is its base offset).
  std::function<void(int64_t base)> before_swap;
};

struct CleanStats {
  int64_t first_dirty = 0;
  // Where the next pass starts: `end`, or the first offset the full map
  // could not take.
  int64_t next_dirty = 0;
  bool map_full = false;
  int64_t map_entries = 0;
  int64_t records_read = 0;
  int64_t records_dropped = 0;
  int64_t tombstones_dropped = 0;
  int64_t aborted_records_dropped = 0;
  int64_t markers_dropped = 0;
  // The first offset of a transaction with no marker below `end`, where
  // the pass stopped; -1 when none.
  int64_t first_unstable_offset = -1;
  int64_t empty_batches_kept = 0;
  int64_t bytes_before = 0;
  int64_t bytes_after = 0;
  // Each swap: the replacement's base offset and the bases it replaced.
  struct Group {
    int64_t base = 0;
    std::vector<int64_t> replaced;
  };
  std::vector<Group> groups;
};

absl::StatusOr<CleanStats> RunCleanPass(LogImpl& log, OffsetMap& map,
                                        const CleanPassOptions& options);

}  // namespace runnel::storage
