// Everything that removes data: truncation (replication), log start offset
// moves (DeleteRecords), retention, and the cleaner's segment replacement.
// Segment files are renamed to *.deleted at once and removed after
// file.delete.delay.ms; open descriptors keep serving readers meanwhile.
#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runnel/common/status_macros.h"
#include "storage/file_util.h"
#include "storage/log_format.h"
#include "storage/log_impl.h"

namespace runnel::storage {

absl::Status LogImpl::DeleteSegmentsLocked(const std::vector<std::shared_ptr<Segment>>& doomed) {
  if (doomed.empty()) return absl::OkStatus();
  dir_dirty_ = true;
  auto segments = std::make_shared<SegmentMap>(*SegmentsSnapshot());
  for (const auto& seg : doomed) segments->erase(seg->base_offset());
  PublishSegments(std::move(segments));
  const int64_t due = clock_->NowMs() + options_.file_delete_delay_ms;
  absl::Status result;
  for (const auto& seg : doomed) {
    absl::StatusOr<std::vector<std::string>> renamed = seg->RenameForDelete();
    if (!renamed.ok()) {
      if (result.ok()) result = renamed.status();
      continue;
    }
    absl::MutexLock lock(&deletes_mu_);
    for (std::string& path : *renamed) pending_deletes_.push_back({std::move(path), due});
  }
  if (options_.file_delete_delay_ms == 0) {
    absl::Status removed = RemoveDeletedFiles(false);
    if (result.ok()) result = removed;
  }
  return result;
}

absl::Status LogImpl::RemoveDeletedFiles(bool all) {
  const int64_t now = clock_->NowMs();
  std::vector<std::string> due;
  {
    absl::MutexLock lock(&deletes_mu_);
    auto keep = std::partition(pending_deletes_.begin(), pending_deletes_.end(),
                               [&](const PendingDelete& d) { return !all && d.due_ms > now; });
    for (auto it = keep; it != pending_deletes_.end(); ++it) due.push_back(std::move(it->path));
    pending_deletes_.erase(keep, pending_deletes_.end());
  }
  absl::Status result;
  for (const std::string& path : due) {
    absl::Status s = RemoveFile(path);
    if (result.ok()) result = s;
  }
  return result;
}

absl::Status LogImpl::MoveStartOffsetLocked(int64_t offset) {
  if (offset <= start_offset_.load()) return absl::OkStatus();
  start_offset_.store(offset, std::memory_order_release);
  if (recovery_point_.load() < offset) recovery_point_.store(offset, std::memory_order_release);
  return epochs_->TruncateFromStart(offset);
}

absl::Status LogImpl::RemoveSnapshotsAbove(int64_t end) {
  RUNNEL_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir_));
  return RemoveSnapshotsAbove(end, names);
}

absl::Status LogImpl::RemoveSnapshotsAbove(int64_t end, std::span<const std::string> names) {
  for (const std::string& name : names) {
    std::optional<int64_t> offset = ParseSegmentFileName(name, kSnapshotFileSuffix);
    if (offset.has_value() && *offset > end) {
      RUNNEL_RETURN_IF_ERROR(RemoveFile(JoinPath(dir_, name)));
      dir_dirty_ = true;
    }
  }
  return absl::OkStatus();
}

