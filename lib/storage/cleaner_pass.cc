#include "storage/cleaner_pass.h"

#include <sys/uio.h>

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/record_batch_format.h"
#include "runnel/common/status_macros.h"
#include "runnel/protocol/record_batch.h"
#include "storage/batch_scanner.h"
#include "storage/cleaner_batches.h"
#include "storage/cleaner_txn.h"
#include "storage/file_util.h"
#include "storage/log_format.h"

namespace runnel::storage {
namespace {

namespace rb = runnel::record_batch;

// An inactive segment and the offset its successor starts at: every offset
// in it lies below `upper`.
struct Source {
  std::shared_ptr<Segment> seg;
  int64_t upper = 0;
};

// producer id -> base offset of its last batch among the segments rewritten.
using ProducerLastBatch = std::map<int64_t, int64_t>;

// What the header scan before the rewrite learns about the batches.
struct BatchFacts {
  ProducerLastBatch producers;
  TxnCollector txns;
};

absl::Status CheckAbort(const CleanPassOptions& o) {
  if (o.abort != nullptr && o.abort->load(std::memory_order_relaxed)) {
    return absl::CancelledError("the cleaner is stopping");
  }
  return absl::OkStatus();
}

// Calls fn(reader) for each batch of `seg` from byte `start` (a batch
// boundary) on, the reader positioned on it.
template <typename Fn>
absl::Status ForEachBatch(const std::shared_ptr<Segment>& seg, const CleanPassOptions& o,
                          int64_t start, Fn&& fn) {
  SegmentBatchChunks chunks(seg, start, seg->size(), o.io_chunk_bytes);
  while (true) {
    RUNNEL_RETURN_IF_ERROR(CheckAbort(o));
    RUNNEL_ASSIGN_OR_RETURN(std::span<const uint8_t> chunk, chunks.Next());
    if (chunk.empty()) return absl::OkStatus();
    protocol::RecordBatchReader reader(chunk,
                                       {.base_position = static_cast<uint64_t>(chunks.position())});
    while (reader.NextBatch()) RUNNEL_RETURN_IF_ERROR(fn(reader));
    if (!reader.status().ok()) {
      return absl::DataLossError(absl::StrCat(seg->log_path(), ": ", reader.status().message()));
    }
  }
}

// Walks every batch header of `seg` (and reads the record of each
// transactional control batch), with no CRC check: recovery or the append
// checked them, and the map and rewrite passes check them again as they
// read records. BatchScanner reads headers in 16 KiB chunks and skips the
// bodies of larger batches, so this walk is not a third read of the data
// (Kafka learns aborted transactions from its .txnindex instead).
absl::Status ScanHeaders(const std::shared_ptr<Segment>& seg, const CleanPassOptions& o,
                         BatchFacts& facts) {
  BatchScanner scan(seg->fd(), seg->log_path(), 0, seg->size());
  ByteBuffer control;
  while (true) {
    RUNNEL_RETURN_IF_ERROR(CheckAbort(o));
    RUNNEL_ASSIGN_OR_RETURN(std::optional<BatchInfo> h, scan.Next());
    if (!h.has_value()) return absl::OkStatus();
    if (h->producer_id >= 0) facts.producers[h->producer_id] = h->base_offset;
    const TxnBatch b{.producer_id = h->producer_id,
                     .base_offset = h->base_offset,
                     .last_offset = h->last_offset,
                     .record_count = h->record_count,
                     .transactional = (h->attributes & rb::kTransactionalBit) != 0,
                     .control = (h->attributes & rb::kControlBit) != 0};
    std::optional<protocol::ControlRecordType> type;
    if (b.control && b.transactional) {
      control.Clear();
      RUNNEL_RETURN_IF_ERROR(seg->ReadBytes(h->position, h->size, control));
      absl::StatusOr<std::optional<protocol::ControlRecordType>> t = ControlTypeOf(control.span());
      if (!t.ok()) {
        return absl::DataLossError(absl::StrCat(seg->log_path(), ": control batch at byte ",
                                                h->position, ": ", t.status().message()));
      }
      type = *t;
    }
    facts.txns.OnBatch(b, type);
  }
}

// Step 1: fills `map` from the dirty range; returns how many of `sources`
// the pass rewrites.
absl::StatusOr<size_t> BuildOffsetMap(const std::vector<Source>& sources, OffsetMap& map,
                                      const CleanPassOptions& o, const BatchFacts& facts,
                                      CleanStats& stats) {
  stats.next_dirty = std::max(o.end, o.first_dirty);
  CleanedTxnMetadata txns(facts.txns.aborted());
  for (size_t i = 0; i < sources.size(); ++i) {
    const Source& s = sources[i];
    if (s.upper <= o.first_dirty) continue;
    // In the segment holding first_dirty, the clean batches before it are
    // not read (Kafka starts at offsetIndex.lookup(start) too): the batch
    // holding first_dirty is found from the offset index.
    int64_t start = 0;
    if (o.first_dirty > s.seg->base_offset()) {
      RUNNEL_ASSIGN_OR_RETURN(std::optional<BatchInfo> first,
                              s.seg->FindBatch(o.first_dirty, s.seg->size()));
      start = first.has_value() ? first->position : s.seg->size();
    }
    RUNNEL_RETURN_IF_ERROR(ForEachBatch(s.seg, o, start, [&](protocol::RecordBatchReader& reader) {
      const protocol::RecordBatchHeader& h = reader.header();
      // Control records carry no data key, and aborted records supersede
      // nothing. After the map filled, the rest of the segment is only
      // checked.
      if (stats.map_full || h.is_control() || h.last_offset() < o.first_dirty ||
          txns.OnDataBatch(TxnBatch::Of(h))) {
        return absl::OkStatus();
      }
      while (reader.NextRecord()) {
        const protocol::Record& r = reader.record();
        if (r.offset < o.first_dirty || r.key.is_null()) continue;
        if (!map.Put(OffsetMap::Hash(r.key.str()), r.offset)) {
          // Kafka's way: clean up to the last offset that fit.
          stats.map_full = true;
          stats.next_dirty = r.offset;
          break;
        }
      }
      return reader.status();
    }));
    if (stats.map_full) return i + 1;
  }
  return sources.size();
}

// Groups consecutive sources whose total size fits segment.bytes and whose
// offsets fit one segment's int32 relative offsets.
std::vector<std::vector<Source>> GroupBySize(std::span<const Source> sources, int64_t max_bytes) {
  std::vector<std::vector<Source>> groups;
  int64_t group_bytes = 0;
  for (const Source& s : sources) {
    if (groups.empty() || group_bytes + s.seg->size() > max_bytes ||
        s.upper - 1 - groups.back().front().seg->base_offset() > INT32_MAX) {
      groups.emplace_back();
      group_bytes = 0;
    }
    groups.back().push_back(s);
    group_bytes += s.seg->size();
  }
  return groups;
}

void RemoveCleanedFiles(const std::string& dir, int64_t base) {
  for (absl::string_view ext : {kLogFileSuffix, kIndexFileSuffix, kTimeIndexFileSuffix}) {
    (void)RemoveFile(JoinPath(dir, absl::StrCat(SegmentFileName(base, ext), kCleanedFileSuffix)));
  }
}

// Writes kept batches to the replacement in runs of about io_chunk_bytes.
class ReplacementWriter {
 public:
  ReplacementWriter(Segment& out, int32_t index_interval_bytes, int64_t flush_bytes)
      : out_(out), index_interval_bytes_(index_interval_bytes), flush_bytes_(flush_bytes) {}

