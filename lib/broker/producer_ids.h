// ProducerIdManager: hands out producer ids for InitProducerId, never the
// same one twice, across restarts and crashes. Ids come in blocks of
// kProducerIdBlockSize (Kafka's ProducerIdManager does the same): before the
// first id of a block is handed out, the start of the block after it is
// appended to the metadata log and fsynced, so a restarted broker, which
// starts from the highest start recorded, never reuses an id even if it
// crashed mid-block. A restart skips the rest of the current block, as in
// Kafka.
//
//   ProducerIdManager ids(metadata_log, node_id, state.next_producer_id_block);
//   absl::StatusOr<int64_t> id = ids.Next();
//
// Threads: Next from any thread; it holds a lock, and fsyncs once a block.
#pragma once

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "broker/metadata_log.h"

namespace runnel::broker {

inline constexpr int64_t kProducerIdBlockSize = 1000;

class ProducerIdManager {
 public:
  // `metadata` (not owned) outlives the manager. `next_block_start` is
  // MetadataState::next_producer_id_block from the replay.
  ProducerIdManager(MetadataLog* metadata, int32_t broker_id, int64_t next_block_start)
      : metadata_(metadata), broker_id_(broker_id), next_id_(next_block_start),
        block_end_(next_block_start) {}

  // A fresh producer id. Fails only when the metadata log cannot record a
  // new block (the id space is int64: it does not run out in practice).
  absl::StatusOr<int64_t> Next();

 private:
  MetadataLog* const metadata_;
  const int32_t broker_id_;
  absl::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_);
  int64_t block_end_ ABSL_GUARDED_BY(mu_);  // exclusive; recorded in the log
};

}  // namespace runnel::broker
