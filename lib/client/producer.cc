// The producer's front: Create, Send (partitioning, batching, buffer.memory
// back-pressure), Flush, Close and metrics. The sender thread is in
// producer_sender.cc.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/producer_impl.h"
#include "runnel/common/status_macros.h"

namespace runnel {

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(ProducerOptions options) {
  RUNNEL_RETURN_IF_ERROR(options.Validate());
  if (options.compression_level.has_value()) {
    // Check the level now rather than failing every batch later.
    ByteBuffer probe;
    const uint8_t byte = 0;
    RUNNEL_RETURN_IF_ERROR(protocol::Compress(
        static_cast<protocol::CompressionType>(options.compression), *options.compression_level,
        std::span<const uint8_t>(&byte, 1), probe));
  }
  RUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<client::ClientCore> core,
                          client::ClientCore::Create(options.client));
  auto producer = std::make_unique<client::ProducerImpl>(std::move(options), std::move(core));
  producer->Start();
  return std::unique_ptr<Producer>(std::move(producer));
}

}  // namespace runnel

namespace runnel::client {
namespace {

// Bytes a record costs in buffer.memory and towards batch.size: its
// payload and the varint framing around it (an upper bound of the record's
// encoded size).
int64_t RecordCost(const ProducerRecord& r) {
  int64_t n = 32 + r.topic.size();
  if (r.key) n += r.key->size();
  if (r.value) n += r.value->size();
  for (const auto& h : r.headers) n += 10 + h.key.size() + (h.value ? h.value->size() : 0);
  return n;
}

// Spare buffers kept for reuse, of each kind (builders, batch bytes):
// buffer.memory in batch.size units, at most 1024. A producer faster than
// its brokers queues up to buffer.memory of batches, each in its own
// builder, and sends them off in bursts; a smaller pool would free some of
// them only to grow fresh ones (page faults) for the next burst. A pool
// never holds more than were in use at once, so this bounds what an idle
// producer keeps at its peak use, within buffer.memory; Java's producer
// keeps its freed batch buffers within buffer.memory likewise.
size_t MaxSpares(const ProducerOptions& o) {
  const int64_t fit = o.buffer_memory / std::max<int64_t>(o.batch_size, 1);
  return static_cast<size_t>(std::clamp<int64_t>(fit, 2, 1024));
}

}  // namespace

ProducerImpl::ProducerImpl(ProducerOptions options, std::unique_ptr<ClientCore> core)
    : options_(std::move(options)), core_(std::move(core)), max_spares_(MaxSpares(options_)) {}

ProducerImpl::~ProducerImpl() { (void)Close(absl::Seconds(30)); }

void ProducerImpl::Start() {
  // Snapshots reach the listener in order on the I/O thread, each after the
  // core published it; one published before the listener was added is read
  // here, unless the listener already brought a newer one.
  metadata_listener_ =
      core_->AddMetadataListener([this](const std::shared_ptr<const ClusterMetadata>& md) {
        absl::MutexLock lock(&mu_);
        metadata_ = md;
      });
  std::shared_ptr<const ClusterMetadata> current = core_->metadata();
  {
    absl::MutexLock lock(&mu_);
    if (metadata_ == nullptr) metadata_ = std::move(current);
  }
  sender_ = std::thread([this] { RunSender(); });
}

absl::StatusOr<int32_t> ProducerImpl::PartitionCount(const std::string& topic,
                                                     absl::Time deadline) {
  std::shared_ptr<const ClusterMetadata> md = core_->metadata();
  const TopicMetadata* t = md->FindTopic(topic);
  if (t == nullptr || t->partitions.empty()) {
    RUNNEL_ASSIGN_OR_RETURN(md, core_->WaitForTopic(topic, deadline));
    t = md->FindTopic(topic);
  }
  return static_cast<int32_t>(t->partitions.size());
}

void ProducerImpl::StartBatch(ProducerBatch& batch) {
  if (!spare_builders_.empty()) {
    batch.builder = std::move(spare_builders_.back());
    spare_builders_.pop_back();
  }
  protocol::RecordBatchBuilderOptions bo;
  bo.compression = static_cast<protocol::CompressionType>(options_.compression);
  bo.compression_level = options_.compression_level.value_or(protocol::kDefaultCompressionLevel);
  batch.builder.Reset(bo);
}

absl::Status ProducerImpl::Send(ProducerRecord record, DeliveryCallback callback) {
  const absl::Time now = absl::Now();
  const absl::Time deadline = now + options_.max_block;
  const int64_t cost = RecordCost(record);
  const int64_t timestamp = record.timestamp_ms.value_or(absl::ToUnixMillis(now));
  std::vector<protocol::RecordHeader> headers;
  headers.reserve(record.headers.size());
  for (const auto& h : record.headers) {
    headers.push_back({h.key, h.value ? protocol::NullableBytes(*h.value)
                                      : protocol::NullableBytes()});
  }
  protocol::NullableBytes key = record.key ? protocol::NullableBytes(*record.key) : nullptr;
  protocol::NullableBytes value = record.value ? protocol::NullableBytes(*record.value) : nullptr;
  // A custom partitioner is user code: it runs before mu_ is taken.
  std::optional<int32_t> chosen = record.partition;
  if (!chosen.has_value() && options_.partitioner) {
    {
      absl::MutexLock lock(&mu_);
      if (closing_) return absl::FailedPreconditionError("the producer is closed");
      if (!fatal_.ok()) return fatal_;
    }
    if (cost <= options_.max_request_size && cost <= options_.buffer_memory) {
      RUNNEL_ASSIGN_OR_RETURN(int32_t count, PartitionCount(record.topic, deadline));
      chosen = options_.partitioner(record.topic, record.key ? &*record.key : nullptr, count);
    }
  }

  absl::MutexLock lock(&mu_);
  if (closing_) return absl::FailedPreconditionError("the producer is closed");
  if (!fatal_.ok()) return fatal_;
  if (cost > options_.max_request_size || cost > options_.buffer_memory) {
    return absl::InvalidArgumentError(absl::StrCat(
        "record of ", cost, " bytes is larger than max.request.size (", options_.max_request_size,
        ") or buffer.memory (", options_.buffer_memory, ")"));
  }
  const TopicMetadata* t = metadata_->FindTopic(record.topic);
  std::shared_ptr<const ClusterMetadata> waited_for;  // keeps `t` alive when set
  if (t == nullptr || t->partitions.empty()) {
    // The topic's first records: wait for its metadata without mu_ (the
    // listener that updates metadata_ needs it).
    mu_.Unlock();
    absl::StatusOr<std::shared_ptr<const ClusterMetadata>> waited =
        core_->WaitForTopic(record.topic, deadline);
    mu_.Lock();
    RUNNEL_RETURN_IF_ERROR(waited.status());
    if (closing_) return absl::FailedPreconditionError("the producer is closed");
    waited_for = *std::move(waited);
    t = waited_for->FindTopic(record.topic);
  }
  // `t` is not used past here: the buffer wait below releases mu_, and
  // with it the snapshot `t` points into.
  const int32_t count = static_cast<int32_t>(t->partitions.size());
  int32_t partition;
  if (chosen.has_value()) {
    partition = *chosen;
    if (partition < 0 || partition >= count) {
      return absl::InvalidArgumentError(absl::StrCat("partition ", partition, " of topic '",
                                                     record.topic, "' does not exist (it has ",
                                                     count, ")"));
    }
  } else if (record.key.has_value()) {
    partition = Murmur2Partition(*record.key, count);
  } else {
    partition = sticky_.Partition(record.topic, count);
  }

  while (buffered_ + cost > options_.buffer_memory && !closing_) {
    if (space_freed_.WaitWithDeadline(&mu_, deadline) &&
        buffered_ + cost > options_.buffer_memory) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "buffer.memory (", options_.buffer_memory, " bytes) stayed full for max.block.ms (",
          absl::ToInt64Milliseconds(options_.max_block), " ms): the brokers take records more "
          "slowly than they are sent"));
    }
  }
  if (closing_) return absl::FailedPreconditionError("the producer is closed");
  auto found = partitions_.find(TopicPartitionRef{record.topic, partition});
  if (found == partitions_.end()) {
    found = partitions_.emplace(TopicPartition{record.topic, partition}, PartitionState()).first;
  }
  const TopicPartition& tp = found->first;
  PartitionState& ps = found->second;
  ProducerBatch* batch = ps.queue.empty() || ps.queue.back()->closed ? nullptr
                                                                      : ps.queue.back().get();
  if (batch != nullptr && !batch->builder.empty() &&
      static_cast<int64_t>(batch->builder.EstimatedSize()) + cost > options_.batch_size) {
    batch->closed = true;
    sticky_.OnBatchClosed(tp.topic, tp.partition);
    batch = nullptr;
    wake_sender_.Signal();
  }
  if (batch == nullptr) {
    auto b = std::make_unique<ProducerBatch>();
    b->tp = tp;
    StartBatch(*b);
    b->created = now;
    b->deadline = now + options_.delivery_timeout;
    batch = b.get();
    ps.queue.push_back(std::move(b));
    if (options_.linger == absl::ZeroDuration() || ps.queue.size() == 1) wake_sender_.Signal();
  }
  RUNNEL_RETURN_IF_ERROR(batch->builder.Append(timestamp, key, value, headers));
  batch->callbacks.push_back(std::move(callback));
  batch->timestamps.push_back(timestamp);
  batch->memory += cost;
  buffered_ += cost;
  ++pending_records_;
  if (static_cast<int64_t>(batch->builder.EstimatedSize()) >= options_.batch_size) {
    batch->closed = true;
    sticky_.OnBatchClosed(tp.topic, tp.partition);
    wake_sender_.Signal();
  }
  return absl::OkStatus();
}