  absl::Status Add(std::span<const uint8_t> batch, int64_t last_offset, int64_t max_timestamp) {
    buffer_.Append(batch);
    metas_.push_back({last_offset, max_timestamp, static_cast<int64_t>(batch.size())});
    last_offset_ = last_offset;
    if (static_cast<int64_t>(buffer_.size()) >= flush_bytes_) return Flush();
    return absl::OkStatus();
  }
  absl::Status Flush() {
    if (metas_.empty()) return absl::OkStatus();
    const iovec iov{buffer_.data(), buffer_.size()};
    RUNNEL_RETURN_IF_ERROR(
        out_.Append(std::span<const iovec>(&iov, 1), metas_, index_interval_bytes_));
    buffer_.Clear();
    metas_.clear();
    return absl::OkStatus();
  }
  int64_t last_offset() const { return last_offset_; }

 private:
  Segment& out_;
  const int32_t index_interval_bytes_;
  const int64_t flush_bytes_;
  ByteBuffer buffer_;
  std::vector<AppendedBatch> metas_;
  int64_t last_offset_ = -1;
};

// Steps 2 and 3 for one group.
absl::Status CleanGroup(LogImpl& log, const LogOptions& opts, std::span<const Source> group,
                        const OffsetMap& map, const BatchFacts& facts, CleanedTxnMetadata& txns,
                        const CleanPassOptions& o, CleanStats& stats) {
  const int64_t base = group.front().seg->base_offset();
  int64_t total = 0;
  for (const Source& s : group) total += s.seg->size();
  // Room for every index entry the merged segment can need.
  const int64_t entries =
      total / std::max<int64_t>(opts.index_interval_bytes, static_cast<int64_t>(rb::kHeaderSize)) +
      2;
  const int64_t index_bytes = std::min<int64_t>(
      std::max<int64_t>(opts.segment_index_bytes, entries * kTimeIndexEntrySize), INT32_MAX);
  RUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<Segment> out,
                          Segment::Create(log.dir(), base, static_cast<int32_t>(index_bytes),
                                          o.now_ms, kCleanedFileSuffix));
  absl::Status status = [&]() -> absl::Status {
    ReplacementWriter writer(*out, opts.index_interval_bytes, o.io_chunk_bytes);
    std::optional<protocol::RecordBatchHeader> last_seen;
    // KIP-534: a tombstone or a marker seen now may go at this horizon.
    const int64_t new_horizon = o.now_ms + opts.delete_retention_ms;
    std::optional<int64_t> horizon;  // the current batch's
    const KeepRecord keep = [&](const protocol::Record& r) {
      ++stats.records_read;
      if (r.key.is_null()) return false;
      std::optional<int64_t> latest = map.Get(OffsetMap::Hash(r.key.str()));
      if (latest.has_value() && r.offset < *latest) return false;
      // A tombstone goes at its batch's delete horizon, and only once the
      // map covered it: every older record of its key is then gone too (in
      // this group or an earlier one), so dropping it cannot resurrect an
      // old value.
      if (r.value.is_null() && horizon.has_value() && o.now_ms >= *horizon &&
          r.offset < stats.next_dirty) {
        ++stats.tombstones_dropped;
        return false;
      }
      return true;
    };
    for (const Source& s : group) {
      RUNNEL_RETURN_IF_ERROR(ForEachBatch(s.seg, o, 0, [&](protocol::RecordBatchReader& reader) {
        const protocol::RecordBatchHeader h = reader.header();
        last_seen = h;
        horizon = DeleteHorizonOf(h);
        auto it = facts.producers.find(h.producer_id);
        FilterOptions fo;
        fo.retain_if_empty =
            h.producer_id >= 0 && it != facts.producers.end() && it->second == h.base_offset;
        fo.delete_horizon = new_horizon;
        bool marker_expired = false;
        if (h.is_control()) {
          RUNNEL_ASSIGN_OR_RETURN(std::optional<protocol::ControlRecordType> type,
                                  ControlTypeOf(reader.batch_bytes()));
          // A marker whose transaction has no batch left goes at its
          // horizon; one still describing data stays and gets none.
          const bool may_go = txns.OnControlBatch(TxnBatch::Of(h), type);
          if (!may_go) fo.delete_horizon.reset();
          marker_expired = may_go && horizon.has_value() && o.now_ms >= *horizon;
          fo.discard_all = marker_expired;
        } else {
          fo.discard_all = txns.OnDataBatch(TxnBatch::Of(h));  // aborted
          if (fo.discard_all) stats.aborted_records_dropped += std::max(h.record_count, 0);
        }
        RUNNEL_ASSIGN_OR_RETURN(FilteredBatch f, FilterBatch(reader, keep, fo));
        stats.records_dropped += f.records_dropped;
        if (marker_expired) stats.markers_dropped += f.records_dropped;
        switch (f.fate) {
          case BatchFate::kKeepWhole:
            return writer.Add(reader.batch_bytes(), h.last_offset(), f.max_timestamp);
          case BatchFate::kRewrite:
            if (f.records_kept == 0) ++stats.empty_batches_kept;
            return writer.Add(f.bytes.span(), h.last_offset(), f.max_timestamp);
          case BatchFate::kDrop:
            break;
        }
        return absl::OkStatus();
      }));
    }
    if (last_seen.has_value() && writer.last_offset() < last_seen->last_offset()) {
      // The group's last offset stays covered (see cleaner_pass.h).
      ByteBuffer empty = MakeEmptyBatch(*last_seen);
      ++stats.empty_batches_kept;
      RUNNEL_RETURN_IF_ERROR(
          writer.Add(empty.span(), last_seen->last_offset(), last_seen->max_timestamp));
    }
    RUNNEL_RETURN_IF_ERROR(writer.Flush());
    // The fsync and index trim happen here, outside the log's locks;
    // ReplaceSegments then finds nothing left to do for them.
    RUNNEL_RETURN_IF_ERROR(out->CloseForAppends());  // before the fsync: its final time entry
    RUNNEL_RETURN_IF_ERROR(out->Flush());
    if (o.before_swap) o.before_swap(base);
    RUNNEL_RETURN_IF_ERROR(CheckAbort(o));  // the last chance to stop cheaply
    std::vector<std::shared_ptr<Segment>> old;
    for (const Source& s : group) old.push_back(s.seg);
    const int64_t after = out->size();
    RUNNEL_RETURN_IF_ERROR(log.ReplaceSegments(old, std::move(out)));
    stats.bytes_before += total;
    stats.bytes_after += after;
    CleanStats::Group g{base, {}};
    for (const Source& s : group) g.replaced.push_back(s.seg->base_offset());
    stats.groups.push_back(std::move(g));
    return absl::OkStatus();
  }();
  // A replacement not swapped in is garbage (a no-op once renamed).
  if (!status.ok()) RemoveCleanedFiles(log.dir(), base);
  return status;
}

}  // namespace

