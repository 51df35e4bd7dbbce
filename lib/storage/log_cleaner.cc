#include "storage/log_cleaner.h"

#include <algorithm>

#include "absl/time/time.h"
#include "runnel/common/status_macros.h"
#include "storage/checkpoint_file.h"
#include "storage/file_util.h"

namespace runnel::storage {
namespace {

// The max timestamp of the batch holding `offset` (or the next one) in
// `seg`; -1 when none.
int64_t BatchTimestampAt(const Segment& seg, int64_t offset) {
  absl::StatusOr<std::optional<BatchInfo>> b = seg.FindBatch(offset, seg.size());
  return b.ok() && b->has_value() ? (*b)->max_timestamp : -1;
}

// KIP-354: a record may wait in the active segment no longer than
// max.compaction.lag.ms, so the segment rolls once its first batch is that
// old (Kafka folds this into the roll check; the cleaner does it here).
void MaybeRollForMaxLag(LogImpl& log, const LogOptions& opts, int64_t now) {
  if (opts.max_compaction_lag_ms == kNoLimit) return;
  std::shared_ptr<const LogImpl::SegmentMap> segments = log.SegmentsSnapshot();
  const std::shared_ptr<Segment>& active = segments->rbegin()->second;
  if (active->size() == 0) return;
  const int64_t first = BatchTimestampAt(*active, active->base_offset());
  if (first >= 0 && now - first > opts.max_compaction_lag_ms) (void)log.Roll();
}

}  // namespace

LogCleaner::LogCleaner(CleanerOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::System()) {}

LogCleaner::~LogCleaner() { Stop(); }

absl::Status LogCleaner::Load() {
  if (options_.checkpoint_dir.empty()) return absl::OkStatus();
  absl::StatusOr<std::map<TopicPartition, int64_t>> read =
      ReadOffsetCheckpoint(JoinPath(options_.checkpoint_dir, kCleanerOffsetCheckpointFile));
  absl::MutexLock lock(&mu_);
  if (read.ok()) checkpoints_ = *std::move(read);
  return absl::OkStatus();
}

std::optional<int64_t> LogCleaner::FirstDirtyOffset(const TopicPartition& tp) const {
  absl::MutexLock lock(&mu_);
  auto it = checkpoints_.find(tp);
  if (it == checkpoints_.end()) return std::nullopt;
  return it->second;
}

void LogCleaner::Forget(const TopicPartition& tp) {
  absl::MutexLock lock(&mu_);
  checkpoints_.erase(tp);
  truncations_.erase(tp);
  unstable_.erase(tp);
  (void)WriteCheckpoint();
}

CleanableRange LogCleaner::Cleanable(const TopicPartition& tp, const LogImpl& log) const {
  CleanableRange r;
  // Read first: a truncation after this point shows up as a changed count
  // at the next round (and fails this pass's swap).
  r.truncations = log.truncations();
  const LogOptions opts = log.options();
  const int64_t now = clock_->NowMs();
  std::shared_ptr<const LogImpl::SegmentMap> segments = log.SegmentsSnapshot();
  const int64_t start = log.log_start_offset();
  const int64_t log_end = log.log_end_offset();
  // A checkpoint outside the log (truncated, or retention passed it) starts
  // over from the log start, as in Kafka.
  bool truncated = false;
  {
    absl::MutexLock lock(&mu_);
    auto cp = checkpoints_.find(tp);
    r.first_dirty = cp != checkpoints_.end() ? cp->second : start;
    auto tr = truncations_.find(tp);
    truncated = tr != truncations_.end() && tr->second != r.truncations;
  }
  // Truncated since the checkpoint: offsets below it may now hold records
  // never deduplicated.
  if (truncated || r.first_dirty < start || r.first_dirty > log_end) r.first_dirty = start;
  r.end = segments->rbegin()->first;
  for (auto it = segments->begin(); std::next(it) != segments->end(); ++it) {
    // min.compaction.lag.ms: nothing from the first segment holding a record
    // that young on.
    if (opts.min_compaction_lag_ms > 0 &&
        it->second->MaxTimestamp() > now - opts.min_compaction_lag_ms) {
      r.end = it->first;
      break;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    auto u = unstable_.find(tp);
    if (u != unstable_.end() && u->second.seen_end == segments->rbegin()->first) {
      r.end = std::min(r.end, u->second.stable_end);
    }
  }
  const Segment* first_dirty_segment = nullptr;
  for (auto it = segments->begin(); std::next(it) != segments->end() && it->first < r.end; ++it) {
    if (std::next(it)->first <= r.first_dirty) {
      r.clean_bytes += it->second->size();
    } else {
      r.dirty_bytes += it->second->size();
      if (first_dirty_segment == nullptr) first_dirty_segment = it->second.get();
    }
  }
  if (first_dirty_segment != nullptr && opts.max_compaction_lag_ms != kNoLimit) {
    const int64_t ts = BatchTimestampAt(
        *first_dirty_segment, std::max(r.first_dirty, first_dirty_segment->base_offset()));
    r.max_lag_exceeded = ts >= 0 && now - ts > opts.max_compaction_lag_ms;
  }
  return r;
}

absl::StatusOr<std::optional<CleanStats>> LogCleaner::CleanOnce(const LogList& logs) {
  const int64_t now = clock_->NowMs();
  const std::pair<TopicPartition, std::shared_ptr<LogImpl>>* best = nullptr;
  CleanableRange best_range;
  for (const auto& entry : logs) {
    LogImpl& log = *entry.second;
    const LogOptions opts = log.options();
    if (!HasCompact(opts.cleanup_policy)) continue;
    MaybeRollForMaxLag(log, opts, now);
    CleanableRange r = Cleanable(entry.first, log);
    if (r.dirty_bytes == 0 || r.first_dirty >= r.end) continue;
    const bool due = r.max_lag_exceeded || r.dirty_ratio() > opts.min_cleanable_dirty_ratio;
    if (!due) continue;
    // The filthiest log first; one past max.compaction.lag.ms goes before
    // any that is merely dirty.
    if (best == nullptr || (r.max_lag_exceeded && !best_range.max_lag_exceeded) ||
        (r.max_lag_exceeded == best_range.max_lag_exceeded &&
         r.dirty_ratio() > best_range.dirty_ratio())) {
      best = &entry;
      best_range = r;
    }
  }
  if (best == nullptr) return std::nullopt;
  RUNNEL_ASSIGN_OR_RETURN(CleanStats stats, CleanRange(best->first, *best->second, best_range));
  return stats;
}

absl::StatusOr<CleanStats> LogCleaner::Clean(const TopicPartition& tp, LogImpl& log) {
  return CleanRange(tp, log, Cleanable(tp, log));
}

absl::StatusOr<CleanStats> LogCleaner::CleanRange(const TopicPartition& tp, LogImpl& log,
                                                  const CleanableRange& range) {
  absl::MutexLock pass(&pass_mu_);
  if (map_ == nullptr) map_ = std::make_unique<OffsetMap>(options_.dedupe_buffer_bytes);
  CleanPassOptions o;
  o.first_dirty = range.first_dirty;
  o.end = range.end;
  o.now_ms = clock_->NowMs();
  o.io_chunk_bytes = options_.io_chunk_bytes;
  o.abort = &abort_;
  o.before_swap = options_.before_swap;
  const int64_t active_base = log.SegmentsSnapshot()->rbegin()->first;
  absl::StatusOr<CleanStats> stats = RunCleanPass(log, *map_, o);
  map_->Clear();  // the pages go back until the next pass
  if (!stats.ok()) return stats.status();
  absl::MutexLock lock(&mu_);
  checkpoints_[tp] = stats->next_dirty;
  truncations_[tp] = range.truncations;
  if (stats->first_unstable_offset >= 0) {
    unstable_[tp] = {active_base, stats->next_dirty};
  } else {
    unstable_.erase(tp);
  }
  RUNNEL_RETURN_IF_ERROR(WriteCheckpoint());
  return stats;
}

absl::Status LogCleaner::WriteCheckpoint() {
  if (options_.checkpoint_dir.empty()) return absl::OkStatus();
  return WriteOffsetCheckpoint(JoinPath(options_.checkpoint_dir, kCleanerOffsetCheckpointFile),
                               checkpoints_);
}

void LogCleaner::Start(std::function<LogList()> logs) {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this, logs = std::move(logs)] { Loop(logs); });
}

void LogCleaner::Stop() {
  abort_.store(true);
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  abort_.store(false);
}

void LogCleaner::Loop(std::function<LogList()> logs) {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    absl::StatusOr<std::optional<CleanStats>> round = CleanOnce(logs());
    if (round.ok() && round->has_value()) continue;  // more may be due
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(options_.backoff_ms));
  }
}

}  // namespace runnel::storage