std::future<absl::StatusOr<RecordMetadata>> ProducerImpl::Send(ProducerRecord record) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<RecordMetadata>>>();
  auto future = promise->get_future();
  absl::Status s = Send(std::move(record), [promise](absl::StatusOr<RecordMetadata> r) {
    promise->set_value(std::move(r));
  });
  if (!s.ok()) promise->set_value(s);
  return future;
}

absl::Status ProducerImpl::Flush(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  ++flushing_;
  wake_sender_.Signal();
  while (pending_records_ > 0 && !sender_done_) {
    if (space_freed_.WaitWithDeadline(&mu_, deadline) && pending_records_ > 0) break;
  }
  --flushing_;
  if (pending_records_ > 0) {
    return absl::DeadlineExceededError(
        absl::StrCat("Flush: ", pending_records_, " records still undelivered after ",
                     absl::FormatDuration(timeout)));
  }
  return absl::OkStatus();
}

absl::Status ProducerImpl::Close(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  int64_t left = 0;
  {
    absl::MutexLock lock(&mu_);
    if (!sender_.joinable()) return absl::OkStatus();
    closing_ = true;
    wake_sender_.Signal();
    space_freed_.SignalAll();  // Sends blocked on memory give up
    while (pending_records_ > 0 && !sender_done_) {
      if (space_freed_.WaitWithDeadline(&mu_, deadline)) break;
    }
    left = pending_records_;
    abort_ = true;
    wake_sender_.Signal();
  }
  sender_.join();
  core_->RemoveMetadataListener(metadata_listener_);
  core_->Shutdown(deadline);
  if (left > 0) {
    return absl::DeadlineExceededError(absl::StrCat(
        "Close: ", left, " records not delivered within ", absl::FormatDuration(timeout),
        "; their callbacks got Cancelled"));
  }
  return absl::OkStatus();
}

