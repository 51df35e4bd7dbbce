#include <algorithm>
#include <atomic>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runnel/common/status_macros.h"
#include "storage/checkpoint_file.h"
#include "storage/file_util.h"
#include "storage/log_format.h"
#include "storage/log_manager_impl.h"

namespace runnel::storage {
namespace {

// Keeps the first error and carries on: one bad partition must not stop the
// periodic work of the others.
void Keep(absl::Status& first, const absl::Status& s) {
  if (first.ok() && !s.ok() && !absl::IsFailedPrecondition(s)) first = s;
}

absl::Status CheckTopicPartition(const TopicPartition& tp) {
  if (tp.topic.empty() || tp.topic == "." || tp.topic == ".." ||
      tp.topic.find('/') != std::string::npos || tp.partition < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid topic partition '", tp.topic, "' ", tp.partition));
  }
  return absl::OkStatus();
}

}  // namespace

std::string TopicPartition::DirName() const { return absl::StrCat(topic, "-", partition); }

std::optional<TopicPartition> ParseLogDirName(absl::string_view name) {
  size_t dash = name.rfind('-');
  if (dash == absl::string_view::npos || dash == 0 || dash + 1 == name.size()) return std::nullopt;
  TopicPartition tp;
  absl::string_view digits = name.substr(dash + 1);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(digits, &tp.partition)) {
    return std::nullopt;
  }
  tp.topic = std::string(name.substr(0, dash));
  return tp;
}

absl::StatusOr<std::unique_ptr<LogManager>> LogManager::Open(LogManagerOptions options) {
  RUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<LogManagerImpl> mgr,
                          LogManagerImpl::OpenImpl(std::move(options)));
  return std::unique_ptr<LogManager>(std::move(mgr));
}

LogManagerImpl::LogManagerImpl(LogManagerOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::System()) {}

LogManagerImpl::~LogManagerImpl() { (void)Close(); }

absl::StatusOr<std::unique_ptr<LogManagerImpl>> LogManagerImpl::OpenImpl(
    LogManagerOptions options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("data_dir is empty");
  RUNNEL_RETURN_IF_ERROR(options.default_log_options.Validate());
  std::unique_ptr<LogManagerImpl> mgr(new LogManagerImpl(std::move(options)));
  RUNNEL_RETURN_IF_ERROR(mgr->Load());
  mgr->cleaner_ = std::make_unique<LogCleaner>(
      CleanerOptions{.checkpoint_dir = mgr->options_.data_dir,
                     .dedupe_buffer_bytes = mgr->options_.cleaner_dedupe_buffer_bytes,
                     .backoff_ms = mgr->options_.cleaner_backoff_ms,
                     .clock = mgr->clock_});
  RUNNEL_RETURN_IF_ERROR(mgr->cleaner_->Load());
  if (mgr->options_.background_thread) {
    mgr->background_ = std::thread([m = mgr.get()] { m->BackgroundLoop(); });
    mgr->cleaner_->Start([m = mgr.get()] { return m->Logs(); });
  }
  return mgr;
}

absl::Status LogManagerImpl::Load() {
  const std::string& root = options_.data_dir;
  RUNNEL_RETURN_IF_ERROR(CreateDirs(root));
  absl::MutexLock lock(&mu_);
  // A corrupt checkpoint only costs a longer recovery: everything is then
  // re-validated.
  absl::StatusOr<std::map<TopicPartition, int64_t>> rp =
      ReadOffsetCheckpoint(JoinPath(root, kRecoveryPointCheckpointFile));
  if (rp.ok()) recovery_points_ = *std::move(rp);
  absl::StatusOr<std::map<TopicPartition, int64_t>> starts =
      ReadOffsetCheckpoint(JoinPath(root, kLogStartOffsetCheckpointFile));
  if (starts.ok()) start_offsets_ = *std::move(starts);

  RUNNEL_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(root));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string path = JoinPath(root, name);
    if (!IsDirectory(path)) continue;
    if (absl::EndsWith(name, kDeleteDirSuffix)) {
      RUNNEL_RETURN_IF_ERROR(RemoveTree(path));
      continue;
    }
    std::optional<TopicPartition> tp = ParseLogDirName(name);
    if (!tp.has_value()) continue;
    RUNNEL_RETURN_IF_ERROR(OpenLog(*tp, options_.default_log_options).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<LogImpl>> LogManagerImpl::OpenLog(const TopicPartition& tp,
                                                                 const LogOptions& options) {
  LogOpenOptions open;
  open.dir = JoinPath(options_.data_dir, tp.DirName());
  open.log = options;
  open.clock = clock_;
  if (auto it = recovery_points_.find(tp); it != recovery_points_.end()) {
    open.recovery_point = it->second;
  }
  if (auto it = start_offsets_.find(tp); it != start_offsets_.end()) {
    open.log_start_offset = it->second;
  }
  RUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<LogImpl> log, LogImpl::OpenImpl(std::move(open)));
  std::shared_ptr<LogImpl> shared = std::move(log);
  logs_[tp] = shared;
  return shared;
}

std::shared_ptr<Log> LogManagerImpl::GetLog(const TopicPartition& tp) const {
  absl::MutexLock lock(&mu_);
  auto it = logs_.find(tp);
  return it == logs_.end() ? nullptr : it->second;
}

