// Produce: appends each partition's record batches to its log and answers
// per partition. Durability follows Kafka on one node: acks=1 and acks=all
// both answer once the batches are in the log's page cache (Kafka's acks=all
// means "on every in-sync replica", not "fsynced"; flush.ms/flush.messages
// decide when the storage fsyncs). A SIGKILL loses nothing acknowledged; a
// power failure can lose what was not yet flushed, as in Kafka.
// Idempotent producers' batches are checked and deduplicated per partition
// (producer_state_append.h).
//
// The partitions of one request append side by side when the request
// carries enough bytes: the I/O thread takes some, helper threads the
// others, and the handler returns once all are done. Writing into the page
// cache is most of the broker's produce CPU (about 2-3 ns a byte on the
// 2-core CI machine, so a 1 MB request took ~2.5 ms on one core), and a
// client that batches several partitions into a request (runnel::Producer,
// Java) then uses more than one core. Nothing outlives the handler, and
// each partition still sees a connection's requests in order.
#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "broker/broker_context.h"
#include "broker/encode.h"
#include "broker/extensions.h"
#include "broker/producer_state_append.h"
#include "runnel/protocol/messages/produce.h"

namespace runnel::broker {
namespace {

using protocol::ErrorCode;

// Requests with fewer bytes than this append on the I/O thread alone: the
// hand-over to a helper (~10-50 us) would cost more than it saves.
constexpr size_t kParallelMinBytes = 256 * 1024;

// Helper threads that run, with the calling thread, the indices of a
// ForEach. Thread-safe; callers block until their own ForEach is done, so
// a ForEach never outlives its caller's data.
class ParallelRunner {
 public:
  explicit ParallelRunner(int helpers) {
    for (int i = 0; i < helpers; ++i) threads_.emplace_back([this] { HelperLoop(); });
  }
  ~ParallelRunner() {
    {
      absl::MutexLock l(&mu_);
      stop_ = true;
    }
    for (std::thread& t : threads_) t.join();
  }
  ParallelRunner(const ParallelRunner&) = delete;
  ParallelRunner& operator=(const ParallelRunner&) = delete;

  bool has_helpers() const { return !threads_.empty(); }

  // Runs fn(0) .. fn(n - 1), each once, on this thread and the helpers;
  // returns when all have returned.
  void ForEach(size_t n, absl::FunctionRef<void(size_t)> fn) {
    auto job = std::make_shared<Job>(n, fn);
    {
      absl::MutexLock l(&mu_);
      jobs_.push_back(job);
    }
    job->RunSome();
    absl::MutexLock l(&job->mu);
    job->mu.Await(absl::Condition(
        +[](Job* j) { return j->done == j->n; }, job.get()));
  }

 private:
  struct Job {
    Job(size_t count, absl::FunctionRef<void(size_t)> f) : n(count), fn(f) {}
    // Takes indices until none is left. Each fn runs while the caller waits
    // in ForEach, so `fn` is still valid.
    void RunSome() {
      for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
        fn(i);
        absl::MutexLock l(&mu);
        ++done;
      }
    }
    bool exhausted() const { return next.load() >= n; }

    const size_t n;
    const absl::FunctionRef<void(size_t)> fn;
    std::atomic<size_t> next{0};
    absl::Mutex mu;
    size_t done ABSL_GUARDED_BY(mu) = 0;
  };

  void HelperLoop() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        absl::MutexLock l(&mu_);
        mu_.Await(absl::Condition(
            +[](ParallelRunner* r) { return r->stop_ || !r->jobs_.empty(); }, this));
        if (jobs_.empty()) return;  // stopping, nothing left
        job = jobs_.front();
        if (job->exhausted()) {
          jobs_.pop_front();
          continue;
        }
      }
      job->RunSome();
      absl::MutexLock l(&mu_);
      if (!jobs_.empty() && jobs_.front() == job) jobs_.pop_front();
    }
  }

  absl::Mutex mu_;
  std::deque<std::shared_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// Kafka's AdminUtils.ADMIN_CLIENT_ID: the one client id whose produce may
// append to an internal topic (ReplicaManager's internalTopicsAllowed).
constexpr char kAdminClientId[] = "__admin_client";

// Kafka's Topic.isInternal: the topics the broker itself writes. Their
// records (group metadata, offsets) are the coordinator's state, so a
// client's produce would corrupt it.
bool IsInternalTopic(const std::string& topic) {
  return topic == "__consumer_offsets" || topic == "__transaction_state";
}

