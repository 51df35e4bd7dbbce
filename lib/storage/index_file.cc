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

// The process-wide LRU list of mapped indexes. Lock order: the LRU's mutex,
// then an index's (Evict); an index never takes the LRU's lock while holding
// its own.
class IndexMapCache {
 public:
  static IndexMapCache& Global() {
    static IndexMapCache* cache = new IndexMapCache();  // never destroyed
    return *cache;
  }

  void SetCapacity(size_t capacity) {
    absl::MutexLock lock(&mu_);
    capacity_ = std::max<size_t>(capacity, 1);
    EvictLocked(nullptr);
  }

  size_t size() const {
    absl::MutexLock lock(&mu_);
    return lru_.size();
  }

  // `index` was just searched (and is mapped): to the front of the list.
  void Touch(const IndexFile* index) {
    absl::MutexLock lock(&mu_);
    if (index->on_lru_) {
      if (index->lru_pos_ != lru_.begin()) lru_.splice(lru_.begin(), lru_, index->lru_pos_);
      return;
    }
    lru_.push_front(index);
    index->lru_pos_ = lru_.begin();
    index->on_lru_ = true;
    EvictLocked(index);
  }

  // `index` unmapped itself or is going away.
  void Remove(const IndexFile* index) {
    absl::MutexLock lock(&mu_);
    if (!index->on_lru_) return;
    lru_.erase(index->lru_pos_);
    index->on_lru_ = false;
  }

 private:
  void EvictLocked(const IndexFile* keep) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (lru_.size() > capacity_) {
      const IndexFile* victim = lru_.back();
      if (victim == keep) break;
      lru_.pop_back();
      victim->on_lru_ = false;
      victim->Evict();
    }
  }

  mutable absl::Mutex mu_;
  std::list<const IndexFile*> lru_ ABSL_GUARDED_BY(mu_);
  size_t capacity_ ABSL_GUARDED_BY(mu_) = 1024;
};

void SetMaxMappedIndexes(size_t max_mapped) { IndexMapCache::Global().SetCapacity(max_mapped); }
size_t MappedIndexCount() { return IndexMapCache::Global().size(); }

IndexFile::IndexFile(std::string path, int64_t base_offset, size_t entry_size)
    : base_offset_(base_offset), entry_size_(entry_size), path_(std::move(path)) {}

std::string IndexFile::path() const {
  absl::MutexLock lock(&mu_);
  return path_;
}

void IndexFile::SetPath(std::string path) {
  absl::MutexLock lock(&mu_);
  path_ = std::move(path);
}

IndexFile::~IndexFile() {
  IndexMapCache::Global().Remove(this);
  absl::MutexLock lock(&mu_);
  // Buffered entries are dropped: a segment going away without Trim (a
  // truncated or deleted one) needs none of them.
  UnmapLocked();
}

bool IndexFile::Follows(const uint8_t* prev, const uint8_t* cur) const {
  if (entry_size_ == 8) {
    return LoadBigEndian<int32_t>(cur) > LoadBigEndian<int32_t>(prev) &&
           LoadBigEndian<int32_t>(cur + 4) > LoadBigEndian<int32_t>(prev + 4);
  }
  return LoadBigEndian<int64_t>(cur) > LoadBigEndian<int64_t>(prev) &&
         LoadBigEndian<int32_t>(cur + 8) >= LoadBigEndian<int32_t>(prev + 8);
}

absl::StatusOr<int32_t> IndexFile::CountValidEntriesLocked(int fd, int32_t n) const {
  // A preallocated index left by a crash (or an older version) has a
  // zero-filled tail: the valid entries are the prefix whose keys strictly
  // increase. Read with pread, not through a mapping: on tmpfs a read fault
  // on a hole of a shared mapping allocates a page, which on a full disk is
  // a SIGBUS.
  constexpr int32_t kChunkEntries = 512;
  std::vector<uint8_t> buf(static_cast<size_t>(kChunkEntries + 1) * entry_size_);
  uint8_t* const chunk = buf.data() + entry_size_;  // buf[0, entry_size_) holds the previous entry
  int32_t valid = 0;
  for (int32_t i = 0; i < n; i += kChunkEntries) {
    const int32_t want = std::min(kChunkEntries, n - i);
    RUNNEL_ASSIGN_OR_RETURN(
        size_t got, PreadUpTo(fd, chunk, static_cast<size_t>(want) * entry_size_,
                              static_cast<int64_t>(i) * static_cast<int64_t>(entry_size_), path_));
    const int32_t have = static_cast<int32_t>(got / entry_size_);
    for (int32_t j = 0; j < have; ++j) {
      const uint8_t* cur = chunk + static_cast<size_t>(j) * entry_size_;
      if (i + j > 0 && !Follows(cur - entry_size_, cur)) return valid;
      std::memcpy(last_, cur, entry_size_);
      valid = i + j + 1;
    }
    if (have < want) return valid;
    std::memcpy(buf.data(), chunk + static_cast<size_t>(have - 1) * entry_size_, entry_size_);
  }
  return valid;
}

