#include "storage/index_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runnel/common/endian.h"
#include "runnel/common/status_macros.h"
#include "storage/file_util.h"

namespace runnel::storage {

IndexFile::IndexFile(std::string path, int64_t base_offset, size_t entry_size)
    : path_(std::move(path)), base_offset_(base_offset), entry_size_(entry_size) {}

IndexFile::~IndexFile() {
  absl::MutexLock lock(&mu_);
  uint8_t* data = data_.load();
  if (data != nullptr) ::munmap(data, mapped_size_);
  for (auto& [p, n] : retired_) ::munmap(p, n);
  if (fd_ >= 0) ::close(fd_);
}

bool IndexFile::Follows(const uint8_t* prev, const uint8_t* cur) const {
  if (entry_size_ == 8) {
    return LoadBigEndian<int32_t>(cur) > LoadBigEndian<int32_t>(prev) &&
           LoadBigEndian<int32_t>(cur + 4) > LoadBigEndian<int32_t>(prev + 4);
  }
  return LoadBigEndian<int64_t>(cur) > LoadBigEndian<int64_t>(prev) &&
         LoadBigEndian<int32_t>(cur + 8) >= LoadBigEndian<int32_t>(prev + 8);
}

absl::StatusOr<int32_t> IndexFile::CountValidEntriesLocked(int32_t n) const {
  // A preallocated index left by a crash has a zero-filled tail: the valid
  // entries are the prefix whose keys strictly increase. Read with pread,
  // not through the mapping: on tmpfs a read fault on a hole of a shared
  // mapping allocates a page, which on a full disk is a SIGBUS.
  constexpr int32_t kChunkEntries = 512;
  std::vector<uint8_t> buf(static_cast<size_t>(kChunkEntries + 1) * entry_size_);
  uint8_t* const chunk = buf.data() + entry_size_;  // buf[0, entry_size_) holds the previous entry
  for (int32_t i = 0; i < n; i += kChunkEntries) {
    const int32_t want = std::min(kChunkEntries, n - i);
    RUNNEL_ASSIGN_OR_RETURN(
        size_t got, PreadUpTo(fd_, chunk, static_cast<size_t>(want) * entry_size_,
                              static_cast<int64_t>(i) * static_cast<int64_t>(entry_size_), path_));
    const int32_t have = static_cast<int32_t>(got / entry_size_);
    for (int32_t j = 0; j < have; ++j) {
      const uint8_t* cur = chunk + static_cast<size_t>(j) * entry_size_;
      if (i + j > 0 && !Follows(cur - entry_size_, cur)) return i + j;
    }
    if (have < want) return i + have;
    std::memcpy(buf.data(), chunk + static_cast<size_t>(have - 1) * entry_size_, entry_size_);
  }
  return n;
}

absl::Status IndexFile::MapLocked(int64_t size) const {
  size = size / static_cast<int64_t>(entry_size_) * static_cast<int64_t>(entry_size_);
  uint8_t* old = data_.load();
  if (old != nullptr && static_cast<size_t>(size) <= mapped_size_) {
    max_entries_.store(static_cast<int32_t>(size / static_cast<int64_t>(entry_size_)),
                       std::memory_order_release);
    return absl::OkStatus();
  }
  void* p = nullptr;
  if (size > 0) {
    p = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) return ErrnoStatus(errno, "mmap", path_);
  }
  if (old != nullptr) retired_.emplace_back(old, mapped_size_);
  mapped_size_ = static_cast<size_t>(size);
  data_.store(static_cast<uint8_t*>(p), std::memory_order_release);
  max_entries_.store(static_cast<int32_t>(size / static_cast<int64_t>(entry_size_)),
                     std::memory_order_release);
  return absl::OkStatus();
}

absl::Status IndexFile::EnsureOpen(bool writable, int64_t max_bytes) const {
  if (!writable && open_.load(std::memory_order_acquire)) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (open_.load() && (!writable || writable_)) return absl::OkStatus();
  if (open_.load()) return ResizeLocked(max_bytes);  // was opened read-only
  if (fd_ < 0) {
    RUNNEL_ASSIGN_OR_RETURN(FileHandle fh, OpenFile(path_, O_RDWR | O_CREAT));
    fd_ = fh.Release();
  }
  RUNNEL_ASSIGN_OR_RETURN(int64_t size, FileSize(fd_, path_));
  int64_t map_size = RoundDown(size);
  if (writable) {
    map_size = std::max(map_size, RoundDown(max_bytes));
    if (map_size > size) RUNNEL_RETURN_IF_ERROR(Truncate(fd_, map_size, path_));
  }
  RUNNEL_RETURN_IF_ERROR(MapLocked(map_size));
  const int32_t present = static_cast<int32_t>(RoundDown(size) / static_cast<int64_t>(entry_size_));
  RUNNEL_ASSIGN_OR_RETURN(int32_t valid, CountValidEntriesLocked(present));
  entries_.store(valid, std::memory_order_release);
  writable_ = writable;
  open_.store(true, std::memory_order_release);
  // A mapping outlives its descriptor: indexes only read keep no fd, so
  // thousands of idle segments cost no file descriptors for their indexes.
  if (!writable) CloseFdLocked();
  return absl::OkStatus();
}

