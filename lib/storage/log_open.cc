// Log open (with recovery), close, and the small accessors.
#include <fcntl.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runnel/common/status_macros.h"
#include "storage/batch_scanner.h"
#include "storage/checkpoint_file.h"
#include "storage/file_util.h"
#include "storage/log_format.h"
#include "storage/log_impl.h"

namespace runnel::storage {
namespace {

// The entry keys of kStandaloneCheckpointFile.
constexpr absl::string_view kRecoveryPointKey = "recovery-point";
constexpr absl::string_view kLogStartOffsetKey = "log-start-offset";

}  // namespace

absl::StatusOr<std::unique_ptr<Log>> Log::Open(LogOpenOptions options) {
  RUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<LogImpl> log,
                          LogImpl::OpenImpl(std::move(options), /*standalone=*/true));
  return std::unique_ptr<Log>(std::move(log));
}

LogImpl::LogImpl(std::string dir, LogOptions options, const Clock* clock, bool standalone)
    : dir_(std::move(dir)), clock_(clock), standalone_(standalone), options_(std::move(options)) {}

LogImpl::~LogImpl() { (void)Close(); }

absl::StatusOr<std::unique_ptr<LogImpl>> LogImpl::OpenImpl(LogOpenOptions options,
                                                           bool standalone) {
  if (options.dir.empty()) return absl::InvalidArgumentError("LogOpenOptions.dir is empty");
  RUNNEL_RETURN_IF_ERROR(options.log.Validate());
  const Clock* clock = options.clock != nullptr ? options.clock : Clock::System();
  std::unique_ptr<LogImpl> log(new LogImpl(options.dir, options.log, clock, standalone));
  if (standalone) {
    // A missing or corrupt checkpoint only costs a longer recovery.
    absl::StatusOr<std::map<TopicPartition, int64_t>> saved =
        ReadOffsetCheckpoint(JoinPath(options.dir, kStandaloneCheckpointFile));
    absl::MutexLock lock(&log->checkpoint_mu_);
    for (const auto& [key, offset] : saved.ok() ? *saved : std::map<TopicPartition, int64_t>{}) {
      if (key.topic == kRecoveryPointKey) {
        options.recovery_point = std::max(options.recovery_point, offset);
        log->persisted_recovery_point_ = offset;
      } else if (key.topic == kLogStartOffsetKey) {
        options.log_start_offset = std::max(options.log_start_offset, offset);
        log->persisted_start_ = offset;
      }
    }
  }
  RUNNEL_RETURN_IF_ERROR(log->Load(options));
  return log;
}

absl::Status LogImpl::PersistOffsets(bool exact) {
  if (!standalone_) return absl::OkStatus();
  absl::MutexLock lock(&checkpoint_mu_);
  const int64_t rp = recovery_point_.load(std::memory_order_acquire);
  const int64_t start = start_offset_.load(std::memory_order_acquire);
  std::shared_ptr<const SegmentMap> segments = SegmentsSnapshot();
  // Load failed (its error is what Open returns): nothing was recovered.
  if (segments == nullptr) return absl::OkStatus();
  auto holder = segments->upper_bound(rp);
  const int64_t segment = holder == segments->begin() ? rp : std::prev(holder)->first;
  const bool stale = exact ? rp != persisted_recovery_point_ || start != persisted_start_
                           : segment != persisted_segment_ || start != persisted_start_ ||
                                 rp < persisted_recovery_point_;
  if (!stale) return absl::OkStatus();
  RUNNEL_RETURN_IF_ERROR(WriteOffsetCheckpoint(
      JoinPath(dir_, kStandaloneCheckpointFile),
      {{TopicPartition{std::string(kRecoveryPointKey), 0}, rp},
       {TopicPartition{std::string(kLogStartOffsetKey), 0}, start}}));
  persisted_recovery_point_ = rp;
  persisted_segment_ = segment;
  persisted_start_ = start;
  return absl::OkStatus();
}

