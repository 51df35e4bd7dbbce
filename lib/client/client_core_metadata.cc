// ClientCore: keeping the cluster metadata fresh (I/O thread).
#include <set>

#include "client/client_core_impl.h"
#include "runnel/protocol/messages/metadata.h"

namespace runnel::client {
namespace {

// Errors that mean "ask again soon": the topic is being created or a leader
// is being elected.
bool TopicNeedsRetry(const TopicMetadata& t) {
  if (t.error != protocol::ErrorCode::kNone) return protocol::IsRetriable(t.error);
  for (const auto& p : t.partitions) {
    if (p.leader < 0) return true;
  }
  return false;
}

}  // namespace

void ClientCore::Impl::MaybeRefreshMetadata(absl::Time now) {
  if (metadata_in_flight_) return;
  protocol::MetadataRequest req;
  {
    absl::MutexLock lock(&mu_);
    bool due = now >= next_metadata_ ||
               (refresh_requested_ && now >= last_metadata_attempt_ + options_.retry_backoff);
    if (!due) return;
    refresh_requested_ = false;
    if (all_topics_) {
      req.topics.reset();
    } else {
      req.topics.emplace();
      for (const auto& t : topics_) {
        protocol::MetadataRequest::MetadataRequestTopic rt;
        rt.name.emplace(t);
        req.topics->push_back(std::move(rt));
      }
    }
  }
  req.allow_auto_topic_creation = options_.allow_auto_create_topics;
  metadata_in_flight_ = true;
  last_metadata_attempt_ = now;
  PendingRequest pr;
  pr.target = Target::AnyBroker();
  pr.api_key = protocol::MetadataRequest::kApiKey;
  // v1 is the first with a null topic list ("all") and an empty one ("none").
  pr.min_version = 1;
  pr.max_version = protocol::kMetadataApi.max_version;
  pr.encode = [req = std::move(req)](protocol::Writer& w, int16_t v) { req.Encode(w, v); };
  pr.deadline = now + options_.request_timeout;
  pr.done = [this](absl::StatusOr<RawResponse> raw) { OnMetadata(std::move(raw)); };
  pending_.push_back(std::move(pr));
}

void ClientCore::Impl::OnMetadata(absl::StatusOr<RawResponse> raw) {
  metadata_in_flight_ = false;
  absl::Time now = absl::Now();
  absl::StatusOr<protocol::MetadataResponse> resp =
      raw.ok() ? protocol::MetadataResponse::Decode(raw->body(), raw->api_version)
               : absl::StatusOr<protocol::MetadataResponse>(raw.status());
  if (!resp.ok()) {
    // Warn once per distinct error while refreshes keep failing.
    std::string error(resp.status().message());
    if (!absl::IsCancelled(resp.status()) && error != last_metadata_error_) {
      RUNNEL_CLIENT_LOG(log_, kWarn, "metadata request failed", {{"error", error}});
    } else {
      RUNNEL_CLIENT_DEBUG(log_, kMetadata, "metadata request failed", {{"error", error}});
    }
    last_metadata_error_ = std::move(error);
    absl::MutexLock lock(&mu_);
    refresh_requested_ = true;
    return;
  }
  auto md = std::make_shared<const ClusterMetadata>(
      ClusterMetadata::FromResponse(*resp, io_metadata_.get()));
  io_metadata_ = md;
  last_metadata_error_.clear();
  RUNNEL_CLIENT_DEBUG(log_, kMetadata, "metadata",
                      {{"broker", std::to_string(raw->node_id)},
                       {"brokers", std::to_string(md->brokers.size())},
                       {"topics", std::to_string(resp->topics.size())}});
  bool retry = false;
  std::vector<std::shared_ptr<Listener>> call;
  {
    absl::MutexLock lock(&mu_);
    metadata_ = md;
    for (const auto& name : topics_) {
      const TopicMetadata* t = md->FindTopic(name);
      if (t == nullptr || TopicNeedsRetry(*t)) retry = true;
    }
    if (retry) refresh_requested_ = true;
    metadata_changed_.SignalAll();
    for (auto& [id, l] : listeners_) call.push_back(l);
  }
  next_metadata_ = now + options_.metadata_max_age;
  // Listeners run without the lock: they may call back into the core.
  for (auto& l : call) (*l)(md);
}

}  // namespace runnel::client
