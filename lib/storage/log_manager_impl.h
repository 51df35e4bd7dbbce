// LogManagerImpl: the implementation of runnel::storage::LogManager.
//
// Owns the map of open logs and one background thread for the periodic
// tasks. mu_ guards the map; it is never held while a log does I/O except
// when opening or creating a log (so two creators of one partition cannot
// race). Logs are shared_ptrs: DeleteLog and Close close a log, but callers
// holding it keep a valid (closed) object.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runnel/log_manager.h"
#include "storage/log_cleaner.h"
#include "storage/log_impl.h"

namespace runnel::storage {

class LogManagerImpl final : public LogManager {
 public:
  static absl::StatusOr<std::unique_ptr<LogManagerImpl>> OpenImpl(LogManagerOptions options);
  ~LogManagerImpl() override;

  std::shared_ptr<Log> GetLog(const TopicPartition& tp) const override;
  absl::StatusOr<std::shared_ptr<Log>> GetOrCreateLog(
      const TopicPartition& tp, const std::optional<LogOptions>& options) override;
  absl::Status DeleteLog(const TopicPartition& tp) override;
  std::vector<TopicPartition> ListLogs() const override;
  absl::Status Checkpoint() override;
  absl::Status RunRetentionOnce() override;
  absl::Status RunFlushOnce() override;
  absl::Status RunCleanerOnce() override;
  absl::Status Close() override;

  // The open logs with their implementation type (for the cleaner).
  std::vector<std::pair<TopicPartition, std::shared_ptr<LogImpl>>> Logs() const;

 private:
  explicit LogManagerImpl(LogManagerOptions options);
  absl::Status Load();
  absl::StatusOr<std::shared_ptr<LogImpl>> OpenLog(const TopicPartition& tp,
                                                   const LogOptions& options)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void BackgroundLoop();

  const LogManagerOptions options_;
  const Clock* const clock_;

  mutable absl::Mutex mu_;
  std::map<TopicPartition, std::shared_ptr<LogImpl>> logs_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // Checkpoints read at Open, consumed as logs open.
  std::map<TopicPartition, int64_t> recovery_points_ ABSL_GUARDED_BY(mu_);
  std::map<TopicPartition, int64_t> start_offsets_ ABSL_GUARDED_BY(mu_);

  absl::Mutex checkpoint_mu_;  // one checkpoint writer at a time

  absl::Mutex stop_mu_;
  absl::CondVar stop_cv_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread background_;
  // Compaction; its thread runs apart from background_ so a long pass never
  // delays flushes, retention or checkpoints.
  std::unique_ptr<LogCleaner> cleaner_;
};

// Parses "<topic>-<partition>"; nullopt for other names.
std::optional<TopicPartition> ParseLogDirName(absl::string_view name);

}  // namespace runnel::storage