ProducerMetrics ProducerImpl::metrics() const {
  ProducerMetrics m;
  m.records_sent = records_sent_.load();
  m.bytes_sent = bytes_sent_.load();
  m.records_failed = records_failed_.load();
  m.requests_sent = requests_sent_.load();
  m.retries = retries_.load();
  m.batches_sent = batches_sent_.load();
  m.in_flight_requests = core_->in_flight();
  {
    absl::MutexLock lock(&mu_);
    m.buffered_bytes = buffered_;
  }
  int64_t n = latency_count_.load();
  if (n > 0) m.avg_request_latency_ms = latency_us_total_.load() / 1000.0 / n;
  m.max_request_latency_ms = latency_us_max_.load() / 1000.0;
  m.p50_request_latency_ms = static_cast<double>(latency_us_.Percentile(0.50)) / 1000.0;
  m.p95_request_latency_ms = static_cast<double>(latency_us_.Percentile(0.95)) / 1000.0;
  m.p99_request_latency_ms = static_cast<double>(latency_us_.Percentile(0.99)) / 1000.0;
  if (m.batches_sent > 0) {
    m.avg_batch_bytes = static_cast<double>(m.bytes_sent) / m.batches_sent;
    m.avg_batch_records = static_cast<double>(batch_records_.load()) / m.batches_sent;
  }
  return m;
}

}  // namespace runnel::client
