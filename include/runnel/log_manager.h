// LogManager: a data directory holding many partitions, one Log each.
//
// Each partition lives in `<data_dir>/<topic>-<partition>/`, as in Kafka. The
// manager recovers them all at Open, creates and deletes them, and runs the
// background work: retention, flush.ms flushes, the cleaner for compacted
// topics, and checkpoints (`recovery-point-offset-checkpoint` and
// `log-start-offset-checkpoint` in the data directory, Kafka's text format),
// so a restart only re-validates what was not known to be fsynced.
//
//   RUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<runnel::storage::LogManager> mgr,
//                           runnel::storage::LogManager::Open({.data_dir = "/data"}));
//   RUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<runnel::storage::Log> log,
//                           mgr->GetOrCreateLog({"events", 0}));
//   runnel::storage::Record r{.value = "hello"};
//   RUNNEL_RETURN_IF_ERROR(log->AppendRecords(std::span(&r, 1)).status());
//   RUNNEL_RETURN_IF_ERROR(mgr->Close());
//
// Threads: every method is thread-safe. The manager owns two background
// threads (unless `background_thread` is false): one runs the periodic tasks,
// the other the cleaner, whose passes may be long; the Run*Once methods do the same work on the
// caller's thread. Logs are shared: a Log handed out stays usable until the last shared_ptr goes,
// even after DeleteLog (its files are then already renamed away) or Close.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runnel/log.h"
#include "runnel/log_options.h"

namespace runnel::storage {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;

  // "<topic>-<partition>", the directory name.
  std::string DirName() const;
  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

struct LogManagerOptions {
  std::string data_dir;
  // Options for logs created or opened without their own.
  LogOptions default_log_options;
  const Clock* clock = nullptr;  // nullptr: Clock::System()

  // Run the periodic tasks on a thread of the manager's own. Off, nothing
  // happens unless the caller runs the Run*Once methods (tests do).
  bool background_thread = true;
  // log.retention.check.interval.ms (5 minutes).
  int64_t retention_check_interval_ms = 5 * 60 * 1000;
  // How often flush.ms is checked (log.flush.scheduler.interval.ms).
  int64_t flush_check_interval_ms = 1000;
  // log.flush.offset.checkpoint.interval.ms: how often recovery points and
  // log start offsets are checkpointed (1 minute). Each checkpoint flushes
  // nothing itself; it records what flushes already made durable.
  int64_t checkpoint_interval_ms = 60 * 1000;
  // Flush every log on Close, so the next Open recovers nothing.
  bool flush_on_close = true;
  // A log with no append for this long closes its active segment for
  // appends (final time-index entry and buffered index entries written, the
  // index buffers freed; the next append reopens it). Descriptors do not
  // depend on it: index files are opened only to write buffered entries, so
  // every partition costs one descriptor per segment, and at most 1,024
  // index files are mapped at once in the process.
  int64_t idle_files_close_ms = 10 * 60 * 1000;
  // log.cleaner.dedupe.buffer.size: memory for the cleaner's key map (24
  // bytes a distinct key in the dirty range); less only means more passes.
  int64_t cleaner_dedupe_buffer_bytes = 128LL << 20;
  // log.cleaner.backoff.ms: the cleaner thread's sleep when no log is due.
  int64_t cleaner_backoff_ms = 15 * 1000;
};

class LogManager {
 public:
  virtual ~LogManager() = default;

  // Opens (creating if needed) `options.data_dir` and every partition in it,
  // recovering each from the checkpointed recovery points. Directories that
  // are not `<topic>-<partition>` are skipped; ones ending in `-delete`
  // (an interrupted DeleteLog) are removed.
  static absl::StatusOr<std::unique_ptr<LogManager>> Open(LogManagerOptions options);

  // The log, or nullptr when the partition does not exist here.
  virtual std::shared_ptr<Log> GetLog(const TopicPartition& tp) const = 0;

  // The log, created with `options` (default_log_options when nullopt) if
  // missing. An existing log keeps its options unless `options` is given.
  virtual absl::StatusOr<std::shared_ptr<Log>> GetOrCreateLog(
      const TopicPartition& tp, const std::optional<LogOptions>& options = std::nullopt) = 0;

  // Closes the log, renames its directory to `<topic>-<partition>.<id>-delete`
  // and removes it in the background. NotFound when missing.
  virtual absl::Status DeleteLog(const TopicPartition& tp) = 0;

  virtual std::vector<TopicPartition> ListLogs() const = 0;

  // Writes recovery-point-offset-checkpoint and log-start-offset-checkpoint.
  virtual absl::Status Checkpoint() = 0;

  // One round of each periodic task, on the caller's thread. Errors on one
  // log do not stop the others; the first is returned.
  virtual absl::Status RunRetentionOnce() = 0;
  virtual absl::Status RunFlushOnce() = 0;
  // Compacts logs whose cleanup.policy includes compact and that are due
  // (min.cleanable.dirty.ratio, max.compaction.lag.ms).
  virtual absl::Status RunCleanerOnce() = 0;

  // Stops the background thread, flushes (flush_on_close), checkpoints and
  // closes every log. Returns the first error; further calls are no-ops.
  virtual absl::Status Close() = 0;
};

}  // namespace runnel::storage
