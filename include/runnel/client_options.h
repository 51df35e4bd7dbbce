// Options for Runnel's Kafka clients: what every client shares
// (ClientOptions: bootstrap servers, timeouts, reconnects) and what the
// producer adds (ProducerOptions). Plain structs with their defaults in code;
// each can also be set from the Kafka property names librdkafka and the Java
// client use, so existing settings carry over.
//
//   runnel::ProducerOptions options;
//   options.client.bootstrap_servers = "127.0.0.1:9092";
//   options.linger = absl::Milliseconds(5);
//   absl::Status s = options.Set("compression.type", "zstd");   // Kafka name
//
//   absl::StatusOr<runnel::ProducerOptions> from_props =
//       runnel::ProducerOptions::FromProperties(
//           {{"bootstrap.servers", "127.0.0.1:9092"}, {"acks", "all"}});
//   // An unknown key or a bad value is InvalidArgument naming the key:
//   //   "property 'linger.ms': invalid value 'soon' (expected an integer)"
//
// Durations given as properties are in milliseconds (the "*.ms" keys); sizes
// in bytes. Thread-compatible plain values.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runnel/client_log.h"

namespace runnel {

// Shared by every client (producer, consumer, admin).
struct ClientOptions {
  // bootstrap.servers: "host:port[,host:port...]". Only used to find the
  // cluster; the brokers the metadata names are used afterwards.
  std::string bootstrap_servers;
  // client.id: sent with every request; brokers log it and quota by it.
  std::string client_id = "runnel";
  // request.timeout.ms: how long a request may wait for its response before
  // it fails and its connection is closed (Kafka answers in order, so a
  // connection with a lost answer cannot be trusted for the next ones).
  absl::Duration request_timeout = absl::Seconds(30);
  // metadata.max.age.ms: metadata is refreshed at least this often, so new
  // partitions and moved leaders are seen without an error to prompt it.
  absl::Duration metadata_max_age = absl::Minutes(5);
  // reconnect.backoff.ms / reconnect.backoff.max.ms: the wait before
  // reconnecting to a broker doubles from the first to the second on each
  // failure, so a down broker is not hammered.
  absl::Duration reconnect_backoff = absl::Milliseconds(50);
  absl::Duration reconnect_backoff_max = absl::Seconds(1);
  // retry.backoff.ms: wait before retrying a failed request or metadata
  // refresh. Shorter recovers sooner from a leader move; longer sends less.
  absl::Duration retry_backoff = absl::Milliseconds(100);
  // socket.connection.setup.timeout.ms: a TCP connect (and the ApiVersions
  // exchange that follows) that takes longer fails and is retried.
  absl::Duration connection_setup_timeout = absl::Seconds(10);
  // allow.auto.create.topics: metadata requests ask the broker to create
  // missing topics (when the broker allows it, auto.create.topics.enable).
  bool allow_auto_create_topics = true;
  // message.max.bytes / max.request.size are per client; this bounds what
  // a response frame may claim before it is read (hostile or corrupt sizes).
  int32_t max_response_bytes = 100 * 1024 * 1024;
  // log_level (also librdkafka's syslog numbers): lines below it are
  // dropped. Warn by default: failures are heard of, routine connects and
  // metadata refreshes are not.
  ClientLogLevel log_level = ClientLogLevel::kWarn;
  // debug: librdkafka's debug contexts (ClientDebugContext bits, from the
  // property "cgrp,fetch", "all", ...): their debug lines are logged even
  // when log_level is above debug, so one subsystem can be traced without
  // the rest. None by default.
  uint32_t debug_contexts = 0;
  // Receives every line the client logs (runnel/client_log.h: which lines,
  // on which thread). Unset: the lines go to Runnel's process-wide logfmt
  // log on stderr with a client_id field.
  ClientLogSink log_sink;

