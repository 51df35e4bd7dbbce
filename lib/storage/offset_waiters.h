// OffsetWaiters: lets readers wait for a log's end offset to pass an offset,
// blocking (WaitForOffset, for embedded tailing consumers) or by callback
// (WatchOffset, for an async server's long-poll fetch).
//
// The writer calls Notify after publishing a new end offset. When nobody
// waits, Notify costs one atomic load: the append path takes no lock for it.
// (A waiter registers, then re-reads the end offset; the writer publishes,
// then reads the registration count; both sequentially consistent, so one of
// the two always sees the other.)
//
// Thread-safe. Callbacks run without the internal lock held, on the thread
// that called Notify, Close or Watch.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runnel/log.h"

namespace runnel::storage {

class OffsetWaiters {
 public:
  explicit OffsetWaiters(const std::atomic<int64_t>* end_offset) : end_(end_offset) {}

  absl::Status Wait(int64_t offset, absl::Time deadline);
  WatchId Watch(int64_t offset, std::function<void(absl::Status)> callback);
  bool Cancel(WatchId id);

  // The writer: the end offset moved (up or, after a truncation, down).
  void Notify();
  // Wakes everyone with Cancelled; later waits fail at once.
  void Close();

 private:
  struct Watcher {
    WatchId id;
    std::function<void(absl::Status)> callback;
  };

  const std::atomic<int64_t>* end_;
  std::atomic<int> interested_{0};
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  WatchId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Keyed by the offset each waits to see exceeded.
  std::multimap<int64_t, Watcher> watches_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::storage