absl::StatusOr<CleanStats> RunCleanPass(LogImpl& log, OffsetMap& map, const CleanPassOptions& o) {
  CleanStats stats;
  stats.first_dirty = o.first_dirty;
  stats.next_dirty = o.first_dirty;
  const LogOptions opts = log.options();
  std::shared_ptr<const LogImpl::SegmentMap> segments = log.SegmentsSnapshot();
  std::vector<Source> sources;
  for (auto it = segments->begin(); it != segments->end(); ++it) {
    auto next = std::next(it);
    if (next == segments->end() || it->first >= o.end) break;  // never the active one
    sources.push_back({it->second, next->first});
  }
  // With nothing dirty the pass still rewrites: tombstones past
  // delete.retention.ms go.
  if (sources.empty()) return stats;

  BatchFacts facts;
  for (const Source& s : sources) RUNNEL_RETURN_IF_ERROR(ScanHeaders(s.seg, o, facts));
  // An undecided transaction (no marker yet below `end`): nothing from the
  // segment holding its first batch on is cleaned (Kafka stops at the last
  // stable offset), since its records may yet be aborted.
  CleanPassOptions po = o;
  if (std::optional<int64_t> unstable = facts.txns.first_unstable(); unstable.has_value()) {
    stats.first_unstable_offset = *unstable;
    size_t stable = 0;
    while (stable < sources.size() && sources[stable].upper <= *unstable) ++stable;
    if (stable < sources.size()) {
      po.end = std::min(po.end, sources[stable].seg->base_offset());
      sources.resize(stable);
    }
  }
  stats.next_dirty = std::max(po.end, po.first_dirty);
  if (sources.empty()) return stats;

  map.Clear();
  RUNNEL_ASSIGN_OR_RETURN(size_t rewrite, BuildOffsetMap(sources, map, po, facts, stats));
  stats.map_entries = map.size();
  const int64_t max_group = std::min<int64_t>(opts.segment_bytes, kMaxSegmentBytes);
  // One view of the transactions for the whole pass: a marker in a later
  // group still knows the batches read in an earlier one.
  CleanedTxnMetadata txns(facts.txns.aborted());
  for (const std::vector<Source>& group :
       GroupBySize(std::span<const Source>(sources.data(), rewrite), max_group)) {
    RUNNEL_RETURN_IF_ERROR(CleanGroup(log, opts, group, map, facts, txns, po, stats));
  }
  return stats;
}

}  // namespace runnel::storage