absl::Status IndexFile::LoadLocked() const {
  if (loaded_) return absl::OkStatus();
  absl::StatusOr<FileHandle> fh = OpenFile(path_, O_RDONLY);
  if (!fh.ok() && !absl::IsNotFound(fh.status())) return fh.status();
  int32_t valid = 0;
  file_bytes_ = -1;  // missing
  if (fh.ok()) {
    RUNNEL_ASSIGN_OR_RETURN(file_bytes_, FileSize(fh->get(), path_));
    const int64_t present = file_bytes_ / static_cast<int64_t>(entry_size_);
    RUNNEL_ASSIGN_OR_RETURN(valid, CountValidEntriesLocked(
                                       fh->get(), static_cast<int32_t>(std::min<int64_t>(
                                                      present, INT32_MAX))));
  }
  file_entries_ = valid;
  pending_count_ = 0;
  entries_.store(valid, std::memory_order_release);
  // Loaded read-only: takes no entries until EnsureOpen(writable).
  max_entries_.store(valid, std::memory_order_release);
  loaded_ = fh.ok();
  return absl::OkStatus();
}

absl::Status IndexFile::EnsureOpen(bool writable, int64_t max_bytes) const {
  absl::MutexLock lock(&mu_);
  RUNNEL_RETURN_IF_ERROR(LoadLocked());
  if (!writable) return absl::OkStatus();
  const int32_t n = entries_.load();
  const int64_t used = static_cast<int64_t>(file_entries_) * static_cast<int64_t>(entry_size_);
  if (file_bytes_ < 0) {
    // Created now so that every segment has both index files, as in Kafka
    // (a missing one makes Open rebuild it).
    RUNNEL_ASSIGN_OR_RETURN(FileHandle fh, OpenFile(path_, O_WRONLY | O_CREAT));
    file_bytes_ = 0;
    loaded_ = true;
  } else if (file_bytes_ > used) {
    // A preallocated or torn tail: appends must not leave old bytes after
    // their entries, where a reload could take them for more entries.
    if (::truncate(path_.c_str(), used) != 0) return ErrnoStatus(errno, "truncate", path_);
    file_bytes_ = used;
  }
  const int64_t max = std::min<int64_t>(max_bytes / static_cast<int64_t>(entry_size_), INT32_MAX);
  max_entries_.store(std::max<int32_t>(static_cast<int32_t>(max), n), std::memory_order_release);
  return absl::OkStatus();
}

absl::Status IndexFile::MapLocked(int32_t n) const {
  const size_t want = static_cast<size_t>(n) * entry_size_;
  if (map_ != nullptr && map_bytes_ >= want) return absl::OkStatus();
  UnmapLocked();
  // Map room for the entries the index may still take, so an active
  // segment's lookups do not remap after every append; pages past the end
  // of the file are never touched (only entries < entries() are read).
  const size_t bytes =
      std::max(want, static_cast<size_t>(max_entries_.load()) * entry_size_);
  RUNNEL_ASSIGN_OR_RETURN(FileHandle fh, OpenFile(path_, O_RDONLY));
  void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fh.get(), 0);
  if (p == MAP_FAILED) return ErrnoStatus(errno, "mmap", path_);
  map_ = static_cast<uint8_t*>(p);
  map_bytes_ = bytes;
  return absl::OkStatus();
}

void IndexFile::UnmapLocked() const {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
  map_ = nullptr;
  map_bytes_ = 0;
}

void IndexFile::Evict() const {
  absl::MutexLock lock(&mu_);
  UnmapLocked();
}

absl::Status IndexFile::Search(absl::FunctionRef<void(const uint8_t*, int32_t)> fn) const {
  {
    absl::MutexLock lock(&mu_);
    RUNNEL_RETURN_IF_ERROR(LoadLocked());
    RUNNEL_RETURN_IF_ERROR(WritePendingLocked());
    const int32_t n = file_entries_;
    if (n == 0 || pending_count_ > 0) {
      // pending_count_ > 0: the file is gone (deleted); nothing to search.
      fn(nullptr, 0);
      return absl::OkStatus();
    }
    RUNNEL_RETURN_IF_ERROR(MapLocked(n));
    fn(map_, n);
  }
  IndexMapCache::Global().Touch(this);
  return absl::OkStatus();
}

