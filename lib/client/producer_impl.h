// ProducerImpl: the producer behind runnel/producer.h. Send (any thread)
// appends to per-partition batches under mu_ (the accumulator,
// producer.cc); the sender thread (producer_sender.cc) drains ready batches
// into Produce requests sent through the ClientCore, and handles their
// responses, which the core's I/O thread hands over as events. Delivery
// callbacks run on the sender thread without mu_ held.
//
// Send's hot path takes mu_ once: the partition count comes from a
// metadata snapshot the core's listener keeps in metadata_ (not from the
// core, whose lock the I/O thread shares), the sticky partitioner and the
// buffer.memory wait run under the same hold. Batch buffers are recycled:
// a finished batch's buffer is swapped out of its builder (which goes back
// to spare_builders_) for a spare one, the request views it, the connection
// writes it to the socket from there (client/broker_connection.h), and once
// the batch is done and no connection holds it, its buffer goes to
// spare_bytes_. So a busy producer neither grows fresh buffers (page faults)
// nor copies a batch between builder, request and socket.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "client/client_core.h"
#include "client/partitioner.h"
#include "client/producer_batch.h"
#include "common/latency_histogram.h"
#include "runnel/producer.h"
#include "runnel/protocol/messages/produce.h"

namespace runnel::client {

class ProducerImpl final : public Producer {
 public:
  ProducerImpl(ProducerOptions options, std::unique_ptr<ClientCore> core);
  ~ProducerImpl() override;

  absl::Status Send(ProducerRecord record, DeliveryCallback callback) override;
  std::future<absl::StatusOr<RecordMetadata>> Send(ProducerRecord record) override;
  absl::Status Flush(absl::Duration timeout) override;
  absl::Status Close(absl::Duration timeout) override;
  ProducerMetrics metrics() const override;

  void Start();

 private:
  // A produce request in flight: its batches, and the request itself
  // (shared with the core until it is written), whose records fields view
  // the batches' bytes.
  struct InFlightRequest {
    int32_t node = -1;
    absl::Time sent;
    std::vector<std::unique_ptr<ProducerBatch>> batches;
    std::shared_ptr<protocol::ProduceRequest> request;
  };
  // A response (or failure) handed over by the I/O thread.
  struct Event {
    int64_t request_id = 0;
    absl::StatusOr<Reply<protocol::ProduceResponse>> reply;
  };
  struct Completed {
    std::unique_ptr<ProducerBatch> batch;
    absl::Status status;
    int64_t base_offset = -1;
    int64_t log_append_time = -1;
  };

  // --- accumulator (producer.cc)
  // The partition count of `topic`, waiting up to `deadline` for its
  // metadata. Takes the core's lock; Send calls it only for a custom
  // partitioner, which runs without mu_.
  absl::StatusOr<int32_t> PartitionCount(const std::string& topic, absl::Time deadline);
  // Takes a recycled builder (or a new one) for a batch.
  void StartBatch(ProducerBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // --- sender (producer_sender.cc)
  void RunSender();
  void InitProducerId(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleEvent(Event& event, absl::Time now, std::vector<Completed>* done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleBatchResult(std::unique_ptr<ProducerBatch> batch, const absl::Status& status,
                         protocol::ErrorCode error, int64_t base_offset, int64_t append_time,
                         absl::Time now, std::vector<Completed>* done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailBatch(std::unique_ptr<ProducerBatch> batch, absl::Status status,
                 std::vector<Completed>* done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireBatches(absl::Time now, std::vector<Completed>* done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes ready batches off their queues, grouped by leader.
  std::map<int32_t, std::vector<std::unique_ptr<ProducerBatch>>> Drain(absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendBatches(int32_t node, std::vector<std::unique_ptr<ProducerBatch>> batches,
                   absl::Time now);
  absl::Time NextWake(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Complete(std::vector<Completed>& done);
  void ResetSequences() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ProducerOptions options_;
  std::unique_ptr<ClientCore> core_;
  std::thread sender_;

  mutable absl::Mutex mu_;
  absl::CondVar wake_sender_;   // events, ready batches, close
  absl::CondVar space_freed_;   // buffer memory released, batches finished
  std::map<TopicPartition, PartitionState, TopicPartitionLess> partitions_ ABSL_GUARDED_BY(mu_);
  // The core's latest metadata, set by its listener (I/O thread).
  std::shared_ptr<const ClusterMetadata> metadata_ ABSL_GUARDED_BY(mu_);
  int metadata_listener_ = 0;
  // Recycled buffers: builders of sent batches, bytes of finished ones
  // (cleared, capacity kept), at most max_spares_ of each.
  std::vector<protocol::RecordBatchBuilder> spare_builders_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<ByteBuffer>> spare_bytes_ ABSL_GUARDED_BY(mu_);
  const size_t max_spares_;
  StickyPartitioner sticky_ ABSL_GUARDED_BY(mu_);
  int64_t buffered_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t pending_records_ ABSL_GUARDED_BY(mu_) = 0;  // queued or in flight
  int flushing_ ABSL_GUARDED_BY(mu_) = 0;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool abort_ ABSL_GUARDED_BY(mu_) = false;
  bool sender_done_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Event> events_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, InFlightRequest> in_flight_ ABSL_GUARDED_BY(mu_);
  std::map<int32_t, int> node_in_flight_ ABSL_GUARDED_BY(mu_);
  int64_t next_request_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Idempotence: the producer id and epoch, -1 until InitProducerId answers.
  int64_t producer_id_ ABSL_GUARDED_BY(mu_) = -1;
  int16_t producer_epoch_ ABSL_GUARDED_BY(mu_) = -1;
  bool pid_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool pid_reset_needed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time pid_retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);

  // Metrics.
  std::atomic<int64_t> records_sent_{0}, bytes_sent_{0}, records_failed_{0}, requests_sent_{0},
      retries_{0}, batches_sent_{0}, batch_records_{0}, latency_count_{0}, latency_us_total_{0},
      latency_us_max_{0};
  LatencyHistogram latency_us_;  // produce round trips, microseconds
};

}  // namespace runnel::client
