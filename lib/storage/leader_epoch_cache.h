// LeaderEpochCache: which leader epoch started at which offset, for one
// partition, persisted in its leader-epoch-checkpoint (Kafka's format).
//
// Replication uses it to find where a follower's log diverges from the
// leader's (OffsetsForLeaderEpoch). The rules are Kafka's LeaderEpochFileCache:
// entries increase in both epoch and start offset; assigning an epoch drops
// entries it conflicts with; truncating the log truncates the cache.
//
// Thread-safe: an internal mutex guards the entries. Every change rewrites
// the checkpoint file atomically before returning.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runnel/log.h"

namespace runnel::storage {

class LeaderEpochCache {
 public:
  // Loads `path` (missing: empty). A malformed file is DataLoss.
  static absl::StatusOr<std::unique_ptr<LeaderEpochCache>> Load(std::string path);

  // Adds (epoch, start_offset) unless the latest entry already has this
  // epoch at a lower or equal offset; first removes entries whose epoch or
  // start offset is >= the new one's.
  absl::Status Assign(int32_t epoch, int64_t start_offset);

  // Drops entries starting at or after `end_offset` (log truncated there).
  absl::Status TruncateFromEnd(int64_t end_offset);
  // Drops entries wholly below `start_offset`, keeping the latest of them
  // moved up to start there (log start moved).
  absl::Status TruncateFromStart(int64_t start_offset);
  absl::Status Clear();

  std::vector<EpochEntry> Entries() const;
  std::optional<int32_t> LatestEpoch() const;
  // OffsetsForLeaderEpoch; see Log::EndOffsetForEpoch.
  EpochEntry EndOffsetFor(int32_t epoch, int64_t log_end_offset) const;

 private:
  explicit LeaderEpochCache(std::string path) : path_(std::move(path)) {}
  absl::Status PersistLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  mutable absl::Mutex mu_;
  std::vector<EpochEntry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::storage