absl::Status LogImpl::Truncate(int64_t offset) {
  bool full = false;
  {
    absl::MutexLock lock(&mu_);
    RUNNEL_RETURN_IF_ERROR(CheckWritable());
    if (offset >= end_offset_.load()) return absl::OkStatus();
    std::shared_ptr<const SegmentMap> segments = SegmentsSnapshot();
    auto keep_it = segments->lower_bound(offset);  // first segment wholly removed
    if (offset <= start_offset_.load() || keep_it == segments->begin()) {
      full = true;
    } else {
      std::vector<std::shared_ptr<Segment>> doomed;
      for (auto it = keep_it; it != segments->end(); ++it) doomed.push_back(it->second);
      std::shared_ptr<Segment> keep = std::prev(keep_it)->second;
      RUNNEL_RETURN_IF_ERROR(DeleteSegmentsLocked(doomed));
      active_ = keep;
      RUNNEL_ASSIGN_OR_RETURN(std::optional<int64_t> removed, keep->TruncateTo(offset));
      dir_dirty_ = true;  // the next Flush must make the shorter file durable
      RUNNEL_RETURN_IF_ERROR(keep->OpenForAppends(options_.segment_index_bytes));
      active_open_ = true;
      const int64_t end = removed.has_value() ? std::min(offset, *removed) : offset;
      truncations_.fetch_add(1, std::memory_order_acq_rel);
      end_offset_.store(end, std::memory_order_release);
      if (recovery_point_.load() > end) recovery_point_.store(end, std::memory_order_release);
      RUNNEL_RETURN_IF_ERROR(epochs_->TruncateFromEnd(end));
      RUNNEL_RETURN_IF_ERROR(RemoveSnapshotsAbove(end));
      // A recovery point left above the truncation would let a reopen skip
      // the new, unflushed data written there.
      RUNNEL_RETURN_IF_ERROR(PersistOffsets(/*exact=*/true));
    }
  }
  if (full) return TruncateFully(offset);
  waiters_.Notify();
  return absl::OkStatus();
}

absl::Status LogImpl::TruncateFully(int64_t new_start_offset) {
  if (new_start_offset < 0) return absl::InvalidArgumentError("negative start offset");
  {
    absl::MutexLock lock(&mu_);
    RUNNEL_RETURN_IF_ERROR(CheckWritable());
    std::vector<std::shared_ptr<Segment>> doomed;
    for (const auto& [base, seg] : *SegmentsSnapshot()) doomed.push_back(seg);
    RUNNEL_RETURN_IF_ERROR(DeleteSegmentsLocked(doomed));
    RUNNEL_ASSIGN_OR_RETURN(
        std::shared_ptr<Segment> fresh,
        Segment::Create(dir_, new_start_offset, options_.segment_index_bytes, clock_->NowMs()));
    auto segments = std::make_shared<SegmentMap>();
    (*segments)[new_start_offset] = fresh;
    // The offsets move before the new segment appears, so a reader never
    // pairs the old start offset with the new, empty segment list.
    truncations_.fetch_add(1, std::memory_order_acq_rel);
    end_offset_.store(new_start_offset, std::memory_order_release);
    start_offset_.store(new_start_offset, std::memory_order_release);
    recovery_point_.store(new_start_offset, std::memory_order_release);
    PublishSegments(std::move(segments));
    active_ = std::move(fresh);
    active_open_ = true;
    unflushed_messages_ = 0;
    first_unflushed_ms_ = -1;
    RUNNEL_RETURN_IF_ERROR(epochs_->Clear());
    // Every snapshot describes records this call removed.
    RUNNEL_RETURN_IF_ERROR(RemoveSnapshotsAbove(-1));
    RUNNEL_RETURN_IF_ERROR(PersistOffsets(/*exact=*/true));
  }
  waiters_.Notify();
  return absl::OkStatus();
}

absl::Status LogImpl::DeleteRecordsBefore(int64_t offset) {
  absl::MutexLock lock(&mu_);
  RUNNEL_RETURN_IF_ERROR(CheckWritable());
  if (offset > end_offset_.load()) {
    return absl::OutOfRangeError(absl::StrCat("cannot delete records before ", offset,
                                              ": the log ends at ", end_offset_.load()));
  }
  if (offset <= start_offset_.load()) return absl::OkStatus();
  RUNNEL_RETURN_IF_ERROR(MoveStartOffsetLocked(offset));
  std::shared_ptr<const SegmentMap> segments = SegmentsSnapshot();
  std::vector<std::shared_ptr<Segment>> doomed;
  for (auto it = segments->begin(); it != segments->end(); ++it) {
    auto next = std::next(it);
    if (next == segments->end() || next->first > offset) break;
    doomed.push_back(it->second);
  }
  return DeleteSegmentsLocked(doomed);
}

