// BrokerContext: what request handlers share (configuration, topics, the
// router for ApiVersions, a timer thread for long polls). Owned by the
// Broker; handlers hold a pointer to it and never outlive it.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "broker/router.h"
#include "broker/topic_registry.h"
#include "lib/broker/group/timer_service.h"
#include "runnel/broker.h"

namespace runnel::broker {

class ProducerIdManager;  // producer_ids.h

struct BrokerConfig {
  int32_t node_id = 0;
  // What Metadata tells clients to connect to (advertised.listeners).
  std::string advertised_host = "127.0.0.1";
  int32_t advertised_port = 9092;
  std::string cluster_id;
  // num.partitions: partitions of an auto-created topic.
  int32_t num_partitions = 1;
  // default.replication.factor; only 1 is possible on one node.
  int16_t default_replication_factor = 1;
  // auto.create.topics.enable: Metadata and Produce create unknown topics.
  bool auto_create_topics = true;
  // message.max.bytes: the largest record batch a produce may append.
  int32_t message_max_bytes = 1024 * 1024 + 12;
  // producer.id.expiration.ms: a partition forgets an idempotent producer
  // whose last batch is this much older than the clock (Kafka 3.4+: 1 day).
  int64_t producer_id_expiration_ms = 24 * 60 * 60 * 1000;
  // max.incremental.fetch.session.cache.slots: fetch sessions (KIP-227) the
  // broker keeps at once; 0 turns them off.
  int32_t fetch_session_cache_slots = 1000;
};

struct BrokerContext {
  BrokerConfig config;
  TopicRegistry* topics = nullptr;
  RequestRouter* router = nullptr;
  group::TimerService* timers = nullptr;
  // Consulted on create, produce and fetch (extensions.h); nullptr allows all.
  TopicPolicy* topic_policy = nullptr;
  ProducerIdManager* producer_ids = nullptr;  // InitProducerId
  // The broker's statically set configs (server.properties keys and the
  // flags behind listeners, log.dirs and node.id), for DescribeConfigs.
  std::map<std::string, std::string> static_configs;
};

// Registers the handlers for the APIs in handlers/*.cc with ctx->router.
void RegisterMetadataHandlers(BrokerContext* ctx);  // ApiVersions, Metadata, DescribeCluster
void RegisterProduceHandler(BrokerContext* ctx);
void RegisterFetchHandler(BrokerContext* ctx);
void RegisterListOffsetsHandler(BrokerContext* ctx);
void RegisterDeleteRecordsHandler(BrokerContext* ctx);
// DescribeConfigs, AlterConfigs, IncrementalAlterConfigs.
void RegisterConfigHandlers(BrokerContext* ctx);
void RegisterTopicAdminHandlers(BrokerContext* ctx);  // CreateTopics, DeleteTopics, CreatePartitions
void RegisterInitProducerIdHandler(BrokerContext* ctx);  // needs ctx->producer_ids

}  // namespace runnel::broker
