// LogCleaner: log compaction for logs whose cleanup.policy includes compact
// (Kafka's LogCleaner and LogCleanerManager).
//
// Each round it computes, for every compacted log, the cleanable range:
// from the first dirty offset (where the last pass stopped, kept in
// `cleaner-offset-checkpoint` in the data directory, Kafka's text format) to
// the first uncleanable offset (the active segment's base, or the base of the
// first segment holding a record younger than min.compaction.lag.ms). A log
// is due when its dirty ratio, dirty bytes / (clean + dirty bytes), reaches
// min.cleanable.dirty.ratio, or when its oldest dirty record is older than
// max.compaction.lag.ms (KIP-354). The due log with the highest ratio is
// cleaned (cleaner_pass.h), one per round.
//
//   LogCleaner cleaner({.checkpoint_dir = "/data", .dedupe_buffer_bytes = 64 << 20});
//   RUNNEL_RETURN_IF_ERROR(cleaner.Load());
//   cleaner.Start([&] { return manager.Logs(); });   // background thread
//   ...
//   cleaner.Stop();                                   // before closing the logs
//
// Memory: the offset map (dedupe_buffer_bytes) is allocated on the first
// pass and reused; its pages go back to the kernel between passes.
//
// Threads: every method is thread-safe. Passes are serialised (one map);
// Stop() aborts a running pass at its next batch and joins the thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runnel/log_manager.h"
#include "storage/cleaner_pass.h"
#include "storage/log_format.h"
#include "storage/log_impl.h"
#include "storage/offset_map.h"

namespace runnel::storage {

struct CleanerOptions {
  // Where cleaner-offset-checkpoint lives; empty keeps offsets in memory.
  std::string checkpoint_dir;
  // log.cleaner.dedupe.buffer.size: the offset map's memory (24 bytes a
  // key). A pass whose dirty range has more distinct keys than fit cleans
  // only as far as the map reached and continues next round.
  int64_t dedupe_buffer_bytes = 128LL << 20;
  // log.cleaner.io.buffer.size: bytes read or written at a time.
  int64_t io_chunk_bytes = 1 << 20;
  // log.cleaner.backoff.ms: the background thread's sleep when no log is due.
  int64_t backoff_ms = 15 * 1000;
  const Clock* clock = nullptr;  // nullptr: Clock::System()
  // Test hook, see CleanPassOptions::before_swap.
  std::function<void(int64_t base)> before_swap;
};

// Where a log stands for the cleaner.
struct CleanableRange {
  int64_t first_dirty = 0;
  int64_t end = 0;  // first uncleanable offset
  int64_t clean_bytes = 0;
  int64_t dirty_bytes = 0;
  bool max_lag_exceeded = false;
  int64_t truncations = 0;  // LogImpl::truncations() when computed
  double dirty_ratio() const {
    const int64_t total = clean_bytes + dirty_bytes;
    return total > 0 ? static_cast<double>(dirty_bytes) / static_cast<double>(total) : 0.0;
  }
};

using LogList = std::vector<std::pair<TopicPartition, std::shared_ptr<LogImpl>>>;

class LogCleaner {
 public:
  explicit LogCleaner(CleanerOptions options);
  ~LogCleaner();
  LogCleaner(const LogCleaner&) = delete;
  LogCleaner& operator=(const LogCleaner&) = delete;

  // Reads cleaner-offset-checkpoint (missing: every log starts dirty; a
  // corrupt file is ignored likewise, costing only extra work).
  absl::Status Load();

  // One round: cleans the most due log among `logs`; nullopt when none is.
  absl::StatusOr<std::optional<CleanStats>> CleanOnce(const LogList& logs);

  // Cleans `log` now, due or not (tests, embedded users, admin tools).
  absl::StatusOr<CleanStats> Clean(const TopicPartition& tp, LogImpl& log);

  // The range the next pass over `log` would clean.
  CleanableRange Cleanable(const TopicPartition& tp, const LogImpl& log) const;

  // The checkpointed first dirty offset; nullopt when none.
  std::optional<int64_t> FirstDirtyOffset(const TopicPartition& tp) const;

  // Drops the checkpoint of a deleted log, so a new log of the same name
  // starts dirty.
  void Forget(const TopicPartition& tp);

  // Runs CleanOnce on a thread of its own over what `logs` returns, sleeping
  // backoff_ms when nothing was due. Stop() (or the destructor) ends it.
  void Start(std::function<LogList()> logs);
  void Stop();

 private:
  absl::StatusOr<CleanStats> CleanRange(const TopicPartition& tp, LogImpl& log,
                                        const CleanableRange& range);
  absl::Status WriteCheckpoint() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Loop(std::function<LogList()> logs);

  const CleanerOptions options_;
  const Clock* const clock_;
  std::atomic<bool> abort_{false};

  // Serialises passes; owns the map.
  absl::Mutex pass_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::unique_ptr<OffsetMap> map_ ABSL_GUARDED_BY(pass_mu_);

  mutable absl::Mutex mu_;
  std::map<TopicPartition, int64_t> checkpoints_ ABSL_GUARDED_BY(mu_);
  // LogImpl::truncations() when each checkpoint was taken (this process
  // only; after a restart the file is trusted).
  std::map<TopicPartition, int64_t> truncations_ ABSL_GUARDED_BY(mu_);
  // Logs whose last pass stopped at an undecided transaction: while the
  // active segment is the one that pass saw (`seen_end`), nothing from
  // `stable_end` on is cleanable, so the log is not picked again and again
  // for nothing.
  struct Unstable {
    int64_t seen_end = 0;
    int64_t stable_end = 0;
  };
  std::map<TopicPartition, Unstable> unstable_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace runnel::storage
