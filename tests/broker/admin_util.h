// Raw-request helpers shared by the admin API tests (configs, delete
// records, list offsets, bad input): create a topic, produce a batch,
// fetch, describe and alter configs, each one request and its response.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "broker_fixture.h"
#include "raw_client.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/alter_configs.h"
#include "runnel/protocol/messages/create_topics.h"
#include "runnel/protocol/messages/describe_configs.h"
#include "runnel/protocol/messages/fetch.h"
#include "runnel/protocol/messages/incremental_alter_configs.h"
#include "runnel/protocol/messages/produce.h"

namespace runnel::broker::testing {

inline int16_t Code(protocol::ErrorCode c) { return static_cast<int16_t>(c); }

inline int16_t CreateTopicWith(RawClient& c, const std::string& name, int32_t partitions,
                               std::map<std::string, std::string> configs = {}) {
  protocol::CreateTopicsRequest req;
  protocol::CreateTopicsRequest::CreatableTopic t;
  t.name = name;
  t.num_partitions = partitions;
  t.replication_factor = -1;
  for (const auto& [k, v] : configs) t.configs.push_back({k, v, {}});
  req.topics.push_back(t);
  c.Send(req, 7, 1001);
  return c.Receive<protocol::CreateTopicsResponse>(7, 1001).topics.at(0).error_code;
}

inline protocol::ProduceResponse::PartitionProduceResponse ProduceOne(RawClient& c,
                                                                      const std::string& topic,
                                                                      int32_t partition,
                                                                      std::vector<uint8_t> batch) {
  protocol::ProduceRequest req;
  req.acks = -1;
  req.timeout_ms = 1000;
  protocol::ProduceRequest::TopicProduceData td;
  td.name = topic;
  td.partition_data.push_back({partition, std::move(batch), {}});
  req.topic_data.push_back(std::move(td));
  c.Send(req, 9, 1002);
  auto resp = c.Receive<protocol::ProduceResponse>(9, 1002);
  REQUIRE(resp.responses.size() == 1);
  REQUIRE(resp.responses[0].partition_responses.size() == 1);
  return resp.responses[0].partition_responses[0];
}

inline protocol::FetchResponse::PartitionData FetchOne(RawClient& c, const std::string& topic,
                                                       int32_t partition, int64_t offset) {
  protocol::FetchRequest req;
  req.max_wait_ms = 0;
  req.min_bytes = 1;
  protocol::FetchRequest::FetchTopic ft;
  ft.topic = topic;
  protocol::FetchRequest::FetchPartition fp;
  fp.partition = partition;
  fp.fetch_offset = offset;
  fp.partition_max_bytes = 1 << 20;
  ft.partitions.push_back(fp);
  req.topics.push_back(ft);
  c.Send(req, 12, 1003);
  auto resp = c.Receive<protocol::FetchResponse>(12, 1003);
  REQUIRE(resp.responses.size() == 1);
  REQUIRE(resp.responses[0].partitions.size() == 1);
  return resp.responses[0].partitions[0];
}

inline protocol::DescribeConfigsResponse::DescribeConfigsResult DescribeConfigs(
    RawClient& c, int8_t type, const std::string& name, bool synonyms = true, int16_t version = 4,
    std::optional<std::vector<std::string>> keys = std::nullopt, bool documentation = false) {
  protocol::DescribeConfigsRequest req;
  req.resources.push_back({type, name, std::move(keys), {}});
  req.include_synonyms = synonyms;
  req.include_documentation = documentation;
  c.Send(req, version, 1004);
  auto resp = c.Receive<protocol::DescribeConfigsResponse>(version, 1004);
  REQUIRE(resp.results.size() == 1);
  return resp.results[0];
}

// The entry for `key`, which must be there.
inline protocol::DescribeConfigsResponse::DescribeConfigsResourceResult ConfigEntryOf(
    const protocol::DescribeConfigsResponse::DescribeConfigsResult& r, const std::string& key) {
  for (const auto& c : r.configs) {
    if (c.name == key) return c;
  }
  FAIL("no config entry " << key);
  return {};
}

inline protocol::AlterConfigsResponse::AlterConfigsResourceResponse AlterConfigs(
    RawClient& c, int8_t type, const std::string& name,
    const std::vector<std::pair<std::string, std::optional<std::string>>>& configs,
    bool validate_only = false, int16_t version = 2) {
  protocol::AlterConfigsRequest req;
  protocol::AlterConfigsRequest::AlterConfigsResource res;
  res.resource_type = type;
  res.resource_name = name;
  for (const auto& [k, v] : configs) res.configs.push_back({k, v, {}});
  req.resources.push_back(res);
  req.validate_only = validate_only;
  c.Send(req, version, 1005);
  auto resp = c.Receive<protocol::AlterConfigsResponse>(version, 1005);
  REQUIRE(resp.responses.size() == 1);
  return resp.responses[0];
}

struct Op {
  std::string key;
  int8_t op;  // 0 set, 1 delete, 2 append, 3 subtract
  std::optional<std::string> value;
};

inline protocol::IncrementalAlterConfigsResponse::AlterConfigsResourceResponse IncrementalAlter(
    RawClient& c, int8_t type, const std::string& name, const std::vector<Op>& ops,
    bool validate_only = false, int16_t version = 1) {
  protocol::IncrementalAlterConfigsRequest req;
  protocol::IncrementalAlterConfigsRequest::AlterConfigsResource res;
  res.resource_type = type;
  res.resource_name = name;
  for (const Op& o : ops) res.configs.push_back({o.key, o.op, o.value, {}});
  req.resources.push_back(res);
  req.validate_only = validate_only;
  c.Send(req, version, 1006);
  auto resp = c.Receive<protocol::IncrementalAlterConfigsResponse>(version, 1006);
  REQUIRE(resp.responses.size() == 1);
  return resp.responses[0];
}

}  // namespace runnel::broker::testing
