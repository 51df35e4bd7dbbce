#include "storage/offset_waiters.h"

#include <vector>

namespace runnel::storage {

absl::Status OffsetWaiters::Wait(int64_t offset, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  interested_.fetch_add(1);
  absl::Status result;
  while (true) {
    if (end_->load() > offset) break;
    if (closed_) {
      result = absl::CancelledError("log closed");
      break;
    }
    if (cv_.WaitWithDeadline(&mu_, deadline) && end_->load() <= offset && !closed_) {
      result = absl::DeadlineExceededError("no data before the deadline");
      break;
    }
  }
  interested_.fetch_sub(1);
  return result;
}

WatchId OffsetWaiters::Watch(int64_t offset, std::function<void(absl::Status)> callback) {
  absl::Status now;
  WatchId id;
  {
    absl::MutexLock lock(&mu_);
    id = next_id_++;
    if (closed_) {
      now = absl::CancelledError("log closed");
    } else {
      interested_.fetch_add(1);
      if (end_->load() > offset) {
        interested_.fetch_sub(1);
      } else {
        watches_.emplace(offset, Watcher{id, std::move(callback)});
        return id;
      }
    }
  }
  callback(now);
  return id;
}

bool OffsetWaiters::Cancel(WatchId id) {
  absl::MutexLock lock(&mu_);
  for (auto it = watches_.begin(); it != watches_.end(); ++it) {
    if (it->second.id == id) {
      watches_.erase(it);
      interested_.fetch_sub(1);
      return true;
    }
  }
  return false;
}

void OffsetWaiters::Notify() {
  if (interested_.load() == 0) return;
  std::vector<std::function<void(absl::Status)>> ready;
  {
    absl::MutexLock lock(&mu_);
    cv_.SignalAll();
    const int64_t end = end_->load();
    auto stop = watches_.lower_bound(end);
    for (auto it = watches_.begin(); it != stop; ++it)
      ready.push_back(std::move(it->second.callback));
    watches_.erase(watches_.begin(), stop);
    interested_.fetch_sub(static_cast<int>(ready.size()));
  }
  for (auto& cb : ready) cb(absl::OkStatus());
}

void OffsetWaiters::Close() {
  std::vector<std::function<void(absl::Status)>> cancelled;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    cv_.SignalAll();
    for (auto& [offset, w] : watches_) cancelled.push_back(std::move(w.callback));
    interested_.fetch_sub(static_cast<int>(cancelled.size()));
    watches_.clear();
  }
  for (auto& cb : cancelled) cb(absl::CancelledError("log closed"));
}

}  // namespace runnel::storage