namespace {

// Over `n` entries of `size` bytes at `entries`, for which `at_or_below`
// holds on a prefix: the index of the last one it holds for, or -1.
int32_t LastHolding(const uint8_t* entries, int32_t n, size_t size,
                    absl::FunctionRef<bool(const uint8_t*)> at_or_below) {
  int32_t lo = 0, hi = n - 1, found = -1;
  while (lo <= hi) {
    const int32_t mid = lo + (hi - lo) / 2;
    if (at_or_below(entries + static_cast<size_t>(mid) * size)) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

}  // namespace

absl::StatusOr<bool> IndexFile::FindLast(absl::FunctionRef<bool(const uint8_t*)> at_or_below,
                                         uint8_t* out) const {
  bool found = false;
  {
    absl::MutexLock lock(&mu_);
    RUNNEL_RETURN_IF_ERROR(LoadLocked());
    // The buffered entries follow the file's: when the first of them is at
    // or below the target, the answer is among them and the file is not
    // touched (a tailing reader of the active segment maps nothing new).
    if (pending_count_ > 0 && at_or_below(pending_.get())) {
      const int32_t i = LastHolding(pending_.get(), pending_count_, entry_size_, at_or_below);
      std::memcpy(out, pending_.get() + static_cast<size_t>(i) * entry_size_, entry_size_);
      return true;
    }
    const int32_t n = file_entries_;
    if (n == 0) return false;
    RUNNEL_RETURN_IF_ERROR(MapLocked(n));
    const int32_t i = LastHolding(map_, n, entry_size_, at_or_below);
    found = i >= 0;
    if (found) std::memcpy(out, map_ + static_cast<size_t>(i) * entry_size_, entry_size_);
  }
  // Mapped, found or not: on the LRU list, so the cap holds.
  IndexMapCache::Global().Touch(this);
  return found;
}

absl::StatusOr<bool> IndexFile::LastEntry(uint8_t* out) const {
  absl::MutexLock lock(&mu_);
  RUNNEL_RETURN_IF_ERROR(LoadLocked());
  if (entries_.load() == 0) return false;
  std::memcpy(out, last_, entry_size_);
  return true;
}

absl::Status IndexFile::AppendEntry(const uint8_t* entry) {
  const int32_t n = entries_.load(std::memory_order_relaxed);
  // Under mu_ for path_ (no copy of it per entry); readers wait at most for
  // one small pwrite.
  absl::MutexLock lock(&mu_);
  if (n >= max_entries_.load()) {
    return absl::FailedPreconditionError(absl::StrCat("index ", path_, " is full or closed"));
  }
  if (pending_ == nullptr) {
    // Once each time the index starts taking appends (freed by Trim).
    pending_ = std::make_unique<uint8_t[]>(kPendingIndexEntries * entry_size_);
  }
  if (pending_count_ == kPendingIndexEntries) {
    RUNNEL_RETURN_IF_ERROR(WritePendingLocked());
    if (pending_count_ > 0) {
      return absl::NotFoundError(absl::StrCat("index ", path_, " is gone"));
    }
  }
  std::memcpy(pending_.get() + static_cast<size_t>(pending_count_) * entry_size_, entry,
              entry_size_);
  ++pending_count_;
  dirty_.store(true, std::memory_order_release);
  std::memcpy(last_, entry, entry_size_);
  entries_.store(n + 1, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status IndexFile::WritePendingLocked() const {
  if (pending_count_ == 0) return absl::OkStatus();
  // No O_CREAT: every index that takes appends has its file (Create,
  // EnsureOpen(writable)); a missing one was deleted with its segment.
  absl::StatusOr<FileHandle> fh = OpenFile(path_, O_WRONLY);
  if (absl::IsNotFound(fh.status())) return absl::OkStatus();
  if (!fh.ok()) return fh.status();
  const int64_t at = static_cast<int64_t>(file_entries_) * static_cast<int64_t>(entry_size_);
  const size_t bytes = static_cast<size_t>(pending_count_) * entry_size_;
  absl::Status written = PwriteAll(fh->get(), pending_.get(), bytes, at, path_);
  if (!written.ok()) {
    // The entries stay buffered and the next write starts at the same
    // position. Whatever part of them reached the file is cut off, so that
    // a reload never takes it for entries.
    if (file_bytes_ <= at) (void)::ftruncate(fh->get(), at);
    return written;
  }
  file_entries_ += pending_count_;
  pending_count_ = 0;
  file_bytes_ = std::max(file_bytes_, at + static_cast<int64_t>(bytes));
  return absl::OkStatus();
}

absl::Status IndexFile::WritePending() const {
  absl::MutexLock lock(&mu_);
  return WritePendingLocked();
}

void IndexFile::ForgetEntries() {
  absl::MutexLock lock(&mu_);
  file_entries_ = 0;
  pending_count_ = 0;
  entries_.store(0, std::memory_order_release);
}

absl::Status IndexFile::CutToEntries() {
  absl::MutexLock lock(&mu_);
  RUNNEL_RETURN_IF_ERROR(WritePendingLocked());
  const int64_t used = static_cast<int64_t>(entries_.load()) * static_cast<int64_t>(entry_size_);
  if (file_bytes_ <= used) return absl::OkStatus();
  if (::truncate(path_.c_str(), used) != 0) return ErrnoStatus(errno, "truncate", path_);
  file_bytes_ = used;
  dirty_.store(true, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status IndexFile::TruncateEntries(int32_t n) {
  absl::MutexLock lock(&mu_);
  RUNNEL_RETURN_IF_ERROR(LoadLocked());
  if (n >= entries_.load()) return absl::OkStatus();
  if (n > file_entries_) {
    // The cut falls among the buffered entries: the file keeps its own.
    pending_count_ = n - file_entries_;
    std::memcpy(last_, pending_.get() + static_cast<size_t>(pending_count_ - 1) * entry_size_,
                entry_size_);
    entries_.store(n, std::memory_order_release);
    return absl::OkStatus();
  }
  pending_count_ = 0;
  entries_.store(n, std::memory_order_release);
  const bool file_changes = n < file_entries_;
  file_entries_ = n;
  if (!file_changes) {
    // Exactly the file's entries are left: its last is the last one.
    if (n > 0) {
      RUNNEL_ASSIGN_OR_RETURN(FileHandle fh, OpenFile(path_, O_RDONLY));
      const int64_t at = static_cast<int64_t>(n - 1) * static_cast<int64_t>(entry_size_);
      RUNNEL_ASSIGN_OR_RETURN(size_t got, PreadUpTo(fh.get(), last_, entry_size_, at, path_));
      if (got != entry_size_) {
        return absl::DataLossError(absl::StrCat(path_, ": short read at byte ", at));
      }
    }
    return absl::OkStatus();
  }
  const int64_t used = static_cast<int64_t>(n) * static_cast<int64_t>(entry_size_);
  if (::truncate(path_.c_str(), used) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "truncate", path_);
  }
  file_bytes_ = used;
  dirty_.store(true, std::memory_order_release);
  if (n > 0) {
    // The new last entry: from the file, as the mapping may be gone.
    RUNNEL_ASSIGN_OR_RETURN(FileHandle fh, OpenFile(path_, O_RDONLY));
    RUNNEL_ASSIGN_OR_RETURN(size_t got, PreadUpTo(fh.get(), last_, entry_size_,
                                                  used - static_cast<int64_t>(entry_size_), path_));
    if (got != entry_size_) {
      return absl::DataLossError(absl::StrCat(path_, ": short read at byte ", used - 8));
    }
  }
  return absl::OkStatus();
}

absl::Status IndexFile::Trim() {
  absl::MutexLock lock(&mu_);
  if (!loaded_) return absl::OkStatus();  // never read nor written here
  RUNNEL_RETURN_IF_ERROR(WritePendingLocked());
  if (pending_count_ == 0) pending_.reset();
  max_entries_.store(entries_.load(), std::memory_order_release);
  return absl::OkStatus();
}

absl::Status IndexFile::Resize(int64_t max_bytes) { return EnsureOpen(true, max_bytes); }

absl::Status IndexFile::Flush() const {
  if (!dirty_.exchange(false, std::memory_order_acq_rel)) return absl::OkStatus();
  std::string p;
  {
    absl::MutexLock lock(&mu_);
    absl::Status written = WritePendingLocked();
    if (!written.ok()) {
      dirty_.store(true);
      return written;
    }
    p = path_;
  }
  absl::StatusOr<FileHandle> fh = OpenFile(p, O_RDONLY);
  absl::Status synced = fh.ok() ? Fsync(fh->get(), p) : fh.status();
  if (absl::IsNotFound(synced)) synced = absl::OkStatus();  // renamed away (deleted)
  if (!synced.ok()) dirty_.store(true);
  return synced;
}

// --- OffsetIndex ---

OffsetPosition OffsetIndex::Decode(const uint8_t* e) const {
  return {file_.base_offset() + LoadBigEndian<int32_t>(e), LoadBigEndian<int32_t>(e + 4)};
}

OffsetPosition OffsetIndex::Lookup(int64_t target) const {
  // An index that cannot be read is treated as empty: lookups still find
  // the data, by scanning from the segment start.
  uint8_t e[8];
  absl::StatusOr<bool> found =
      file_.FindLast([&](const uint8_t* entry) { return Decode(entry).offset <= target; }, e);
  return found.ok() && *found ? Decode(e) : OffsetPosition{file_.base_offset(), 0};
}

OffsetPosition OffsetIndex::LastEntry() const {
  uint8_t e[8];
  absl::StatusOr<bool> has = file_.LastEntry(e);
  return has.ok() && *has ? Decode(e) : OffsetPosition{file_.base_offset(), 0};
}

absl::Status OffsetIndex::Append(int64_t offset, int64_t position) {
  if (file_.entries() > 0 && LastEntry().offset >= offset) return absl::OkStatus();
  uint8_t e[8];
  StoreBigEndian<int32_t>(e, static_cast<int32_t>(offset - file_.base_offset()));
  StoreBigEndian<int32_t>(e + 4, static_cast<int32_t>(position));
  return file_.AppendEntry(e);
}

absl::Status OffsetIndex::TruncateTo(int64_t offset) {
  int32_t keep = 0;
  RUNNEL_RETURN_IF_ERROR(file_.Search([&](const uint8_t* entries, int32_t n) {
    keep = 1 + LastHolding(entries, n, 8,
                           [&](const uint8_t* e) { return Decode(e).offset < offset; });
  }));
  return file_.TruncateEntries(keep);
}

absl::Status OffsetIndex::Check(int64_t log_size) const {
  bool bad = false;
  OffsetPosition last;
  RUNNEL_RETURN_IF_ERROR(file_.Search([&](const uint8_t* entries, int32_t n) {
    if (n == 0) return;
    OffsetPosition first = Decode(entries);
    last = Decode(entries + static_cast<size_t>(n - 1) * 8);
    bad = first.offset < file_.base_offset() || last.position >= std::max<int64_t>(log_size, 1);
  }));
  if (!bad) return absl::OkStatus();
  // Outside Search: path() takes the index's lock.
  return absl::FailedPreconditionError(absl::StrCat("index ", file_.path(), ": entry (",
                                                    last.offset, ", ", last.position,
                                                    ") outside the segment (log size ", log_size,
                                                    ")"));
}

// --- TimeIndex ---

TimestampOffsetEntry TimeIndex::Decode(const uint8_t* e) const {
  return {LoadBigEndian<int64_t>(e), file_.base_offset() + LoadBigEndian<int32_t>(e + 8)};
}

TimestampOffsetEntry TimeIndex::Lookup(int64_t target) const {
  uint8_t e[12];
  absl::StatusOr<bool> found =
      file_.FindLast([&](const uint8_t* entry) { return Decode(entry).timestamp <= target; }, e);
  return found.ok() && *found ? Decode(e) : TimestampOffsetEntry{-1, file_.base_offset()};
}

TimestampOffsetEntry TimeIndex::LastEntry() const {
  uint8_t e[12];
  absl::StatusOr<bool> has = file_.LastEntry(e);
  return has.ok() && *has ? Decode(e) : TimestampOffsetEntry{-1, file_.base_offset()};
}

absl::Status TimeIndex::Append(int64_t timestamp, int64_t offset) {
  if (file_.entries() > 0 && LastEntry().timestamp >= timestamp) return absl::OkStatus();
  uint8_t e[12];
  StoreBigEndian<int64_t>(e, timestamp);
  StoreBigEndian<int32_t>(e + 8, static_cast<int32_t>(offset - file_.base_offset()));
  return file_.AppendEntry(e);
}

absl::Status TimeIndex::TruncateTo(int64_t offset) {
  // Offsets in a time index do not decrease, so the entries to keep are a
  // prefix.
  int32_t keep = 0;
  RUNNEL_RETURN_IF_ERROR(file_.Search([&](const uint8_t* entries, int32_t n) {
    keep = 1 + LastHolding(entries, n, 12,
                           [&](const uint8_t* e) { return Decode(e).offset < offset; });
  }));
  return file_.TruncateEntries(keep);
}

absl::Status TimeIndex::Check() const {
  bool bad = false;
  RUNNEL_RETURN_IF_ERROR(file_.Search([&](const uint8_t* entries, int32_t n) {
    bad = n > 0 && Decode(entries).offset < file_.base_offset();
  }));
  if (!bad) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("time index ", file_.path(), ": offset below the segment base"));
}

}  // namespace runnel::storage
