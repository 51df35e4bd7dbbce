// Kafka server.properties keys the broker understands, parsed into the
// pieces that use them. Defaults are Kafka's. Grammar of a properties file:
// one `key=value` a line, `#` or `!` comments, blank lines ignored,
// whitespace around key and value trimmed.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "broker/broker_context.h"
#include "runnel/log_options.h"

namespace runnel::broker {

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 9092;
  std::string data_dir = "./data";
  BrokerConfig broker;
  storage::LogOptions log_defaults;
  size_t socket_request_max_bytes = 100 * 1024 * 1024;  // socket.request.max.bytes
  absl::Duration idle_timeout = absl::Minutes(10);    // connections.max.idle.ms
  int64_t group_initial_rebalance_delay_ms = 3000;
  int64_t offsets_retention_minutes = 7 * 24 * 60;
  // offsets.topic.num.partitions: partitions of __consumer_offsets when the
  // broker creates it. Groups hash to a partition by the count, so as in
  // Kafka an existing topic keeps the count it was created with.
  int32_t offsets_topic_num_partitions = 50;
  // transactional.id.expiration.ms (Kafka: 7 days). Checked, so that a
  // Kafka server.properties setting it loads, but unused: there is no
  // transaction coordinator yet. producer.id.expiration.ms is in `broker`.
  int64_t transactional_id_expiration_ms = 7 * 24 * 60 * 60 * 1000LL;
  bool advertised_set = false;
};

// Applies `properties` on top of `config`. InvalidArgument naming the key for
// an unknown key or a bad value.
absl::Status ApplyServerProperties(const std::map<std::string, std::string>& properties,
                                   ServerConfig* config);

// Reads a server.properties file.
absl::StatusOr<std::map<std::string, std::string>> ReadPropertiesFile(const std::string& path);

// "host:port", "PLAINTEXT://host:port" (the first of a comma list).
absl::Status ParseListener(const std::string& key, const std::string& value, std::string* host,
                           uint16_t* port);

}  // namespace runnel::broker
