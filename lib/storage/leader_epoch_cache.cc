#include "storage/leader_epoch_cache.h"

#include <algorithm>

#include "runnel/common/status_macros.h"
#include "storage/checkpoint_file.h"

namespace runnel::storage {

absl::StatusOr<std::unique_ptr<LeaderEpochCache>> LeaderEpochCache::Load(std::string path) {
  std::unique_ptr<LeaderEpochCache> cache(new LeaderEpochCache(std::move(path)));
  RUNNEL_ASSIGN_OR_RETURN(std::vector<EpochEntry> entries, ReadEpochCheckpoint(cache->path_));
  absl::MutexLock lock(&cache->mu_);
  cache->entries_ = std::move(entries);
  return cache;
}

absl::Status LeaderEpochCache::PersistLocked() const {
  return WriteEpochCheckpoint(path_, entries_);
}

absl::Status LeaderEpochCache::Assign(int32_t epoch, int64_t start_offset) {
  if (epoch < 0 || start_offset < 0) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (!entries_.empty() && entries_.back().epoch == epoch &&
      entries_.back().start_offset <= start_offset) {
    return absl::OkStatus();
  }
  std::erase_if(entries_, [&](const EpochEntry& e) {
    return e.epoch >= epoch || e.start_offset >= start_offset;
  });
  entries_.push_back({epoch, start_offset});
  return PersistLocked();
}

absl::Status LeaderEpochCache::TruncateFromEnd(int64_t end_offset) {
  absl::MutexLock lock(&mu_);
  size_t before = entries_.size();
  std::erase_if(entries_, [&](const EpochEntry& e) { return e.start_offset >= end_offset; });
  return entries_.size() == before ? absl::OkStatus() : PersistLocked();
}

absl::Status LeaderEpochCache::TruncateFromStart(int64_t start_offset) {
  absl::MutexLock lock(&mu_);
  // The last entry starting at or below start_offset still covers it.
  size_t keep_from = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].start_offset <= start_offset) keep_from = i;
  }
  if (entries_.empty() || entries_[keep_from].start_offset >= start_offset) {
    return absl::OkStatus();
  }
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<ptrdiff_t>(keep_from));
  entries_.front().start_offset = start_offset;
  return PersistLocked();
}

absl::Status LeaderEpochCache::Clear() {
  absl::MutexLock lock(&mu_);
  entries_.clear();
  return PersistLocked();
}

std::vector<EpochEntry> LeaderEpochCache::Entries() const {
  absl::MutexLock lock(&mu_);
  return entries_;
}

std::optional<int32_t> LeaderEpochCache::LatestEpoch() const {
  absl::MutexLock lock(&mu_);
  if (entries_.empty()) return std::nullopt;
  return entries_.back().epoch;
}

EpochEntry LeaderEpochCache::EndOffsetFor(int32_t epoch, int64_t log_end_offset) const {
  absl::MutexLock lock(&mu_);
  const EpochEntry unknown{-1, -1};
  if (epoch < 0 || entries_.empty()) return unknown;
  if (entries_.back().epoch == epoch) return {epoch, log_end_offset};
  auto higher = std::find_if(entries_.begin(), entries_.end(),
                             [&](const EpochEntry& e) { return e.epoch > epoch; });
  if (higher == entries_.end()) return unknown;
  if (higher == entries_.begin()) return {epoch, higher->start_offset};
  return {std::prev(higher)->epoch, higher->start_offset};
}

}  // namespace runnel::storage
