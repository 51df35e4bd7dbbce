// AppendProduced: one partition's records from a Produce request, appended
// under the partition's append lock after the checks Kafka makes with the
// partition's state in hand:
//   - exactly one record batch (Produce v3+; Kafka's
//     ProduceRequest.validateRecords), and no control batch from a client
//     (INVALID_RECORD);
//   - for a batch with a producer id, idempotence (producer_state.h): a
//     duplicate of one of the producer's last five batches is answered with
//     the offset it was first written at and not written again (log append
//     time -1, as Kafka answers duplicates); a stale epoch or a sequence gap
//     is refused.
// A batch without a producer id is appended as before, with no extra cost
// but parsing its 61-byte header.
//
//   ProducedAppend a = AppendProduced(*partition, records, expiration_ms);
//   if (a.error != ErrorCode::kNone) ...;  // a.message says why
//
// Threads: any; takes p.append_mu. The first call for a partition after
// start-up loads its producer state (snapshot, then log) under that lock,
// and an append that rolls a segment writes a snapshot there.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "broker/topic_registry.h"
#include "runnel/protocol/error_code.h"

namespace runnel::broker {

struct ProducedAppend {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::string message;
  int64_t base_offset = -1;
  int64_t log_append_time_ms = -1;
  int64_t log_start_offset = -1;
};

// `records` are rewritten in place (base offset; timestamps and CRC under
// LogAppendTime). Moves p.high_watermark after an append.
ProducedAppend AppendProduced(Partition& p, std::span<uint8_t> records,
                              int64_t producer_id_expiration_ms);

// Clean shutdown: writes the partition's producer state as a snapshot at
// the log end (producer_state_snapshot.h), so the next start reads it and
// replays nothing. A partition whose state was never loaded keeps the
// snapshots it has. Call once no produce request can reach `p`; takes
// p.append_mu.
absl::Status SnapshotProducerState(Partition& p);

}  // namespace runnel::broker