void IndexFile::CloseFdLocked() const {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

absl::Status IndexFile::ResizeLocked(int64_t max_bytes) const {
  if (fd_ < 0) {
    RUNNEL_ASSIGN_OR_RETURN(FileHandle fh, OpenFile(path_, O_RDWR | O_CREAT));
    fd_ = fh.Release();
  }
  int64_t size = RoundDown(max_bytes);
  int64_t used = static_cast<int64_t>(entries_.load()) * static_cast<int64_t>(entry_size_);
  if (size < used) size = used;
  RUNNEL_RETURN_IF_ERROR(Truncate(fd_, size, path_));
  RUNNEL_RETURN_IF_ERROR(MapLocked(size));
  writable_ = true;
  return absl::OkStatus();
}

absl::Status IndexFile::Resize(int64_t max_bytes) {
  if (!open_.load()) return EnsureOpen(true, max_bytes);
  absl::MutexLock lock(&mu_);
  return ResizeLocked(max_bytes);
}

absl::Status IndexFile::AppendEntry(const uint8_t* entry) {
  const int32_t n = entries_.load(std::memory_order_relaxed);
  if (!open_.load() || n >= max_entries_.load()) {
    return absl::FailedPreconditionError(absl::StrCat("index ", path_, " is full or closed"));
  }
  // Written with pwrite, not stored through the mapping: the preallocated
  // file is sparse, and a store into a hole on a full disk is a SIGBUS that
  // kills the process, where pwrite returns ENOSPC. The shared mapping sees
  // the bytes all the same (one page cache).
  {
    absl::MutexLock lock(&mu_);
    if (fd_ < 0) {
      return absl::FailedPreconditionError(absl::StrCat("index ", path_, " is not writable"));
    }
    RUNNEL_RETURN_IF_ERROR(PwriteAll(fd_, entry, entry_size_,
                                     static_cast<int64_t>(n) * static_cast<int64_t>(entry_size_),
                                     path_));
  }
  entries_.store(n + 1, std::memory_order_release);
  return absl::OkStatus();
}

void IndexFile::TruncateEntries(int32_t n) {
  if (n < entries_.load(std::memory_order_relaxed)) entries_.store(n, std::memory_order_release);
}

absl::Status IndexFile::Trim() {
  absl::MutexLock lock(&mu_);
  if (!open_.load() || fd_ < 0) return absl::OkStatus();  // never written here
  const int32_t n = entries_.load();
  RUNNEL_RETURN_IF_ERROR(
      Truncate(fd_, static_cast<int64_t>(n) * static_cast<int64_t>(entry_size_), path_));
  CloseFdLocked();
  // The mapping keeps its size (readers only touch the first n entries); a
  // trimmed index takes no more entries until Resize.
  max_entries_.store(n, std::memory_order_release);
  writable_ = false;
  return absl::OkStatus();
}

absl::Status IndexFile::Flush() const {
  absl::MutexLock lock(&mu_);
  uint8_t* data = data_.load();
  if (data == nullptr) return absl::OkStatus();
  size_t used = static_cast<size_t>(entries_.load()) * entry_size_;
  if (used > 0 && ::msync(data, std::min(used, mapped_size_), MS_SYNC) != 0) {
    return ErrnoStatus(errno, "msync", path_);
  }
  return absl::OkStatus();
}

namespace {

// Binary search over entries whose keys increase: the last entry with a key
// <= target, -1 when there is none.
template <typename KeyOf>
int32_t LastEntryAtOrBelow(int32_t entries, int64_t target, KeyOf key_of) {
  int32_t lo = 0, hi = entries - 1, found = -1;
  while (lo <= hi) {
    const int32_t mid = lo + (hi - lo) / 2;
    if (key_of(mid) <= target) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

}  // namespace

// --- OffsetIndex ---

OffsetPosition OffsetIndex::Read(int32_t i) const {
  const uint8_t* e = file_.Entry(i);
  return {file_.base_offset() + LoadBigEndian<int32_t>(e), LoadBigEndian<int32_t>(e + 4)};
}

OffsetPosition OffsetIndex::Lookup(int64_t target) const {
  // An index that cannot be opened is treated as empty: lookups still find
  // the data, by scanning from the segment start.
  if (!file_.EnsureOpen(false, 0).ok()) return {file_.base_offset(), 0};
  int32_t found = LastEntryAtOrBelow(file_.entries(), target,
                                     [this](int32_t i) { return Read(i).offset; });
  return found < 0 ? OffsetPosition{file_.base_offset(), 0} : Read(found);
}

OffsetPosition OffsetIndex::LastEntry() const {
  if (!file_.EnsureOpen(false, 0).ok()) return {file_.base_offset(), 0};
  int32_t n = file_.entries();
  return n == 0 ? OffsetPosition{file_.base_offset(), 0} : Read(n - 1);
}

absl::Status OffsetIndex::Append(int64_t offset, int64_t position) {
  int32_t n = file_.entries();
  if (n > 0 && Read(n - 1).offset >= offset) return absl::OkStatus();
  uint8_t e[8];
  StoreBigEndian<int32_t>(e, static_cast<int32_t>(offset - file_.base_offset()));
  StoreBigEndian<int32_t>(e + 4, static_cast<int32_t>(position));
  return file_.AppendEntry(e);
}

void OffsetIndex::TruncateTo(int64_t offset) {
  if (!file_.EnsureOpen(false, 0).ok()) return;
  int32_t n = file_.entries();
  while (n > 0 && Read(n - 1).offset >= offset) --n;
  file_.TruncateEntries(n);
}

absl::Status OffsetIndex::Check(int64_t log_size) const {
  RUNNEL_RETURN_IF_ERROR(file_.EnsureOpen(false, 0));
  int32_t n = file_.entries();
  if (n == 0) return absl::OkStatus();
  OffsetPosition first = Read(0), last = Read(n - 1);
  if (first.offset < file_.base_offset() || last.position >= std::max<int64_t>(log_size, 1)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "index ", file_.path(), ": entry (", last.offset, ", ", last.position,
        ") outside the segment (log size ", log_size, ")"));
  }
  return absl::OkStatus();
}

// --- TimeIndex ---

TimestampOffsetEntry TimeIndex::Read(int32_t i) const {
  const uint8_t* e = file_.Entry(i);
  return {LoadBigEndian<int64_t>(e), file_.base_offset() + LoadBigEndian<int32_t>(e + 8)};
}

TimestampOffsetEntry TimeIndex::Lookup(int64_t target) const {
  if (!file_.EnsureOpen(false, 0).ok()) return {-1, file_.base_offset()};
  int32_t found = LastEntryAtOrBelow(file_.entries(), target,
                                     [this](int32_t i) { return Read(i).timestamp; });
  return found < 0 ? TimestampOffsetEntry{-1, file_.base_offset()} : Read(found);
}

TimestampOffsetEntry TimeIndex::LastEntry() const {
  if (!file_.EnsureOpen(false, 0).ok()) return {-1, file_.base_offset()};
  int32_t n = file_.entries();
  return n == 0 ? TimestampOffsetEntry{-1, file_.base_offset()} : Read(n - 1);
}

absl::Status TimeIndex::Append(int64_t timestamp, int64_t offset) {
  int32_t n = file_.entries();
  if (n > 0 && Read(n - 1).timestamp >= timestamp) return absl::OkStatus();
  uint8_t e[12];
  StoreBigEndian<int64_t>(e, timestamp);
  StoreBigEndian<int32_t>(e + 8, static_cast<int32_t>(offset - file_.base_offset()));
  return file_.AppendEntry(e);
}

void TimeIndex::TruncateTo(int64_t offset) {
  if (!file_.EnsureOpen(false, 0).ok()) return;
  int32_t n = file_.entries();
  while (n > 0 && Read(n - 1).offset >= offset) --n;
  file_.TruncateEntries(n);
}

absl::Status TimeIndex::Check() const {
  RUNNEL_RETURN_IF_ERROR(file_.EnsureOpen(false, 0));
  int32_t n = file_.entries();
  if (n > 0 && Read(0).offset < file_.base_offset()) {
    return absl::FailedPreconditionError(
        absl::StrCat("time index ", file_.path(), ": offset below the segment base"));
  }
  return absl::OkStatus();
}

}  // namespace runnel::storage
