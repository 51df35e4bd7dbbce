// `runnel log check`: verifies every segment and index of every partition in
// a data directory, reading the files as they are (the log is not opened, so
// recovery cuts nothing the check should see).
//
// What is checked, per partition:
//   .log        every batch frames (length, magic 2), its CRC-32C matches,
//               its records decode, offsets increase within and across
//               segments and fit the segment (relative offsets are int32),
//               and the file ends on a batch boundary.
//   .index      whole 8-byte entries, both fields strictly increasing, each
//               position the start of a batch that holds the entry's offset.
//   .timeindex  whole 12-byte entries, timestamps strictly increasing,
//               offsets non-decreasing and inside the segment, timestamps not
//               above the segment's newest batch.
//   A zero-filled tail in an index is a preallocated active index (or one a
//   crash left), not a problem. leader-epoch-checkpoint and the data
//   directory's checkpoints must parse, and no checkpointed recovery point or
//   log start offset may lie past the partition's end.
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runnel/common/endian.h"
#include "runnel/protocol/record_batch.h"
#include "storage/checkpoint_file.h"
#include "storage/file_util.h"
#include "storage/log_format.h"
#include "storage/log_manager_impl.h"
#include "tools/runnel/command.h"
#include "tools/runnel/flags.h"
#include "tools/runnel/log_commands.h"
#include "tools/runnel/log_files.h"

namespace runnel::tools {
namespace {

namespace rb = runnel::record_batch;

constexpr char kCheckHelp[] =
    "Verifies every segment (.log), index (.index, .timeindex) and checkpoint of\n"
    "every partition in the data directory --dir: batch framing and CRC-32C,\n"
    "record decoding, increasing offsets, index entries pointing at the batches\n"
    "they name. Each problem is printed as '<file>: byte <position>: <what>'.\n"
    "\n"
    "Read-only; run it on a directory no process is recovering. Exit status: 0\n"
    "and a summary when clean, 1 when a problem was found, 2 on a bad command line.";

// A batch that passed validation, as the index checks need it.
struct GoodBatch {
  int64_t position;
  int64_t base_offset;
  int64_t last_offset;
  int64_t max_timestamp;
};

// True when the `size` bytes at `p` are all zero.
bool AllZero(const uint8_t* p, size_t size) {
  return std::all_of(p, p + size, [](uint8_t b) { return b == 0; });
}

class Checker {
 public:
  explicit Checker(bool verbose) : verbose_(verbose) {}

  void CheckDataDir(const std::string& data_dir) {
    absl::StatusOr<std::vector<std::string>> partitions = ListPartitionDirs(data_dir);
    if (!partitions.ok()) {
      Problem(data_dir, 0, partitions.status().message());
      return;
    }
    for (const std::string& dir : *partitions) CheckPartition(dir);
    CheckOffsetCheckpoint(data_dir, storage::kRecoveryPointCheckpointFile, "recovery point");
    CheckOffsetCheckpoint(data_dir, storage::kLogStartOffsetCheckpointFile, "log start offset");
  }

  int Report() const {
    std::string summary =
        absl::StrCat("checked ", partitions_, " partitions, ", segments_, " segments, ", batches_,
                     " batches, ", records_, " records (", bytes_, " bytes): ");
    if (problems_ == 0) {
      std::printf("%sno problems\n", summary.c_str());
      return kExitOk;
    }
    std::printf("%s%lld problem%s\n", summary.c_str(), static_cast<long long>(problems_),
                problems_ == 1 ? "" : "s");
    return kExitFailure;
  }

 private:
  void Problem(const std::string& file, int64_t position, absl::string_view what) {
    std::printf("%s: byte %lld: %.*s\n", file.c_str(), static_cast<long long>(position),
                static_cast<int>(what.size()), what.data());
    ++problems_;
  }

