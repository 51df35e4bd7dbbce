// The write path: validate, assign offsets, roll, write, publish; and flush.
#include <algorithm>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "common/record_batch_format.h"
#include "runnel/common/endian.h"
#include "runnel/common/status_macros.h"
#include "runnel/protocol/record_batch.h"
#include "storage/log_impl.h"

namespace runnel::storage {
namespace {

namespace rb = runnel::record_batch;

// Kafka's CORRUPT_MESSAGE: the batch cannot be trusted.
absl::Status Corrupt(const absl::Status& why) {
  return absl::InvalidArgumentError(absl::StrCat("corrupt record batch: ", why.message()));
}

struct PendingBatch {
  size_t position;  // in the input
  AppendedBatch meta;
  int64_t base_offset;
  int32_t record_count;
};

}  // namespace

absl::Status LogImpl::CheckWritable() const {
  if (closed_) return absl::FailedPreconditionError(absl::StrCat("log ", dir_, " is closed"));
  return failed_;
}

absl::StatusOr<AppendResult> LogImpl::Append(std::span<uint8_t> batches,
                                             const AppendOptions& options) {
  return AppendBatches(batches, options, /*built_here=*/false);
}

absl::StatusOr<AppendResult> LogImpl::AppendBatches(std::span<uint8_t> batches,
                                                    const AppendOptions& options, bool built_here) {
  if (batches.empty()) return absl::InvalidArgumentError("no record batches to append");
  absl::InlinedVector<PendingBatch, 8> pending;
  absl::InlinedVector<AppendedBatch, 8> metas;
  AppendResult result;
  bool flush_now = false;
  int64_t rolled_at = -1;  // a roll makes the segments before it flushable
  {
    absl::MutexLock lock(&mu_);
    RUNNEL_RETURN_IF_ERROR(CheckWritable());
    const int64_t now = clock_->NowMs();
    const bool leader = options.origin == AppendOrigin::kLeader;
    const int64_t end = end_offset_.load(std::memory_order_relaxed);

    // Check every batch before changing anything: a bad one rejects the call.
    int64_t next = end;
    for (size_t pos = 0; pos < batches.size();) {
      std::span<uint8_t> rest = batches.subspan(pos);
      absl::StatusOr<rb::BatchFrame> frame = rb::FrameBatch(rest, pos);
      if (!frame.ok()) return Corrupt(frame.status());
      if (frame->size == 0 || !frame->complete) {
        return Corrupt(absl::DataLossError(
            absl::StrCat("batch at byte ", pos, " is truncated (", rest.size(), " bytes left)")));
      }
      if (frame->size > static_cast<size_t>(options_.max_message_bytes)) {
        return absl::OutOfRangeError(absl::StrCat("record batch at byte ", pos, " is ", frame->size,
                                                  " bytes, above max.message.bytes ",
                                                  options_.max_message_bytes));
      }
      std::span<uint8_t> batch = rest.first(frame->size);
      // A batch AppendRecords just built had its CRC computed by the builder;
      // checking it again would be a second pass over every byte.
      if (!built_here) {
        absl::Status valid = rb::ValidateBatch(batch, pos);
        if (!valid.ok()) return Corrupt(valid);
      }
      BatchInfo info = DecodeBatchInfo(batch.data(), static_cast<int64_t>(pos));
      const int64_t delta = info.last_offset - info.base_offset;
      if (delta < 0) {
        return Corrupt(absl::DataLossError(
            absl::StrCat("batch at byte ", pos, ": negative lastOffsetDelta ", delta)));
      }
      if (leader) {
        if (info.record_count != delta + 1) {
          return Corrupt(absl::DataLossError(
              absl::StrCat("batch at byte ", pos, ": record count ", info.record_count,
                           " does not match lastOffsetDelta ", delta)));
        }
        info.base_offset = next;
        info.last_offset = next + delta;
      } else if (info.base_offset < next) {
        return absl::FailedPreconditionError(
            absl::StrCat("replicated batch at byte ", pos, " starts at offset ", info.base_offset,
                         ", below the expected ", next, " (offsets out of order)"));
      }
      pending.push_back({pos,
                         {info.last_offset, info.max_timestamp, info.size},
                         info.base_offset,
                         info.record_count});
      next = info.last_offset + 1;
      pos += frame->size;
    }

    // Offsets, epoch and LogAppendTime. The CRC covers none of baseOffset and
    // partitionLeaderEpoch, so only LogAppendTime needs it recomputed.
    const bool append_time =
        leader && options_.message_timestamp_type == TimestampType::kLogAppendTime;
    for (PendingBatch& p : pending) {
      std::span<uint8_t> b = batches.subspan(p.position, static_cast<size_t>(p.meta.size));
      if (leader) {
        RUNNEL_RETURN_IF_ERROR(protocol::SetBaseOffset(b, p.base_offset));
        if (options.leader_epoch >= 0) {
          RUNNEL_RETURN_IF_ERROR(protocol::SetPartitionLeaderEpoch(b, options.leader_epoch));
        }
      }
      if (append_time) {
        RUNNEL_RETURN_IF_ERROR(
            protocol::SetMaxTimestamp(b, protocol::TimestampType::kLogAppendTime, now));
        p.meta.max_timestamp = now;
      }
      metas.push_back(p.meta);
    }

    RUNNEL_RETURN_IF_ERROR(UnparkLocked());
    last_append_ms_ = now;
    const int64_t first_offset = pending.front().base_offset;
    const int64_t last_offset = pending.back().meta.last_offset;
    const int64_t bytes = static_cast<int64_t>(batches.size());
    int64_t max_timestamp = -1;
    for (const AppendedBatch& m : metas) max_timestamp = std::max(max_timestamp, m.max_timestamp);
    if (active_->size() > 0 &&
        (active_->size() + bytes > options_.segment_bytes ||
         active_->TimeWaitedForRoll(now, max_timestamp) >= options_.segment_ms ||
         active_->NeedsRollFor(last_offset, bytes))) {
      RUNNEL_RETURN_IF_ERROR(RollLocked(first_offset));
      rolled_at = first_offset;
    }
    if (active_->NeedsRollFor(last_offset, bytes)) {
      return absl::OutOfRangeError(absl::StrCat("append of ", bytes, " bytes (offsets ",
                                                first_offset, "..", last_offset,
                                                ") does not fit in one segment"));
    }

    const iovec iov{batches.data(), batches.size()};
    absl::Status written =
        active_->Append(std::span<const iovec>(&iov, 1), metas, options_.index_interval_bytes);
    if (!written.ok()) {
      if (absl::IsDataLoss(written)) failed_ = written;  // the file could not be cut back
      return written;
    }
    end_offset_.store(last_offset + 1, std::memory_order_release);

    int32_t records = 0;
    std::optional<int32_t> latest = epochs_->LatestEpoch();
    for (const PendingBatch& p : pending) {
      records += p.record_count;
      // A leader records only the epoch it stamped: a producer's own
      // partitionLeaderEpoch field is not the log's to believe.
      const int32_t epoch = leader ? options.leader_epoch
                                   : LoadBigEndian<int32_t>(batches.data() + p.position +
                                                            rb::kPartitionLeaderEpochOffset);
      if (epoch >= 0 && (!latest.has_value() || epoch > *latest)) {
        absl::Status assigned = epochs_->Assign(epoch, p.base_offset);
        // The batch is in the log; an epoch checkpoint that cannot be written
        // stops further writes rather than failing this one.
        if (!assigned.ok()) failed_ = assigned;
        latest = epoch;
      }
    }
    unflushed_messages_ += records;
    if (first_unflushed_ms_ < 0) first_unflushed_ms_ = now;
    flush_now = unflushed_messages_ >= options_.flush_messages;

    result.base_offset = first_offset;
    result.last_offset = last_offset;
    result.log_append_time_ms = append_time ? now : -1;
    result.log_start_offset = start_offset_.load(std::memory_order_relaxed);
    result.record_count = records;
    result.rolled_at = rolled_at;
  }
  waiters_.Notify();
  if (flush_now) {
    RUNNEL_RETURN_IF_ERROR(Flush());
  } else if (rolled_at >= 0) {
    // As Kafka does on roll: fsync the segments just closed, so a crash
    // re-validates only the active segment. This append is already in the
    // log; a failed fsync fails the log's later writes instead.
    (void)FlushUpTo(rolled_at);
  }
  return result;
}

absl::StatusOr<AppendResult> LogImpl::AppendRecords(std::span<const Record> records,
                                                    const AppendOptions& options) {
  if (records.empty()) return absl::InvalidArgumentError("no records to append");
  const int64_t now = clock_->NowMs();
  // One builder a writer thread, reused: its buffer keeps the capacity the
  // largest batch needed, so a steady stream of appends allocates nothing
  // and never regrows (copies) the buffer as records are added. Per thread,
  // not per log, so 10,000 partitions do not each keep a batch buffer.
  thread_local protocol::RecordBatchBuilder builder;
  builder.Reset({});
  absl::InlinedVector<protocol::RecordHeader, 8> headers;
  for (const Record& r : records) {
    headers.clear();
    for (const RecordHeader& h : r.headers) {
      headers.push_back({h.key, h.value.has_value() ? protocol::NullableBytes(*h.value)
                                                    : protocol::NullableBytes()});
    }
    RUNNEL_RETURN_IF_ERROR(builder.Append(
        r.timestamp_ms >= 0 ? r.timestamp_ms : now,
        r.key.has_value() ? protocol::NullableBytes(*r.key) : protocol::NullableBytes(),
        r.value.has_value() ? protocol::NullableBytes(*r.value) : protocol::NullableBytes(),
        headers));
  }
  RUNNEL_ASSIGN_OR_RETURN(std::span<const uint8_t> built, builder.Finish());
  AppendOptions leader = options;
  leader.origin = AppendOrigin::kLeader;
  // The builder's buffer is this thread's own, so AppendBatches may stamp
  // offsets into it in place.
  return AppendBatches(std::span<uint8_t>(const_cast<uint8_t*>(built.data()), built.size()),
                       leader, /*built_here=*/true);
}

absl::Status LogImpl::Roll() {
  int64_t base;
  {
    absl::MutexLock lock(&mu_);
    RUNNEL_RETURN_IF_ERROR(CheckWritable());
    if (active_->size() == 0) return absl::OkStatus();
    base = end_offset_.load();
    RUNNEL_RETURN_IF_ERROR(RollLocked(base));
  }
  return FlushUpTo(base);
}

absl::Status LogImpl::RollLocked(int64_t base_offset) {
  RUNNEL_RETURN_IF_ERROR(active_->CloseForAppends());
  absl::StatusOr<std::shared_ptr<Segment>> next =
      Segment::Create(dir_, base_offset, options_.segment_index_bytes, clock_->NowMs());
  if (!next.ok()) {
    // Keep appending to the old segment; the next append retries the roll.
    active_open_ = active_->OpenForAppends(options_.segment_index_bytes).ok();
    return next.status();
  }
  auto segments = std::make_shared<SegmentMap>(*SegmentsSnapshot());
  (*segments)[base_offset] = *next;
  PublishSegments(std::move(segments));
  active_ = *std::move(next);
  active_open_ = true;  // Segment::Create preallocates its indexes
  dir_dirty_ = true;
  return absl::OkStatus();
}

absl::Status LogImpl::Flush() { return FlushUpTo(kNoLimit); }

absl::Status LogImpl::FlushUpTo(int64_t offset) {
  // fsync runs without mu_ so appends continue meanwhile; the recovery point
  // only moves to what was appended before the flush started.
  int64_t target;
  bool sync_dir;
  std::vector<std::shared_ptr<Segment>> dirty;
  {
    absl::MutexLock lock(&mu_);
    RUNNEL_RETURN_IF_ERROR(CheckWritable());
    const int64_t end = end_offset_.load();
    target = std::min(offset, end);
    // Nothing appended and no file created since the last flush: nothing to
    // sync (LogManager::Close flushes every log; most are idle).
    if (target <= recovery_point_.load() && !dir_dirty_ &&
        (target < end || unflushed_messages_ == 0)) {
      return absl::OkStatus();
    }
    sync_dir = std::exchange(dir_dirty_, false);
    std::shared_ptr<const SegmentMap> segments = SegmentsSnapshot();
    auto it = segments->upper_bound(recovery_point_.load());
    if (it != segments->begin()) --it;
    for (; it != segments->end(); ++it) {
      if (target < end && it->first >= target) break;  // wholly above the target
      dirty.push_back(it->second);
    }
    if (target == end) {
      unflushed_messages_ = 0;
      first_unflushed_ms_ = -1;
    }
  }
  absl::Status synced;
  for (size_t i = 0; i < dirty.size(); ++i) {
    // The segment that will hold the recovery point is re-validated by
    // Open, which rebuilds its indexes: only its .log needs the fsync, so a
    // Flush after each append costs one fsync, not three.
    const bool holds_recovery_point =
        dirty[i]->base_offset() <= target &&
        (i + 1 == dirty.size() || dirty[i + 1]->base_offset() > target);
    synced = dirty[i]->Flush(/*with_indexes=*/!holds_recovery_point);
    if (!synced.ok()) break;
  }
  if (synced.ok() && sync_dir) synced = FsyncDir(dir_);
  {
    absl::MutexLock lock(&mu_);
    if (!synced.ok()) {
      // After a failed fsync the kernel may have dropped the dirty pages, so
      // a retry could "succeed" over lost data: stop writing, as Kafka takes
      // the log directory offline.
      failed_ = synced;
      return synced;
    }
    target = std::min(target, end_offset_.load());
    if (target > recovery_point_.load()) recovery_point_.store(target, std::memory_order_release);
  }
  return PersistOffsets(/*exact=*/false);
}

absl::Status LogImpl::MaybeFlushByTime() {
  {
    absl::MutexLock lock(&mu_);
    if (closed_ || first_unflushed_ms_ < 0 || options_.flush_ms == kNoLimit ||
        clock_->NowMs() - first_unflushed_ms_ < options_.flush_ms) {
      return absl::OkStatus();
    }
  }
  return Flush();
}

}  // namespace runnel::storage
