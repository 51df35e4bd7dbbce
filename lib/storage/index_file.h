// Sparse segment indexes: OffsetIndex (.index) maps offsets to byte
// positions in the .log, TimeIndex (.timeindex) maps timestamps to offsets.
// Entry layouts are in storage/log_format.h.
//
// Bounded descriptors and mappings, so that 10,000 partitions fit in an
// ordinary descriptor limit and vm.max_map_count:
//   - Appended entries are buffered in memory (up to kPendingIndexEntries,
//     allocated while the index takes appends) and written with one pwrite(2)
//     when the buffer is full, at Flush, WritePending, Trim (roll, close, idle)
//     and before a rebuild is cut or a truncation searches the file. The
//     write opens and closes the file: no index descriptor outlives a call,
//     and an append adds no system call for its index entries 15 times in 16
//     (an open, pwrite and close per entry cost 1-5% of an append's CPU).
//     The file is not preallocated: it holds exactly its written entries (a
//     file left preallocated by an older version, or torn by a crash, is cut
//     to its valid prefix before it is appended to again).
//   - Lookups see the buffered entries too (searched in memory, under the
//     index's lock). A crash loses only buffered entries of the active
//     segment, whose indexes Open rebuilds anyway (it recovers from the
//     segment holding the recovery point on; Flush writes the buffer first).
//   - The entry count and the last entry are learnt once with pread and kept
//     in memory, so appends, LastEntry() and time retention map nothing.
//   - Lookups map the file lazily (read-only, shared). Mapped indexes are on
//     one process-wide LRU list whose length is capped (SetMaxMappedIndexes):
//     the least recently searched index is unmapped when a new one maps.
//
// Threads: one writer (the log's writer thread: Append, TruncateTo*,
// EnsureOpen(writable), Trim, Resize) and any number of concurrent readers
// (Lookup*, LastEntry, entries, Flush, WritePending). A lookup holds the
// index's mutex while it searches the mapping and the buffer, so an LRU
// eviction never unmaps under it; the writer takes that mutex to add an entry.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace runnel::storage {

// The most index files mapped at once in this process (default 1,024); the
// least recently searched are unmapped beyond it. Thread-safe.
void SetMaxMappedIndexes(size_t max_mapped);
// How many index files are mapped now (for tests and benchmarks).
size_t MappedIndexCount();

// Entries an index buffers in memory before writing them to its file.
inline constexpr int32_t kPendingIndexEntries = 16;

// The file of fixed-size big-endian entries, shared by both indexes.
class IndexFile {
 public:
  IndexFile(std::string path, int64_t base_offset, size_t entry_size);
  ~IndexFile();
  IndexFile(const IndexFile&) = delete;
  IndexFile& operator=(const IndexFile&) = delete;

  // Learns the entry count (the file's valid prefix, see CountValidEntries)
  // and the last entry if not yet known. With `writable`, the index then
  // takes entries up to `max_bytes` (rounded down to whole entries, at least
  // its current entries), and a tail past the valid prefix is cut off.
  // Keeps no descriptor and maps nothing. Writer only when `writable`.
  absl::Status EnsureOpen(bool writable, int64_t max_bytes) const;

  // Entries visible to readers (0 until EnsureOpen or a lookup loaded them).
  int32_t entries() const { return entries_.load(std::memory_order_acquire); }
  int32_t max_entries() const { return max_entries_.load(std::memory_order_acquire); }
  bool full() const { return entries() >= max_entries(); }
  std::string path() const;
  // The files were renamed (Segment::RenameSuffix, RenameForDelete): later
  // loads and mappings use `path`. A lookup racing with the rename may miss
  // the file; it then scans from the segment start, as for a missing index.
  void SetPath(std::string path);
  int64_t base_offset() const { return base_offset_; }
  size_t entry_size() const { return entry_size_; }

  // Runs `fn(entries, n)` over the first n = entries() entries, mapped
  // (buffered entries are written to the file first); the pointer is valid
  // during the call only (nullptr when n == 0). `fn` runs under the index's
  // lock: it must not call back into this index.
  absl::Status Search(absl::FunctionRef<void(const uint8_t*, int32_t)> fn) const;
  // The last entry `e` for which `at_or_below(e)` holds, copied into `out`
  // (entry_size() bytes); false when there is none. `at_or_below` must hold
  // for a prefix of the entries (keys do not decrease). Searches buffered
  // entries in memory and the file's mapped: writes nothing. `at_or_below`
  // runs under the index's lock.
  absl::StatusOr<bool> FindLast(absl::FunctionRef<bool(const uint8_t*)> at_or_below,
                                uint8_t* out) const;
  // Copies the last entry into `out` (entry_size() bytes); false when empty.
  absl::StatusOr<bool> LastEntry(uint8_t* out) const;