absl::StatusOr<int> LogImpl::ApplyRetention() {
  absl::MutexLock lock(&mu_);
  RUNNEL_RETURN_IF_ERROR(CheckWritable());
  // Earlier deletions whose delay has passed go now.
  RUNNEL_RETURN_IF_ERROR(RemoveDeletedFiles(false));
  std::shared_ptr<const SegmentMap> segments = SegmentsSnapshot();
  std::vector<std::shared_ptr<Segment>> ordered;
  int64_t total = 0;
  for (const auto& [base, seg] : *segments) {
    ordered.push_back(seg);
    total += seg->size();
  }
  ordered.pop_back();  // never the active segment
  const int64_t now = clock_->NowMs();
  const int64_t start = start_offset_.load();
  // How many of the oldest segments each rule deletes; the largest wins.
  size_t by_start = 0, by_time = 0, by_size = 0;
  while (by_start < ordered.size()) {
    int64_t next_base = by_start + 1 < ordered.size() ? ordered[by_start + 1]->base_offset()
                                                      : active_->base_offset();
    if (next_base > start) break;
    ++by_start;
  }
  if (HasDelete(options_.cleanup_policy)) {
    if (options_.retention_ms >= 0) {
      while (by_time < ordered.size()) {
        int64_t newest = ordered[by_time]->LargestTimestamp();
        if (newest < 0 || now - newest <= options_.retention_ms) break;
        ++by_time;
      }
    }
    if (options_.retention_bytes >= 0) {
      int64_t excess = total - options_.retention_bytes;
      while (by_size < ordered.size() && excess - ordered[by_size]->size() >= 0) {
        excess -= ordered[by_size]->size();
        ++by_size;
      }
    }
  }
  const size_t count = std::max({by_start, by_time, by_size});
  if (count == 0) return 0;
  std::vector<std::shared_ptr<Segment>> doomed(ordered.begin(),
                                               ordered.begin() + static_cast<ptrdiff_t>(count));
  const int64_t new_start =
      count < ordered.size() ? ordered[count]->base_offset() : active_->base_offset();
  RUNNEL_RETURN_IF_ERROR(MoveStartOffsetLocked(new_start));
  RUNNEL_RETURN_IF_ERROR(DeleteSegmentsLocked(doomed));
  return static_cast<int>(count);
}

absl::Status LogImpl::ReplaceSegments(std::span<const std::shared_ptr<Segment>> old,
                                      std::shared_ptr<Segment> replacement) {
  absl::MutexLock lock(&mu_);
  RUNNEL_RETURN_IF_ERROR(CheckWritable());
  if (old.empty() || replacement == nullptr ||
      replacement->base_offset() != old.front()->base_offset()) {
    return absl::InvalidArgumentError("replacement must start where the old segments start");
  }
  std::shared_ptr<const SegmentMap> current = SegmentsSnapshot();
  auto it = current->find(old.front()->base_offset());
  for (const auto& seg : old) {
    if (it == current->end() || it->second != seg || seg == active_) {
      return absl::FailedPreconditionError(
          "segments to replace are not consecutive inactive segments of this log");
    }
    ++it;
  }
  RUNNEL_RETURN_IF_ERROR(replacement->Flush());
  RUNNEL_RETURN_IF_ERROR(replacement->CloseForAppends());
  RUNNEL_RETURN_IF_ERROR(replacement->RenameSuffix(kSwapFileSuffix));
  RUNNEL_RETURN_IF_ERROR(FsyncDir(dir_));
  const int64_t due = clock_->NowMs() + options_.file_delete_delay_ms;
  for (const auto& seg : old) {
    RUNNEL_ASSIGN_OR_RETURN(std::vector<std::string> renamed, seg->RenameForDelete());
    absl::MutexLock deletes(&deletes_mu_);
    for (std::string& path : renamed) pending_deletes_.push_back({std::move(path), due});
  }
  RUNNEL_RETURN_IF_ERROR(replacement->RenameSuffix(""));
  RUNNEL_RETURN_IF_ERROR(FsyncDir(dir_));
  auto segments = std::make_shared<SegmentMap>(*current);
  for (const auto& seg : old) segments->erase(seg->base_offset());
  (*segments)[replacement->base_offset()] = std::move(replacement);
  PublishSegments(std::move(segments));
  return absl::OkStatus();
}

}  // namespace runnel::storage
