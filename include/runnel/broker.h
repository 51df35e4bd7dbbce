// Broker: a single-node Kafka-compatible broker an application runs
// in-process (tests, embedded use) or that runnel-broker runs as a server.
// Kafka clients (librdkafka, kcat, the Java client) connect to
// bootstrap_address().
//
//   runnel::BrokerOptions options;
//   options.port = 0;                    // any free port
//   options.data_dir = "/tmp/runnel-data";
//   absl::StatusOr<std::unique_ptr<runnel::Broker>> broker =
//       runnel::Broker::Start(options);
//   if (!broker.ok()) return broker.status();
//   std::string bootstrap = (*broker)->bootstrap_address();  // "127.0.0.1:40123"
//   ...
//   absl::Status s = (*broker)->Stop(absl::Seconds(5));
//
// Ownership and threads: the Broker owns its I/O threads, its storage and
// its timer thread. Start, Stop and the destructor (which stops with a
// 5-second timeout) from one thread; bootstrap_address() from any.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace runnel {

struct BrokerOptions {
  // Where to listen. Port 0 picks a free port (see bootstrap_address()).
  std::string host = "127.0.0.1";
  uint16_t port = 9092;
  // Partitions and the topic metadata live here; created if missing.
  std::string data_dir = "./data";
  int32_t node_id = 0;
  // I/O threads; 0 means one per core.
  int io_threads = 0;
  // Kafka server.properties keys (num.partitions, log.retention.ms, ...;
  // see lib/broker/server_config.h for the full list). listeners and
  // log.dirs override host/port/data_dir. An unknown key or a bad value
  // fails Start with a message naming the key.
  std::map<std::string, std::string> properties;
};

class Broker {
 public:
  // Opens the data directory (recovering it after a crash) and starts
  // listening.
  static absl::StatusOr<std::unique_ptr<Broker>> Start(BrokerOptions options);
  virtual ~Broker() = default;

  // "host:port" clients bootstrap from (the advertised listener).
  virtual std::string bootstrap_address() const = 0;

  // Stops accepting, answers the requests already read for up to `timeout`,
  // closes connections, flushes every partition and writes checkpoints.
  // Idempotent.
  virtual absl::Status Stop(absl::Duration timeout) = 0;
};

}  // namespace runnel
