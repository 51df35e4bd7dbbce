// LogImpl: the implementation of runnel::storage::Log, plus what the
// LogManager and the cleaner need beyond the public API (segment listing and
// atomic replacement, time-based flushing, removal of deleted files).
//
// Its parts live in separate files: log_open.cc (open, recovery, close),
// log_append.cc (append, roll, flush), log_read.cc (reads, timestamp
// lookup) and log_truncate.cc (truncation, retention, segment deletion and
// replacement).
//
// Concurrency (see also runnel/log.h):
//   - mu_ serialises writers. It guards the active segment, options and the
//     flush bookkeeping.
//   - The segment list is an immutable map swapped under segments_mu_; a
//     reader holds that lock only to copy the shared_ptr.
//   - end_offset_ / start_offset_ / recovery_point_ are atomics published
//     with release after the bytes they cover are written and visible in the
//     segment's size(); readers load them with acquire.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runnel/log.h"
#include "storage/leader_epoch_cache.h"
#include "storage/offset_waiters.h"
#include "storage/segment.h"

namespace runnel::storage {

class LogImpl final : public Log {
 public:
  using SegmentMap = std::map<int64_t, std::shared_ptr<Segment>>;

  // `standalone`: opened by Log::Open, not by a LogManager; the log then
  // keeps its own recovery point and start offset in
  // kStandaloneCheckpointFile (see PersistOffsets).
  static absl::StatusOr<std::unique_ptr<LogImpl>> OpenImpl(LogOpenOptions options,
                                                           bool standalone = false);
  ~LogImpl() override;

  // Log.
  absl::StatusOr<AppendResult> Append(std::span<uint8_t> batches,
                                      const AppendOptions& options) override;
  absl::StatusOr<AppendResult> AppendRecords(std::span<const Record> records,
                                             const AppendOptions& options) override;
  absl::Status Flush() override;
  absl::Status Roll() override;
  absl::Status Truncate(int64_t offset) override;
  absl::Status TruncateFully(int64_t new_start_offset) override;
  absl::Status DeleteRecordsBefore(int64_t offset) override;
  absl::StatusOr<int> ApplyRetention() override;
  absl::StatusOr<ReadResult> Read(int64_t offset, const ReadOptions& options) const override;
  absl::StatusOr<std::optional<TimestampAndOffset>> ReadByTimestamp(
      int64_t timestamp_ms) const override;
  int64_t log_start_offset() const override {
    return start_offset_.load(std::memory_order_acquire);
  }
  int64_t log_end_offset() const override { return end_offset_.load(std::memory_order_acquire); }
  int64_t recovery_point() const override {
    return recovery_point_.load(std::memory_order_acquire);
  }
  int64_t size_bytes() const override;
  int32_t segment_count() const override;
  const std::string& dir() const override { return dir_; }
  LogOptions options() const override;
  absl::Status UpdateOptions(const LogOptions& options) override;
  const RecoveryReport& recovery_report() const override { return report_; }
  absl::Status WaitForOffset(int64_t offset, absl::Time deadline) const override;
  WatchId WatchOffset(int64_t offset, std::function<void(absl::Status)> callback) const override;
  bool CancelWatch(WatchId id) const override;
  absl::Status AssignLeaderEpoch(int32_t epoch, int64_t start_offset) override;
  std::vector<EpochEntry> LeaderEpochs() const override;
  std::optional<int32_t> LatestLeaderEpoch() const override;
  EpochEntry EndOffsetForEpoch(int32_t epoch) const override;
  absl::Status Close() override;

  // --- For the LogManager and the cleaner ---

  // The segments, oldest first. The last is the active one.
  std::shared_ptr<const SegmentMap> SegmentsSnapshot() const;

  // Replaces `old` (consecutive segments of this log, oldest first, not the
  // active one) with `replacement`, a segment created with
  // Segment::Create(dir(), old.front()->base_offset(), ..., kCleanedFileSuffix)
  // holding the surviving batches with their offsets. Readers see either the
  // old segments or the new one. Crash safety follows Kafka: .cleaned is
  // renamed to .swap, the old files to .deleted, then .swap to the live name;
  // Open finishes an interrupted swap.
  absl::Status ReplaceSegments(std::span<const std::shared_ptr<Segment>> old,
                               std::shared_ptr<Segment> replacement);

  // flush.ms: flushes when the oldest unflushed append is that old.
  absl::Status MaybeFlushByTime();
  // Removes *.deleted files whose file.delete.delay.ms has passed (all of
  // them when `all`).
  absl::Status RemoveDeletedFiles(bool all);

