#include "broker/server_config.h"

#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "broker/config_catalog.h"

namespace runnel::broker {
namespace {

absl::Status Bad(const std::string& key, const std::string& value, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("bad value '", value, "' for ", key, ": ", why));
}

absl::Status ParseInt(const std::string& key, const std::string& value, int64_t min, int64_t max,
                      int64_t* out) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(value, &v)) return Bad(key, value, "not an integer");
  if (v < min || v > max) {
    return Bad(key, value, absl::StrCat("must be between ", min, " and ", max));
  }
  *out = v;
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseListener(const std::string& key, const std::string& value, std::string* host,
                           uint16_t* port) {
  std::string first(absl::StripAsciiWhitespace(
      std::string(*absl::StrSplit(value, ',').begin())));
  std::string_view rest = first;
  if (size_t scheme = rest.find("://"); scheme != std::string_view::npos) {
    std::string name(rest.substr(0, scheme));
    if (name != "PLAINTEXT") return Bad(key, value, "only PLAINTEXT listeners are supported");
    rest.remove_prefix(scheme + 3);
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return Bad(key, value, "expected host:port");
  std::string h(rest.substr(0, colon));
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int64_t p = 0;
  if (absl::Status s = ParseInt(key, std::string(rest.substr(colon + 1)), 0, 65535, &p); !s.ok()) {
    return s;
  }
  *host = h.empty() ? "0.0.0.0" : h;
  *port = static_cast<uint16_t>(p);
  return absl::OkStatus();
}

absl::Status ApplyServerProperties(const std::map<std::string, std::string>& properties,
                                   ServerConfig* c) {
  std::map<std::string, std::string> log_props;
  for (const auto& [key, value] : properties) {
    int64_t v = 0;
    absl::Status s;
    if (key == "listeners") {
      s = ParseListener(key, value, &c->listen_host, &c->listen_port);
    } else if (key == "advertised.listeners") {
      uint16_t port = 0;
      s = ParseListener(key, value, &c->broker.advertised_host, &port);
      c->broker.advertised_port = port;
      c->advertised_set = true;
    } else if (key == "log.dirs" || key == "log.dir") {
      std::string first(*absl::StrSplit(value, ',').begin());
      if (first.empty()) s = Bad(key, value, "empty directory");
      c->data_dir = first;
    } else if (key == "node.id" || key == "broker.id") {
      s = ParseInt(key, value, 0, INT32_MAX, &v);
      c->broker.node_id = static_cast<int32_t>(v);
    } else if (key == "num.partitions") {
      s = ParseInt(key, value, 1, 1 << 20, &v);
      c->broker.num_partitions = static_cast<int32_t>(v);
    } else if (key == "default.replication.factor" ||
               key == "offsets.topic.replication.factor") {
      s = ParseInt(key, value, 1, 1, &v);  // one node
    } else if (key == "auto.create.topics.enable") {
      if (value != "true" && value != "false") s = Bad(key, value, "expected true or false");
      c->broker.auto_create_topics = value == "true";
    } else if (key == "message.max.bytes") {
      s = ParseInt(key, value, 0, INT32_MAX, &v);
      c->broker.message_max_bytes = static_cast<int32_t>(v);
      log_props["max.message.bytes"] = value;
    } else if (key == "socket.request.max.bytes") {
      s = ParseInt(key, value, 1, INT32_MAX, &v);
      c->socket_request_max_bytes = static_cast<size_t>(v);
    } else if (key == "connections.max.idle.ms") {
      s = ParseInt(key, value, 1, INT64_MAX / 1000, &v);
      c->idle_timeout = absl::Milliseconds(v);
    } else if (key == "group.initial.rebalance.delay.ms") {
      s = ParseInt(key, value, 0, INT32_MAX, &c->group_initial_rebalance_delay_ms);
    } else if (key == "offsets.topic.num.partitions") {
      s = ParseInt(key, value, 1, 1000, &v);
      c->offsets_topic_num_partitions = static_cast<int32_t>(v);
    } else if (key == "offsets.retention.minutes") {
      s = ParseInt(key, value, 1, INT32_MAX, &c->offsets_retention_minutes);
    } else if (key == "producer.id.expiration.ms") {
      // Kafka's type is INT, at least 1.
      s = ParseInt(key, value, 1, INT32_MAX, &c->broker.producer_id_expiration_ms);
    } else if (key == "max.incremental.fetch.session.cache.slots") {
      s = ParseInt(key, value, 0, INT32_MAX, &v);
      c->broker.fetch_session_cache_slots = static_cast<int32_t>(v);
    } else if (key == "transactional.id.expiration.ms") {
      s = ParseInt(key, value, 1, INT32_MAX, &c->transactional_id_expiration_ms);
    } else if (absl::StatusOr<std::optional<BrokerDefault>> d =
                   TopicDefaultFromBrokerKey(key, properties);
               !d.ok() || d->has_value()) {
      // log.* keys (config_catalog.h): the broker-wide defaults of topic
      // configs, log.retention.hours and .minutes converted to ms.
      if (!d.ok()) {
        s = d.status();
      } else if (!(*d)->shadowed) {
        // Checked alone first so that the error names the broker-level key.
        absl::StatusOr<storage::LogOptions> one = storage::LogOptions::FromProperties(
            {{(*d)->topic_key, (*d)->value}}, c->log_defaults);
        if (!one.ok()) s = Bad(key, value, std::string(one.status().message()));
        log_props[(*d)->topic_key] = (*d)->value;
      }
    } else {
      s = absl::InvalidArgumentError(absl::StrCat("unknown configuration key ", key));
    }
    if (!s.ok()) return s;
  }
  if (!log_props.empty()) {
    absl::StatusOr<storage::LogOptions> o =
        storage::LogOptions::FromProperties(log_props, c->log_defaults);
    if (!o.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad log.* configuration: ", std::string(o.status().message())));
    }
    c->log_defaults = *o;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::string>> ReadPropertiesFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open config file ", path));
  std::map<std::string, std::string> out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string l(absl::StripAsciiWhitespace(line));
    if (l.empty() || l[0] == '#' || l[0] == '!') continue;
    size_t eq = l.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", lineno, ": expected key=value, got '", l, "'"));
    }
    out[std::string(absl::StripAsciiWhitespace(l.substr(0, eq)))] =
        std::string(absl::StripAsciiWhitespace(l.substr(eq + 1)));
  }
  return out;
}

}  // namespace runnel::broker
