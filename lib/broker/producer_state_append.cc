#include "broker/producer_state_append.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "broker/producer_state.h"
#include "broker/producer_state_snapshot.h"
#include "common/logging.h"
#include "common/record_batch_format.h"

namespace runnel::broker {
namespace {

using protocol::ErrorCode;

ErrorCode ErrorForAppend(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return ErrorCode::kCorruptMessage;
    case absl::StatusCode::kOutOfRange:
      return ErrorCode::kMessageTooLarge;
    case absl::StatusCode::kFailedPrecondition:
      return ErrorCode::kInvalidRecord;
    default:
      return ErrorCode::kKafkaStorageError;
  }
}

ProducedAppend Fail(ErrorCode code, std::string message) {
  ProducedAppend a;
  a.error = code;
  a.message = std::move(message);
  return a;
}

// Kafka snapshots producer state at every segment roll, so a restart
// replays at most the active segment. The append that rolled is not in the
// table yet: it holds exactly the batches below the new segment.
void SnapshotAtRoll(Partition& p, int64_t rolled_at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p.append_mu) {
  if (p.producers == nullptr) return;  // not loaded: the older snapshot still holds
  if (absl::Status s = WriteProducerSnapshot(p.log->dir(), rolled_at, *p.producers); !s.ok()) {
    // Only a longer replay at the next start-up depends on it.
    RUNNEL_LOG(
        kWarn, "cannot write producer snapshot",
        {{"partition", absl::StrCat(p.topic, "-", p.index)}, {"error", std::string(s.message())}});
  }
}

ProducedAppend Append(Partition& p, std::span<uint8_t> records) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p.append_mu) {
  absl::StatusOr<storage::AppendResult> r = p.log->Append(records);
  if (!r.ok()) return Fail(ErrorForAppend(r.status()), std::string(r.status().message()));
  if (r->rolled_at >= 0) SnapshotAtRoll(p, r->rolled_at);
  // One node: every appended offset is committed at once.
  p.high_watermark = r->last_offset + 1;
  ProducedAppend a;
  a.base_offset = r->base_offset;
  a.log_append_time_ms = r->log_append_time_ms;
  a.log_start_offset = r->log_start_offset;
  return a;
}

}  // namespace

ProducedAppend AppendProduced(Partition& p, std::span<uint8_t> records,
                              int64_t producer_id_expiration_ms) {
  absl::StatusOr<record_batch::BatchFrame> frame = record_batch::FrameBatch(records, 0);
  // Not even one framed batch: the log's validation names the problem.
  if (!frame.ok() || !frame->complete) {
    absl::MutexLock l(&p.append_mu);
    return Append(p, records);
  }
  if (frame->size != records.size()) {
    absl::StatusOr<record_batch::BatchFrame> next =
        record_batch::FrameBatch(records.subspan(frame->size), frame->size);
    if (next.ok() && next->complete) {
      return Fail(ErrorCode::kInvalidRecord,
                  "produce requests with version 3 or later are only allowed to contain exactly "
                  "one record batch per partition");
    }
    // Trailing bytes that are no batch: a corrupt batch length, which the
    // log's validation reports as CORRUPT_MESSAGE.
    absl::MutexLock l(&p.append_mu);
    return Append(p, records);
  }
  // Complete and at least kMinBatchLength long: the whole header is there.
  const record_batch::BatchHeader header = record_batch::ParseBatchHeader(records.data());
  if ((header.attributes & record_batch::kControlBit) != 0) {
    return Fail(ErrorCode::kInvalidRecord, "clients are not allowed to write control records");
  }
  ProducerBatch batch = ProducerBatch::FromHeader(header);
  absl::MutexLock l(&p.append_mu);
  if (!batch.has_producer_id()) return Append(p, records);

  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  if (p.producers == nullptr) {
    absl::StatusOr<LoadedProducerState> loaded =
        LoadProducerState(*p.log, now_ms, producer_id_expiration_ms);
    if (!loaded.ok()) {
      return Fail(ErrorCode::kKafkaStorageError,
                  absl::StrCat("cannot rebuild producer state of ", p.topic, "-", p.index, ": ",
                               loaded.status().message()));
    }
    p.producers = std::move(loaded->table);
  }
  p.producers->MaybeRemoveExpired(now_ms, producer_id_expiration_ms);

  ProducerCheck check = p.producers->Check(batch);
  if (check.error != ErrorCode::kNone || check.duplicate.has_value()) {
    // Nothing is appended, so the log has not checked the CRC yet: a
    // corrupt batch is CORRUPT_MESSAGE, whatever its header claims.
    if (absl::Status s = record_batch::ValidateBatch(records); !s.ok()) {
      return Fail(ErrorCode::kCorruptMessage, std::string(s.message()));
    }
  }
  if (check.error != ErrorCode::kNone) {
    return Fail(check.error, absl::StrCat(check.message, " in partition ", p.topic, "-", p.index));
  }
  if (check.duplicate.has_value()) {
    ProducedAppend a;
    a.base_offset = check.duplicate->first_offset;
    a.log_start_offset = p.log->log_start_offset();
    return a;
  }
  ProducedAppend a = Append(p, records);
  if (a.error == ErrorCode::kNone) {
    // The stored max timestamp: the append time under LogAppendTime.
    int64_t ts = a.log_append_time_ms >= 0 ? a.log_append_time_ms : batch.max_timestamp_ms;
    p.producers->Update(batch, a.base_offset, ts);
  }
  return a;
}

absl::Status SnapshotProducerState(Partition& p) {
  absl::MutexLock l(&p.append_mu);
  if (p.producers == nullptr) return absl::OkStatus();
  return WriteProducerSnapshot(p.log->dir(), p.log->log_end_offset(), *p.producers);
}

}  // namespace runnel::broker
