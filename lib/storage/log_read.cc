// The read path: whole batches by offset, as bytes and as file ranges, and
// the offset lookup by timestamp. Readers never take the writer's lock: they
// copy the segment list and read no further than each segment's published
// size.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/record_batch_format.h"
#include "runnel/common/status_macros.h"
#include "runnel/protocol/record_batch.h"
#include "storage/log_impl.h"

namespace runnel::storage {
namespace {

namespace rb = runnel::record_batch;

// Limits shared by the segments one Read visits.
struct ReadBudget {
  int64_t max_bytes;
  bool strict;
  int64_t max_offset;
  int64_t used = 0;
  bool done = false;

  // Whether a batch of `size` starting at `base_offset` still fits.
  bool Admit(int64_t base_offset, int64_t size) {
    if (base_offset >= max_offset) return false;
    // The first batch goes even when too big, unless strict (Kafka's
    // minOneMessage), so a consumer can always make progress.
    if (used + size > max_bytes && (used > 0 || strict)) return false;
    used += size;
    return true;
  }
};

// Appends the run of admitted batches of `seg` starting with `first` to
// `result`; sets budget.done when a limit stopped it.
absl::Status ReadRun(const std::shared_ptr<Segment>& seg, const BatchInfo& first, int64_t limit,
                     bool copy, ReadBudget& budget, ReadResult& result) {
  int64_t length = 0;
  int64_t next_offset = result.next_offset;
  if (copy) {
    // One pread of everything that may fit, then cut at a batch boundary.
    int64_t want =
        std::min(std::max(budget.max_bytes - budget.used, first.size), limit - first.position);
    const size_t at = result.bytes.size();
    RUNNEL_RETURN_IF_ERROR(seg->ReadBytes(first.position, want, result.bytes));
    while (length + static_cast<int64_t>(rb::kHeaderSize) <= want) {
      BatchInfo b = DecodeBatchInfo(result.bytes.data() + at + length, first.position + length);
      if (b.size < static_cast<int64_t>(rb::kHeaderSize) || length + b.size > want ||
          !budget.Admit(b.base_offset, b.size)) {
        budget.done = true;
        break;
      }
      length += b.size;
      next_offset = b.last_offset + 1;
    }
    if (length + static_cast<int64_t>(rb::kHeaderSize) > want && first.position + want < limit) {
      budget.done = true;  // stopped by max_bytes, not by the segment's end
    }
    result.bytes.Truncate(at + static_cast<size_t>(length));
  } else {
    BatchScanner scan(seg->fd(), seg->log_path(), first.position, limit);
    while (true) {
      RUNNEL_ASSIGN_OR_RETURN(std::optional<BatchInfo> b, scan.Next());
      if (!b.has_value()) break;
      if (!budget.Admit(b->base_offset, b->size)) {
        budget.done = true;
        break;
      }
      length += b->size;
      next_offset = b->last_offset + 1;
    }
  }
  if (length > 0) {
    result.slices.push_back(FileSlice{seg->fd(), first.position, length, seg->log_path(), seg});
    result.total_bytes += length;
    result.next_offset = next_offset;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ReadResult> LogImpl::Read(int64_t offset, const ReadOptions& options) const {
  ReadResult result;
  result.log_end_offset = log_end_offset();
  result.log_start_offset = log_start_offset();
  if (offset < result.log_start_offset || offset > result.log_end_offset) {
    return absl::OutOfRangeError(absl::StrCat("offset ", offset, " is outside the log [",
                                              result.log_start_offset, ", ", result.log_end_offset,
                                              "] of ", dir_));
  }
  ReadBudget budget{options.max_bytes, options.strict_max_bytes,
                    options.max_offset >= 0 ? std::min(options.max_offset, result.log_end_offset)
                                            : result.log_end_offset};
  result.next_offset = offset;
  if (offset >= budget.max_offset) return result;

  std::shared_ptr<const SegmentMap> segments = SegmentsSnapshot();
  auto it = segments->upper_bound(offset);
  if (it != segments->begin()) --it;
  int64_t want = offset;
  for (; it != segments->end() && !budget.done; ++it) {
    const std::shared_ptr<Segment>& seg = it->second;
    const int64_t limit = seg->size();
    RUNNEL_ASSIGN_OR_RETURN(std::optional<BatchInfo> first, seg->FindBatch(want, limit));
    if (!first.has_value()) continue;
    RUNNEL_RETURN_IF_ERROR(ReadRun(seg, *first, limit, options.copy_bytes, budget, result));
    want = result.next_offset;
  }
  return result;
}

absl::StatusOr<std::optional<TimestampAndOffset>> LogImpl::ReadByTimestamp(
    int64_t timestamp_ms) const {
  const int64_t start = log_start_offset();
  std::shared_ptr<const SegmentMap> segments = SegmentsSnapshot();
  ByteBuffer bytes;
  for (const auto& [base, seg] : *segments) {
    if (seg->MaxTimestamp() < timestamp_ms) continue;
    RUNNEL_ASSIGN_OR_RETURN(std::optional<BatchInfo> first,
                            seg->FindBatchByTimestamp(timestamp_ms));
    if (!first.has_value()) continue;
    BatchScanner scan(seg->fd(), seg->log_path(), first->position, seg->size());
    while (true) {
      RUNNEL_ASSIGN_OR_RETURN(std::optional<BatchInfo> b, scan.Next());
      if (!b.has_value()) break;
      if (b->max_timestamp < timestamp_ms || b->last_offset < start) continue;
      // The batch qualifies; the answer is its first record at or past the
      // timestamp (records need not be in timestamp order).
      bytes.Clear();
      RUNNEL_RETURN_IF_ERROR(seg->ReadBytes(b->position, b->size, bytes));
      protocol::RecordBatchReader reader(bytes.span(),
                                         {.base_position = static_cast<uint64_t>(b->position)});
      while (reader.NextBatch()) {
        while (reader.NextRecord()) {
          const protocol::Record& r = reader.record();
          if (r.offset >= start && r.timestamp >= timestamp_ms) {
            return TimestampAndOffset{r.timestamp, r.offset, b->leader_epoch};
          }
        }
      }
      if (!reader.status().ok()) {
        return absl::DataLossError(absl::StrCat(seg->log_path(), ": ", reader.status().message()));
      }
    }
  }
  return std::nullopt;
}

}  // namespace runnel::storage
