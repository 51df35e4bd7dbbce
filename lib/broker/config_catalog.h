// The configs DescribeConfigs reports and AlterConfigs changes, described
// as Kafka describes them: for each topic config its value, where the value
// comes from (the topic's own override, the broker's server.properties, or
// the built-in default) and the synonyms behind it in precedence order; for
// the broker resource the server properties, read-only here (a restart with
// a new server.properties changes them).
//
//   std::vector<ConfigEntry> entries =
//       DescribeTopicConfigs(topic->configs, ctx->static_configs);
//   for (const ConfigEntry& e : entries) { /* e.name, e.value, e.source */ }
//
// Topic keys are exactly those storage::LogOptions understands, so every
// value described can be set and every value set is enforced by the engine.
// Stateless; any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runnel/log_options.h"

namespace runnel::broker {

// Kafka's ConfigResource.Type (the resource_type field).
enum class ConfigResourceType : int8_t {
  kUnknown = 0,
  kTopic = 2,
  kBroker = 4,
  kBrokerLogger = 8,
};

// Kafka's DescribeConfigsResponse.ConfigSource.
enum class ConfigSource : int8_t {
  kUnknown = 0,
  kTopic = 1,          // DYNAMIC_TOPIC_CONFIG: the topic's own override
  kDynamicBroker = 2,  // DYNAMIC_BROKER_CONFIG (not used: no dynamic broker configs)
  kDynamicDefaultBroker = 3,
  kStaticBroker = 4,  // STATIC_BROKER_CONFIG: server.properties / flags
  kDefault = 5,       // DEFAULT_CONFIG: Kafka's built-in default
};

// Kafka's ConfigEntry.ConfigType (config_type, DescribeConfigs v3+).
enum class ConfigType : int8_t {
  kUnknown = 0,
  kBoolean = 1,
  kString = 2,
  kInt = 3,
  kShort = 4,
  kLong = 5,
  kDouble = 6,
  kList = 7,
};

struct ConfigSynonym {
  std::string name;
  std::string value;
  ConfigSource source = ConfigSource::kDefault;
};

struct ConfigEntry {
  std::string name;
  std::string value;
  ConfigSource source = ConfigSource::kDefault;
  bool read_only = false;
  // A secret: described without its value (null on the wire).
  bool sensitive = false;
  ConfigType type = ConfigType::kUnknown;
  std::string documentation;
  // The values that could apply, highest precedence first; the first is the
  // one in effect (Kafka's include_synonyms).
  std::vector<ConfigSynonym> synonyms;
};

// Every topic config of a topic whose overrides are `overrides`, given the
// broker's statically set properties `server` (server.properties keys:
// log.retention.ms, message.max.bytes, ...). Sorted by name.
std::vector<ConfigEntry> DescribeTopicConfigs(const std::map<std::string, std::string>& overrides,
                                              const std::map<std::string, std::string>& server);

// The broker's configs: the keys the broker knows with their defaults, and
// every key in `server` with its value (source STATIC_BROKER_CONFIG). All
// read-only. Sorted by name.
std::vector<ConfigEntry> DescribeBrokerConfigs(const std::map<std::string, std::string>& server);

// What a server.properties key that is a broker-level synonym of a topic
// config (log.retention.hours, log.segment.bytes, ...) sets: the topic key,
// and the value in its units (log.retention.hours=2 -> 7200000).
// `shadowed`: a synonym of higher precedence is also set (log.retention.ms
// over log.retention.hours), so Kafka ignores this one.
struct BrokerDefault {
  std::string topic_key;
  std::string value;
  bool shadowed = false;
};

// nullopt for keys that are no such synonym; InvalidArgument naming the key
// when a value in other units is not an integer. `server`: every key set.
absl::StatusOr<std::optional<BrokerDefault>> TopicDefaultFromBrokerKey(
    const std::string& key, const std::map<std::string, std::string>& server);

// True for topic configs whose value is a comma-separated list (the ones
// IncrementalAlterConfigs may APPEND to and SUBTRACT from).
bool IsListConfig(const std::string& topic_key);

// Checks a topic's complete set of overrides: every key known, every value
// valid. The InvalidArgument message says which key and why (for
// INVALID_CONFIG).
absl::Status ValidateTopicConfigs(const std::map<std::string, std::string>& overrides,
                                  const storage::LogOptions& defaults);

}  // namespace runnel::broker
