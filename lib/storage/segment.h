// Segment: one `<base offset>.log` file with its `.index` and `.timeindex`.
//
// This is the unit the log rolls, retention deletes, recovery scans and the
// cleaner (compaction) rewrites. A cleaner uses it like this:
//
//   for (const auto& seg : log_impl.SegmentsSnapshot()) {          // oldest first
//     BatchScanner scan(seg->fd(), seg->log_path(), 0, seg->size());
//     ... read batches (Segment::ReadBytes), keep the latest per key ...
//   }
//   auto out = Segment::Create(dir, base, options, kCleanedFileSuffix, now);
//   out->Append(...);                                       // offsets preserved
//   log_impl.ReplaceSegments(old_segments, std::move(out));  // atomic swap
//
// Ownership: segments are held by shared_ptr: the log's segment list, and
// every reader that got a FileSlice of it. The .log descriptor stays open
// until the last holder goes, so a reader may finish after retention renamed
// the files away. Threads: one writer (the log's writer thread) calls the
// non-const methods; readers call the const ones concurrently. The writer
// publishes size() with release semantics after the bytes are written, so
// readers never look past whole batches.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runnel/log.h"
#include "storage/batch_scanner.h"
#include "storage/file_util.h"
#include "storage/index_file.h"

namespace runnel::storage {

// What Append needs to know about each batch being written.
struct AppendedBatch {
  int64_t last_offset = 0;
  int64_t max_timestamp = -1;
  int64_t size = 0;
};

// What Recover found.
struct SegmentRecovery {
  std::optional<RecoveryTruncation> truncation;  // set when bytes were cut
  int64_t valid_bytes = 0;
};

class Segment {
 public:
  // Creates empty files for a segment starting at `base_offset` (replacing
  // any there), named `<base><suffix>` + ".log" etc. `suffix` is empty for a
  // live segment, kCleanedFileSuffix for a cleaner's replacement. Its indexes
  // are preallocated to `index_max_bytes`.
  static absl::StatusOr<std::shared_ptr<Segment>> Create(const std::string& dir,
                                                         int64_t base_offset,
                                                         int32_t index_max_bytes, int64_t now_ms,
                                                         absl::string_view suffix = "");

  // Opens an existing segment. Nothing is read but the .log size; indexes map
  // lazily. next_offset() is unknown (= base) until LoadTail or Recover.
  static absl::StatusOr<std::shared_ptr<Segment>> OpenExisting(const std::string& dir,
                                                               int64_t base_offset, int64_t now_ms);

  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  int64_t base_offset() const { return base_offset_; }
  int fd() const { return log_fd_.get(); }
  const std::string& log_path() const { return log_path_; }
  const std::string& dir() const { return dir_; }
  // Bytes of whole batches readers may see.
  int64_t size() const { return size_.load(std::memory_order_acquire); }
  // The offset after the last batch (base_offset() when empty).
  int64_t next_offset() const { return next_offset_.load(std::memory_order_acquire); }
  // The largest batch max timestamp seen (-1 when none); loads the time index
  // of a segment opened without recovery.
  int64_t MaxTimestamp() const;
  // What time retention compares: MaxTimestamp(), or the .log's modification
  // time when no batch has a timestamp (Kafka's largestTimestamp).
  int64_t LargestTimestamp() const;
  // How long the segment has been open for segment.ms, Kafka's way: in
  // record time (the incoming batch's max timestamp minus the first batch's)
  // when the first batch has a timestamp, else by the clock since creation.
  int64_t TimeWaitedForRoll(int64_t now_ms, int64_t incoming_max_timestamp) const;
  // True when a batch ending at `last_offset` would overflow the index's
  // relative offsets, or an index is full: the log must roll first.
  bool NeedsRollFor(int64_t last_offset, int64_t bytes) const;
  const OffsetIndex& offset_index() const { return offset_index_; }
  const TimeIndex& time_index() const { return time_index_; }

  // --- Reading (any thread) ---

