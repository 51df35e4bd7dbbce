// runnel::Admin: the factory, the routing helpers every operation uses
// (controller and coordinator look-ups, retries) and the operations answered
// from Metadata (ListTopics, DescribeTopics, DescribeCluster).
#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/admin_impl.h"
#include "runnel/common/status_macros.h"
#include "runnel/protocol/messages/find_coordinator.h"

namespace runnel {

const ConfigEntry* ConfigResult::Find(const std::string& name) const {
  for (const ConfigEntry& e : entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

absl::StatusOr<std::unique_ptr<Admin>> Admin::Create(const AdminOptions& options) {
  if (options.retries < 0) return absl::InvalidArgumentError("AdminOptions.retries must be >= 0");
  if (options.operation_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("AdminOptions.operation_timeout must be positive");
  }
  ClientOptions client = options.client;
  // Looking at a topic must never create it.
  client.allow_auto_create_topics = false;
  RUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<client::ClientCore> core,
                          client::ClientCore::Create(client));
  return std::unique_ptr<Admin>(new client::AdminImpl(options, std::move(core)));
}

namespace client {

absl::Status ItemStatus(int16_t error_code, const std::optional<std::string>& message,
                        const std::string& context) {
  if (error_code == 0) return absl::OkStatus();
  std::string ctx = context;
  if (message.has_value() && !message->empty()) absl::StrAppend(&ctx, " [", *message, "]");
  return protocol::ErrorCodeToStatus(static_cast<protocol::ErrorCode>(error_code), ctx);
}

AdminImpl::AdminImpl(const AdminOptions& options, std::unique_ptr<ClientCore> core)
    : options_(options), core_(std::move(core)) {}

AdminImpl::~AdminImpl() { core_->Shutdown(absl::Now() + absl::Seconds(5)); }

bool AdminImpl::IsRetriable(const absl::Status& s) {
  // Unavailable: a lost connection or a retriable Kafka error. A timed-out
  // request is not retried: the change may have been made.
  return absl::IsUnavailable(s);
}

bool AdminImpl::IsCoordinatorError(protocol::ErrorCode ec) {
  using protocol::ErrorCode;
  return ec == ErrorCode::kNotCoordinator || ec == ErrorCode::kCoordinatorLoadInProgress ||
         ec == ErrorCode::kCoordinatorNotAvailable;
}

absl::Status AdminImpl::Annotate(const absl::Status& s, const char* what) {
  absl::Status out(s.code(), absl::StrCat(what, ": ", std::string(s.message())));
  s.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

void AdminImpl::Backoff() const {
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(options_.client.retry_backoff));
}

absl::StatusOr<protocol::MetadataResponse> AdminImpl::FetchMetadata(
    const std::optional<std::vector<std::string>>& topics) {
  protocol::MetadataRequest req;
  req.topics.reset();  // null: every topic (the generated default is an empty list)
  if (topics.has_value()) {
    req.topics.emplace();
    for (const auto& t : *topics) {
      protocol::MetadataRequest::MetadataRequestTopic rt;
      rt.name.emplace(t);
      req.topics->push_back(std::move(rt));
    }
  }
  req.allow_auto_topic_creation = false;
  RequestOptions ro;
  ro.min_version = 1;  // v0 cannot ask for "no topics"; v1+ "null" means all
  absl::Status last;
  for (int attempt = 0; attempt <= options_.retries; ++attempt) {
    if (attempt > 0) Backoff();
    auto reply = core_->Call<protocol::MetadataResponse>(Target::AnyBroker(), req, ro).get();
    if (reply.ok()) return std::move(reply->response);
    last = Annotate(reply.status(), "Metadata");
    if (!IsRetriable(last)) break;
  }
  return last;
}

absl::StatusOr<Target> AdminImpl::Controller() {
  RUNNEL_ASSIGN_OR_RETURN(protocol::MetadataResponse md, FetchMetadata(std::vector<std::string>{}));
  for (const auto& b : md.brokers) {
    if (b.node_id == md.controller_id) return Target::Node(b.node_id);
  }
  return Target::AnyBroker();
}

absl::StatusOr<int32_t> AdminImpl::Coordinator(const std::string& group) {
  protocol::FindCoordinatorRequest req;
  req.key = group;
  req.key_type = 0;
  req.coordinator_keys = {group};
  const std::string what = absl::StrCat("FindCoordinator for group '", group, "'");
  RUNNEL_ASSIGN_OR_RETURN(
      auto reply, Call<protocol::FindCoordinatorResponse>(Target::AnyBroker(), req, what.c_str()));
  const auto& r = reply.response;
  int16_t error = r.error_code;
  int32_t node = r.node_id;
  std::optional<std::string> message = r.error_message;
  if (reply.api_version >= 4) {
    if (r.coordinators.empty()) return absl::UnavailableError(what + ": empty answer");
    error = r.coordinators[0].error_code;
    node = r.coordinators[0].node_id;
    message = r.coordinators[0].error_message;
  }
  RUNNEL_RETURN_IF_ERROR(ItemStatus(error, message, what));
  return node;
}

absl::StatusOr<std::vector<TopicListing>> AdminImpl::ListTopics(bool include_internal) {
  RUNNEL_ASSIGN_OR_RETURN(protocol::MetadataResponse md, FetchMetadata(std::nullopt));
  std::vector<TopicListing> out;
  for (const auto& t : md.topics) {
    if (!t.name.has_value() || (t.is_internal && !include_internal)) continue;
    out.push_back(TopicListing{*t.name, t.is_internal});
  }
  std::sort(out.begin(), out.end(),
            [](const TopicListing& a, const TopicListing& b) { return a.name < b.name; });
  return out;
}

absl::StatusOr<std::vector<TopicDescription>> AdminImpl::DescribeTopics(
    const std::vector<std::string>& topics) {
  RUNNEL_ASSIGN_OR_RETURN(protocol::MetadataResponse md, FetchMetadata(topics));
  std::vector<TopicDescription> out;
  for (const auto& name : topics) {
    TopicDescription d;
    d.name = name;
    auto it = std::find_if(md.topics.begin(), md.topics.end(),
                           [&](const auto& t) { return t.name == name; });
    if (it == md.topics.end()) {
      d.status = protocol::ErrorCodeToStatus(protocol::ErrorCode::kUnknownTopicOrPartition,
                                             absl::StrCat("topic '", name, "'"));
      out.push_back(std::move(d));
      continue;
    }
    d.status = ItemStatus(it->error_code, std::nullopt, absl::StrCat("topic '", name, "'"));
    d.is_internal = it->is_internal;
    if (!it->topic_id.IsZero()) d.topic_id = it->topic_id.ToString();
    for (const auto& p : it->partitions) {
      d.partitions.push_back(PartitionInfo{p.partition_index, p.leader_id, p.leader_epoch,
                                           p.replica_nodes, p.isr_nodes});
    }
    std::sort(
        d.partitions.begin(), d.partitions.end(),
        [](const PartitionInfo& a, const PartitionInfo& b) { return a.partition < b.partition; });
    out.push_back(std::move(d));
  }
  return out;
}

absl::StatusOr<ClusterDescription> AdminImpl::DescribeCluster() {
  // Metadata answers what DescribeCluster would (cluster id, controller,
  // brokers) and every Kafka version and mock serves it.
  RUNNEL_ASSIGN_OR_RETURN(protocol::MetadataResponse md, FetchMetadata(std::vector<std::string>{}));
  ClusterDescription c;
  c.cluster_id = md.cluster_id.value_or("");
  c.controller_id = md.controller_id;
  for (const auto& b : md.brokers)
    c.brokers.push_back(BrokerNode{b.node_id, b.host, b.port, b.rack});
  std::sort(c.brokers.begin(), c.brokers.end(),
            [](const BrokerNode& a, const BrokerNode& b) { return a.id < b.id; });
  return c;
}

}  // namespace client
}  // namespace runnel
