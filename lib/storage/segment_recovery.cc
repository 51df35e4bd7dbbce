// Segment recovery: the batch-by-batch validation run at Open on every
// segment that may hold unflushed data (and on any whose indexes are missing
// or implausible), and the cheaper tail load of a segment known flushed.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "common/record_batch_format.h"
#include "runnel/common/endian.h"
#include "runnel/common/status_macros.h"
#include "storage/log_format.h"
#include "storage/segment.h"

namespace runnel::storage {
namespace {

namespace rb = runnel::record_batch;

constexpr int64_t kRecoveryChunkBytes = 1 << 20;

// Sequential reader over [0, file_size) that hands out whole batches from a
// chunk buffer, reading a batch larger than a chunk on its own.
class ChunkReader {
 public:
  ChunkReader(int fd, const std::string& path, int64_t file_size)
      : fd_(fd), path_(path), file_size_(file_size) {}

  // Makes [pos, pos + n) available (n <= file_size - pos); returns its bytes.
  absl::StatusOr<const uint8_t*> Get(int64_t pos, int64_t n) {
    if (pos < start_ || pos + n > start_ + static_cast<int64_t>(buf_.size())) {
      int64_t want = std::min(std::max(n, kRecoveryChunkBytes), file_size_ - pos);
      buf_.ResizeUninitialized(static_cast<size_t>(want));
      RUNNEL_ASSIGN_OR_RETURN(size_t got, PreadUpTo(fd_, buf_.data(), buf_.size(), pos, path_));
      buf_.Truncate(got);
      start_ = pos;
      if (static_cast<int64_t>(got) < n) {
        return absl::DataLossError(absl::StrCat(path_, ": short read at byte ", pos));
      }
    }
    return buf_.data() + (pos - start_);
  }

 private:
  int fd_;
  const std::string& path_;
  int64_t file_size_;
  ByteBuffer buf_;
  int64_t start_ = 0;
};

}  // namespace

absl::StatusOr<SegmentRecovery> Segment::Recover(int32_t index_interval_bytes,
                                                 int32_t index_max_bytes) {
  RUNNEL_RETURN_IF_ERROR(offset_index_.file().EnsureOpen(true, index_max_bytes));
  RUNNEL_RETURN_IF_ERROR(time_index_.file().EnsureOpen(true, index_max_bytes));
  offset_index_.file().ForgetEntries();
  time_index_.file().ForgetEntries();
  max_timestamp_.store(-1);
  offset_of_max_timestamp_.store(-1);
  first_batch_timestamp_.store(-1);
  max_timestamp_known_.store(true);
  bytes_since_last_index_entry_ = 0;

  RUNNEL_ASSIGN_OR_RETURN(const int64_t file_size, FileSize(fd(), log_path_));
  ChunkReader reader(fd(), log_path_, file_size);
  int64_t pos = 0;
  int64_t expected = base_offset_;
  absl::Status bad;
  while (pos < file_size) {
    const int64_t left = file_size - pos;
    if (left < static_cast<int64_t>(rb::kHeaderSize)) {
      bad = absl::DataLossError(absl::StrCat("partial batch header (", left, " bytes)"));
      break;
    }
    RUNNEL_ASSIGN_OR_RETURN(const uint8_t* header, reader.Get(pos, rb::kHeaderSize));
    absl::StatusOr<rb::BatchFrame> frame = rb::FrameBatch({header, rb::kHeaderSize}, pos);
    if (!frame.ok()) {
      bad = frame.status();
      break;
    }
    if (static_cast<int64_t>(frame->size) > left) {
      bad = absl::DataLossError(absl::StrCat("batch at byte ", pos, " of ", frame->size,
                                             " bytes runs past the end of the file (", left,
                                             " bytes left): a torn write"));
      break;
    }
    const int64_t size = static_cast<int64_t>(frame->size);
    RUNNEL_ASSIGN_OR_RETURN(const uint8_t* batch, reader.Get(pos, size));
    bad = rb::ValidateBatch({batch, frame->size}, pos);
    if (!bad.ok()) break;
    BatchInfo info = DecodeBatchInfo(batch, pos);
    if (info.base_offset < expected || info.last_offset < info.base_offset ||
        info.last_offset - base_offset_ > INT32_MAX) {
      bad =
          absl::DataLossError(absl::StrCat("batch at byte ", pos, " has offsets ", info.base_offset,
                                           "..", info.last_offset, ", expected from ", expected));
      break;
    }
    RUNNEL_RETURN_IF_ERROR(
        AddIndexEntries({info.last_offset, info.max_timestamp, size}, pos, index_interval_bytes));
    expected = info.last_offset + 1;
    pos += size;
  }
  RUNNEL_RETURN_IF_ERROR(offset_index_.file().CutToEntries());
  RUNNEL_RETURN_IF_ERROR(time_index_.file().CutToEntries());
  SegmentRecovery result;
  result.valid_bytes = pos;
  if (!bad.ok()) {
    result.truncation =
        RecoveryTruncation{log_path_, pos, file_size - pos, std::string(bad.message())};
    RUNNEL_RETURN_IF_ERROR(Truncate(fd(), pos, log_path_));
  }
  size_.store(pos, std::memory_order_release);
  next_offset_.store(expected, std::memory_order_release);
  return result;
}

namespace {

// The relative offset and (offset index) position of the first and last
// entries of an index file, read with pread; false when unreadable.
bool EdgeEntries(const std::string& path, size_t entry_size, size_t offset_field,
                 std::array<std::pair<int64_t, int64_t>, 2>* edges, int64_t* file_size) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || st.st_size % static_cast<off_t>(entry_size) != 0) {
    return false;
  }
  *file_size = st.st_size;
  if (st.st_size == 0) return true;
  absl::StatusOr<FileHandle> fh = OpenFile(path, O_RDONLY);
  if (!fh.ok()) return false;
  for (int i = 0; i < 2; ++i) {
    uint8_t e[kTimeIndexEntrySize];
    const off_t at = i == 0 ? 0 : st.st_size - static_cast<off_t>(entry_size);
    absl::StatusOr<size_t> got = PreadUpTo(fh->get(), e, entry_size, at, path);
    if (!got.ok() || *got != entry_size) return false;
    (*edges)[i] = {LoadBigEndian<int32_t>(e + offset_field),
                   entry_size == kOffsetIndexEntrySize ? LoadBigEndian<int32_t>(e + 4) : 0};
  }
  return true;
}

}  // namespace

