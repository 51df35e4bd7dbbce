// runnel::Admin: topic changes (CreateTopics, DeleteTopics,
// CreatePartitions) and configs (DescribeConfigs, AlterConfigs,
// IncrementalAlterConfigs), sent to the controller (configs of a broker
// resource to that broker).
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/admin_impl.h"
#include "runnel/common/status_macros.h"
#include "runnel/protocol/messages/alter_configs.h"
#include "runnel/protocol/messages/create_partitions.h"
#include "runnel/protocol/messages/create_topics.h"
#include "runnel/protocol/messages/delete_topics.h"
#include "runnel/protocol/messages/describe_configs.h"
#include "runnel/protocol/messages/incremental_alter_configs.h"

namespace runnel::client {
namespace {

using protocol::ErrorCode;

int32_t TimeoutMs(absl::Duration d) { return static_cast<int32_t>(absl::ToInt64Milliseconds(d)); }

std::string TopicContext(const std::string& name) { return absl::StrCat("topic '", name, "'"); }

std::string ResourceContext(ConfigResourceType type, const std::string& name) {
  return absl::StrCat(type == ConfigResourceType::kBroker ? "broker '" : "topic '", name, "'");
}

template <typename Response>
bool AnyNotController(const Response& r) {
  if constexpr (requires { r.topics; }) {
    for (const auto& t : r.topics) {
      if (t.error_code == static_cast<int16_t>(ErrorCode::kNotController)) return true;
    }
  } else if constexpr (requires { r.responses; }) {
    for (const auto& t : r.responses) {
      if (t.error_code == static_cast<int16_t>(ErrorCode::kNotController)) return true;
    }
  } else {
    for (const auto& t : r.results) {
      if (t.error_code == static_cast<int16_t>(ErrorCode::kNotController)) return true;
    }
  }
  return false;
}

// Where a config request for `resource` goes: a broker resource to that
// broker (only it knows its own configs), topics to the controller.
absl::StatusOr<std::optional<int32_t>> BrokerNodeOf(const ConfigResource& r) {
  if (r.type != ConfigResourceType::kBroker) return std::optional<int32_t>();
  int32_t id = 0;
  if (r.name.empty()) return std::optional<int32_t>();  // the cluster default: any broker
  if (!absl::SimpleAtoi(r.name, &id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("broker config resource '", r.name, "' is not a broker id"));
  }
  return std::optional<int32_t>(id);
}

}  // namespace

absl::StatusOr<std::vector<TopicResult>> AdminImpl::CreateTopics(
    const std::vector<NewTopic>& topics, bool validate_only) {
  protocol::CreateTopicsRequest req;
  req.timeout_ms = TimeoutMs(options_.operation_timeout);
  req.validate_only = validate_only;
  for (const NewTopic& t : topics) {
    protocol::CreateTopicsRequest::CreatableTopic ct;
    ct.name = t.name;
    ct.num_partitions = t.partitions;
    ct.replication_factor = t.replication_factor;
    for (const auto& [p, brokers] : t.replica_assignment) {
      protocol::CreateTopicsRequest::CreatableReplicaAssignment a;
      a.partition_index = p;
      a.broker_ids = brokers;
      ct.assignments.push_back(std::move(a));
    }
    for (const auto& [k, v] : t.configs) {
      protocol::CreateTopicsRequest::CreatableTopicConfig c;
      c.name = k;
      c.value.emplace(v);
      ct.configs.push_back(std::move(c));
    }
    req.topics.push_back(std::move(ct));
  }
  RUNNEL_ASSIGN_OR_RETURN(
      auto reply, CallController<protocol::CreateTopicsResponse>(
                      req, "CreateTopics", &AnyNotController<protocol::CreateTopicsResponse>));
  std::vector<TopicResult> out;
  for (const auto& r : reply.response.topics) {
    TopicResult t;
    t.name = r.name;
    t.status = ItemStatus(r.error_code, r.error_message, TopicContext(r.name));
    if (!r.topic_id.IsZero()) t.topic_id = r.topic_id.ToString();
    t.partitions = r.num_partitions;
    t.replication_factor = r.replication_factor;
    if (r.configs.has_value()) {
      for (const auto& c : *r.configs) {
        if (c.value.has_value()) t.configs[c.name] = *c.value;
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

absl::StatusOr<std::vector<TopicResult>> AdminImpl::DeleteTopics(
    const std::vector<std::string>& topics) {
  protocol::DeleteTopicsRequest req;
  req.timeout_ms = TimeoutMs(options_.operation_timeout);
  req.topic_names = topics;          // v1-5
  for (const auto& name : topics) {  // v6+
    protocol::DeleteTopicsRequest::DeleteTopicState s;
    s.name.emplace(name);
    req.topics.push_back(std::move(s));
  }
  RUNNEL_ASSIGN_OR_RETURN(
      auto reply, CallController<protocol::DeleteTopicsResponse>(
                      req, "DeleteTopics", &AnyNotController<protocol::DeleteTopicsResponse>));
  std::vector<TopicResult> out;
  for (const auto& r : reply.response.responses) {
    TopicResult t;
    t.name = r.name.value_or("");
    t.status = ItemStatus(r.error_code, r.error_message, TopicContext(t.name));
    if (!r.topic_id.IsZero()) t.topic_id = r.topic_id.ToString();
    out.push_back(std::move(t));
  }
  return out;
}

absl::StatusOr<std::vector<TopicResult>> AdminImpl::CreatePartitions(
    const std::map<std::string, int32_t>& total, bool validate_only) {
  protocol::CreatePartitionsRequest req;
  req.timeout_ms = TimeoutMs(options_.operation_timeout);
  req.validate_only = validate_only;
  for (const auto& [name, count] : total) {
    protocol::CreatePartitionsRequest::CreatePartitionsTopic t;
    t.name = name;
    t.count_ = count;
    req.topics.push_back(std::move(t));
  }
  RUNNEL_ASSIGN_OR_RETURN(auto reply, CallController<protocol::CreatePartitionsResponse>(
                                          req, "CreatePartitions",
                                          &AnyNotController<protocol::CreatePartitionsResponse>));
  std::vector<TopicResult> out;
  for (const auto& r : reply.response.results) {
    TopicResult t;
    t.name = r.name;
    t.status = ItemStatus(r.error_code, r.error_message, TopicContext(r.name));
    out.push_back(std::move(t));
  }
  return out;
}

absl::StatusOr<std::vector<ConfigResult>> AdminImpl::DescribeConfigs(
    const std::vector<ConfigResource>& resources, const std::vector<std::string>& keys,
    bool include_synonyms) {
  // One request per destination: each broker resource to its broker, the
  // topics together to the controller.
  std::map<std::optional<int32_t>, protocol::DescribeConfigsRequest> by_node;
  for (const ConfigResource& r : resources) {
    RUNNEL_ASSIGN_OR_RETURN(std::optional<int32_t> node, BrokerNodeOf(r));
    protocol::DescribeConfigsRequest& req = by_node[node];
    req.include_synonyms = include_synonyms;
    protocol::DescribeConfigsRequest::DescribeConfigsResource dr;
    dr.resource_type = static_cast<int8_t>(r.type);
    dr.resource_name = r.name;
    if (!keys.empty()) dr.configuration_keys.emplace(keys);
    req.resources.push_back(std::move(dr));
  }
  std::map<ConfigResource, ConfigResult> results;
  for (const auto& [node, req] : by_node) {
    absl::StatusOr<Reply<protocol::DescribeConfigsResponse>> reply =
        node.has_value()
            ? Call<protocol::DescribeConfigsResponse>(Target::Node(*node), req, "DescribeConfigs")
            : CallController<protocol::DescribeConfigsResponse>(req, "DescribeConfigs");
    if (!reply.ok()) return reply.status();
    for (const auto& r : reply->response.results) {
      ConfigResult c;
      c.resource =
          ConfigResource{static_cast<ConfigResourceType>(r.resource_type), r.resource_name};
      c.status = ItemStatus(r.error_code, r.error_message,
                            ResourceContext(c.resource.type, c.resource.name));
      for (const auto& e : r.configs) {
        ConfigEntry entry;
        entry.name = e.name;
        entry.value = e.value;
        entry.source = e.config_source < 0 ? ConfigSource::kUnknown
                                           : static_cast<ConfigSource>(e.config_source);
        entry.read_only = e.read_only;
        entry.is_sensitive = e.is_sensitive;
        for (const auto& s : e.synonyms) {
          entry.synonyms.push_back(
              ConfigSynonym{s.name, s.value, static_cast<ConfigSource>(s.source)});
        }
        c.entries.push_back(std::move(entry));
      }
      results[c.resource] = std::move(c);
    }
  }
  std::vector<ConfigResult> out;
  for (const ConfigResource& r : resources) {
    auto it = results.find(r);
    if (it != results.end()) {
      out.push_back(it->second);
    } else {
      ConfigResult missing;
      missing.resource = r;
      missing.status = absl::InternalError(
          absl::StrCat(ResourceContext(r.type, r.name), ": not in the broker's answer"));
      out.push_back(std::move(missing));
    }
  }
  return out;
}

namespace {

// Shared by AlterConfigs and IncrementalAlterConfigs: their responses have
// the same shape.
template <typename Response>
std::vector<ConfigResourceResult> AlterResults(const Response& resp) {
  std::vector<ConfigResourceResult> out;
  for (const auto& r : resp.responses) {
    ConfigResourceResult c;
    c.resource = ConfigResource{static_cast<ConfigResourceType>(r.resource_type), r.resource_name};
    c.status = ItemStatus(r.error_code, r.error_message,
                          ResourceContext(c.resource.type, c.resource.name));
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<ConfigResourceResult>> AdminImpl::AlterConfigs(
    const std::map<ConfigResource, std::map<std::string, std::string>>& configs,
    bool validate_only) {
  std::map<std::optional<int32_t>, protocol::AlterConfigsRequest> by_node;
  for (const auto& [res, kv] : configs) {
    RUNNEL_ASSIGN_OR_RETURN(std::optional<int32_t> node, BrokerNodeOf(res));
    protocol::AlterConfigsRequest& req = by_node[node];
    req.validate_only = validate_only;
    protocol::AlterConfigsRequest::AlterConfigsResource r;
    r.resource_type = static_cast<int8_t>(res.type);
    r.resource_name = res.name;
    for (const auto& [k, v] : kv) {
      protocol::AlterConfigsRequest::AlterableConfig c;
      c.name = k;
      c.value.emplace(v);
      r.configs.push_back(std::move(c));
    }
    req.resources.push_back(std::move(r));
  }
  std::vector<ConfigResourceResult> out;
  for (const auto& [node, req] : by_node) {
    absl::StatusOr<Reply<protocol::AlterConfigsResponse>> reply =
        node.has_value()
            ? Call<protocol::AlterConfigsResponse>(Target::Node(*node), req, "AlterConfigs")
            : CallController<protocol::AlterConfigsResponse>(
                  req, "AlterConfigs", &AnyNotController<protocol::AlterConfigsResponse>);
    if (!reply.ok()) return reply.status();
    for (auto& r : AlterResults(reply->response)) out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<std::vector<ConfigResourceResult>> AdminImpl::IncrementalAlterConfigs(
    const std::map<ConfigResource, std::vector<AlterConfigOp>>& ops, bool validate_only) {
  std::map<std::optional<int32_t>, protocol::IncrementalAlterConfigsRequest> by_node;
  for (const auto& [res, list] : ops) {
    RUNNEL_ASSIGN_OR_RETURN(std::optional<int32_t> node, BrokerNodeOf(res));
    protocol::IncrementalAlterConfigsRequest& req = by_node[node];
    req.validate_only = validate_only;
    protocol::IncrementalAlterConfigsRequest::AlterConfigsResource r;
    r.resource_type = static_cast<int8_t>(res.type);
    r.resource_name = res.name;
    for (const AlterConfigOp& op : list) {
      protocol::IncrementalAlterConfigsRequest::AlterableConfig c;
      c.name = op.name;
      c.config_operation = static_cast<int8_t>(op.op);
      c.value = op.value;
      r.configs.push_back(std::move(c));
    }
    req.resources.push_back(std::move(r));
  }
  std::vector<ConfigResourceResult> out;
  for (const auto& [node, req] : by_node) {
    absl::StatusOr<Reply<protocol::IncrementalAlterConfigsResponse>> reply =
        node.has_value() ? Call<protocol::IncrementalAlterConfigsResponse>(
                               Target::Node(*node), req, "IncrementalAlterConfigs")
                         : CallController<protocol::IncrementalAlterConfigsResponse>(
                               req, "IncrementalAlterConfigs",
                               &AnyNotController<protocol::IncrementalAlterConfigsResponse>);
    if (!reply.ok()) return reply.status();
    for (auto& r : AlterResults(reply->response)) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace runnel::client
