#include "storage/cleaner_txn.h"

#include <algorithm>

#include "runnel/common/status_macros.h"

namespace runnel::storage {

TxnBatch TxnBatch::Of(const protocol::RecordBatchHeader& h) {
  return TxnBatch{.producer_id = h.producer_id,
                  .base_offset = h.base_offset,
                  .last_offset = h.last_offset(),
                  .record_count = h.record_count,
                  .transactional = h.is_transactional(),
                  .control = h.is_control()};
}

absl::StatusOr<std::optional<protocol::ControlRecordType>> ControlTypeOf(
    std::span<const uint8_t> batch) {
  protocol::RecordBatchReader reader(batch);
  if (!reader.NextBatch()) {
    RUNNEL_RETURN_IF_ERROR(reader.status());
    return absl::DataLossError("a control batch cut short");
  }
  if (!reader.NextRecord()) {
    RUNNEL_RETURN_IF_ERROR(reader.status());
    return std::optional<protocol::ControlRecordType>();
  }
  RUNNEL_ASSIGN_OR_RETURN(protocol::ControlRecord record,
                          protocol::ParseControlRecord(reader.record()));
  return std::optional<protocol::ControlRecordType>(record.type);
}

void TxnCollector::OnBatch(const TxnBatch& b,
                           std::optional<protocol::ControlRecordType> control_type) {
  if (b.producer_id < 0 || !b.transactional) return;
  if (!b.control) {
    if (b.record_count > 0) open_.emplace(b.producer_id, b.base_offset);  // first one wins
    return;
  }
  if (control_type != protocol::ControlRecordType::kAbort &&
      control_type != protocol::ControlRecordType::kCommit) {
    return;
  }
  auto it = open_.find(b.producer_id);
  if (it == open_.end()) return;  // its data is gone already
  if (control_type == protocol::ControlRecordType::kAbort) {
    aborted_.push_back({b.producer_id, it->second, b.last_offset});
  }
  open_.erase(it);
}

std::optional<int64_t> TxnCollector::first_unstable() const {
  std::optional<int64_t> first;
  for (const auto& [producer, offset] : open_) {
    if (!first.has_value() || offset < *first) first = offset;
  }
  return first;
}

CleanedTxnMetadata::CleanedTxnMetadata(std::vector<AbortedTxn> aborted) {
  std::sort(aborted.begin(), aborted.end(), [](const AbortedTxn& a, const AbortedTxn& b) {
    return a.first_offset < b.first_offset;
  });
  pending_.assign(aborted.begin(), aborted.end());
}

void CleanedTxnMetadata::ConsumeAbortedUpTo(int64_t offset) {
  while (!pending_.empty() && pending_.front().first_offset <= offset) {
    ongoing_aborted_.insert_or_assign(pending_.front().producer_id, Ongoing{pending_.front()});
    pending_.pop_front();
  }
}

bool CleanedTxnMetadata::OnDataBatch(const TxnBatch& b) {
  ConsumeAbortedUpTo(b.last_offset);
  if (!b.transactional) return false;
  auto it = ongoing_aborted_.find(b.producer_id);
  if (it != ongoing_aborted_.end() && b.base_offset <= it->second.txn.last_offset) {
    if (b.record_count > 0) it->second.batch_seen = true;
    return true;
  }
  if (b.record_count > 0) ongoing_committed_.insert(b.producer_id);
  return false;
}

bool CleanedTxnMetadata::OnControlBatch(const TxnBatch& b,
                                        std::optional<protocol::ControlRecordType> type) {
  ConsumeAbortedUpTo(b.last_offset);
  if (!type.has_value()) return true;  // emptied by an earlier pass
  switch (*type) {
    case protocol::ControlRecordType::kAbort: {
      auto it = ongoing_aborted_.find(b.producer_id);
      if (it == ongoing_aborted_.end()) return true;
      const bool seen = it->second.batch_seen;
      ongoing_aborted_.erase(it);
      // Kept while a batch of the transaction was still there to describe.
      return !seen;
    }
    case protocol::ControlRecordType::kCommit:
      return ongoing_committed_.erase(b.producer_id) == 0;
    default:
      return false;
  }
}

}  // namespace runnel::storage
