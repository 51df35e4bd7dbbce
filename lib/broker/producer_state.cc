#include "broker/producer_state.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/producer_state_snapshot.h"
#include "common/record_batch_format.h"
#include "runnel/protocol/record_batch.h"

namespace runnel::broker {
namespace {

using protocol::ErrorCode;

constexpr int32_t kNoSequence = record_batch::kNoSequence;
constexpr int16_t kNoEpoch = record_batch::kNoProducerEpoch;

// Kafka's DefaultRecordBatch.incrementSequence: sequences wrap to 0 after
// INT32_MAX.
int32_t IncrementSequence(int32_t sequence, int32_t increment) {
  if (sequence > std::numeric_limits<int32_t>::max() - increment) {
    return increment - (std::numeric_limits<int32_t>::max() - sequence) - 1;
  }
  return sequence + increment;
}

// Kafka's ProducerAppendInfo.inSequence.
bool InSequence(int32_t last_sequence, int32_t next_sequence) {
  return int64_t{next_sequence} == int64_t{last_sequence} + 1 ||
         (next_sequence == 0 && last_sequence == std::numeric_limits<int32_t>::max());
}

ProducerCheck Refuse(ErrorCode code, std::string message) {
  ProducerCheck c;
  c.error = code;
  c.message = std::move(message);
  return c;
}

}  // namespace

ProducerBatch ProducerBatch::FromHeader(const record_batch::BatchHeader& h) {
  ProducerBatch b;
  b.producer_id = h.producer_id;
  b.producer_epoch = h.producer_epoch;
  b.base_sequence = h.base_sequence;
  b.last_offset_delta = h.last_offset_delta;
  b.max_timestamp_ms = h.max_timestamp;
  return b;
}

int32_t ProducerBatch::last_sequence() const {
  if (base_sequence == kNoSequence) return kNoSequence;
  return IncrementSequence(base_sequence, std::max(last_offset_delta, 0));
}

ProducerCheck ProducerStateTable::Check(const ProducerBatch& batch) const {
  // LogValidator: a batch with a producer id carries a sequence.
  if (batch.base_sequence < 0) {
    return Refuse(ErrorCode::kInvalidRecord,
                  absl::StrCat("invalid sequence number ", batch.base_sequence,
                               " in a record batch with producer id ", batch.producer_id));
  }
  const ProducerEntry* entry = Find(batch.producer_id);
  int16_t current_epoch = entry != nullptr ? entry->epoch : kNoEpoch;
  // ProducerStateEntry.findDuplicateBatch: same epoch, same sequence range.
  if (entry != nullptr && batch.producer_epoch == current_epoch) {
    int32_t last = batch.last_sequence();
    for (const ProducerBatchMetadata& m : entry->batches) {
      if (m.first_sequence == batch.base_sequence && m.last_sequence == last) {
        ProducerCheck c;
        c.duplicate = m;
        return c;
      }
    }
  }
  // ProducerAppendInfo.checkProducerEpoch.
  if (batch.producer_epoch < current_epoch) {
    return Refuse(ErrorCode::kInvalidProducerEpoch,
                  absl::StrCat("epoch of producer ", batch.producer_id, " is ",
                               batch.producer_epoch, ", which is smaller than the last seen epoch ",
                               current_epoch));
  }
  // ProducerAppendInfo.checkSequence.
  if (batch.producer_epoch != current_epoch) {
    // A bumped epoch (KIP-360) restarts the sequence at 0; an unknown
    // producer may start anywhere.
    if (batch.base_sequence != 0 && current_epoch != kNoEpoch) {
      return Refuse(ErrorCode::kOutOfOrderSequenceNumber,
                    absl::StrCat("invalid sequence number for new epoch of producer ",
                                 batch.producer_id, ": ", batch.producer_epoch, " (request epoch), ",
                                 batch.base_sequence, " (seq. number), ", current_epoch,
                                 " (current producer epoch)"));
    }
    return {};
  }
  int32_t current_last =
      entry == nullptr || entry->batches.empty() ? kNoSequence : entry->batches.back().last_sequence;
  if (current_epoch != kNoEpoch && !InSequence(current_last, batch.base_sequence)) {
    return Refuse(ErrorCode::kOutOfOrderSequenceNumber,
                  absl::StrCat("out of order sequence number for producer ", batch.producer_id,
                               ": ", batch.base_sequence, " (incoming seq. number), ",
                               current_last, " (current end sequence number)"));
  }
  return {};
}

void ProducerStateTable::Update(const ProducerBatch& batch, int64_t first_offset,
                                int64_t timestamp_ms) {
  ProducerEntry& e = producers_[batch.producer_id];
  // ProducerStateEntry.maybeUpdateProducerEpoch: a new epoch forgets the
  // old one's batches.
  if (e.epoch != batch.producer_epoch) {
    e.batches.clear();
    e.epoch = batch.producer_epoch;
  }
  ProducerBatchMetadata m;
  m.first_sequence = batch.base_sequence;
  m.last_sequence = batch.last_sequence();
  m.first_offset = first_offset;
  m.last_offset = first_offset + std::max(batch.last_offset_delta, 0);
  m.timestamp_ms = timestamp_ms;
  e.batches.push_back(m);
  while (e.batches.size() > static_cast<size_t>(kProducerBatchesRetained)) e.batches.pop_front();
  e.last_timestamp_ms = timestamp_ms;
}

int ProducerStateTable::RemoveExpired(int64_t now_ms, int64_t expiration_ms) {
  int removed = 0;
  for (auto it = producers_.begin(); it != producers_.end();) {
    if (now_ms - it->second.last_timestamp_ms >= expiration_ms) {
      producers_.erase(it++);
      ++removed;
    } else {
      ++it;
    }
  }
  return removed;
}

void ProducerStateTable::MaybeRemoveExpired(int64_t now_ms, int64_t expiration_ms) {
  if (last_expiry_check_ms_ >= 0 &&
      now_ms - last_expiry_check_ms_ < kProducerIdExpirationCheckIntervalMs) {
    return;
  }
  last_expiry_check_ms_ = now_ms;
  RemoveExpired(now_ms, expiration_ms);
}

const ProducerEntry* ProducerStateTable::Find(int64_t producer_id) const {
  auto it = producers_.find(producer_id);
  return it == producers_.end() ? nullptr : &it->second;
}

absl::StatusOr<LoadedProducerState> LoadProducerState(const storage::Log& log, int64_t now_ms,
                                                      int64_t expiration_ms) {
  LoadedProducerState loaded;
  const int64_t end = log.log_end_offset();
  absl::StatusOr<std::optional<ProducerSnapshot>> snapshot =
      LoadLatestProducerSnapshot(log.dir(), log.log_start_offset(), end);
  if (!snapshot.ok()) return snapshot.status();
  int64_t offset = log.log_start_offset();
  if (snapshot->has_value()) {
    loaded.snapshot_offset = (*snapshot)->offset;
    loaded.table = std::move((*snapshot)->table);
    offset = std::max(offset, loaded.snapshot_offset);
  } else {
    loaded.table = std::make_unique<ProducerStateTable>();
  }
  ProducerStateTable* table = loaded.table.get();
  absl::StatusOr<std::optional<storage::TimestampAndOffset>> first =
      log.ReadByTimestamp(now_ms - expiration_ms);
  if (!first.ok()) return first.status();
  // No record is that recent: nothing to read, and every producer expires.
  offset = first->has_value() ? std::max(offset, (*first)->offset) : end;
  loaded.replayed_from = offset;
  while (offset < end) {
    storage::ReadOptions ro;
    ro.max_bytes = 1 << 20;
    ro.max_offset = end;
    absl::StatusOr<storage::ReadResult> r = log.Read(offset, ro);
    if (!r.ok()) return r.status();
    if (r->bytes.empty() || r->next_offset <= offset) break;
    protocol::RecordBatchReader reader(r->bytes.span());
    while (reader.NextBatch()) {
      const protocol::RecordBatchHeader& h = reader.header();
      // Control batches (transaction markers) carry no sequence.
      if (h.producer_id < 0 || h.is_control()) continue;
      ProducerBatch b;
      b.producer_id = h.producer_id;
      b.producer_epoch = h.producer_epoch;
      b.base_sequence = h.base_sequence;
      b.last_offset_delta = h.last_offset_delta;
      b.max_timestamp_ms = h.max_timestamp;
      table->Update(b, h.base_offset, h.max_timestamp);
    }
    if (!reader.status().ok()) return reader.status();
    offset = r->next_offset;
  }
  table->RemoveExpired(now_ms, expiration_ms);
  return loaded;
}

}  // namespace runnel::broker
