#include "broker/config_catalog.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace runnel::broker {
namespace {

struct TopicKey {
  const char* name;
  // The server.properties key that sets the broker-wide default (Kafka's
  // synonym; the first of several where Kafka has more, e.g. log.roll.ms
  // before log.roll.hours).
  const char* broker_key;
  ConfigType type;
  const char* doc;
};

// Every key storage::LogOptions accepts (LogOptions::ToProperties), with
// Kafka's broker-level synonym.
constexpr TopicKey kTopicKeys[] = {
    {"cleanup.policy", "log.cleanup.policy", ConfigType::kList,
     "delete (drop old segments by retention), compact (keep the latest record per key), or "
     "both"},
    {"delete.retention.ms", "log.cleaner.delete.retention.ms", ConfigType::kLong,
     "How long compaction keeps tombstones, so consumers that lag see the deletion"},
    {"file.delete.delay.ms", "log.segment.delete.delay.ms", ConfigType::kLong,
     "How long a deleted segment's files stay before they are removed"},
    {"flush.messages", "log.flush.interval.messages", ConfigType::kLong,
     "fsync after this many messages"},
    {"flush.ms", "log.flush.interval.ms", ConfigType::kLong,
     "fsync when the oldest unflushed data is this old"},
    {"index.interval.bytes", "log.index.interval.bytes", ConfigType::kInt,
     "An offset index entry every this many bytes"},
    {"max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", ConfigType::kLong,
     "The longest a record stays uncompacted"},
    {"max.message.bytes", "message.max.bytes", ConfigType::kInt,
     "The largest record batch the topic accepts"},
    {"message.timestamp.type", "log.message.timestamp.type", ConfigType::kString,
     "CreateTime (the producer's) or LogAppendTime (the broker's)"},
    {"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", ConfigType::kDouble,
     "Compact once this share of the log is uncompacted"},
    {"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", ConfigType::kLong,
     "Records younger than this are never compacted"},
    {"retention.bytes", "log.retention.bytes", ConfigType::kLong,
     "Delete the oldest segments while a partition is larger than this; -1: no limit"},
    {"retention.ms", "log.retention.ms", ConfigType::kLong,
     "Delete segments whose newest record is older than this; -1: keep forever"},
    {"segment.bytes", "log.segment.bytes", ConfigType::kInt, "The size of a segment file"},
    {"segment.index.bytes", "log.index.size.max.bytes", ConfigType::kInt,
     "The size of each segment's offset and time index"},
    {"segment.ms", "log.roll.ms", ConfigType::kLong,
     "Roll a segment when its first record is this old"},
};

struct BrokerKey {
  const char* name;
  const char* default_value;
  ConfigType type;
};

// Broker keys that are not topic-config synonyms, with this broker's
// defaults (Kafka's, except where one node forces another value).
constexpr BrokerKey kBrokerKeys[] = {
    {"auto.create.topics.enable", "true", ConfigType::kBoolean},
    {"connections.max.idle.ms", "600000", ConfigType::kLong},
    {"default.replication.factor", "1", ConfigType::kInt},
    {"group.initial.rebalance.delay.ms", "3000", ConfigType::kInt},
    {"listeners", "PLAINTEXT://127.0.0.1:9092", ConfigType::kString},
    {"log.dirs", "./data", ConfigType::kString},
    {"node.id", "0", ConfigType::kInt},
    {"num.partitions", "1", ConfigType::kInt},
    {"offsets.retention.minutes", "10080", ConfigType::kInt},
    {"offsets.topic.replication.factor", "1", ConfigType::kShort},
    {"socket.request.max.bytes", "104857600", ConfigType::kInt},
};

const std::map<std::string, std::string>& BuiltinTopicDefaults() {
  static const auto* d =
      new std::map<std::string, std::string>(storage::LogOptions{}.ToProperties());
  return *d;
}

std::string Lookup(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

bool IsSensitive(const std::string& name) {
  return name.find("password") != std::string::npos || name.find("jaas") != std::string::npos;
}

}  // namespace

bool IsListConfig(const std::string& topic_key) {
  for (const TopicKey& k : kTopicKeys) {
    if (topic_key == k.name) return k.type == ConfigType::kList;
  }
  return false;
}

absl::Status ValidateTopicConfigs(const std::map<std::string, std::string>& overrides,
                                  const storage::LogOptions& defaults) {
  return storage::LogOptions::FromProperties(overrides, defaults).status();
}

std::vector<ConfigEntry> DescribeTopicConfigs(const std::map<std::string, std::string>& overrides,
                                              const std::map<std::string, std::string>& server) {
  std::vector<ConfigEntry> out;
  for (const TopicKey& k : kTopicKeys) {
    ConfigEntry e;
    e.name = k.name;
    e.type = k.type;
    e.documentation = k.doc;
    if (auto it = overrides.find(k.name); it != overrides.end()) {
      e.synonyms.push_back({k.name, it->second, ConfigSource::kTopic});
    }
    if (auto it = server.find(k.broker_key); it != server.end()) {
      e.synonyms.push_back({k.broker_key, it->second, ConfigSource::kStaticBroker});
    }
    e.synonyms.push_back(
        {k.broker_key, Lookup(BuiltinTopicDefaults(), k.name), ConfigSource::kDefault});
    e.value = e.synonyms.front().value;
    e.source = e.synonyms.front().source;
    out.push_back(std::move(e));
  }
  // Overrides the engine does not know cannot be stored (validation refuses
  // them), so nothing else to list.
  return out;
}

std::vector<ConfigEntry> DescribeBrokerConfigs(const std::map<std::string, std::string>& server) {
  std::map<std::string, ConfigEntry> by_name;
  auto add = [&](const std::string& name, const std::string& def, ConfigType type) {
    ConfigEntry e;
    e.name = name;
    e.type = type;
    e.read_only = true;
    if (auto it = server.find(name); it != server.end()) {
      e.synonyms.push_back({name, it->second, ConfigSource::kStaticBroker});
    }
    e.synonyms.push_back({name, def, ConfigSource::kDefault});
    e.value = e.synonyms.front().value;
    e.source = e.synonyms.front().source;
    by_name[name] = std::move(e);
  };
  for (const BrokerKey& k : kBrokerKeys) add(k.name, k.default_value, k.type);
  for (const TopicKey& k : kTopicKeys) {
    add(k.broker_key, Lookup(BuiltinTopicDefaults(), k.name), k.type);
    by_name[k.broker_key].documentation = absl::StrCat("The default ", k.name, " of topics");
  }
  // Keys set in server.properties that the lists above do not name (newer
  // keys the broker accepts) still show, with what was set.
  for (const auto& [name, value] : server) {
    if (by_name.contains(name)) continue;
    ConfigEntry e;
    e.name = name;
    e.value = value;
    e.source = ConfigSource::kStaticBroker;
    e.read_only = true;
    e.synonyms.push_back({name, value, ConfigSource::kStaticBroker});
    by_name[name] = std::move(e);
  }
  std::vector<ConfigEntry> out;
  for (auto& [name, e] : by_name) {
    // Never echo secrets; Kafka answers null for sensitive values.
    e.sensitive = IsSensitive(name);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace runnel::broker
