// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics (and
// DescribeConfigs for this broker's own, read-only, configs), with Kafka's
// answers:
//
// - A missing topic is UNKNOWN_TOPIC_OR_PARTITION; a key the engine does not
//   know or a bad value is INVALID_CONFIG whose message names the key and
//   says why; malformed requests (null values in AlterConfigs, a key twice,
//   an unknown operation, another broker's id) are INVALID_REQUEST.
// - AlterConfigs replaces a topic's whole set of overrides (keys left out go
//   back to the defaults); IncrementalAlterConfigs sets, deletes, appends to
//   or subtracts from single keys, APPEND/SUBTRACT only on list configs
//   (cleanup.policy).
// - validate_only checks everything and changes nothing.
// Changes go through TopicRegistry::AlterConfigs: metadata log first, then
// the live logs.
#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "broker/broker_context.h"
#include "broker/config_catalog.h"
#include "broker/encode.h"
#include "runnel/protocol/messages/alter_configs.h"
#include "runnel/protocol/messages/describe_configs.h"
#include "runnel/protocol/messages/incremental_alter_configs.h"

namespace runnel::broker {
namespace {

using protocol::ErrorCode;

constexpr int8_t kTopic = static_cast<int8_t>(ConfigResourceType::kTopic);
constexpr int8_t kBroker = static_cast<int8_t>(ConfigResourceType::kBroker);

// IncrementalAlterConfigs operations.
enum class Op : int8_t { kSet = 0, kDelete = 1, kAppend = 2, kSubtract = 3 };

TopicError BrokerResourceError(const BrokerContext& ctx, const std::string& name) {
  if (!name.empty() && name != absl::StrCat(ctx.config.node_id)) {
    return {ErrorCode::kInvalidRequest, absl::StrCat("unexpected broker id ", name, ", expected ",
                                                     ctx.config.node_id, " or an empty name")};
  }
  return {};
}

TopicError UnsupportedType(int8_t type) {
  return {ErrorCode::kInvalidRequest,
          absl::StrCat("resource type ", static_cast<int>(type),
                       " is not supported (only topics (2) and brokers (4))")};
}

// --- DescribeConfigs ---

using DescribeResult = protocol::DescribeConfigsResponse::DescribeConfigsResult;

DescribeResult Describe(BrokerContext* ctx, const protocol::DescribeConfigsRequest& req,
                        const protocol::DescribeConfigsRequest::DescribeConfigsResource& res,
                        int16_t version) {
  DescribeResult out;
  out.resource_type = res.resource_type;
  out.resource_name = res.resource_name;
  out.error_message = std::nullopt;
  std::vector<ConfigEntry> entries;
  TopicError e;
  if (res.resource_type == kTopic) {
    std::shared_ptr<const Topic> topic = ctx->topics->Find(res.resource_name);
    if (topic == nullptr) {
      e = {ErrorCode::kUnknownTopicOrPartition,
           absl::StrCat("topic '", res.resource_name, "' does not exist")};
    } else {
      entries = DescribeTopicConfigs(topic->configs, ctx->static_configs);
    }
  } else if (res.resource_type == kBroker) {
    e = BrokerResourceError(*ctx, res.resource_name);
    // An empty name asks for the cluster-wide dynamic defaults: there are none.
    if (e.ok() && !res.resource_name.empty()) entries = DescribeBrokerConfigs(ctx->static_configs);
  } else {
    e = UnsupportedType(res.resource_type);
  }
  if (!e.ok()) {
    out.error_code = static_cast<int16_t>(e.code);
    out.error_message = e.message;
    return out;
  }
  std::set<std::string> wanted;
  if (res.configuration_keys.has_value()) {
    wanted.insert(res.configuration_keys->begin(), res.configuration_keys->end());
  }
  for (const ConfigEntry& entry : entries) {
    // Null or empty: every key, as Kafka does.
    if (!wanted.empty() && !wanted.contains(entry.name)) continue;
    protocol::DescribeConfigsResponse::DescribeConfigsResourceResult c;
    c.name = entry.name;
    c.value =
        entry.sensitive ? std::optional<std::string>() : std::optional<std::string>(entry.value);
    c.read_only = entry.read_only;
    c.config_source = static_cast<int8_t>(entry.source);
    c.is_sensitive = entry.sensitive;
    if (req.include_synonyms) {
      for (const ConfigSynonym& s : entry.synonyms) {
        protocol::DescribeConfigsResponse::DescribeConfigsSynonym syn;
        syn.name = s.name;
        syn.value =
            entry.sensitive ? std::optional<std::string>() : std::optional<std::string>(s.value);
        syn.source = static_cast<int8_t>(s.source);
        c.synonyms.push_back(std::move(syn));
      }
    }
    c.config_type = static_cast<int8_t>(entry.type);
    if (version >= 3 && req.include_documentation && !entry.documentation.empty()) {
      c.documentation.emplace(entry.documentation);
    } else {
      c.documentation = std::nullopt;
    }
    out.configs.push_back(std::move(c));
  }
  return out;
}

void HandleDescribeConfigs(BrokerContext* ctx, const Request& request, Respond respond) {
  absl::StatusOr<protocol::DescribeConfigsRequest> req =
      DecodeBody<protocol::DescribeConfigsRequest>(request);
  if (!req.ok()) return respond(req.status());
  protocol::DescribeConfigsResponse resp;
  for (const auto& res : req->resources) {
    resp.results.push_back(Describe(ctx, *req, res, request.header.api_version));
  }
  respond(EncodeResponse(request, resp));
}

// --- AlterConfigs and IncrementalAlterConfigs ---

// A key named twice in one resource: Kafka refuses the resource.
template <typename Config>
TopicError CheckDuplicates(const std::vector<Config>& configs) {
  std::set<std::string> seen;
  for (const Config& c : configs) {
    if (!seen.insert(c.name).second) {
      return {ErrorCode::kInvalidRequest,
              absl::StrCat("config key '", c.name, "' appears more than once")};
    }
  }
  return {};
}

// What both alter APIs check before a resource's changes: a topic (broker
// configs are read-only here), each key once.
template <typename Resource>
TopicError CheckAlterable(BrokerContext* ctx, const Resource& res) {
  if (res.resource_type == kBroker) {
    if (TopicError e = BrokerResourceError(*ctx, res.resource_name); !e.ok()) return e;
    return {ErrorCode::kInvalidRequest,
            "broker configs cannot be changed at run time here: set them in server.properties "
            "and restart"};
  }
  if (res.resource_type != kTopic) return UnsupportedType(res.resource_type);
  return CheckDuplicates(res.configs);
}

TopicError AlterOne(BrokerContext* ctx,
                    const protocol::AlterConfigsRequest::AlterConfigsResource& res,
                    bool validate_only) {
  if (TopicError e = CheckAlterable(ctx, res); !e.ok()) return e;
  std::map<std::string, std::string> wanted;
  std::vector<std::string> nulls;
  for (const auto& c : res.configs) {
    if (!c.value.has_value()) {
      nulls.push_back(c.name);
    } else {
      wanted[c.name] = *c.value;
    }
  }
  if (!nulls.empty()) {
    return {ErrorCode::kInvalidRequest, absl::StrCat("null value not supported for topic configs: ",
                                                     absl::StrJoin(nulls, ","))};
  }
  return ctx->topics->AlterConfigs(
      res.resource_name,
      [&](std::map<std::string, std::string>* configs) {
        *configs = wanted;
        return TopicError{};
      },
      validate_only);
}

// `current` with the comma-separated items of `value` appended (those not
// already present) or subtracted.
std::string EditList(const std::string& current, const std::string& value, bool append) {
  std::vector<std::string> items;
  for (absl::string_view item : absl::StrSplit(current, ',', absl::SkipWhitespace())) {
    items.emplace_back(absl::StripAsciiWhitespace(item));
  }
  for (absl::string_view raw : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
    std::string item(absl::StripAsciiWhitespace(raw));
    auto it = std::find(items.begin(), items.end(), item);
    if (append && it == items.end()) items.push_back(item);
    if (!append) items.erase(std::remove(items.begin(), items.end(), item), items.end());
  }
  return absl::StrJoin(items, ",");
}

TopicError ApplyOp(BrokerContext* ctx,
                   const protocol::IncrementalAlterConfigsRequest::AlterableConfig& c,
                   std::map<std::string, std::string>* configs) {
  switch (static_cast<Op>(c.config_operation)) {
    case Op::kSet:
      if (!c.value.has_value()) {
        return {ErrorCode::kInvalidRequest,
                absl::StrCat("null value not supported for SET of '", c.name, "'")};
      }
      (*configs)[c.name] = *c.value;
      return {};
    case Op::kDelete:
      configs->erase(c.name);
      return {};
    case Op::kAppend:
    case Op::kSubtract: {
      const bool append = c.config_operation == static_cast<int8_t>(Op::kAppend);
      if (!IsListConfig(c.name)) {
        return {ErrorCode::kInvalidConfig,
                absl::StrCat("config value ", append ? "append" : "subtract",
                             " is not allowed for config key '", c.name, "': it is not a list")};
      }
      // The list in effect now: the override, else the broker's default.
      std::string current;
      for (const ConfigEntry& e : DescribeTopicConfigs(*configs, ctx->static_configs)) {
        if (e.name == c.name) current = e.value;
      }
      std::string edited = EditList(current, c.value.value_or(""), append);
      if (edited.empty()) {
        return {ErrorCode::kInvalidConfig, absl::StrCat("subtracting '", c.value.value_or(""),
                                                        "' leaves '", c.name, "' empty")};
      }
      (*configs)[c.name] = edited;
      return {};
    }
  }
  return {ErrorCode::kInvalidRequest,
          absl::StrCat("unknown config operation ", static_cast<int>(c.config_operation), " for '",
                       c.name, "'")};
}

TopicError IncrementalAlterOne(
    BrokerContext* ctx, const protocol::IncrementalAlterConfigsRequest::AlterConfigsResource& res,
    bool validate_only) {
  if (TopicError e = CheckAlterable(ctx, res); !e.ok()) return e;
  return ctx->topics->AlterConfigs(
      res.resource_name,
      [&](std::map<std::string, std::string>* configs) {
        for (const auto& c : res.configs) {
          if (TopicError e = ApplyOp(ctx, c, configs); !e.ok()) return e;
        }
        return TopicError{};
      },
      validate_only);
}

template <typename Result>
void SetError(const TopicError& e, Result* r) {
  r->error_code = static_cast<int16_t>(e.code);
  if (e.ok()) {
    r->error_message = std::nullopt;
  } else {
    r->error_message = e.message;
  }
}

// AlterConfigs and IncrementalAlterConfigs answer alike: each resource's
// type and name echoed with the error of `alter_one` for it.
template <typename Req, typename Resp, typename AlterOneFn>
void HandleAlter(BrokerContext* ctx, const Request& request, Respond respond,
                 AlterOneFn alter_one) {
  absl::StatusOr<Req> req = DecodeBody<Req>(request);
  if (!req.ok()) return respond(req.status());
  Resp resp;
  for (const auto& res : req->resources) {
    typename decltype(resp.responses)::value_type r;
    r.resource_type = res.resource_type;
    r.resource_name = res.resource_name;
    SetError(alter_one(ctx, res, req->validate_only), &r);
    resp.responses.push_back(std::move(r));
  }
  respond(EncodeResponse(request, resp));
}

}  // namespace

void RegisterConfigHandlers(BrokerContext* ctx) {
  ctx->router->Register(
      protocol::DescribeConfigsRequest::kApiKey, 1, 4,
      [ctx](const Request& r, Respond d) { HandleDescribeConfigs(ctx, r, std::move(d)); });
  ctx->router->Register(
      protocol::AlterConfigsRequest::kApiKey, 0, 2,
      [ctx](const Request& r, Respond d) {
        HandleAlter<protocol::AlterConfigsRequest, protocol::AlterConfigsResponse>(
            ctx, r, std::move(d), AlterOne);
      });
  ctx->router->Register(
      protocol::IncrementalAlterConfigsRequest::kApiKey, 0, 1,
      [ctx](const Request& r, Respond d) {
        HandleAlter<protocol::IncrementalAlterConfigsRequest,
                    protocol::IncrementalAlterConfigsResponse>(ctx, r, std::move(d),
                                                               IncrementalAlterOne);
      });
}

}  // namespace runnel::broker