  void CheckPartition(const std::string& dir) {
    ++partitions_;
    absl::StatusOr<std::vector<SegmentFiles>> segments = ListSegments(dir);
    if (!segments.ok()) {
      Problem(dir, 0, segments.status().message());
      return;
    }
    int64_t next_offset = -1;  // the offset after the previous batch
    for (const SegmentFiles& seg : *segments) CheckSegment(seg, next_offset);
    if (next_offset < 0 && !segments->empty()) next_offset = segments->back().base_offset;
    end_offsets_[std::string(storage::JoinPath("", dir.substr(dir.rfind('/') + 1)))] =
        next_offset < 0 ? 0 : next_offset;

    const std::string epochs_path = storage::JoinPath(dir, storage::kLeaderEpochCheckpointFile);
    absl::StatusOr<std::vector<storage::EpochEntry>> epochs =
        storage::ReadEpochCheckpoint(epochs_path);
    if (!epochs.ok()) {
      Problem(epochs_path, 0, epochs.status().message());
    } else {
      for (size_t i = 1; i < epochs->size(); ++i) {
        const storage::EpochEntry& a = (*epochs)[i - 1];
        const storage::EpochEntry& b = (*epochs)[i];
        if (b.epoch <= a.epoch || b.start_offset < a.start_offset) {
          Problem(epochs_path, 0,
                  absl::StrCat("entry ", i, " (epoch ", b.epoch, " at ", b.start_offset,
                               ") does not follow (epoch ", a.epoch, " at ", a.start_offset, ")"));
        }
      }
    }
  }

  // `next_offset`: in, the offset after the previous segment's last batch
  // (-1 before the first); out, the same after this segment.
  void CheckSegment(const SegmentFiles& seg, int64_t& next_offset) {
    ++segments_;
    absl::StatusOr<MappedFile> file = MappedFile::Open(seg.log_path);
    if (!file.ok()) {
      Problem(seg.log_path, 0, file.status().message());
      return;
    }
    const int64_t size = static_cast<int64_t>(file->bytes().size());
    bytes_ += size;
    if (size > storage::kMaxSegmentBytes) {
      Problem(seg.log_path, 0, absl::StrCat("segment of ", size, " bytes, above the 2 GiB limit"));
    }
    if (next_offset > seg.base_offset) {
      Problem(seg.log_path, 0,
              absl::StrCat("segment starts at offset ", seg.base_offset,
                           " but the previous segment reaches offset ", next_offset - 1));
    }
    std::vector<GoodBatch> good;
    int64_t expected = std::max(next_offset, seg.base_offset);
    BatchWalker walker(file->bytes());
    while (std::optional<ScannedBatch> b = walker.Next()) {
      ++batches_;
      if (!b->valid.ok()) {
        Problem(seg.log_path, b->position, b->valid.message());
        continue;
      }
      const rb::BatchHeader& h = b->header;
      const int64_t last = h.base_offset + static_cast<int64_t>(h.last_offset_delta);
      if (h.last_offset_delta < 0) {
        Problem(seg.log_path, b->position,
                absl::StrCat("negative lastOffsetDelta ", h.last_offset_delta));
        continue;
      }
      if (h.base_offset < expected) {
        Problem(
            seg.log_path, b->position,
            absl::StrCat("batch offsets ", h.base_offset, "..", last,
                         " do not follow the previous ones (expected ", expected, " or above)"));
      }
      if (last - seg.base_offset > INT32_MAX) {
        Problem(seg.log_path, b->position,
                absl::StrCat("offset ", last, " too far above the segment base ", seg.base_offset,
                             " for the index"));
      }
      CheckRecords(seg.log_path, *b, h.base_offset, last);
      good.push_back({b->position, h.base_offset, last, h.max_timestamp});
      expected = std::max(expected, last + 1);
    }
    if (!walker.error().ok()) {
      Problem(seg.log_path, walker.position(), walker.error().message());
    }
    if (!good.empty()) next_offset = good.back().last_offset + 1;
    if (verbose_) {
      std::printf(
          "%s: %zu batches, offsets %lld..%lld, %lld bytes\n", seg.log_path.c_str(), good.size(),
          static_cast<long long>(good.empty() ? seg.base_offset : good.front().base_offset),
          static_cast<long long>(good.empty() ? seg.base_offset - 1 : good.back().last_offset),
          static_cast<long long>(size));
    }
    CheckOffsetIndex(seg, good, walker.position());
    CheckTimeIndex(seg, good);
  }