  // Writer only: appends one entry (must not be full()) to the in-memory
  // buffer, writing the buffer to the file first when it is full.
  absl::Status AppendEntry(const uint8_t* entry);
  // Writes the buffered entries to the file (nothing when there are none).
  // On error they stay buffered. A file that is gone (deleted) keeps them.
  absl::Status WritePending() const;
  // Writer only: keeps the first `n` entries (the file is cut to them).
  absl::Status TruncateEntries(int32_t n);
  // Writer only, for a rebuild (recovery): forgets every entry but leaves
  // the file as it is; the new entries overwrite the old ones in place and
  // CutToEntries() then drops what is left past them. Cheaper than cutting
  // the file to nothing and growing it again (two journalled size changes
  // per index), which made reopening 10,000 partitions slow.
  void ForgetEntries();
  absl::Status CutToEntries();
  // Writer only: stops taking entries (max_entries() = entries()); on roll
  // or close. Writes the buffered entries and frees the buffer.
  absl::Status Trim();
  // Writer only: takes entries again up to `max_bytes` (a segment made
  // active again by truncation, or an idle one appended to).
  absl::Status Resize(int64_t max_bytes);
  // Writes the buffered entries, then fdatasyncs the file when entries
  // changed since the last Flush.
  absl::Status Flush() const;

 private:
  friend class IndexMapCache;

  absl::Status LoadLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status MapLocked(int32_t n) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WritePendingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UnmapLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Called by the LRU (holding its own lock, never this one's caller's).
  void Evict() const;
  // Of the first `n` entries of `fd`, how many form the valid prefix
  // (strictly increasing keys); copies the last valid one into last_.
  absl::StatusOr<int32_t> CountValidEntriesLocked(int fd, int32_t n) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether entry `cur` may follow entry `prev`.
  bool Follows(const uint8_t* prev, const uint8_t* cur) const;

  const int64_t base_offset_;
  const size_t entry_size_;

  mutable absl::Mutex mu_;
  std::string path_ ABSL_GUARDED_BY(mu_);
  // The count is known. A missing file is not remembered as empty (it may
  // be mid-rename); only EnsureOpen(writable) creates it.
  mutable bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  mutable int64_t file_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // -1: missing
  mutable uint8_t* map_ ABSL_GUARDED_BY(mu_) = nullptr;
  mutable size_t map_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // The last entry (valid when entries_ > 0); written by the writer and by
  // the load, both under mu_.
  mutable uint8_t last_[16] ABSL_GUARDED_BY(mu_) = {};
  // Entries in the file, then buffered ones: entries_ = file_entries_ +
  // pending_count_ (entries_ is also read without the lock).
  mutable int32_t file_entries_ ABSL_GUARDED_BY(mu_) = 0;
  mutable std::unique_ptr<uint8_t[]> pending_ ABSL_GUARDED_BY(mu_);
  mutable int32_t pending_count_ ABSL_GUARDED_BY(mu_) = 0;
  mutable std::atomic<int32_t> entries_{0};
  mutable std::atomic<int32_t> max_entries_{0};
  mutable std::atomic<bool> dirty_{false};  // appended or cut since Flush
  // Guarded by the LRU's lock: the position in it, when on it.
  mutable std::list<const IndexFile*>::iterator lru_pos_;
  mutable bool on_lru_ = false;
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
  // The last entry (or {base_offset, 0} when empty); maps nothing.
  OffsetPosition LastEntry() const;
  // Writer: appends when `offset` is above the last entry's.
  absl::Status Append(int64_t offset, int64_t position);
  // Writer: drops entries with offset >= `offset`.
  absl::Status TruncateTo(int64_t offset);
  // Sanity check after open: entries within [base, ...) and positions within
  // `log_size`. FailedPrecondition describes the problem.
  absl::Status Check(int64_t log_size) const;

  IndexFile& file() { return file_; }
  const IndexFile& file() const { return file_; }

 private:
  OffsetPosition Decode(const uint8_t* e) const;
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
  // The last entry (or {-1, base_offset} when empty); maps nothing.
  TimestampOffsetEntry LastEntry() const;
  // Writer: appends when `timestamp` is above the last entry's.
  absl::Status Append(int64_t timestamp, int64_t offset);
  // Writer: drops entries with offset >= `offset`.
  absl::Status TruncateTo(int64_t offset);
  absl::Status Check() const;

  IndexFile& file() { return file_; }
  const IndexFile& file() const { return file_; }

 private:
  TimestampOffsetEntry Decode(const uint8_t* e) const;
  IndexFile file_;
};

}  // namespace runnel::storage
