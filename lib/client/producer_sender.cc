// The producer's sender thread: drains ready batches into Produce requests,
// handles their responses (retries, idempotence sequences, metadata
// refreshes), expires batches past delivery.timeout.ms and runs delivery
// callbacks. See producer_batch.h for how order survives retries.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/producer_impl.h"
#include "common/record_batch_format.h"
#include "runnel/common/endian.h"
#include "runnel/protocol/messages/init_producer_id.h"

namespace runnel::client {
namespace {

using protocol::ErrorCode;
using namespace runnel::record_batch;  // batch header offsets

std::string Name(const TopicPartition& tp) { return absl::StrCat(tp.topic, "-", tp.partition); }

bool NeedsMetadata(ErrorCode ec) {
  return ec == ErrorCode::kNotLeaderOrFollower || ec == ErrorCode::kUnknownTopicOrPartition ||
         ec == ErrorCode::kLeaderNotAvailable;
}

// Writes an idempotent batch's producer id, epoch and base sequence into its
// finished bytes, and the CRC that covers them, unless the bytes carry them
// already (a retry that kept its sequence): the CRC is a pass over the
// whole batch.
void StampProducerState(ProducerBatch& b) {
  uint8_t* p = b.bytes->data();
  if (LoadBigEndian<int64_t>(p + kProducerIdOffset) == b.producer_id &&
      LoadBigEndian<int16_t>(p + kProducerEpochOffset) == b.producer_epoch &&
      LoadBigEndian<int32_t>(p + kBaseSequenceOffset) == b.base_sequence) {
    return;
  }
  StoreBigEndian<int64_t>(p + kProducerIdOffset, b.producer_id);
  StoreBigEndian<int16_t>(p + kProducerEpochOffset, b.producer_epoch);
  StoreBigEndian<int32_t>(p + kBaseSequenceOffset, b.base_sequence);
  StoreBigEndian<uint32_t>(p + kCrcOffset, ComputeBatchCrc(b.bytes->span()));
}

}  // namespace

void ProducerImpl::RunSender() {
  std::vector<Completed> done;
  for (;;) {
    std::map<int32_t, std::vector<std::unique_ptr<ProducerBatch>>> to_send;
    bool finished = false;
    absl::Time now;
    {
      absl::MutexLock lock(&mu_);
      now = absl::Now();
      if (events_.empty() && !abort_) {
        absl::Time wake = NextWake(now);
        if (wake > now) wake_sender_.WaitWithDeadline(&mu_, wake);
        now = absl::Now();
      }
      std::vector<Event> events;
      events.swap(events_);
      for (auto& e : events) HandleEvent(e, now, &done);
      if (abort_) {
        absl::Status cancelled =
            absl::CancelledError("the producer was closed before the record was delivered");
        for (auto& [id, req] : in_flight_) {
          for (auto& b : req.batches) FailBatch(std::move(b), cancelled, &done);
        }
        in_flight_.clear();
        for (auto& [tp, ps] : partitions_) {
          while (!ps.queue.empty()) {
            FailBatch(std::move(ps.queue.front()), cancelled, &done);
            ps.queue.pop_front();
          }
        }
        finished = true;
      } else {
        if (!fatal_.ok()) {
          for (auto& [tp, ps] : partitions_) {
            while (!ps.queue.empty()) {
              FailBatch(std::move(ps.queue.front()), fatal_, &done);
              ps.queue.pop_front();
            }
          }
        }
        ExpireBatches(now, &done);
        if (options_.enable_idempotence && (producer_id_ < 0 || pid_reset_needed_)) {
          InitProducerId(now);
        } else {
          to_send = Drain(now);
        }
      }
    }
    for (auto& [node, batches] : to_send) SendBatches(node, std::move(batches), now);
    Complete(done);
    if (finished) {
      absl::MutexLock lock(&mu_);
      sender_done_ = true;
      space_freed_.SignalAll();
      return;
    }
  }
}

absl::Time ProducerImpl::NextWake(absl::Time now) {
  absl::Time t = now + absl::Milliseconds(100);
  if (options_.enable_idempotence && (producer_id_ < 0 || pid_reset_needed_)) {
    // An InitProducerId answer or a finished request wakes the sender.
    if (pid_requested_ || (pid_reset_needed_ && !in_flight_.empty())) return t;
    return std::max(now, std::min(t, pid_retry_at_));
  }
  const bool hurry = flushing_ > 0 || closing_;
  const ClusterMetadata* md = metadata_.get();
  for (const auto& [tp, ps] : partitions_) {
    for (const auto& b : ps.queue) t = std::min(t, b->deadline);
    if (ps.queue.empty()) continue;
    // Nothing to do before the metadata names a leader (polled every 100 ms)
    // or a response frees a slot (which wakes the sender).
    std::optional<int32_t> leader = md->LeaderOf(tp.topic, tp.partition);
    if (!leader.has_value()) continue;
    if (ps.in_flight > 0 && ps.in_flight_node != *leader) continue;  // a response wakes it
    auto n = node_in_flight_.find(*leader);
    if (n != node_in_flight_.end() && n->second >= options_.max_in_flight) continue;
    const ProducerBatch& b = *ps.queue.front();
    if (b.base_sequence >= 0 && ps.in_flight > 0) continue;  // a retry waits for the others
    if (ps.in_flight >= options_.max_in_flight) continue;
    absl::Time ready = (b.closed || ps.queue.size() > 1 || hurry) ? now : b.created + options_.linger;
    t = std::min(t, std::max(ready, b.retry_after));
  }
  return std::max(t, now);
}

std::map<int32_t, std::vector<std::unique_ptr<ProducerBatch>>> ProducerImpl::Drain(
    absl::Time now) {
  std::map<int32_t, std::vector<std::unique_ptr<ProducerBatch>>> out;
  std::map<int32_t, int64_t> bytes;
  const ClusterMetadata* md = metadata_.get();
  const bool hurry = flushing_ > 0 || closing_;
  bool refresh = false;
  for (auto& [tp, ps] : partitions_) {
    if (ps.queue.empty()) continue;
    ProducerBatch& b = *ps.queue.front();
    if (b.retry_after > now) continue;
    if (!(b.closed || ps.queue.size() > 1 || hurry || now >= b.created + options_.linger)) continue;
    // A retried batch goes only once its partition has nothing in flight,
    // so that it and the batches behind it reach the broker in order.
    if (b.base_sequence >= 0 && ps.in_flight > 0) continue;
    if (ps.in_flight >= options_.max_in_flight) continue;
    std::optional<int32_t> leader = md->LeaderOf(tp.topic, tp.partition);
    if (!leader.has_value()) {
      refresh = true;
      continue;
    }
    const int32_t node = *leader;
    if (ps.in_flight > 0 && ps.in_flight_node != node) continue;  // see PartitionState
    auto planned = out.find(node);
    if (planned == out.end() && node_in_flight_[node] >= options_.max_in_flight) continue;
    int64_t size =
        static_cast<int64_t>(b.bytes->empty() ? b.builder.EstimatedSize() : b.bytes->size());
    if (planned != out.end() && bytes[node] + size > options_.max_request_size) continue;
    std::unique_ptr<ProducerBatch> batch = std::move(ps.queue.front());
    ps.queue.pop_front();
    if (!batch->closed) {
      batch->closed = true;
      sticky_.OnBatchClosed(tp.topic, tp.partition);
    }
    if (options_.enable_idempotence) {
      if (batch->base_sequence < 0) {
        batch->base_sequence = ps.next_sequence;
        ps.next_sequence += batch->record_count();
      }
      ps.unacked.insert(batch->base_sequence);
      batch->producer_id = producer_id_;
      batch->producer_epoch = producer_epoch_;
    }
    if (batch->bytes->empty() && batch->bytes->capacity() == 0 && !spare_bytes_.empty()) {
      batch->bytes = std::move(spare_bytes_.back());  // SendBatches fills it
      spare_bytes_.pop_back();
    }
    if (batch->attempts > 0) retries_++;
    batch->attempts++;
    ps.in_flight++;
    ps.in_flight_node = node;
    if (planned == out.end()) node_in_flight_[node]++;
    bytes[node] += size;
    out[node].push_back(std::move(batch));
  }
  if (refresh) core_->RequestMetadataRefresh();
  return out;
}

namespace {

// What the core encodes: the ProduceRequest, shared with the sender's
// in-flight record so that the batch bytes in it come back with the
// response instead of being copied into the request.
struct SharedProduceRequest {
  static constexpr int16_t kApiKey = protocol::ProduceRequest::kApiKey;
  std::shared_ptr<const protocol::ProduceRequest> request;
  void Encode(protocol::Writer& w, int16_t version) const { request->Encode(w, version); }
};

}  // namespace

void ProducerImpl::SendBatches(int32_t node, std::vector<std::unique_ptr<ProducerBatch>> batches,
                               absl::Time now) {
  auto req = std::make_shared<protocol::ProduceRequest>();
  req->transactional_id.reset();
  req->acks = static_cast<int16_t>(options_.acks);
  req->timeout_ms =
      static_cast<int32_t>(absl::ToInt64Milliseconds(options_.client.request_timeout));
  std::vector<std::unique_ptr<ProducerBatch>> failed;
  std::vector<absl::Status> failures;
  std::vector<std::unique_ptr<ProducerBatch>> sending;
  std::vector<protocol::RecordBatchBuilder> spent;  // builders of batches now finished
  for (auto& b : batches) {
    if (b->bytes->empty()) {
      // The sequence was assigned at drain: Finish() writes it under the
      // one CRC pass, so the stamp below finds it there.
      if (b->producer_id >= 0) {
        // Cannot fail: the batch is not finished yet (bytes is empty).
        (void)b->builder.SetProducerState(b->producer_id, b->producer_epoch, b->base_sequence);
      }
      // Compression happens here, on the sender thread, outside the lock.
      absl::StatusOr<std::span<const uint8_t>> finished = b->builder.Finish();
      if (!finished.ok()) {
        failures.push_back(finished.status());
        failed.push_back(std::move(b));
        continue;
      }
      // The finished batch leaves the builder by swap (no copy) for the
      // recycled buffer the batch holds; the builder goes back to the pool.
      *b->bytes = b->builder.SwapBuffer(std::move(*b->bytes));
      spent.push_back(std::move(b->builder));
    }
    if (b->producer_id >= 0) StampProducerState(*b);
    auto topic = std::find_if(req->topic_data.begin(), req->topic_data.end(),
                              [&](const auto& t) { return t.name == b->tp.topic; });
    if (topic == req->topic_data.end()) {
      topic = req->topic_data.emplace(req->topic_data.end());
      topic->name = b->tp.topic;
    }
    auto& pd = topic->partition_data.emplace_back();
    pd.index = b->tp.partition;
    // A view, not a copy, that shares the batch's buffer: the connection
    // sends it from there (client/broker_connection.h).
    pd.records = SharedBytes(b->bytes, b->bytes->span());
    sending.push_back(std::move(b));
  }
  int64_t id;
  {
    absl::MutexLock lock(&mu_);
    for (auto& builder : spent) {
      if (spare_builders_.size() >= max_spares_) break;
      spare_builders_.push_back(std::move(builder));
    }
    std::vector<Completed> done;
    for (size_t i = 0; i < failed.size(); ++i) {
      PartitionState& ps = partitions_[failed[i]->tp];
      ps.in_flight--;
      FailBatch(std::move(failed[i]), failures[i], &done);
    }
    if (!done.empty()) {
      mu_.Unlock();
      Complete(done);
      mu_.Lock();
    }
    if (sending.empty()) {
      node_in_flight_[node]--;
      return;
    }
    id = next_request_id_++;
    in_flight_[id] = InFlightRequest{node, now, std::move(sending), req};
  }
  requests_sent_++;
  RequestOptions ro;
  ro.expect_response = options_.acks != Acks::kNone;
  core_->Send<protocol::ProduceResponse>(
      Target::Node(node), SharedProduceRequest{std::move(req)},
      [this, id](absl::StatusOr<Reply<protocol::ProduceResponse>> reply) {
        absl::MutexLock lock(&mu_);
        events_.push_back(Event{id, std::move(reply)});
        wake_sender_.Signal();
      },
      ro);
}

void ProducerImpl::HandleEvent(Event& event, absl::Time now, std::vector<Completed>* done) {
  auto it = in_flight_.find(event.request_id);
  if (it == in_flight_.end()) return;
  InFlightRequest req = std::move(it->second);
  in_flight_.erase(it);
  node_in_flight_[req.node]--;
  int64_t us = absl::ToInt64Microseconds(now - req.sent);
  latency_count_++;
  latency_us_total_ += us;
  if (us > latency_us_max_.load()) latency_us_max_ = us;
  latency_us_.Record(us);
  if (!event.reply.ok()) {
    core_->RequestMetadataRefresh();
    for (auto& b : req.batches) {
      HandleBatchResult(std::move(b), event.reply.status(), ErrorCode::kNone, -1, -1, now, done);
    }
    return;
  }
  for (auto& b : req.batches) {
    if (options_.acks == Acks::kNone) {
      HandleBatchResult(std::move(b), absl::OkStatus(), ErrorCode::kNone, -1, -1, now, done);
      continue;
    }
    const protocol::ProduceResponse::PartitionProduceResponse* found = nullptr;
    for (const auto& t : event.reply->response.responses) {
      if (t.name != b->tp.topic) continue;
      for (const auto& p : t.partition_responses) {
        if (p.index == b->tp.partition) found = &p;
      }
    }
    if (found == nullptr) {
      HandleBatchResult(std::move(b),
                        absl::UnavailableError(absl::StrCat("the produce response has no answer for ",
                                                            Name(b->tp))),
                        ErrorCode::kNone, -1, -1, now, done);
      continue;
    }
    HandleBatchResult(std::move(b), absl::OkStatus(), static_cast<ErrorCode>(found->error_code),
                      found->base_offset, found->log_append_time_ms, now, done);
  }
}

void ProducerImpl::HandleBatchResult(std::unique_ptr<ProducerBatch> batch,
                                     const absl::Status& status, ErrorCode error,
                                     int64_t base_offset, int64_t append_time, absl::Time now,
                                     std::vector<Completed>* done) {
  PartitionState& ps = partitions_[batch->tp];
  ps.in_flight--;
  if (status.ok() && (error == ErrorCode::kNone || error == ErrorCode::kDuplicateSequenceNumber)) {
    ps.unacked.erase(batch->base_sequence);
    records_sent_ += batch->record_count();
    bytes_sent_ += static_cast<int64_t>(batch->bytes->size());
    batches_sent_++;
    batch_records_ += batch->record_count();
    int64_t offset = error == ErrorCode::kNone ? base_offset : -1;
    done->push_back(Completed{std::move(batch), absl::OkStatus(), offset, append_time});
    return;
  }
  bool retriable;
  absl::Status failure = status;
  if (!status.ok()) {
    retriable = absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
  } else {
    failure = protocol::ErrorCodeToStatus(error, absl::StrCat("produce to ", Name(batch->tp)));
    retriable = protocol::IsRetriable(error);
    if (NeedsMetadata(error)) core_->RequestMetadataRefresh();
    if (error == ErrorCode::kOutOfOrderSequenceNumber && options_.enable_idempotence) {
      // Retriable when an earlier batch of the partition is still on its way
      // (this one was refused because that one is missing), or when the
      // sequences are about to be reset anyway.
      retriable = pid_reset_needed_ || (!ps.unacked.empty() &&
                                        *ps.unacked.begin() < batch->base_sequence);
    }
  }
  if (retriable && batch->attempts <= options_.retries && now < batch->deadline) {
    batch->retry_after = now + options_.client.retry_backoff;
    auto pos = ps.queue.begin();
    while (pos != ps.queue.end() && (*pos)->base_sequence >= 0 &&
           (*pos)->base_sequence < batch->base_sequence) {
      ++pos;
    }
    ps.queue.insert(pos, std::move(batch));
    return;
  }
  if (retriable && now >= batch->deadline) {
    failure = absl::DeadlineExceededError(absl::StrCat(
        "not delivered to ", Name(batch->tp), " within delivery.timeout.ms; last error: ",
        failure.message()));
  }
  FailBatch(std::move(batch), failure, done);
}

void ProducerImpl::FailBatch(std::unique_ptr<ProducerBatch> batch, absl::Status status,
                             std::vector<Completed>* done) {
  if (options_.enable_idempotence && batch->base_sequence >= 0) {
    PartitionState& ps = partitions_[batch->tp];
    ps.unacked.erase(batch->base_sequence);
    // The partition now has a gap the broker would refuse: start over with
    // a new producer id once nothing is in flight.
    if (!abort_) pid_reset_needed_ = true;
  }
  records_failed_ += batch->record_count();
  done->push_back(Completed{std::move(batch), std::move(status), -1, -1});
}

void ProducerImpl::ExpireBatches(absl::Time now, std::vector<Completed>* done) {
  for (auto& [tp, ps] : partitions_) {
    for (auto it = ps.queue.begin(); it != ps.queue.end();) {
      if ((*it)->deadline > now) {
        ++it;
        continue;
      }
      std::unique_ptr<ProducerBatch> b = std::move(*it);
      it = ps.queue.erase(it);
      FailBatch(std::move(b),
                absl::DeadlineExceededError(absl::StrCat(
                    "not delivered to ", Name(tp), " within delivery.timeout.ms (",
                    absl::ToInt64Milliseconds(options_.delivery_timeout), " ms)")),
                done);
    }
  }
}

void ProducerImpl::InitProducerId(absl::Time now) {
  if (pid_requested_ || now < pid_retry_at_) return;
  if (pid_reset_needed_ && !in_flight_.empty()) return;
  pid_requested_ = true;
  protocol::InitProducerIdRequest req;
  req.transactional_id.reset();
  req.transaction_timeout_ms = 60000;
  core_->Send<protocol::InitProducerIdResponse>(
      Target::AnyBroker(), std::move(req),
      [this](absl::StatusOr<Reply<protocol::InitProducerIdResponse>> reply) {
        absl::MutexLock lock(&mu_);
        pid_requested_ = false;
        absl::Time now = absl::Now();
        auto ec = reply.ok() ? static_cast<ErrorCode>(reply->response.error_code) : ErrorCode::kNone;
        if (reply.ok() && ec == ErrorCode::kNone) {
          producer_id_ = reply->response.producer_id;
          producer_epoch_ = reply->response.producer_epoch;
          if (pid_reset_needed_) ResetSequences();
          pid_reset_needed_ = false;
        } else if (reply.ok() ? protocol::IsRetriable(ec)
                              : (absl::IsUnavailable(reply.status()) ||
                                 absl::IsDeadlineExceeded(reply.status()))) {
          pid_retry_at_ = now + options_.client.retry_backoff;
        } else {
          fatal_ = reply.ok() ? protocol::ErrorCodeToStatus(ec, "InitProducerId (idempotence)")
                              : absl::Status(reply.status().code(),
                                             absl::StrCat("InitProducerId (idempotence): ",
                                                          reply.status().message()));
        }
        wake_sender_.Signal();
      });
}

void ProducerImpl::ResetSequences() {
  for (auto& [tp, ps] : partitions_) {
    ps.next_sequence = 0;
    ps.unacked.clear();
    for (auto& b : ps.queue) {
      if (b->base_sequence < 0) break;  // new batches get theirs when sent
      b->base_sequence = ps.next_sequence;
      ps.next_sequence += b->record_count();
    }
  }
}

void ProducerImpl::Complete(std::vector<Completed>& done) {
  if (done.empty()) return;
  int64_t memory = 0;
  int64_t records = 0;
  for (auto& c : done) {
    ProducerBatch& b = *c.batch;
    for (int32_t i = 0; i < b.record_count(); ++i) {
      if (!b.callbacks[i]) continue;
      if (c.status.ok()) {
        RecordMetadata md;
        md.topic = b.tp.topic;
        md.partition = b.tp.partition;
        md.offset = c.base_offset >= 0 ? c.base_offset + i : -1;
        md.timestamp_ms = c.log_append_time >= 0 ? c.log_append_time : b.timestamps[i];
        b.callbacks[i](std::move(md));
      } else {
        b.callbacks[i](c.status);
      }
    }
    memory += b.memory;
    records += b.record_count();
  }
  {
    absl::MutexLock lock(&mu_);
    buffered_ -= memory;
    pending_records_ -= records;
    for (auto& c : done) {
      if (spare_bytes_.size() >= max_spares_) break;
      // Still held by a connection that has not written it (acks=0): left
      // to it, to be freed when written.
      if (c.batch->bytes.use_count() != 1 || c.batch->bytes->capacity() == 0) continue;
      c.batch->bytes->Clear();
      spare_bytes_.push_back(std::move(c.batch->bytes));
    }
    space_freed_.SignalAll();
  }
  done.clear();  // the callbacks' captures are destroyed without mu_
}

}  // namespace runnel::client