  void CheckRecords(const std::string& path, const ScannedBatch& b, int64_t base, int64_t last) {
    protocol::RecordBatchReader reader(b.bytes,
                                       {.base_position = static_cast<uint64_t>(b.position)});
    if (!reader.NextBatch()) {
      Problem(path, b.position,
              reader.status().ok() ? "batch not readable" : reader.status().message());
      return;
    }
    int32_t count = 0;
    int64_t prev = base - 1;
    while (reader.NextRecord()) {
      const int64_t o = reader.record().offset;
      if (o <= prev || o > last) {
        Problem(path, b.position,
                absl::StrCat("record offset ", o, " outside the batch's ", base, "..", last,
                             " or not increasing"));
        return;
      }
      prev = o;
      ++count;
    }
    records_ += count;
    if (!reader.status().ok()) {
      Problem(path, b.position, reader.status().message());
    } else if (count != b.header.record_count) {
      Problem(path, b.position,
              absl::StrCat("recordCount ", b.header.record_count, " but ", count, " records"));
    }
  }

  // Reads fixed-size entries, stopping at a zero-filled (preallocated) tail.
  // Returns nullopt, after reporting, when the file is missing.
  std::optional<MappedFile> OpenIndex(const std::string& path, size_t entry_size, size_t& entries) {
    absl::StatusOr<MappedFile> file = MappedFile::Open(path);
    if (!file.ok()) {
      Problem(path, 0, file.status().message());
      return std::nullopt;
    }
    std::span<const uint8_t> bytes = file->bytes();
    if (bytes.size() % entry_size != 0) {
      Problem(path, static_cast<int64_t>(bytes.size() / entry_size * entry_size),
              absl::StrCat("size ", bytes.size(), " is not a whole number of ", entry_size,
                           "-byte entries"));
    }
    const size_t n = bytes.size() / entry_size;
    entries = n;
    for (size_t i = 0; i < n; ++i) {
      if (AllZero(bytes.data() + i * entry_size, entry_size)) {
        entries = i;
        const size_t tail = i * entry_size;
        if (!AllZero(bytes.data() + tail, n * entry_size - tail)) {
          Problem(path, static_cast<int64_t>(tail),
                  "an all-zero entry is followed by non-zero entries");
        }
        break;
      }
    }
    return std::move(*file);
  }

  void CheckOffsetIndex(const SegmentFiles& seg, const std::vector<GoodBatch>& good,
                        int64_t valid_end) {
    size_t n = 0;
    std::optional<MappedFile> file = OpenIndex(seg.index_path, storage::kOffsetIndexEntrySize, n);
    if (!file.has_value()) return;
    const uint8_t* data = file->bytes().data();
    int64_t prev_rel = -1, prev_pos = -1;
    for (size_t i = 0; i < n; ++i) {
      const int64_t at = static_cast<int64_t>(i * storage::kOffsetIndexEntrySize);
      const int32_t rel = LoadBigEndian<int32_t>(data + at);
      const int32_t pos = LoadBigEndian<int32_t>(data + at + 4);
      const int64_t offset = seg.base_offset + rel;
      if (rel < 0 || pos < 0 || rel <= prev_rel || pos <= prev_pos) {
        Problem(seg.index_path, at,
                absl::StrCat("entry (offset ", offset, ", position ", pos,
                             ") does not increase on the one before"));
        return;  // the rest cannot be trusted either
      }
      prev_rel = rel;
      prev_pos = pos;
      auto it = std::lower_bound(good.begin(), good.end(), pos,
                                 [](const GoodBatch& b, int64_t p) { return b.position < p; });
      if (pos >= valid_end || it == good.end() || it->position != pos) {
        Problem(seg.index_path, at,
                absl::StrCat("entry (offset ", offset, ", position ", pos,
                             ") does not point at the start of a valid batch in ", seg.log_path));
      } else if (offset < it->base_offset || offset > it->last_offset) {
        Problem(seg.index_path, at,
                absl::StrCat("entry names offset ", offset, " but the batch at position ", pos,
                             " holds offsets ", it->base_offset, "..", it->last_offset));
      }
    }
  }