  // When nothing was appended for `idle_ms`, stops the active segment taking
  // appends (its final time-index entry is written), as on close. The next
  // append reopens it. Returns whether the log is (now) parked. (Index
  // files hold no descriptors between appends in any case.)
  absl::StatusOr<bool> CloseIdleFiles(int64_t idle_ms);

  const Clock* clock() const { return clock_; }

  // How many times Truncate/TruncateFully removed records. The cleaner
  // compares it with the count its checkpoint was taken at: a log truncated
  // below the checkpoint and grown again must be deduplicated from its start.
  int64_t truncations() const { return truncations_.load(std::memory_order_acquire); }

 private:
  LogImpl(std::string dir, LogOptions options, const Clock* clock, bool standalone);

  // Standalone logs only: writes kStandaloneCheckpointFile when it is
  // stale. Unless `exact`, only a change that shortens the next recovery
  // counts (the recovery point reached a later segment, or the start offset
  // moved): a Flush after every append then costs no checkpoint write.
  // With `exact` (Close, truncation) any difference is written.
  absl::Status PersistOffsets(bool exact) ABSL_LOCKS_EXCLUDED(checkpoint_mu_);

  // log_open.cc
  absl::Status Load(const LogOpenOptions& options);
  absl::Status CleanUpStrayFiles(const std::vector<std::string>& names);

  // log_append.cc
  // Append, minus the CRC check when `built_here` (AppendRecords' own batch).
  absl::StatusOr<AppendResult> AppendBatches(std::span<uint8_t> batches,
                                             const AppendOptions& options, bool built_here);
  absl::Status RollLocked(int64_t base_offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // fsyncs the segments holding offsets below `offset` (all: kNoLimit) and
  // moves the recovery point up to it.
  absl::Status FlushUpTo(int64_t offset);
  absl::Status CheckWritable() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes the active segment take appends again after CloseIdleFiles.
  absl::Status UnparkLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // log_truncate.cc
  // Removes `doomed` from the segment list and renames their files away.
  absl::Status DeleteSegmentsLocked(const std::vector<std::shared_ptr<Segment>>& doomed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status MoveStartOffsetLocked(int64_t offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the <offset>.snapshot files (log_format.h) among `names` (the
  // directory's entries) naming an offset above `end`: the end moved down,
  // so they describe records now gone.
  absl::Status RemoveSnapshotsAbove(int64_t end, std::span<const std::string> names)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RemoveSnapshotsAbove(int64_t end) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishSegments(std::shared_ptr<const SegmentMap> segments);

  const std::string dir_;
  const Clock* const clock_;
  const bool standalone_;

  // Orders writers of kStandaloneCheckpointFile; taken after mu_ if both.
  absl::Mutex checkpoint_mu_;
  int64_t persisted_recovery_point_ ABSL_GUARDED_BY(checkpoint_mu_) = -1;
  int64_t persisted_segment_ ABSL_GUARDED_BY(checkpoint_mu_) = -1;  // holding it
  int64_t persisted_start_ ABSL_GUARDED_BY(checkpoint_mu_) = -1;

  mutable absl::Mutex mu_;
  LogOptions options_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Segment> active_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // Set when a failed write could not be undone or an fsync failed; every
  // later write fails with it.
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  int64_t unflushed_messages_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t first_unflushed_ms_ ABSL_GUARDED_BY(mu_) = -1;
  // Files were created, renamed or removed since the directory was last
  // fsynced; the next Flush syncs it too.
  bool dir_dirty_ ABSL_GUARDED_BY(mu_) = true;
  // The active segment's indexes are preallocated and open for appends.
  // False after Open and CloseIdleFiles, until the next append.
  bool active_open_ ABSL_GUARDED_BY(mu_) = false;
  int64_t last_append_ms_ ABSL_GUARDED_BY(mu_) = 0;

  mutable absl::Mutex segments_mu_;
  std::shared_ptr<const SegmentMap> segments_ ABSL_GUARDED_BY(segments_mu_);

  struct PendingDelete {
    std::string path;
    int64_t due_ms;
  };
  absl::Mutex deletes_mu_;
  std::vector<PendingDelete> pending_deletes_ ABSL_GUARDED_BY(deletes_mu_);

  std::atomic<int64_t> start_offset_{0};
  std::atomic<int64_t> end_offset_{0};
  std::atomic<int64_t> recovery_point_{0};
  std::atomic<int64_t> truncations_{0};
  std::unique_ptr<LeaderEpochCache> epochs_;
  RecoveryReport report_;  // written by Open only
  mutable OffsetWaiters waiters_{&end_offset_};
};

}  // namespace runnel::storage
