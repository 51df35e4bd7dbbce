// Producer: sends records to Kafka topics (any Kafka-compatible cluster,
// runnel-broker included), batching them per partition, compressing,
// pipelining requests and retrying without duplicates or reordering
// (idempotence, on by default).
//
//   runnel::ProducerOptions options;
//   options.client.bootstrap_servers = "127.0.0.1:9092";
//   absl::StatusOr<std::unique_ptr<runnel::Producer>> producer =
//       runnel::Producer::Create(options);
//   if (!producer.ok()) return producer.status();
//   runnel::ProducerRecord record{.topic = "orders", .key = "user-7", .value = "{...}"};
//   (*producer)->Send(record, [](absl::StatusOr<runnel::RecordMetadata> r) {
//     // on the producer's sender thread: r->partition, r->offset, or the error
//   });
//   absl::StatusOr<runnel::RecordMetadata> sent = (*producer)->Send(record).get();
//   absl::Status closed = (*producer)->Close(absl::Seconds(10));
//
// Threads and ownership: Send, Flush, metrics() may be called from any
// thread at once. Delivery callbacks (and futures) complete on the
// producer's own sender thread, in send order per partition; they must not
// block for long and must not call Flush or Close. The producer owns two
// threads (network I/O and sender); nobody needs to poll. Close (and the
// destructor, which closes with a 30 s timeout) from one thread.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runnel/client_options.h"

namespace runnel {

struct RecordHeaderValue {
  std::string key;
  std::optional<std::string> value;  // nullopt: a null header value
};

struct ProducerRecord {
  std::string topic;
  // Unset: the partitioner chooses (ProducerOptions::partitioner).
  std::optional<int32_t> partition;
  std::optional<std::string> key;    // nullopt: null key
  std::optional<std::string> value;  // nullopt: null value (a tombstone)
  std::vector<RecordHeaderValue> headers;
  // Milliseconds since the epoch; unset: the time of Send.
  std::optional<int64_t> timestamp_ms;
};

// Where a record landed.
struct RecordMetadata {
  std::string topic;
  int32_t partition = -1;
  // -1 with acks=0 (the broker does not say), or when a retry found the
  // record already written (DUPLICATE_SEQUENCE_NUMBER from older brokers).
  int64_t offset = -1;
  // CreateTime (the record's) or the broker's LogAppendTime.
  int64_t timestamp_ms = -1;
};

// Runs once per record, on the producer's sender thread. On failure the
// Status is Unavailable/Aborted with the Kafka error code retrievable by
// runnel::protocol::ErrorCodeFromStatus, DeadlineExceeded past
// delivery.timeout.ms, or Cancelled when Close gave up on it.
using DeliveryCallback = absl::AnyInvocable<void(absl::StatusOr<RecordMetadata>)>;

struct ProducerMetrics {
  int64_t records_sent = 0;     // acknowledged records
  int64_t bytes_sent = 0;       // record batch bytes acknowledged (compressed)
  int64_t records_failed = 0;
  int64_t requests_sent = 0;
  int64_t retries = 0;          // batches sent again
  int64_t batches_sent = 0;
  int64_t in_flight_requests = 0;
  int64_t buffered_bytes = 0;   // records waiting for send or acknowledgement
  // Produce request latency, send to response, over every request since
  // Create. The percentiles come from a log-bucketed histogram: each is at
  // most 3.1% above the true value, never below it.
  double avg_request_latency_ms = 0;
  double p50_request_latency_ms = 0;
  double p95_request_latency_ms = 0;
  double p99_request_latency_ms = 0;
  double max_request_latency_ms = 0;
  double avg_batch_bytes = 0;
  double avg_batch_records = 0;
};

class Producer {
 public:
  // Validates `options` and starts the threads; connects lazily.
  static absl::StatusOr<std::unique_ptr<Producer>> Create(ProducerOptions options);
  virtual ~Producer() = default;

  // Queues `record` for its partition. Blocks up to max.block.ms while the
  // buffer is full (buffer.memory) or the topic's metadata is unknown, then
  // fails with ResourceExhausted / DeadlineExceeded. A non-OK return means
  // the record was not queued and `callback` will not run; otherwise it
  // runs exactly once.
  virtual absl::Status Send(ProducerRecord record, DeliveryCallback callback) = 0;
  // As above, with the outcome (including a failed Send) in the future.
  virtual std::future<absl::StatusOr<RecordMetadata>> Send(ProducerRecord record) = 0;

  // Sends every queued record now (ignoring linger.ms) and waits until no
  // record is queued or in flight (their callbacks have run), or `timeout`
  // passes (DeadlineExceeded; the records stay queued). Records sent by
  // other threads meanwhile are waited for too.
  virtual absl::Status Flush(absl::Duration timeout) = 0;

  // Stops accepting records, tries to deliver what is queued until
  // `timeout`, then fails what is left (Cancelled) and stops the threads.
  // Returns within `timeout` (plus a few ms) even when no broker answers;
  // OK when everything queued was delivered. Idempotent.
  virtual absl::Status Close(absl::Duration timeout) = 0;

  virtual ProducerMetrics metrics() const = 0;
};

}  // namespace runnel
