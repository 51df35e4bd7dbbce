#include "broker/config_catalog.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace runnel::broker {
namespace {

// A server.properties key that sets a topic config's broker-wide default,
// and how many of the topic key's units one of its own is (3600000 for
// log.retention.hours behind retention.ms).
struct BrokerSynonym {
  const char* name = nullptr;
  int64_t unit = 1;
};

struct TopicKey {
  const char* name;
  // Kafka's broker-level synonyms (ServerTopicConfigSynonyms), highest
  // precedence first: log.retention.ms, then .minutes, then .hours.
  BrokerSynonym broker_keys[3];
  ConfigType type;
  const char* doc;
  // Where Kafka's built-in default sits on a synonym in other units
  // (log.retention.hours=168), that synonym's index and value; else the
  // default is described on the first synonym, in the topic key's units.
  int default_synonym = 0;
  const char* default_value = nullptr;
};

constexpr int64_t kMinuteMs = 60 * 1000;
constexpr int64_t kHourMs = 60 * kMinuteMs;

// Every key storage::LogOptions accepts (LogOptions::ToProperties), with
// Kafka's broker-level synonyms.
constexpr TopicKey kTopicKeys[] = {
    {"cleanup.policy", {{"log.cleanup.policy"}}, ConfigType::kList,
     "delete (drop old segments by retention), compact (keep the latest record per key), or "
     "both"},
    {"delete.retention.ms", {{"log.cleaner.delete.retention.ms"}}, ConfigType::kLong,
     "How long compaction keeps tombstones, so consumers that lag see the deletion"},
    {"file.delete.delay.ms", {{"log.segment.delete.delay.ms"}}, ConfigType::kLong,
     "How long a deleted segment's files stay before they are removed"},
    {"flush.messages", {{"log.flush.interval.messages"}}, ConfigType::kLong,
     "fsync after this many messages"},
    {"flush.ms", {{"log.flush.interval.ms"}}, ConfigType::kLong,
     "fsync when the oldest unflushed data is this old"},
    {"index.interval.bytes", {{"log.index.interval.bytes"}}, ConfigType::kInt,
     "An offset index entry every this many bytes"},
    {"max.compaction.lag.ms", {{"log.cleaner.max.compaction.lag.ms"}}, ConfigType::kLong,
     "The longest a record stays uncompacted"},
    {"max.message.bytes", {{"message.max.bytes"}}, ConfigType::kInt,
     "The largest record batch the topic accepts"},
    {"message.timestamp.type", {{"log.message.timestamp.type"}}, ConfigType::kString,
     "CreateTime (the producer's) or LogAppendTime (the broker's)"},
    {"min.cleanable.dirty.ratio", {{"log.cleaner.min.cleanable.ratio"}}, ConfigType::kDouble,
     "Compact once this share of the log is uncompacted"},
    {"min.compaction.lag.ms", {{"log.cleaner.min.compaction.lag.ms"}}, ConfigType::kLong,
     "Records younger than this are never compacted"},
    {"retention.bytes", {{"log.retention.bytes"}}, ConfigType::kLong,
     "Delete the oldest segments while a partition is larger than this; -1: no limit"},
    {"retention.ms",
     {{"log.retention.ms"}, {"log.retention.minutes", kMinuteMs}, {"log.retention.hours", kHourMs}},
     ConfigType::kLong,
     "Delete segments whose newest record is older than this; -1: keep forever", 2, "168"},
    {"segment.bytes", {{"log.segment.bytes"}}, ConfigType::kInt, "The size of a segment file"},
    {"segment.index.bytes", {{"log.index.size.max.bytes"}}, ConfigType::kInt,
     "The size of each segment's offset and time index"},
    {"segment.ms", {{"log.roll.ms"}, {"log.roll.hours", kHourMs}}, ConfigType::kLong,
     "Roll a segment when its first record is this old", 1, "168"},
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

// `value` of `synonym` in the topic key's units; nullopt when it is not an
// integer or overflows. Negative times mean "no limit", -1 (Kafka's
// KafkaConfig.logRetentionTimeMillis).
std::optional<std::string> InTopicUnits(const BrokerSynonym& synonym, const std::string& value) {
  if (synonym.unit == 1) return value;
  int64_t v = 0;
  if (!absl::SimpleAtoi(value, &v)) return std::nullopt;
  if (v < 0) return std::string("-1");
  if (v > INT64_MAX / synonym.unit) return std::nullopt;
  return absl::StrCat(v * synonym.unit);
}

// The synonyms of `k` set in `server`, highest precedence first.
std::vector<const BrokerSynonym*> SetSynonyms(const TopicKey& k,
                                              const std::map<std::string, std::string>& server) {
  std::vector<const BrokerSynonym*> out;
  for (const BrokerSynonym& b : k.broker_keys) {
    if (b.name != nullptr && server.contains(b.name)) out.push_back(&b);
  }
  return out;
}

// The DEFAULT_CONFIG synonym of `k`, as Kafka names it.
ConfigSynonym DefaultSynonym(const TopicKey& k) {
  if (k.default_value != nullptr) {
    return {k.broker_keys[k.default_synonym].name, k.default_value, ConfigSource::kDefault};
  }
  return {k.broker_keys[0].name, Lookup(BuiltinTopicDefaults(), k.name), ConfigSource::kDefault};
}

bool IsSensitive(const std::string& name) {
  return name.find("password") != std::string::npos || name.find("jaas") != std::string::npos;
}

}  // namespace

absl::StatusOr<std::optional<BrokerDefault>> TopicDefaultFromBrokerKey(
    const std::string& key, const std::map<std::string, std::string>& server) {
  for (const TopicKey& k : kTopicKeys) {
    std::vector<const BrokerSynonym*> set = SetSynonyms(k, server);
    for (const BrokerSynonym* b : set) {
      if (key != b->name) continue;
      std::optional<std::string> v = InTopicUnits(*b, server.at(key));
      if (!v.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat("bad value '", server.at(key), "' for ", key,
                                                       ": not an integer in range"));
      }
      return BrokerDefault{k.name, *v, set.front() != b};
    }
  }
  return std::nullopt;
}

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
    // The value in effect is in the topic key's units whichever synonym
    // gives it (log.retention.hours=1 describes retention.ms as 3600000).
    e.value = Lookup(BuiltinTopicDefaults(), k.name);
    std::vector<const BrokerSynonym*> set = SetSynonyms(k, server);
    if (!set.empty()) e.value = InTopicUnits(*set.front(), server.at(set.front()->name)).value_or("");
    if (auto it = overrides.find(k.name); it != overrides.end()) {
      e.synonyms.push_back({k.name, it->second, ConfigSource::kTopic});
      e.value = it->second;
    }
    for (const BrokerSynonym* b : set) {
      e.synonyms.push_back({b->name, server.at(b->name), ConfigSource::kStaticBroker});
    }
    e.synonyms.push_back(DefaultSynonym(k));
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
    // Each synonym as a broker config of its own, with the chain below it
    // (Kafka describes log.retention.ms with log.retention.minutes and
    // log.retention.hours behind it). Values in the synonym's own units.
    for (int i = 0; i < 3 && k.broker_keys[i].name != nullptr; ++i) {
      const std::string name = k.broker_keys[i].name;
      ConfigEntry e;
      e.name = name;
      e.type = k.type;
      e.read_only = true;
      e.documentation = absl::StrCat("The default ", k.name, " of topics");
      for (int j = i; j < 3 && k.broker_keys[j].name != nullptr; ++j) {
        if (auto it = server.find(k.broker_keys[j].name); it != server.end()) {
          e.synonyms.push_back({it->first, it->second, ConfigSource::kStaticBroker});
        }
      }
      ConfigSynonym def = DefaultSynonym(k);
      // The default shows on the synonyms at or above where it sits.
      if (i <= k.default_synonym) e.synonyms.push_back(def);
      if (e.synonyms.empty()) continue;  // e.g. log.retention.minutes, unset: no value
      if (e.synonyms.front().name == name) {
        e.value = e.synonyms.front().value;
      } else if (i == 0) {
        // The primary key describes the value in effect, in its units.
        std::vector<const BrokerSynonym*> set = SetSynonyms(k, server);
        e.value = set.empty() ? Lookup(BuiltinTopicDefaults(), k.name)
                              : InTopicUnits(*set.front(), server.at(set.front()->name))
                                    .value_or("");
      } else {
        continue;  // a lower synonym, unset, whose value would be another's
      }
      e.source = e.synonyms.front().source;
      by_name[name] = std::move(e);
    }
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