bool Segment::IndexesLookSane(int64_t offset_limit) const {
  const int64_t log_size = size();
  const int64_t max_relative = std::min<int64_t>(offset_limit - base_offset_, INT32_MAX);
  std::array<std::pair<int64_t, int64_t>, 2> edges;
  for (const IndexFile* index : {&offset_index_.file(), &time_index_.file()}) {
    const bool offsets = index == &offset_index_.file();
    int64_t file_size = 0;
    if (!EdgeEntries(index->path(), offsets ? kOffsetIndexEntrySize : kTimeIndexEntrySize,
                     offsets ? 0 : 8, &edges, &file_size)) {
      return false;
    }
    if (file_size == 0) continue;
    for (const auto& [relative, position] : edges) {
      // A preallocated, zero-filled tail reads as (0, 0), which is fine:
      // lookups stop at the valid prefix.
      if (relative < 0 || relative >= std::max<int64_t>(max_relative, 1) || position < 0 ||
          (position > 0 && position >= log_size)) {
        return false;
      }
    }
  }
  return true;
}

absl::Status Segment::LoadTail() {
  const int64_t limit = size();
  OffsetPosition last = offset_index_.Lookup(INT64_MAX);
  int64_t start = last.position <= limit ? last.position : 0;
  TimestampOffsetEntry te = time_index_.LastEntry();
  int64_t max_ts = std::max(te.timestamp, max_timestamp_.load());
  int64_t max_ts_offset =
      te.timestamp >= max_timestamp_.load() ? te.offset : offset_of_max_timestamp_.load();
  int64_t next = base_offset_;
  BatchScanner scan(fd(), log_path_, start, limit);
  while (true) {
    RUNNEL_ASSIGN_OR_RETURN(std::optional<BatchInfo> b, scan.Next());
    if (!b.has_value()) break;
    if (b->position == 0) first_batch_timestamp_.store(b->max_timestamp);
    if (b->max_timestamp > max_ts) {
      max_ts = b->max_timestamp;
      max_ts_offset = b->last_offset;
    }
    next = b->last_offset + 1;
  }
  if (limit > 0 && first_batch_timestamp_.load() < 0) {
    BatchScanner first(fd(), log_path_, 0, limit);
    RUNNEL_ASSIGN_OR_RETURN(std::optional<BatchInfo> b, first.Next());
    if (b.has_value()) first_batch_timestamp_.store(b->max_timestamp);
  }
  if (next == base_offset_ && start > 0) {
    // The scan started at the last indexed batch, so there was one.
    next = last.offset + 1;
  }
  max_timestamp_.store(max_ts, std::memory_order_release);
  offset_of_max_timestamp_.store(max_ts_offset);
  max_timestamp_known_.store(true, std::memory_order_release);
  next_offset_.store(next, std::memory_order_release);
  bytes_since_last_index_entry_ = limit - start;
  return absl::OkStatus();
}

}  // namespace runnel::storage
