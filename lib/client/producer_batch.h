// The producer's units of work: a ProducerBatch (one partition's records on
// their way, as one record batch v2) and the per-partition state the
// sender keeps for ordering and idempotence.
//
// Sequence numbers (idempotence): a batch gets its base sequence the first
// time it is sent and keeps it across retries; the broker accepts a
// partition's batches only in sequence order, drops one it already has
// (DUPLICATE_SEQUENCE_NUMBER, or success with the first offset on newer
// brokers) and refuses a gap (OUT_OF_ORDER_SEQUENCE_NUMBER). So after a
// retriable failure the sender puts the batch back at the front of its
// partition's queue, lets every other in-flight batch of that partition
// come back (those behind it fail with OUT_OF_ORDER_SEQUENCE_NUMBER, which
// is then retriable too) and resends from the lowest sequence: order is
// kept with up to 5 requests in flight.
//
// Owned by the producer; guarded by its mutex while queued, owned by the
// sender thread while in flight.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/producer.h"
#include "runnel/protocol/record_batch.h"

namespace runnel::client {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

// A topic partition named without owning the topic: Send looks its
// partition up by the record's topic, copying the name only the first time.
struct TopicPartitionRef {
  std::string_view topic;
  int32_t partition = 0;
};

// Orders TopicPartition and TopicPartitionRef alike (a transparent
// comparator, so std::map::find takes either).
struct TopicPartitionLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    const std::string_view at = a.topic, bt = b.topic;
    return at < bt || (at == bt && a.partition < b.partition);
  }
};

struct ProducerBatch {
  TopicPartition tp;
  protocol::RecordBatchBuilder builder;
  std::vector<DeliveryCallback> callbacks;  // one per record, in order
  std::vector<int64_t> timestamps;          // CreateTime per record
  int64_t memory = 0;                       // bytes charged to buffer.memory
  absl::Time created;
  absl::Time deadline;  // created + delivery.timeout.ms
  bool closed = false;  // no more appends (full, or drained)
  // The finished batch, kept for retries; empty until first sent. It is the
  // builder's own buffer, swapped out (not copied). Shared: a request's
  // records view it, and the connection writes it to the socket from here
  // (acks=0 completes the batch before that write may be done).
  std::shared_ptr<ByteBuffer> bytes = std::make_shared<ByteBuffer>();
  int64_t producer_id = -1;  // stamped into `bytes` at each send
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int attempts = 0;
  absl::Time retry_after = absl::InfinitePast();

  int32_t record_count() const { return static_cast<int32_t>(callbacks.size()); }
};

struct PartitionState {
  // Batches not in flight: retried ones (with sequences, in sequence order)
  // first, then new ones; the last may still take records.
  std::deque<std::unique_ptr<ProducerBatch>> queue;
  int32_t next_sequence = 0;
  int in_flight = 0;
  // The broker the in-flight batches went to. While any are in flight, the
  // partition sends to no other: after a leader change, a batch sent to the
  // new leader could otherwise be appended ahead of an earlier one the old
  // leader is about to refuse (a broker that checks sequences refuses it
  // as out of order; one that does not, such as librdkafka's mock, keeps
  // the records out of order).
  int32_t in_flight_node = -1;
  // Base sequences of batches sent and not yet finished (in flight or
  // waiting to be retried).
  std::set<int32_t> unacked;
};

}  // namespace runnel::client