protocol::ProduceResponse::PartitionProduceResponse AppendTo(
    BrokerContext* ctx, const std::string& topic,
    protocol::ProduceRequest::PartitionProduceData& data) {
  protocol::ProduceResponse::PartitionProduceResponse out;
  out.index = data.index;
  std::shared_ptr<Partition> p = ctx->topics->FindPartition(topic, data.index);
  if (p == nullptr) {
    out.error_code = static_cast<int16_t>(ErrorCode::kUnknownTopicOrPartition);
    return out;
  }
  if (!data.records.has_value() || data.records->empty()) {
    out.error_code = static_cast<int16_t>(ErrorCode::kInvalidRecord);
    out.error_message = "produce request without record batches";
    return out;
  }
  // No broker-wide size check here: message.max.bytes is only the default
  // of the topic-level max.message.bytes (server_config.cc maps it there),
  // and a topic may raise or lower it; the log enforces the topic's value
  // (MESSAGE_TOO_LARGE), as Kafka does.
  // The log stamps offsets (and LogAppendTime) into the batches in place:
  // the request was decoded with copies of them (net::Request's body lives
  // only as long as the handler call), which are written here, not copied
  // again. A records value shared with someone else is copied first.
  std::span<uint8_t> batches = data.records->WritableIfSole();
  if (batches.empty()) {
    data.records = SharedBytes::CopyOf(data.records->span());
    batches = data.records->WritableIfSole();
  }
  ProducedAppend a = AppendProduced(*p, batches, ctx->config.producer_id_expiration_ms);
  if (a.error != ErrorCode::kNone) {
    out.error_code = static_cast<int16_t>(a.error);
    out.error_message = std::move(a.message);
    out.base_offset = -1;
    return out;
  }
  out.base_offset = a.base_offset;
  out.log_append_time_ms = a.log_append_time_ms;
  out.log_start_offset = a.log_start_offset;
  return out;
}

// The partitions to append, with where their answer goes.
struct Append {
  const std::string* topic;
  protocol::ProduceRequest::PartitionProduceData* data;
  protocol::ProduceResponse::PartitionProduceResponse* out;
};

// A request naming a partition twice appends both in request order, on one
// thread, as before.
bool NamesAPartitionTwice(const std::vector<Append>& appends) {
  for (size_t i = 0; i < appends.size(); ++i) {
    for (size_t j = i + 1; j < appends.size(); ++j) {
      if (appends[i].data->index == appends[j].data->index &&
          *appends[i].topic == *appends[j].topic) {
        return true;
      }
    }
  }
  return false;
}

void HandleProduce(BrokerContext* ctx, ParallelRunner* runner, const Request& request,
                   Respond respond) {
  absl::StatusOr<protocol::ProduceRequest> req = DecodeBody<protocol::ProduceRequest>(request);
  if (!req.ok()) return respond(req.status());
  protocol::ProduceResponse resp;
  bool bad_acks = req->acks != 0 && req->acks != 1 && req->acks != -1;
  std::vector<Append> appends;
  size_t bytes = 0;
  resp.responses.reserve(req->topic_data.size());
  for (auto& topic : req->topic_data) {
    protocol::ProduceResponse::TopicProduceResponse& tr = resp.responses.emplace_back();
    tr.name = topic.name;
    // Reserved: `appends` points into it.
    tr.partition_responses.reserve(topic.partition_data.size());
    TopicError denied = CheckTopicPolicy(*ctx, request, TopicOperation::kProduce, topic.name);
    if (denied.ok() && IsInternalTopic(topic.name) &&
        request.header.client_id.value_or("") != kAdminClientId) {
      denied = {ErrorCode::kInvalidTopicException,
                absl::StrCat("Cannot append to internal topic ", topic.name)};
    }
    for (auto& data : topic.partition_data) {
      protocol::ProduceResponse::PartitionProduceResponse& out =
          tr.partition_responses.emplace_back();
      if (bad_acks || !denied.ok()) {
        out.index = data.index;
        out.base_offset = -1;  // Kafka's PartitionResponse(error)
        out.error_code =
            static_cast<int16_t>(bad_acks ? ErrorCode::kInvalidRequiredAcks : denied.code);
        if (!bad_acks) out.error_message = denied.message;
        continue;
      }
      appends.push_back({&topic.name, &data, &out});
      if (data.records.has_value()) bytes += data.records->size();
    }
  }
  auto append = [&](size_t i) {
    *appends[i].out = AppendTo(ctx, *appends[i].topic, *appends[i].data);
  };
  if (appends.size() > 1 && bytes >= kParallelMinBytes && runner->has_helpers() &&
      !NamesAPartitionTwice(appends)) {
    runner->ForEach(appends.size(), append);
  } else {
    for (size_t i = 0; i < appends.size(); ++i) append(i);
  }
  // acks=0: the client reads no response at all.
  if (req->acks == 0) return respond(Response::None());
  respond(EncodeResponse(request, resp));
}

}  // namespace

void RegisterProduceHandler(BrokerContext* ctx) {
  // As many appending threads as cores: the I/O thread and helpers. Owned
  // by the handler, which the router keeps as long as the broker lives; no
  // handler runs once the server has stopped, so none waits on it then.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto runner = std::make_shared<ParallelRunner>(cores - 1);
  ctx->router->Register(protocol::ProduceRequest::kApiKey, 3, 9,
                        [ctx, runner](const Request& r, Respond d) {
                          HandleProduce(ctx, runner.get(), r, std::move(d));
                        });
}

}  // namespace runnel::broker
