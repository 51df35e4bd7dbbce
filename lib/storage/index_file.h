// Sparse, memory-mapped segment indexes: OffsetIndex (.index) maps offsets to
// byte positions in the .log, TimeIndex (.timeindex) maps timestamps to
// offsets. Entry layouts are in storage/log_format.h.
//
// An index is opened lazily: nothing is mapped until the first lookup or
// append, so thousands of idle partitions cost no mappings. An index that may
// be appended to (the active segment's) is preallocated to
// segment.index.bytes and trimmed to its entries by Trim() on roll or close.
//
// Threads: one writer (the log's writer thread: Append, TruncateTo*, Reset,
// Trim, Resize), any number of concurrent readers (Lookup*, entries). The
// entry count is published with release semantics after the entry's bytes,
// so a reader sees only whole entries. A mapping is never unmapped while the
// index lives (a remap keeps the old one), so a reader's pointer stays valid.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace runnel::storage {

// The mmap'd file with fixed-size big-endian entries, shared by both indexes.
class IndexFile {
 public:
  IndexFile(std::string path, int64_t base_offset, size_t entry_size);
  ~IndexFile();
  IndexFile(const IndexFile&) = delete;
  IndexFile& operator=(const IndexFile&) = delete;

  // Maps the file if not yet mapped. For `writable`, the file is extended to
  // `max_bytes` (rounded down to whole entries); otherwise it is mapped at
  // its size. The entry count is the valid prefix (see CountValidEntriesLocked).
  absl::Status EnsureOpen(bool writable, int64_t max_bytes) const;

  // Entries visible to readers.
  int32_t entries() const { return entries_.load(std::memory_order_acquire); }
  int32_t max_entries() const { return max_entries_.load(std::memory_order_acquire); }
  bool full() const { return entries() >= max_entries(); }
  const std::string& path() const { return path_; }
  int64_t base_offset() const { return base_offset_; }

  // The bytes of entry `i` (< entries()).
  const uint8_t* Entry(int32_t i) const {
    return data_.load(std::memory_order_acquire) + static_cast<size_t>(i) * entry_size_;
  }

  // Writer only: appends one entry (must not be full()).
  absl::Status AppendEntry(const uint8_t* entry);
  // Writer only: keeps the first `n` entries.
  void TruncateEntries(int32_t n);
  // Writer only: shrinks the file to its entries (roll or close).
  absl::Status Trim();
  // Writer only: extends the file again to `max_bytes` (a segment made
  // active again by truncation).
  absl::Status Resize(int64_t max_bytes);
  // Writes dirty pages to disk.
  absl::Status Flush() const;

 private:
  absl::Status MapLocked(int64_t size) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ResizeLocked(int64_t max_bytes) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CloseFdLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t RoundDown(int64_t bytes) const {
    return bytes / static_cast<int64_t>(entry_size_) * static_cast<int64_t>(entry_size_);
  }
  // Of the first `n` entries on disk, how many form the valid prefix.
  absl::StatusOr<int32_t> CountValidEntriesLocked(int32_t n) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether entry `cur` may follow entry `prev`.
  bool Follows(const uint8_t* prev, const uint8_t* cur) const;

  const std::string path_;
  const int64_t base_offset_;
  const size_t entry_size_;

  mutable absl::Mutex mu_;
  // Open only while the index may be written (preallocated); -1 otherwise.
  mutable int fd_ ABSL_GUARDED_BY(mu_) = -1;
  mutable size_t mapped_size_ ABSL_GUARDED_BY(mu_) = 0;
  mutable bool writable_ ABSL_GUARDED_BY(mu_) = false;
  // Old mappings are kept (not unmapped) until destruction; readers may
  // still hold pointers into them.
  mutable std::vector<std::pair<uint8_t*, size_t>> retired_ ABSL_GUARDED_BY(mu_);
  mutable std::atomic<uint8_t*> data_{nullptr};
  mutable std::atomic<int32_t> entries_{0};
  mutable std::atomic<int32_t> max_entries_{0};
  mutable std::atomic<bool> open_{false};
};

struct OffsetPosition {
  int64_t offset = 0;
  int64_t position = 0;
};

// .index: relative offset -> position, both increasing.
class OffsetIndex {
 public:
  OffsetIndex(std::string path, int64_t base_offset) : file_(std::move(path), base_offset, 8) {}

  // The last entry with offset <= target, or {base_offset, 0}.
  OffsetPosition Lookup(int64_t target) const;
  // The last entry (or {base_offset, 0} when empty).
  OffsetPosition LastEntry() const;
  // Writer: appends when `offset` is above the last entry's.
  absl::Status Append(int64_t offset, int64_t position);
  // Writer: drops entries with offset >= `offset`.
  void TruncateTo(int64_t offset);
  // Sanity check after open: entries within [base, ...) and positions within
  // `log_size`. FailedPrecondition describes the problem.
  absl::Status Check(int64_t log_size) const;

  IndexFile& file() { return file_; }
  const IndexFile& file() const { return file_; }

 private:
  OffsetPosition Read(int32_t i) const;
  IndexFile file_;
};

struct TimestampOffsetEntry {
  int64_t timestamp = -1;
  int64_t offset = 0;
};

// .timeindex: timestamp -> offset; timestamps increase.
class TimeIndex {
 public:
  TimeIndex(std::string path, int64_t base_offset) : file_(std::move(path), base_offset, 12) {}

  // The last entry with timestamp <= target, or {-1, base_offset}.
  TimestampOffsetEntry Lookup(int64_t target) const;
  TimestampOffsetEntry LastEntry() const;
  // Writer: appends when `timestamp` is above the last entry's.
  absl::Status Append(int64_t timestamp, int64_t offset);
  // Writer: drops entries with offset >= `offset`.
  void TruncateTo(int64_t offset);
  absl::Status Check() const;

  IndexFile& file() { return file_; }
  const IndexFile& file() const { return file_; }

 private:
  TimestampOffsetEntry Read(int32_t i) const;
  IndexFile file_;
};

}  // namespace runnel::storage