  // The batch containing `offset`, or the first batch after it when it fell
  // in a gap; nullopt when every batch below `limit` bytes ends before it.
  absl::StatusOr<std::optional<BatchInfo>> FindBatch(int64_t offset, int64_t limit) const;

  // The first batch whose max timestamp >= `timestamp`, nullopt if none.
  absl::StatusOr<std::optional<BatchInfo>> FindBatchByTimestamp(int64_t timestamp) const;

  // Appends [position, position + length) of the .log to `out`; DataLoss
  // when the file is shorter (truncated under the reader).
  absl::Status ReadBytes(int64_t position, int64_t length, ByteBuffer& out) const;

  // --- Writing (the log's writer thread) ---

  // Writes `iov` (whole batches, described by `batches` in order) at the end
  // with one pwritev, adds index entries every `index_interval_bytes`, then
  // publishes the new size. On error the file is cut back to its old size;
  // if even that fails the error says so and the log must stop writing.
  absl::Status Append(std::span<const iovec> iov, std::span<const AppendedBatch> batches,
                      int32_t index_interval_bytes);

  // Removes the batches at or above `offset` (the batch containing it too)
  // and returns the base offset of the first batch removed (nullopt when
  // none was).
  absl::StatusOr<std::optional<int64_t>> TruncateTo(int64_t offset);

  // Validates every batch (length, magic, CRC, increasing offsets), rebuilds
  // both indexes and cuts the file at the first bad byte. `max_batch_bytes`
  // bounds a single batch.
  absl::StatusOr<SegmentRecovery> Recover(int32_t index_interval_bytes, int32_t index_max_bytes);

  // For a segment not recovered: checks that both index files exist and are
  // plausible without mapping them (whole entries; first and last entries
  // inside the .log and at offsets in [base_offset(), offset_limit)). False
  // means Recover must rebuild them.
  bool IndexesLookSane(int64_t offset_limit) const;

  // For the last segment when not recovered: finds next_offset and the max
  // timestamp by scanning the headers after the last index entry.
  absl::Status LoadTail();

  // Makes the segment take appends again (indexes preallocated), or stop
  // taking them (final time-index entry written, indexes trimmed).
  absl::Status OpenForAppends(int32_t index_max_bytes);
  absl::Status CloseForAppends();

  // fsyncs the .log and, `with_indexes`, the index files that changed. A
  // segment that will hold the recovery point needs no index sync: Open
  // recovers it, rebuilding its indexes.
  absl::Status Flush(bool with_indexes = true) const;

  // Renames the three files to *.deleted and returns their new paths; the
  // open descriptor keeps working.
  absl::StatusOr<std::vector<std::string>> RenameForDelete();

  // Renames the three files from `<base><from>.log` to `<base><to>.log` etc.
  // (the cleaner's .cleaned -> .swap -> live steps).
  absl::Status RenameSuffix(absl::string_view to);

 private:
  Segment(std::string dir, int64_t base_offset, std::string suffix, FileHandle log_fd, int64_t size,
          int64_t now_ms);
  std::string PathFor(absl::string_view suffix, absl::string_view ext) const;
  absl::Status AddIndexEntries(const AppendedBatch& b, int64_t position,
                               int32_t index_interval_bytes);

  const std::string dir_;
  const int64_t base_offset_;
  std::string suffix_;    // writer thread only
  std::string log_path_;  // fixed at creation; renames do not change it
  FileHandle log_fd_;
  OffsetIndex offset_index_;
  TimeIndex time_index_;
  const int64_t created_ms_;

  std::atomic<int64_t> size_;
  std::atomic<int64_t> next_offset_;
  mutable std::atomic<int64_t> max_timestamp_{-1};
  mutable std::atomic<bool> max_timestamp_known_{false};
  std::atomic<int64_t> offset_of_max_timestamp_{-1};
  std::atomic<int64_t> first_batch_timestamp_{-1};
  // Writer only.
  int64_t bytes_since_last_index_entry_ = 0;
};

}  // namespace runnel::storage
