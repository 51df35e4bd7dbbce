// CreateTopics, DeleteTopics and CreatePartitions on one node: replication
// factor 1 (or -1, the default) is all there is, and replica assignments
// may only name this broker.
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/broker_context.h"
#include "broker/encode.h"
#include "broker/extensions.h"
#include "runnel/protocol/messages/create_partitions.h"
#include "runnel/protocol/messages/create_topics.h"
#include "runnel/protocol/messages/delete_topics.h"

namespace runnel::broker {
namespace {

using protocol::ErrorCode;

TopicError CheckCreatable(const BrokerContext& ctx,
                          const protocol::CreateTopicsRequest::CreatableTopic& t,
                          int32_t* partitions) {
  *partitions = t.num_partitions == -1 ? ctx.config.num_partitions : t.num_partitions;
  if (!t.assignments.empty()) {
    *partitions = static_cast<int32_t>(t.assignments.size());
    for (const auto& a : t.assignments) {
      if (a.broker_ids.size() != 1 || a.broker_ids[0] != ctx.config.node_id) {
        return {ErrorCode::kInvalidReplicaAssignment,
                absl::StrCat("replica assignment may only name broker ", ctx.config.node_id)};
      }
    }
  }
  if (t.replication_factor != -1 && t.replication_factor != 1) {
    return {ErrorCode::kInvalidReplicationFactor,
            absl::StrCat("replication factor ", t.replication_factor,
                         " is larger than the 1 available broker")};
  }
  return {};
}

void HandleCreateTopics(BrokerContext* ctx, const Request& request, Respond respond) {
  absl::StatusOr<protocol::CreateTopicsRequest> req =
      DecodeBody<protocol::CreateTopicsRequest>(request);
  if (!req.ok()) return respond(req.status());
  protocol::CreateTopicsResponse resp;
  std::map<std::string, int> seen;
  for (const auto& t : req->topics) seen[t.name]++;
  for (const auto& t : req->topics) {
    protocol::CreateTopicsResponse::CreatableTopicResult r;
    r.name = t.name;
    r.error_message = std::nullopt;
    int32_t partitions = 0;
    TopicError e;
    if (seen[t.name] > 1) {
      e = {ErrorCode::kInvalidRequest, "topic named more than once in the request"};
    } else {
      e = CheckCreatable(*ctx, t, &partitions);
    }
    if (e.ok()) e = CheckTopicPolicy(*ctx, request, TopicOperation::kCreate, t.name);
    if (e.ok()) {
      std::map<std::string, std::string> configs;
      for (const auto& c : t.configs) {
        if (c.value.has_value()) configs[c.name] = *c.value;
      }
      e = ctx->topics->Create(t.name, partitions, configs, req->validate_only);
    }
    if (!e.ok()) {
      r.error_code = static_cast<int16_t>(e.code);
      r.error_message = e.message;
    } else {
      r.num_partitions = partitions;
      r.replication_factor = 1;
      if (auto topic = ctx->topics->Find(t.name); topic != nullptr) r.topic_id = topic->id;
      r.configs = std::vector<protocol::CreateTopicsResponse::CreatableTopicConfigs>{};
    }
    resp.topics.push_back(std::move(r));
  }
  respond(EncodeResponse(request, resp));
}

void HandleDeleteTopics(BrokerContext* ctx, const Request& request, Respond respond) {
  absl::StatusOr<protocol::DeleteTopicsRequest> req =
      DecodeBody<protocol::DeleteTopicsRequest>(request);
  if (!req.ok()) return respond(req.status());
  std::vector<protocol::DeleteTopicsRequest::DeleteTopicState> wanted = req->topics;
  for (const auto& name : req->topic_names) wanted.push_back({name, {}, {}});
  protocol::DeleteTopicsResponse resp;
  for (const auto& w : wanted) {
    protocol::DeleteTopicsResponse::DeletableTopicResult r;
    std::string name = w.name.value_or("");
    if (name.empty() && !w.topic_id.IsZero()) {
      for (const auto& t : ctx->topics->List()) {
        if (t->id == w.topic_id) name = t->name;
      }
    }
    r.name = w.name;
    r.topic_id = w.topic_id;
    TopicError e;
    if (name.empty()) {
      e = {ErrorCode::kUnknownTopicId, "no topic with this id"};
    } else {
      r.name = name;
      if (auto topic = ctx->topics->Find(name); topic != nullptr) r.topic_id = topic->id;
      e = ctx->topics->Delete(name);
    }
    if (!e.ok()) {
      r.error_code = static_cast<int16_t>(e.code);
      r.error_message = e.message;
    }
    resp.responses.push_back(std::move(r));
  }
  respond(EncodeResponse(request, resp));
}

void HandleCreatePartitions(BrokerContext* ctx, const Request& request, Respond respond) {
  absl::StatusOr<protocol::CreatePartitionsRequest> req =
      DecodeBody<protocol::CreatePartitionsRequest>(request);
  if (!req.ok()) return respond(req.status());
  protocol::CreatePartitionsResponse resp;
  for (const auto& t : req->topics) {
    protocol::CreatePartitionsResponse::CreatePartitionsTopicResult r;
    r.name = t.name;
    TopicError e = ctx->topics->AddPartitions(t.name, t.count_, req->validate_only);
    if (!e.ok()) {
      r.error_code = static_cast<int16_t>(e.code);
      r.error_message = e.message;
    }
    resp.results.push_back(std::move(r));
  }
  respond(EncodeResponse(request, resp));
}

}  // namespace

void RegisterTopicAdminHandlers(BrokerContext* ctx) {
  ctx->router->Register(protocol::CreateTopicsRequest::kApiKey, 2, 7,
                        [ctx](const Request& r, Respond d) { HandleCreateTopics(ctx, r, std::move(d)); });
  ctx->router->Register(protocol::DeleteTopicsRequest::kApiKey, 1, 6,
                        [ctx](const Request& r, Respond d) { HandleDeleteTopics(ctx, r, std::move(d)); });
  ctx->router->Register(
      protocol::CreatePartitionsRequest::kApiKey, 0, 3,
      [ctx](const Request& r, Respond d) { HandleCreatePartitions(ctx, r, std::move(d)); });
}

}  // namespace runnel::broker