absl::StatusOr<std::shared_ptr<Log>> LogManagerImpl::GetOrCreateLog(
    const TopicPartition& tp, const std::optional<LogOptions>& options) {
  RUNNEL_RETURN_IF_ERROR(CheckTopicPartition(tp));
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::FailedPreconditionError("log manager is closed");
  if (auto it = logs_.find(tp); it != logs_.end()) {
    if (options.has_value()) RUNNEL_RETURN_IF_ERROR(it->second->UpdateOptions(*options));
    return std::shared_ptr<Log>(it->second);
  }
  RUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<LogImpl> log,
                          OpenLog(tp, options.value_or(options_.default_log_options)));
  return std::shared_ptr<Log>(std::move(log));
}

absl::Status LogManagerImpl::DeleteLog(const TopicPartition& tp) {
  std::shared_ptr<LogImpl> log;
  {
    absl::MutexLock lock(&mu_);
    auto it = logs_.find(tp);
    if (it == logs_.end()) {
      return absl::NotFoundError(absl::StrCat("no log for ", tp.DirName()));
    }
    log = std::move(it->second);
    logs_.erase(it);
    recovery_points_.erase(tp);
    start_offsets_.erase(tp);
  }
  if (cleaner_ != nullptr) cleaner_->Forget(tp);
  RUNNEL_RETURN_IF_ERROR(log->Close());
  static std::atomic<uint64_t> counter{0};
  const std::string doomed =
      absl::StrCat(log->dir(), ".", clock_->NowMs(), "-", counter.fetch_add(1), kDeleteDirSuffix);
  RUNNEL_RETURN_IF_ERROR(RenameFile(log->dir(), doomed));
  RUNNEL_RETURN_IF_ERROR(FsyncDir(options_.data_dir));
  // Open descriptors keep serving readers that still hold the log.
  return RemoveTree(doomed);
}

std::vector<TopicPartition> LogManagerImpl::ListLogs() const {
  absl::MutexLock lock(&mu_);
  std::vector<TopicPartition> out;
  for (const auto& [tp, log] : logs_) out.push_back(tp);
  return out;
}

std::vector<std::pair<TopicPartition, std::shared_ptr<LogImpl>>> LogManagerImpl::Logs() const {
  absl::MutexLock lock(&mu_);
  return {logs_.begin(), logs_.end()};
}

absl::Status LogManagerImpl::Checkpoint() {
  std::map<TopicPartition, int64_t> rp, starts;
  for (const auto& [tp, log] : Logs()) {
    rp[tp] = log->recovery_point();
    starts[tp] = log->log_start_offset();
  }
  absl::MutexLock lock(&checkpoint_mu_);
  RUNNEL_RETURN_IF_ERROR(
      WriteOffsetCheckpoint(JoinPath(options_.data_dir, kRecoveryPointCheckpointFile), rp));
  return WriteOffsetCheckpoint(JoinPath(options_.data_dir, kLogStartOffsetCheckpointFile), starts);
}

absl::Status LogManagerImpl::RunRetentionOnce() {
  absl::Status first;
  for (const auto& [tp, log] : Logs()) {
    Keep(first, log->ApplyRetention().status());
    Keep(first, log->RemoveDeletedFiles(false));
  }
  return first;
}

absl::Status LogManagerImpl::RunFlushOnce() {
  absl::Status first;
  for (const auto& [tp, log] : Logs()) Keep(first, log->MaybeFlushByTime());
  return first;
}

absl::Status LogManagerImpl::RunCleanerOnce() { return cleaner_->CleanOnce(Logs()).status(); }

void LogManagerImpl::BackgroundLoop() {
  int64_t next_retention = clock_->NowMs() + options_.retention_check_interval_ms;
  int64_t next_checkpoint = clock_->NowMs() + options_.checkpoint_interval_ms;
  const absl::Duration tick = absl::Milliseconds(
      std::min<int64_t>({options_.flush_check_interval_ms, options_.retention_check_interval_ms,
                         options_.checkpoint_interval_ms, 1000}));
  while (true) {
    {
      absl::MutexLock lock(&stop_mu_);
      if (stop_) return;
      stop_cv_.WaitWithTimeout(&stop_mu_, tick);
      if (stop_) return;
    }
    const int64_t now = clock_->NowMs();
    (void)RunFlushOnce();
    for (const auto& [tp, log] : Logs()) (void)log->CloseIdleFiles(options_.idle_files_close_ms);
    if (now >= next_retention) {
      (void)RunRetentionOnce();
      next_retention = now + options_.retention_check_interval_ms;
    }
    if (now >= next_checkpoint) {
      (void)Checkpoint();
      next_checkpoint = now + options_.checkpoint_interval_ms;
    }
  }
}

absl::Status LogManagerImpl::Close() {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::OkStatus();
    closed_ = true;
  }
  {
    absl::MutexLock lock(&stop_mu_);
    stop_ = true;
    stop_cv_.SignalAll();
  }
  if (background_.joinable()) background_.join();
  if (cleaner_ != nullptr) cleaner_->Stop();
  absl::Status first;
  auto logs = Logs();
  if (options_.flush_on_close) {
    for (const auto& [tp, log] : logs) Keep(first, log->Flush());
  }
  Keep(first, Checkpoint());
  for (const auto& [tp, log] : logs) Keep(first, log->Close());
  absl::MutexLock lock(&mu_);
  logs_.clear();
  return first;
}

}  // namespace runnel::storage