absl::Status LogImpl::CleanUpStrayFiles(const std::vector<std::string>& names) {
  // An interrupted segment replacement: a complete .swap wins over the
  // segments it replaces (offsets below its end), as in Kafka.
  for (const std::string& name : names) {
    std::optional<int64_t> base =
        ParseSegmentFileName(name, absl::StrCat(kLogFileSuffix, kSwapFileSuffix));
    if (!base.has_value()) continue;
    std::string swap_path = JoinPath(dir_, name);
    RUNNEL_ASSIGN_OR_RETURN(FileHandle fh, OpenFile(swap_path, O_RDONLY));
    RUNNEL_ASSIGN_OR_RETURN(int64_t size, FileSize(fh.get(), swap_path));
    int64_t swap_end = *base;
    BatchScanner scan(fh.get(), swap_path, 0, size);
    while (true) {
      absl::StatusOr<std::optional<BatchInfo>> b = scan.Next();
      if (!b.ok() || !b->has_value()) break;
      swap_end = (*b)->last_offset + 1;
    }
    for (const std::string& other : names) {
      std::optional<int64_t> live = ParseSegmentFileName(other, kLogFileSuffix);
      if (live.has_value() && *live > *base && *live < swap_end) {
        for (absl::string_view ext : {kLogFileSuffix, kIndexFileSuffix, kTimeIndexFileSuffix}) {
          RUNNEL_RETURN_IF_ERROR(RemoveFile(JoinPath(dir_, SegmentFileName(*live, ext))));
        }
      }
    }
    for (absl::string_view ext : {kLogFileSuffix, kIndexFileSuffix, kTimeIndexFileSuffix}) {
      std::string from = JoinPath(dir_, absl::StrCat(SegmentFileName(*base, ext), kSwapFileSuffix));
      if (PathExists(from))
        RUNNEL_RETURN_IF_ERROR(RenameFile(from, JoinPath(dir_, SegmentFileName(*base, ext))));
    }
  }
  for (const std::string& name : names) {
    if (absl::EndsWith(name, kDeletedFileSuffix) || absl::EndsWith(name, kCleanedFileSuffix) ||
        absl::EndsWith(name, kTmpFileSuffix)) {
      RUNNEL_RETURN_IF_ERROR(RemoveFile(JoinPath(dir_, name)));
    }
  }
  return absl::OkStatus();
}

absl::Status LogImpl::Load(const LogOpenOptions& open) {
  absl::MutexLock lock(&mu_);
  if (!IsDirectory(dir_)) {
    // A new partition: its directory entry must survive a crash too.
    RUNNEL_RETURN_IF_ERROR(CreateDirs(dir_));
    const size_t slash = dir_.find_last_of('/');
    RUNNEL_RETURN_IF_ERROR(FsyncDir(slash == std::string::npos ? "." : dir_.substr(0, slash)));
  }
  RUNNEL_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir_));
  RUNNEL_RETURN_IF_ERROR(CleanUpStrayFiles(names));
  RUNNEL_ASSIGN_OR_RETURN(names, ListDir(dir_));

  const int64_t now = clock_->NowMs();
  auto segments = std::make_shared<SegmentMap>();
  for (const std::string& name : names) {
    if (std::optional<int64_t> base = ParseSegmentFileName(name, kLogFileSuffix)) {
      RUNNEL_ASSIGN_OR_RETURN((*segments)[*base], Segment::OpenExisting(dir_, *base, now));
    }
  }
  // Index files whose .log is gone would be mistaken for a new segment's.
  for (const std::string& name : names) {
    for (absl::string_view ext : {kIndexFileSuffix, kTimeIndexFileSuffix}) {
      std::optional<int64_t> base = ParseSegmentFileName(name, ext);
      if (base.has_value() && !segments->contains(*base)) {
        RUNNEL_RETURN_IF_ERROR(RemoveFile(JoinPath(dir_, name)));
      }
    }
  }
  if (segments->empty()) {
    const int64_t start = std::max<int64_t>(open.log_start_offset, 0);
    RUNNEL_ASSIGN_OR_RETURN((*segments)[start],
                            Segment::Create(dir_, start, options_.segment_index_bytes, now));
    // Not open for appends until the first append (see UnparkLocked).
    RUNNEL_RETURN_IF_ERROR((*segments)[start]->CloseForAppends());
  }

  // Recover every segment from the one holding the recovery point on, and
  // any earlier one whose indexes look wrong.
  auto first_unflushed = segments->upper_bound(open.recovery_point);
  if (first_unflushed != segments->begin()) --first_unflushed;
  bool cut = false;
  for (auto it = segments->begin(); it != segments->end();) {
    Segment& seg = *it->second;
    const bool unflushed = it->first >= first_unflushed->first;
    if (cut) {
      // Everything after a torn write is unreachable: drop it, as Kafka does.
      report_.segments_deleted++;
      for (absl::string_view ext : {kLogFileSuffix, kIndexFileSuffix, kTimeIndexFileSuffix}) {
        RUNNEL_RETURN_IF_ERROR(RemoveFile(JoinPath(dir_, SegmentFileName(it->first, ext))));
      }
      it = segments->erase(it);
      continue;
    }
    auto next = std::next(it);
    const bool sane = seg.IndexesLookSane(next == segments->end() ? INT64_MAX : next->first);
    if (unflushed || !sane) {
      if (!sane) report_.rebuilt_indexes.push_back(seg.offset_index().file().path());
      RUNNEL_ASSIGN_OR_RETURN(SegmentRecovery rec, seg.Recover(options_.index_interval_bytes,
                                                               options_.segment_index_bytes));
      report_.segments_recovered++;
      if (rec.truncation.has_value()) {
        report_.truncations.push_back(*rec.truncation);
        cut = unflushed;
      }
      // Recovery preallocated the indexes to rebuild them; trim them. The
      // active segment opens for appends again at the first append.
      RUNNEL_RETURN_IF_ERROR(seg.CloseForAppends());
    }
    ++it;
  }
  active_ = segments->rbegin()->second;
  if (active_->next_offset() == active_->base_offset() && active_->size() > 0) {
    // Not recovered: find its end from the last index entry on.
    absl::Status tail = active_->LoadTail();
    if (!tail.ok()) {
      RUNNEL_ASSIGN_OR_RETURN(SegmentRecovery rec, active_->Recover(options_.index_interval_bytes,
                                                                    options_.segment_index_bytes));
      report_.segments_recovered++;
      if (rec.truncation.has_value()) report_.truncations.push_back(*rec.truncation);
      RUNNEL_RETURN_IF_ERROR(active_->CloseForAppends());
    }
  }
  // The active segment opens for appends at the first append (UnparkLocked):
  // of thousands of partitions opened, most may never be written to.
  active_open_ = false;
  last_append_ms_ = clock_->NowMs();

  const int64_t end = active_->next_offset();
  const int64_t start = std::min(std::max(open.log_start_offset, segments->begin()->first), end);
  end_offset_.store(end, std::memory_order_release);
  start_offset_.store(start, std::memory_order_release);
  recovery_point_.store(std::clamp(open.recovery_point, start, end), std::memory_order_release);
  {
    absl::MutexLock seg_lock(&segments_mu_);
    segments_ = std::move(segments);
  }
  RUNNEL_ASSIGN_OR_RETURN(epochs_,
                          LeaderEpochCache::Load(JoinPath(dir_, kLeaderEpochCheckpointFile)));
  RUNNEL_RETURN_IF_ERROR(epochs_->TruncateFromEnd(end));
  // Recovery may have cut records a snapshot was taken after.
  RUNNEL_RETURN_IF_ERROR(RemoveSnapshotsAbove(end, names));
  return epochs_->TruncateFromStart(start);
}

