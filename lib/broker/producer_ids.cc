#include "broker/producer_ids.h"

#include <limits>

namespace runnel::broker {

absl::StatusOr<int64_t> ProducerIdManager::Next() {
  absl::MutexLock l(&mu_);
  if (next_id_ >= block_end_) {
    if (block_end_ > std::numeric_limits<int64_t>::max() - kProducerIdBlockSize) {
      return absl::ResourceExhaustedError("producer ids exhausted");
    }
    int64_t end = block_end_ + kProducerIdBlockSize;
    // Recorded before any id of the block is used: see the header.
    if (absl::Status s = metadata_->AppendProducerIdBlock(broker_id_, end); !s.ok()) return s;
    next_id_ = block_end_;
    block_end_ = end;
  }
  return next_id_++;
}

}  // namespace runnel::broker