  void CheckTimeIndex(const SegmentFiles& seg, const std::vector<GoodBatch>& good) {
    size_t n = 0;
    std::optional<MappedFile> file =
        OpenIndex(seg.time_index_path, storage::kTimeIndexEntrySize, n);
    if (!file.has_value()) return;
    int64_t max_ts = -1;
    for (const GoodBatch& b : good) max_ts = std::max(max_ts, b.max_timestamp);
    const int64_t last_offset = good.empty() ? seg.base_offset - 1 : good.back().last_offset;
    const uint8_t* data = file->bytes().data();
    int64_t prev_ts = INT64_MIN, prev_rel = -1;
    for (size_t i = 0; i < n; ++i) {
      const int64_t at = static_cast<int64_t>(i * storage::kTimeIndexEntrySize);
      const int64_t ts = LoadBigEndian<int64_t>(data + at);
      const int32_t rel = LoadBigEndian<int32_t>(data + at + 8);
      const int64_t offset = seg.base_offset + rel;
      if (rel < 0 || ts <= prev_ts || rel < prev_rel) {
        Problem(seg.time_index_path, at,
                absl::StrCat("entry (timestamp ", ts, ", offset ", offset,
                             ") does not increase on the one before"));
        return;
      }
      prev_ts = ts;
      prev_rel = rel;
      if (offset > last_offset) {
        Problem(seg.time_index_path, at,
                absl::StrCat("entry names offset ", offset, ", past the segment's last offset ",
                             last_offset));
      } else if (ts > max_ts) {
        Problem(
            seg.time_index_path, at,
            absl::StrCat("entry timestamp ", ts, " is above every batch's (newest ", max_ts, ")"));
      }
    }
  }

  void CheckOffsetCheckpoint(const std::string& data_dir, absl::string_view name,
                             absl::string_view what) {
    const std::string path = storage::JoinPath(data_dir, name);
    absl::StatusOr<std::map<storage::TopicPartition, int64_t>> entries =
        storage::ReadOffsetCheckpoint(path);
    if (!entries.ok()) {
      Problem(path, 0, entries.status().message());
      return;
    }
    for (const auto& [tp, offset] : *entries) {
      auto it = end_offsets_.find(tp.DirName());
      // A partition deleted since the checkpoint is not a problem.
      if (it != end_offsets_.end() && offset > it->second) {
        Problem(
            path, 0,
            absl::StrCat(what, " ", offset, " of ", tp.DirName(), " is past the log end offset ",
                         it->second, ": checkpointed data is missing"));
      }
    }
  }

  const bool verbose_;
  std::map<std::string, int64_t> end_offsets_;  // partition dir name -> log end offset
  int64_t partitions_ = 0, segments_ = 0, batches_ = 0, records_ = 0, bytes_ = 0;
  int64_t problems_ = 0;
};

}  // namespace

int RunLogCheck(std::span<const std::string> args) {
  FlagSet flags("runnel log check", kCheckHelp);
  flags.AddString("dir", "DIR", "the data directory", /*required=*/true);
  flags.AddBool("verbose", "also print a line for each segment checked");
  if (absl::Status s = flags.Parse(args); !s.ok()) return ReportParseResult(flags, s);
  const std::string dir = flags.GetString("dir");
  if (!storage::IsDirectory(dir)) {
    std::fprintf(stderr, "runnel log check: %s is not a directory\n", dir.c_str());
    return kExitFailure;
  }
  Checker checker(flags.GetBool("verbose"));
  checker.CheckDataDir(dir);
  return checker.Report();
}

}  // namespace runnel::tools