absl::Status LogImpl::UnparkLocked() {
  if (active_open_) return absl::OkStatus();
  RUNNEL_RETURN_IF_ERROR(active_->OpenForAppends(options_.segment_index_bytes));
  active_open_ = true;
  return absl::OkStatus();
}

absl::StatusOr<bool> LogImpl::CloseIdleFiles(int64_t idle_ms) {
  absl::MutexLock lock(&mu_);
  if (closed_) return true;
  if (!active_open_) return true;
  if (clock_->NowMs() - last_append_ms_ < idle_ms) return false;
  RUNNEL_RETURN_IF_ERROR(active_->CloseForAppends());
  active_open_ = false;
  return true;
}

absl::Status LogImpl::Close() {
  absl::Status result;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::OkStatus();
    closed_ = true;
    if (active_ != nullptr) result = active_->CloseForAppends();
  }
  // The recovery point as of the last Flush, so that a reopen re-validates
  // only what was not flushed (a LogManager checkpoints it instead).
  absl::Status persisted = PersistOffsets(/*exact=*/true);
  if (result.ok()) result = persisted;
  absl::Status removed = RemoveDeletedFiles(/*all=*/true);
  if (result.ok()) result = removed;
  waiters_.Close();
  return result;
}

int64_t LogImpl::size_bytes() const {
  int64_t total = 0;
  for (const auto& [base, seg] : *SegmentsSnapshot()) total += seg->size();
  return total;
}

int32_t LogImpl::segment_count() const { return static_cast<int32_t>(SegmentsSnapshot()->size()); }

std::shared_ptr<const LogImpl::SegmentMap> LogImpl::SegmentsSnapshot() const {
  absl::MutexLock lock(&segments_mu_);
  return segments_;
}

void LogImpl::PublishSegments(std::shared_ptr<const SegmentMap> segments) {
  absl::MutexLock lock(&segments_mu_);
  segments_ = std::move(segments);
}

LogOptions LogImpl::options() const {
  absl::MutexLock lock(&mu_);
  return options_;
}

absl::Status LogImpl::UpdateOptions(const LogOptions& options) {
  RUNNEL_RETURN_IF_ERROR(options.Validate());
  absl::MutexLock lock(&mu_);
  options_ = options;
  return absl::OkStatus();
}

absl::Status LogImpl::WaitForOffset(int64_t offset, absl::Time deadline) const {
  return waiters_.Wait(offset, deadline);
}

WatchId LogImpl::WatchOffset(int64_t offset, std::function<void(absl::Status)> callback) const {
  return waiters_.Watch(offset, std::move(callback));
}

bool LogImpl::CancelWatch(WatchId id) const { return waiters_.Cancel(id); }

absl::Status LogImpl::AssignLeaderEpoch(int32_t epoch, int64_t start_offset) {
  absl::MutexLock lock(&mu_);
  return epochs_->Assign(epoch, start_offset);
}

std::vector<EpochEntry> LogImpl::LeaderEpochs() const { return epochs_->Entries(); }

std::optional<int32_t> LogImpl::LatestLeaderEpoch() const { return epochs_->LatestEpoch(); }

EpochEntry LogImpl::EndOffsetForEpoch(int32_t epoch) const {
  return epochs_->EndOffsetFor(epoch, log_end_offset());
}

}  // namespace runnel::storage
