// Fetch with long polling. Reads never block: when less than min_bytes is
// available the request parks on Log::WatchOffset for every partition it
// reads and on a max_wait_ms timer; whichever fires first reads again and
// answers (on the timer thread, never on an I/O thread or inside a
// storage callback). Fetch sessions (fetch_session.h) decide which
// partitions a request reads and which of them its answer carries.
#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "broker/broker_context.h"
#include "broker/encode.h"
#include "broker/extensions.h"
#include "broker/fetch_response.h"
#include "broker/fetch_session.h"
#include "runnel/protocol/messages/fetch.h"

namespace runnel::broker {
namespace {

using protocol::ErrorCode;
using protocol::FetchRequest;
using protocol::FetchResponse;

struct PendingFetch {
  BrokerContext* ctx;
  Request request;  // body emptied: it is not valid past the handler
  FetchRequest fetch;
  Respond respond;
  // Shared: a parked fetch may answer while the broker is being torn down.
  std::shared_ptr<FetchSessionCache> sessions;
  FetchContext session;  // fetch.topics is session.topics
  std::atomic<bool> done{false};
  absl::Mutex mu;
  std::vector<std::pair<std::shared_ptr<Partition>, storage::WatchId>> watches ABSL_GUARDED_BY(mu);
  group::TimerId timer = 0;
  int64_t deadline_ms = 0;  // when max_wait_ms runs out
};

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// One read of every partition: the response, its record data still in the
// builder, and the bytes it holds.
struct FetchRead {
  FetchResponseBuilder builder;
  FetchResponse resp;
  int64_t total = 0;
};

FetchRead ReadAll(const PendingFetch& f) {
  FetchRead read;
  FetchResponseBuilder& builder = read.builder;
  FetchResponse& resp = read.resp;
  int64_t& total = read.total;
  int64_t budget = std::max<int64_t>(f.fetch.max_bytes, 0);
  for (const auto& topic : f.fetch.topics) {
    FetchResponse::FetchableTopicResponse tr;
    tr.topic = topic.topic;
    TopicError denied = CheckTopicPolicy(*f.ctx, f.request, TopicOperation::kFetch, topic.topic);
    for (const auto& fp : topic.partitions) {
      FetchResponse::PartitionData pd;
      pd.partition_index = fp.partition;
      std::shared_ptr<Partition> p =
          denied.ok() ? f.ctx->topics->FindPartition(topic.topic, fp.partition) : nullptr;
      if (p == nullptr) {
        pd.error_code = static_cast<int16_t>(denied.ok() ? ErrorCode::kUnknownTopicOrPartition
                                                         : denied.code);
        pd.high_watermark = -1;
        tr.partitions.push_back(std::move(pd));
        continue;
      }
      int64_t hw = p->high_watermark.load();
      pd.high_watermark = hw;
      pd.last_stable_offset = hw;  // no transactions yet
      pd.log_start_offset = p->log->log_start_offset();
      if (fp.fetch_offset < pd.log_start_offset || fp.fetch_offset > p->log->log_end_offset()) {
        pd.error_code = static_cast<int16_t>(ErrorCode::kOffsetOutOfRange);
        tr.partitions.push_back(std::move(pd));
        continue;
      }
      int64_t limit = std::min<int64_t>(std::max(fp.partition_max_bytes, 0), budget);
      if (fp.fetch_offset < hw && limit > 0) {
        storage::ReadOptions ro;
        ro.max_bytes = limit;
        // Kafka returns at least one batch, however large, only for the first
        // partition with data, so that a consumer always makes progress.
        ro.strict_max_bytes = total > 0;
        ro.max_offset = hw;
        ro.copy_bytes = false;
        absl::StatusOr<storage::ReadResult> r = p->log->Read(fp.fetch_offset, ro);
        if (!r.ok()) {
          pd.error_code = static_cast<int16_t>(absl::IsOutOfRange(r.status())
                                                   ? ErrorCode::kOffsetOutOfRange
                                                   : ErrorCode::kKafkaStorageError);
        } else {
          total += r->total_bytes;
          budget -= r->total_bytes;
          pd.records = builder.Placeholder(std::move(r->slices));
        }
      }
      tr.partitions.push_back(std::move(pd));
    }
    resp.responses.push_back(std::move(tr));
  }
  return read;
}

// What the client gets: the fetch session hears of it first (it may drop
// partitions the client knows all about). A read before parking is thrown
// away without coming here.
absl::StatusOr<Response> Answer(PendingFetch& f, FetchRead& read) {
  f.sessions->Finish(f.session, &read.resp, NowMs());
  return read.builder.Finish(f.request, read.resp);
}

void CancelWatches(PendingFetch& f) {
  absl::MutexLock l(&f.mu);
  for (auto& [p, id] : f.watches) p->log->CancelWatch(id);
  f.watches.clear();
}

void Answer(const std::shared_ptr<PendingFetch>& f, FetchRead& read) {
  if (f->done.exchange(true)) return;
  f->ctx->timers->Cancel(f->timer);
  CancelWatches(*f);
  f->respond(Answer(*f, read));
}

// The max_wait_ms timer: answers with whatever there is.
void Finish(const std::shared_ptr<PendingFetch>& f) {
  if (f->done) return;
  FetchRead read = ReadAll(*f);
  Answer(f, read);
}

void WatchPartitions(const std::shared_ptr<PendingFetch>& f, const FetchResponse& read);

// A watched partition grew. Answers when min_bytes are there; otherwise
// parks again until the next append or the timer. Also covers the moment
// the log's end moved but the high watermark (what a fetch may read) was
// not yet: the append wakes watchers before the partition's high watermark
// follows. Runs on the timer thread, like Finish, so the two never overlap.
void OnData(const std::shared_ptr<PendingFetch>& f) {
  if (f->done) return;
  FetchRead read = ReadAll(*f);
  if (read.total >= std::max(f->fetch.min_bytes, 1) || NowMs() >= f->deadline_ms) {
    Answer(f, read);
    return;
  }
  CancelWatches(*f);
  WatchPartitions(f, read.resp);
}

// Watches every partition for data past both the fetch offset and the high
// watermark `read` saw (so a fetch short of min_bytes waits for the next
// append instead of waking again at once). The watermark the read saw, not
// the current one: an append that lands between the read and the watch has
// moved the current one past data the read never counted, and a watch from
// there would sleep through it until max_wait_ms.
void WatchPartitions(const std::shared_ptr<PendingFetch>& f, const FetchResponse& read) {
  for (size_t t = 0; t < f->fetch.topics.size(); ++t) {
    const auto& topic = f->fetch.topics[t];
    for (size_t i = 0; i < topic.partitions.size(); ++i) {
      const auto& fp = topic.partitions[i];
      std::shared_ptr<Partition> p = f->ctx->topics->FindPartition(topic.topic, fp.partition);
      if (p == nullptr) continue;
      // ReadAll answers every requested partition, in request order.
      const int64_t seen =
          std::max(fp.fetch_offset, read.responses[t].partitions[i].high_watermark);
      // The callback runs on the appending thread (or inline): hop to the
      // timer thread before reading.
      storage::WatchId id = p->log->WatchOffset(seen, [f](absl::Status) {
        if (!f->done) f->ctx->timers->Schedule(0, [f] { OnData(f); });
      });
      absl::MutexLock l(&f->mu);
      f->watches.emplace_back(p, id);
    }
  }
}

void HandleFetch(BrokerContext* ctx, const std::shared_ptr<FetchSessionCache>& sessions,
                 const Request& request, Respond respond) {
  absl::StatusOr<FetchRequest> req = DecodeBody<FetchRequest>(request);
  if (!req.ok()) return respond(req.status());
  auto f = std::make_shared<PendingFetch>();
  f->ctx = ctx;
  f->request = Request{request.header, {}, request.peer, request.principal};
  f->fetch = *std::move(req);
  f->respond = std::move(respond);
  f->sessions = sessions;
  f->session = sessions->NewContext(f->fetch, NowMs());
  if (f->session.error != ErrorCode::kNone) {
    FetchResponse only_error;
    only_error.error_code = static_cast<int16_t>(f->session.error);
    return f->respond(EncodeResponse(request, only_error));
  }
  f->fetch.topics = f->session.topics;

  FetchRead first = ReadAll(*f);
  bool has_error = false;
  {
    // Errors answer at once, as in Kafka (checked on the decoded response
    // would need a second pass; a missing partition is the common case).
    for (const auto& topic : f->fetch.topics) {
      for (const auto& fp : topic.partitions) {
        if (ctx->topics->FindPartition(topic.topic, fp.partition) == nullptr ||
            (ctx->topic_policy != nullptr &&
             !CheckTopicPolicy(*ctx, request, TopicOperation::kFetch, topic.topic).ok())) {
          has_error = true;
        }
      }
    }
  }
  if (f->fetch.max_wait_ms <= 0 || first.total >= std::max(f->fetch.min_bytes, 1) ||
      has_error || f->fetch.topics.empty()) {
    f->done = true;
    f->respond(Answer(*f, first));
    return;
  }
  // Park. The answering wake-up sets `done`; later ones find it set.
  f->deadline_ms = NowMs() + f->fetch.max_wait_ms;
  f->timer = ctx->timers->Schedule(f->fetch.max_wait_ms, [f] { Finish(f); });
  WatchPartitions(f, first.resp);
}

}  // namespace

void RegisterFetchHandler(BrokerContext* ctx) {
  // Owned by the handler: the router keeps it as long as the broker lives.
  auto sessions = std::make_shared<FetchSessionCache>(ctx->config.fetch_session_cache_slots);
  ctx->router->Register(FetchRequest::kApiKey, 4, 12,
                        [ctx, sessions](const Request& r, Respond d) {
                          HandleFetch(ctx, sessions, r, std::move(d));
                        });
}

}  // namespace runnel::broker
