#include "storage/segment.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runnel/common/status_macros.h"
#include "storage/log_format.h"

namespace runnel::storage {

Segment::Segment(std::string dir, int64_t base_offset, std::string suffix, FileHandle log_fd,
                 int64_t size, int64_t now_ms)
    : dir_(std::move(dir)),
      base_offset_(base_offset),
      suffix_(std::move(suffix)),
      log_path_(PathFor(suffix_, kLogFileSuffix)),
      log_fd_(std::move(log_fd)),
      offset_index_(PathFor(suffix_, kIndexFileSuffix), base_offset),
      time_index_(PathFor(suffix_, kTimeIndexFileSuffix), base_offset),
      created_ms_(now_ms),
      size_(size),
      next_offset_(base_offset) {}

Segment::~Segment() = default;

std::string Segment::PathFor(absl::string_view suffix, absl::string_view ext) const {
  return JoinPath(dir_, absl::StrCat(SegmentFileName(base_offset_, ext), suffix));
}

absl::StatusOr<std::shared_ptr<Segment>> Segment::Create(const std::string& dir,
                                                          int64_t base_offset,
                                                          int32_t index_max_bytes,
                                                          int64_t now_ms,
                                                          absl::string_view suffix) {
  std::string path = JoinPath(dir, absl::StrCat(SegmentFileName(base_offset, kLogFileSuffix), suffix));
  RUNNEL_ASSIGN_OR_RETURN(FileHandle fd, OpenFile(path, O_RDWR | O_CREAT | O_TRUNC));
  std::shared_ptr<Segment> seg(
      new Segment(dir, base_offset, std::string(suffix), std::move(fd), 0, now_ms));
  // Stale index files of an earlier segment at this offset would be taken
  // for entries: start them empty.
  for (const IndexFile* index : {&seg->offset_index_.file(), &seg->time_index_.file()}) {
    RUNNEL_RETURN_IF_ERROR(OpenFile(index->path(), O_WRONLY | O_CREAT | O_TRUNC).status());
  }
  RUNNEL_RETURN_IF_ERROR(seg->OpenForAppends(index_max_bytes));
  seg->max_timestamp_known_.store(true);
  return seg;
}

absl::StatusOr<std::shared_ptr<Segment>> Segment::OpenExisting(const std::string& dir,
                                                                int64_t base_offset,
                                                                int64_t now_ms) {
  std::string path = JoinPath(dir, SegmentFileName(base_offset, kLogFileSuffix));
  RUNNEL_ASSIGN_OR_RETURN(FileHandle fd, OpenFile(path, O_RDWR));
  RUNNEL_ASSIGN_OR_RETURN(int64_t size, FileSize(fd.get(), path));
  return std::shared_ptr<Segment>(new Segment(dir, base_offset, "", std::move(fd), size, now_ms));
}

int64_t Segment::MaxTimestamp() const {
  if (!max_timestamp_known_.load(std::memory_order_acquire)) {
    int64_t ts = time_index_.LastEntry().timestamp;
    int64_t cur = max_timestamp_.load();
    while (ts > cur && !max_timestamp_.compare_exchange_weak(cur, ts)) {
    }
    max_timestamp_known_.store(true, std::memory_order_release);
  }
  return max_timestamp_.load(std::memory_order_acquire);
}

int64_t Segment::LargestTimestamp() const {
  const int64_t max_ts = MaxTimestamp();
  if (max_ts >= 0) return max_ts;
  struct stat st;
  if (::fstat(fd(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
}

int64_t Segment::TimeWaitedForRoll(int64_t now_ms, int64_t incoming_max_timestamp) const {
  int64_t first = first_batch_timestamp_.load(std::memory_order_acquire);
  return first >= 0 ? incoming_max_timestamp - first : now_ms - created_ms_;
}

bool Segment::NeedsRollFor(int64_t last_offset, int64_t bytes) const {
  return last_offset - base_offset_ > INT32_MAX || size() + bytes > kMaxSegmentBytes ||
         offset_index_.file().full() || time_index_.file().full();
}

namespace {

// Scans batch headers from `start` for the first batch `done` accepts. An
// index entry is only a hint: if scanning from it fails (an entry not on a
// batch boundary, from a damaged index), the scan is redone from the start
// of the file, which is slower but right.
template <typename Done>
absl::StatusOr<std::optional<BatchInfo>> ScanFrom(int fd, const std::string& path,
                                                  int64_t start, int64_t limit, Done done) {
  if (start > limit) start = 0;  // an index entry past a truncation
  while (true) {
    BatchScanner scan(fd, path, start, limit);
    absl::StatusOr<std::optional<BatchInfo>> b;
    do {
      b = scan.Next();
    } while (b.ok() && b->has_value() && !done(**b));
    if (b.ok() || start == 0) return b;
    start = 0;
  }
}

}  // namespace

absl::StatusOr<std::optional<BatchInfo>> Segment::FindBatch(int64_t offset, int64_t limit) const {
  return ScanFrom(fd(), log_path_, offset_index_.Lookup(offset).position, limit,
                  [offset](const BatchInfo& b) { return b.last_offset >= offset; });
}

absl::StatusOr<std::optional<BatchInfo>> Segment::FindBatchByTimestamp(int64_t timestamp) const {
  // The last entry with a timestamp below the target: every batch up to its
  // offset is older than the target, so the scan may start there.
  TimestampOffsetEntry te = time_index_.Lookup(timestamp - 1);
  return ScanFrom(fd(), log_path_, offset_index_.Lookup(te.offset).position, size(),
                  [timestamp](const BatchInfo& b) { return b.max_timestamp >= timestamp; });
}

absl::Status Segment::ReadBytes(int64_t position, int64_t length, ByteBuffer& out) const {
  const size_t before = out.size();
  uint8_t* dst = out.AppendUninitialized(static_cast<size_t>(length));
  RUNNEL_ASSIGN_OR_RETURN(size_t got,
                          PreadUpTo(fd(), dst, static_cast<size_t>(length), position, log_path_));
  if (static_cast<int64_t>(got) != length) {
    out.Truncate(before);
    return absl::DataLossError(absl::StrCat(log_path_, ": expected ", length, " bytes at byte ",
                                            position, ", file ends after ", got));
  }
  return absl::OkStatus();
}

absl::Status Segment::AddIndexEntries(const AppendedBatch& b, int64_t position,
                                      int32_t index_interval_bytes) {
  if (first_batch_timestamp_.load(std::memory_order_relaxed) < 0 && position == 0) {
    first_batch_timestamp_.store(b.max_timestamp, std::memory_order_release);
  }
  if (b.max_timestamp > max_timestamp_.load(std::memory_order_relaxed)) {
    max_timestamp_.store(b.max_timestamp, std::memory_order_release);
    offset_of_max_timestamp_.store(b.last_offset, std::memory_order_relaxed);
  }
  if (bytes_since_last_index_entry_ > index_interval_bytes) {
    RUNNEL_RETURN_IF_ERROR(offset_index_.Append(b.last_offset, position));
    RUNNEL_RETURN_IF_ERROR(time_index_.Append(max_timestamp_.load(), offset_of_max_timestamp_.load()));
    bytes_since_last_index_entry_ = 0;
  }
  bytes_since_last_index_entry_ += b.size;
  return absl::OkStatus();
}

absl::Status Segment::Append(std::span<const iovec> iov, std::span<const AppendedBatch> batches,
                             int32_t index_interval_bytes) {
  const int64_t start = size_.load(std::memory_order_relaxed);
  // A failed append must not stay: cut the file back so the next append (and
  // a reopen) starts at a batch boundary and never sees unacknowledged bytes.
  auto cut_back = [&](const absl::Status& error) {
    absl::Status cut = Truncate(fd(), start, log_path_);
    if (!cut.ok()) {
      return absl::DataLossError(absl::StrCat(error.message(), "; cutting ", log_path_,
                                              " back to byte ", start, " failed too: ",
                                              cut.message()));
    }
    return error;
  };
  absl::Status written = PwritevAll(fd(), iov, start, log_path_);
  if (!written.ok()) return cut_back(written);
  // An index entry can fail too (ENOSPC when its page is first written):
  // then the entries and timestamps added for this call are undone with the
  // bytes, so no entry points past the data.
  const int32_t offset_entries = offset_index_.file().entries();
  const int32_t time_entries = time_index_.file().entries();
  const int64_t since_last_entry = bytes_since_last_index_entry_;
  const int64_t max_timestamp = max_timestamp_.load(std::memory_order_relaxed);
  const int64_t offset_of_max_timestamp = offset_of_max_timestamp_.load(std::memory_order_relaxed);
  const int64_t first_batch_timestamp = first_batch_timestamp_.load(std::memory_order_relaxed);
  int64_t position = start;
  for (const AppendedBatch& b : batches) {
    absl::Status indexed = AddIndexEntries(b, position, index_interval_bytes);
    if (!indexed.ok()) {
      // Best effort: the entries past the data are what matters, and a
      // reopen rebuilds the active segment's indexes anyway.
      (void)offset_index_.file().TruncateEntries(offset_entries);
      (void)time_index_.file().TruncateEntries(time_entries);
      bytes_since_last_index_entry_ = since_last_entry;
      max_timestamp_.store(max_timestamp, std::memory_order_release);
      offset_of_max_timestamp_.store(offset_of_max_timestamp, std::memory_order_relaxed);
      first_batch_timestamp_.store(first_batch_timestamp, std::memory_order_release);
      return cut_back(indexed);
    }
    position += b.size;
  }
  size_.store(position, std::memory_order_release);
  if (!batches.empty()) {
    next_offset_.store(batches.back().last_offset + 1, std::memory_order_release);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<int64_t>> Segment::TruncateTo(int64_t offset) {
  RUNNEL_ASSIGN_OR_RETURN(std::optional<BatchInfo> cut, FindBatch(offset, size()));
  if (!cut.has_value()) return std::nullopt;
  RUNNEL_RETURN_IF_ERROR(offset_index_.file().EnsureOpen(false, 0));
  RUNNEL_RETURN_IF_ERROR(time_index_.file().EnsureOpen(false, 0));
  RUNNEL_RETURN_IF_ERROR(offset_index_.TruncateTo(offset));
  RUNNEL_RETURN_IF_ERROR(time_index_.TruncateTo(offset));
  size_.store(cut->position, std::memory_order_release);
  RUNNEL_RETURN_IF_ERROR(Truncate(fd(), cut->position, log_path_));
  // Timestamps and the next offset come from what is left.
  max_timestamp_.store(-1);
  offset_of_max_timestamp_.store(-1);
  if (cut->position == 0) first_batch_timestamp_.store(-1);
  RUNNEL_RETURN_IF_ERROR(LoadTail());
  return cut->base_offset;
}

absl::Status Segment::OpenForAppends(int32_t index_max_bytes) {
  RUNNEL_RETURN_IF_ERROR(offset_index_.file().Resize(index_max_bytes));
  return time_index_.file().Resize(index_max_bytes);
}

absl::Status Segment::CloseForAppends() {
  // The final time-index entry makes MaxTimestamp() of a reopened segment
  // exact without scanning it (Kafka does the same on roll).
  if (time_index_.file().entries() < time_index_.file().max_entries() &&
      max_timestamp_.load() >= 0) {
    RUNNEL_RETURN_IF_ERROR(time_index_.Append(max_timestamp_.load(), offset_of_max_timestamp_.load()));
  }
  RUNNEL_RETURN_IF_ERROR(offset_index_.file().Trim());
  return time_index_.file().Trim();
}

absl::Status Segment::Flush(bool with_indexes) const {
  RUNNEL_RETURN_IF_ERROR(Fsync(fd(), log_path_));
  if (!with_indexes) return absl::OkStatus();
  RUNNEL_RETURN_IF_ERROR(offset_index_.file().Flush());
  return time_index_.file().Flush();
}

absl::StatusOr<std::vector<std::string>> Segment::RenameForDelete() {
  std::vector<std::string> renamed;
  for (absl::string_view ext : {kLogFileSuffix, kIndexFileSuffix, kTimeIndexFileSuffix}) {
    std::string from = PathFor(suffix_, ext);
    if (!PathExists(from)) continue;
    std::string to = absl::StrCat(from, kDeletedFileSuffix);
    RUNNEL_RETURN_IF_ERROR(RenameFile(from, to));
    renamed.push_back(std::move(to));
  }
  suffix_ = absl::StrCat(suffix_, kDeletedFileSuffix);
  offset_index_.file().SetPath(PathFor(suffix_, kIndexFileSuffix));
  time_index_.file().SetPath(PathFor(suffix_, kTimeIndexFileSuffix));
  return renamed;
}

absl::Status Segment::RenameSuffix(absl::string_view to) {
  for (absl::string_view ext : {kLogFileSuffix, kIndexFileSuffix, kTimeIndexFileSuffix}) {
    std::string from = PathFor(suffix_, ext);
    if (!PathExists(from)) continue;
    RUNNEL_RETURN_IF_ERROR(RenameFile(from, PathFor(to, ext)));
  }
  suffix_ = std::string(to);
  offset_index_.file().SetPath(PathFor(suffix_, kIndexFileSuffix));
  time_index_.file().SetPath(PathFor(suffix_, kTimeIndexFileSuffix));
  return absl::OkStatus();
}

}  // namespace runnel::storage