  // Sets one property by its Kafka name. Returns true when the key is a
  // client-wide one and the value was valid, false when the key is not one
  // of ClientOptions' (so a derived struct can try its own keys), and an
  // InvalidArgument error naming the key when the value is bad.
  absl::StatusOr<bool> TrySet(std::string_view key, std::string_view value);
  // As TrySet, but an unknown key is an InvalidArgument error naming it.
  absl::Status Set(std::string_view key, std::string_view value);
  // Checks the fields together (bootstrap servers present and parseable,
  // positive timeouts); the factories call it.
  absl::Status Validate() const;
};

// How many replicas must have a record before the producer hears success.
enum class Acks : int16_t {
  kNone = 0,     // "0": fire and forget; no response, no retries, no offsets
  kLeader = 1,   // "1": the leader wrote it; lost if the leader dies first
  kAll = -1,     // "all"/"-1": every in-sync replica has it
};

// compression.type.
enum class Compression : int8_t { kNone = 0, kGzip = 1, kSnappy = 2, kLz4 = 3, kZstd = 4 };

// Chooses a partition for a record that names none. `key` may be null
// (keyless record); `partition_count` is > 0. Called on the thread that
// calls Send; must be thread-safe and return [0, partition_count).
using PartitionerFn = std::function<int32_t(std::string_view topic, const std::string* key,
                                            int32_t partition_count)>;

struct ProducerOptions {
  ClientOptions client;

  // acks. kAll with idempotence (the default) is what makes a write durable
  // and exactly-once across retries.
  Acks acks = Acks::kAll;
  // enable.idempotence: the broker drops duplicates a retry would write and
  // refuses gaps, keeping each partition in send order with up to 5
  // requests in flight. Needs acks=all and max.in.flight <= 5.
  bool enable_idempotence = true;
  // linger.ms: how long a batch waits for more records before it is sent.
  // 0 sends as soon as the sender is free; a few ms give bigger batches
  // (fewer requests, better compression) for that much added latency.
  absl::Duration linger = absl::Milliseconds(5);
  // batch.size: a partition's batch is sent once it holds this many bytes
  // (uncompressed). A record larger than this gets a batch of its own.
  int32_t batch_size = 16 * 1024;
  // buffer.memory: bytes of records waiting to be sent or acknowledged, all
  // partitions together. Past it Send blocks (back-pressure) up to
  // max_block, then fails with ResourceExhausted.
  int64_t buffer_memory = 32 * 1024 * 1024;
  // max.block.ms: the longest Send waits for buffer space or for the
  // topic's metadata.
  absl::Duration max_block = absl::Seconds(60);
  // max.in.flight.requests.per.connection: produce requests sent to a broker
  // and not yet answered. More hides latency; with idempotence at most 5.
  int32_t max_in_flight = 5;
  // retries: how often a failed batch is sent again (bounded in time by
  // delivery_timeout as well).
  int32_t retries = 2147483647;
  // delivery.timeout.ms: a record not acknowledged this long after Send
  // fails with DeadlineExceeded. Must be >= linger + request timeout.
  absl::Duration delivery_timeout = absl::Minutes(2);
  // max.request.size: the largest produce request (and record) sent.
  int32_t max_request_size = 1024 * 1024;
  // compression.type and compression.level (codec default when unset; gzip
  // 1-9, lz4 0-12, zstd -7..22). Compression trades CPU for bytes.
  Compression compression = Compression::kNone;
  std::optional<int> compression_level;
  // partitioner for records without an explicit partition. Unset: keyed
  // records go to murmur2(key) % partitions (the Java client's and
  // librdkafka's murmur2_random choice, so both agree); keyless records
  // stick to one partition until its batch is sent ("sticky").
  PartitionerFn partitioner;

  // As ClientOptions::Set, for the client-wide and producer keys
  // (acks, enable.idempotence, linger.ms, batch.size, buffer.memory,
  // max.block.ms, max.in.flight.requests.per.connection, retries,
  // delivery.timeout.ms, max.request.size, compression.type,
  // compression.level). Unknown keys are errors naming the key.
  absl::Status Set(std::string_view key, std::string_view value);
  static absl::StatusOr<ProducerOptions> FromProperties(
      const std::map<std::string, std::string>& properties);
  absl::Status Validate() const;
};

}  // namespace runnel
