// The on-disk format of a Runnel (= Kafka) log directory.
//
// Grammar (all integers big-endian; sizes in bytes):
//
//   data_dir      := partition_dir* recovery-point-offset-checkpoint
//                    log-start-offset-checkpoint cleaner-offset-checkpoint?
//   partition_dir := "<topic>-<partition>/" segment* leader-epoch-checkpoint?
//                    <offset>.snapshot*
//   segment       := <base>.log <base>.index <base>.timeindex
//                    (<base> = base offset, 20 decimal digits, zero-padded)
//   .log          := record_batch*      (record batch v2, exactly as on the
//                                        wire; see common/record_batch_format.h)
//   .index        := offset_entry*      offset_entry := relative_offset:int32
//                                                       position:int32      (8)
//   .timeindex    := time_entry*        time_entry := timestamp:int64
//                                                     relative_offset:int32 (12)
//     relative offsets are offset - <base>; index entries strictly increase in
//     both fields; the time index only gets an entry when the maximum
//     timestamp grows. Both are sparse: an entry at most every
//     index.interval.bytes of .log. Runnel writes index files at exactly
//     their entries (appended with pwrite, never preallocated); it also
//     reads files preallocated by Kafka or by a crash (a zero-filled tail
//     ends the valid entries) and cuts such a tail before appending.
//
//   checkpoint    := "0\n" count "\n" (entry "\n"){count}     (text, decimal)
//     recovery-point-offset-checkpoint, log-start-offset-checkpoint,
//     cleaner-offset-checkpoint (the first offset compaction has not yet
//     deduplicated):
//                    entry := topic " " partition " " offset
//     leader-epoch-checkpoint:  entry := epoch " " start_offset
//     standalone-log-checkpoint (in the partition_dir of a log opened
//     without a LogManager, which keeps no data_dir checkpoints for it):
//                    entry := ("recovery-point" | "log-start-offset") " 0 " offset
//   Checkpoints are replaced atomically: written to <name>.tmp, fsynced,
//   renamed over <name>, directory fsynced.
//
//   <offset>.snapshot (same 20-digit name) is a state snapshot a layer above
//   storage keeps beside the log (the broker's producer state, Kafka's
//   format). Storage never reads one; it removes those naming an offset
//   above the log end when the end moves down (Truncate, TruncateFully,
//   recovery at Open), so a snapshot never describes records the log lost.
//
//   Deleted segment files are renamed to <name>.deleted and removed later;
//   a deleted partition directory to "<topic>-<partition>.<uuid>-delete".
//   Files ending in .cleaned / .swap belong to the cleaner (a replacement
//   segment being written / about to be swapped in).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace runnel::storage {

inline constexpr absl::string_view kLogFileSuffix = ".log";
inline constexpr absl::string_view kIndexFileSuffix = ".index";
inline constexpr absl::string_view kTimeIndexFileSuffix = ".timeindex";
inline constexpr absl::string_view kSnapshotFileSuffix = ".snapshot";
inline constexpr absl::string_view kDeletedFileSuffix = ".deleted";
inline constexpr absl::string_view kCleanedFileSuffix = ".cleaned";
inline constexpr absl::string_view kSwapFileSuffix = ".swap";
inline constexpr absl::string_view kTmpFileSuffix = ".tmp";
inline constexpr absl::string_view kDeleteDirSuffix = "-delete";

inline constexpr absl::string_view kRecoveryPointCheckpointFile =
    "recovery-point-offset-checkpoint";
inline constexpr absl::string_view kLogStartOffsetCheckpointFile = "log-start-offset-checkpoint";
inline constexpr absl::string_view kCleanerOffsetCheckpointFile = "cleaner-offset-checkpoint";
inline constexpr absl::string_view kLeaderEpochCheckpointFile = "leader-epoch-checkpoint";
inline constexpr absl::string_view kStandaloneCheckpointFile = "standalone-log-checkpoint";
inline constexpr int kCheckpointVersion = 0;

inline constexpr size_t kBaseOffsetDigits = 20;

inline constexpr size_t kOffsetIndexEntrySize = 8;  // relative offset:int32, position:int32
inline constexpr size_t kTimeIndexEntrySize = 12;   // timestamp:int64, relative offset:int32

// Positions in .log and relative offsets are int32 in the indexes, so a
// segment holds at most 2 GiB and 2^31 offsets.
inline constexpr int64_t kMaxSegmentBytes = INT32_MAX;
// The smallest legal segment.bytes (Kafka: LegacyRecord.RECORD_OVERHEAD_V0).
inline constexpr int64_t kMinSegmentBytes = 14;

// "<20-digit base offset><suffix>".
std::string SegmentFileName(int64_t base_offset, absl::string_view suffix);

// The base offset of a "<20 digits><suffix>" name, nullopt for other names.
std::optional<int64_t> ParseSegmentFileName(absl::string_view name, absl::string_view suffix);

}  // namespace runnel::storage
