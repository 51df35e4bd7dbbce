// ApiVersions, Metadata and DescribeCluster: what clients ask first. One
// broker is the leader, sole replica and controller of everything.
#include <utility>

#include "broker/broker_context.h"
#include "broker/encode.h"
#include "broker/extensions.h"
#include "runnel/protocol/messages/api_versions.h"
#include "runnel/protocol/messages/describe_cluster.h"
#include "runnel/protocol/messages/metadata.h"

namespace runnel::broker {
namespace {

using protocol::ErrorCode;

void HandleApiVersions(BrokerContext* ctx, const Request& request, Respond respond) {
  protocol::ApiVersionsResponse resp;
  // The request body is not needed (client software name/version are only
  // informational), and a v3 body we cannot decode must still get our ranges.
  for (const ApiRange& r : ctx->router->Ranges()) {
    resp.api_keys.push_back({r.api_key, r.min_version, r.max_version, {}});
  }
  respond(EncodeResponse(request, resp));
}

protocol::MetadataResponse::MetadataResponseTopic DescribeTopic(const BrokerContext& ctx,
                                                                const Topic& topic) {
  protocol::MetadataResponse::MetadataResponseTopic t;
  t.name = topic.name;
  t.topic_id = topic.id;
  t.is_internal = !topic.name.empty() && topic.name[0] == '_' &&
                  (topic.name == "__consumer_offsets" || topic.name == "__transaction_state");
  for (const auto& p : topic.partitions) {
    protocol::MetadataResponse::MetadataResponsePartition mp;
    mp.partition_index = p->index;
    mp.leader_id = ctx.config.node_id;
    mp.leader_epoch = 0;
    mp.replica_nodes = {ctx.config.node_id};
    mp.isr_nodes = {ctx.config.node_id};
    t.partitions.push_back(std::move(mp));
  }
  return t;
}

void HandleMetadata(BrokerContext* ctx, const Request& request, Respond respond) {
  absl::StatusOr<protocol::MetadataRequest> req = DecodeBody<protocol::MetadataRequest>(request);
  if (!req.ok()) return respond(req.status());
  protocol::MetadataResponse resp;
  resp.brokers.push_back({ctx->config.node_id, ctx->config.advertised_host,
                          ctx->config.advertised_port, std::nullopt, {}});
  resp.cluster_id = ctx->config.cluster_id;
  resp.controller_id = ctx->config.node_id;
  // Version 0 has no null: an empty list means all topics there.
  bool all = !req->topics.has_value() || (request.header.api_version == 0 && req->topics->empty());
  if (all) {
    for (const auto& topic : ctx->topics->List()) resp.topics.push_back(DescribeTopic(*ctx, *topic));
  } else {
    // Before v4 there is no allow_auto_topic_creation field; it defaults to true.
    bool create = ctx->config.auto_create_topics && req->allow_auto_topic_creation;
    for (const auto& wanted : *req->topics) {
      std::string name = wanted.name.value_or("");
      std::shared_ptr<const Topic> topic = name.empty() ? nullptr : ctx->topics->Find(name);
      if (topic == nullptr && !wanted.topic_id.IsZero()) {
        for (const auto& t : ctx->topics->List()) {
          if (t->id == wanted.topic_id) topic = t;
        }
      }
      if (topic == nullptr && create && !name.empty() &&
          CheckTopicPolicy(*ctx, request, TopicOperation::kCreate, name).ok()) {
        TopicError e = ctx->topics->Create(name, ctx->config.num_partitions, {}, false);
        topic = ctx->topics->Find(name);
        if (topic == nullptr) {
          protocol::MetadataResponse::MetadataResponseTopic t;
          t.name = name;
          t.error_code = static_cast<int16_t>(e.code);
          resp.topics.push_back(std::move(t));
          continue;
        }
      }
      if (topic == nullptr) {
        protocol::MetadataResponse::MetadataResponseTopic t;
        t.name = wanted.name;
        t.topic_id = wanted.topic_id;
        t.error_code = static_cast<int16_t>(
            name.empty() ? ErrorCode::kUnknownTopicId : ErrorCode::kUnknownTopicOrPartition);
        resp.topics.push_back(std::move(t));
        continue;
      }
      resp.topics.push_back(DescribeTopic(*ctx, *topic));
    }
  }
  respond(EncodeResponse(request, resp));
}

void HandleDescribeCluster(BrokerContext* ctx, const Request& request, Respond respond) {
  absl::StatusOr<protocol::DescribeClusterRequest> req =
      DecodeBody<protocol::DescribeClusterRequest>(request);
  if (!req.ok()) return respond(req.status());
  protocol::DescribeClusterResponse resp;
  resp.endpoint_type = req->endpoint_type;
  resp.cluster_id = ctx->config.cluster_id;
  resp.controller_id = ctx->config.node_id;
  resp.brokers.push_back({ctx->config.node_id, ctx->config.advertised_host,
                          ctx->config.advertised_port, std::nullopt, {}});
  respond(EncodeResponse(request, resp));
}

}  // namespace

void RegisterMetadataHandlers(BrokerContext* ctx) {
  ctx->router->Register(protocol::ApiVersionsRequest::kApiKey, 0, 3,
                        [ctx](const Request& r, Respond d) { HandleApiVersions(ctx, r, std::move(d)); });
  // From v0, as Kafka 3.x: kafka-python 2.0.2 guesses the broker's version
  // by sending Metadata v0 right behind ApiVersions, and a broker that
  // closes the connection on it loses the ApiVersions answer too.
  ctx->router->Register(protocol::MetadataRequest::kApiKey, 0, 12,
                        [ctx](const Request& r, Respond d) { HandleMetadata(ctx, r, std::move(d)); });
  ctx->router->Register(
      protocol::DescribeClusterRequest::kApiKey, 0, 1,
      [ctx](const Request& r, Respond d) { HandleDescribeCluster(ctx, r, std::move(d)); });
}

}  // namespace runnel::broker
