// ClientOptions and ProducerOptions from Kafka property names.
#include "runnel/client_options.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/properties.h"
#include "runnel/common/status_macros.h"

namespace runnel {

using client::InvalidProperty;
using client::ParseBool;
using client::ParseInt;
using client::ParseMillis;

absl::StatusOr<bool> ClientOptions::TrySet(std::string_view key, std::string_view value) {
  if (key == "bootstrap.servers" || key == "metadata.broker.list") {
    RUNNEL_RETURN_IF_ERROR(client::ParseBootstrapServers(value).status());
    bootstrap_servers = std::string(value);
  } else if (key == "client.id") {
    client_id = std::string(value);
  } else if (key == "request.timeout.ms") {
    RUNNEL_ASSIGN_OR_RETURN(request_timeout, ParseMillis(key, value));
  } else if (key == "metadata.max.age.ms") {
    RUNNEL_ASSIGN_OR_RETURN(metadata_max_age, ParseMillis(key, value));
  } else if (key == "reconnect.backoff.ms") {
    RUNNEL_ASSIGN_OR_RETURN(reconnect_backoff, ParseMillis(key, value));
  } else if (key == "reconnect.backoff.max.ms") {
    RUNNEL_ASSIGN_OR_RETURN(reconnect_backoff_max, ParseMillis(key, value));
  } else if (key == "retry.backoff.ms") {
    RUNNEL_ASSIGN_OR_RETURN(retry_backoff, ParseMillis(key, value));
  } else if (key == "socket.connection.setup.timeout.ms") {
    RUNNEL_ASSIGN_OR_RETURN(connection_setup_timeout, ParseMillis(key, value));
  } else if (key == "allow.auto.create.topics") {
    RUNNEL_ASSIGN_OR_RETURN(allow_auto_create_topics, ParseBool(key, value));
  } else if (key == "receive.message.max.bytes") {
    RUNNEL_ASSIGN_OR_RETURN(int64_t n, ParseInt(key, value, 1000, 2147483647));
    max_response_bytes = static_cast<int32_t>(n);
  } else if (key == "log_level" || key == "log.level") {
    absl::StatusOr<ClientLogLevel> level = ParseClientLogLevel(value);
    if (!level.ok()) {
      return InvalidProperty(key, value, "expected debug, info, warn, error, off or 0-7");
    }
    log_level = *level;
  } else if (key == "debug") {
    // librdkafka's debug contexts ("broker,metadata", "all").
    absl::StatusOr<uint32_t> contexts = ParseClientDebugContexts(value);
    if (!contexts.ok()) {
      return InvalidProperty(key, value, std::string(contexts.status().message()));
    }
    debug_contexts = *contexts;
  } else {
    return false;
  }
  return true;
}

absl::Status ClientOptions::Set(std::string_view key, std::string_view value) {
  RUNNEL_ASSIGN_OR_RETURN(bool known, TrySet(key, value));
  if (!known) return client::UnknownProperty(key);
  return absl::OkStatus();
}

absl::Status ClientOptions::Validate() const {
  RUNNEL_RETURN_IF_ERROR(client::ParseBootstrapServers(bootstrap_servers).status());
  if (request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("request.timeout.ms must be positive");
  }
  if (connection_setup_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("socket.connection.setup.timeout.ms must be positive");
  }
  if (reconnect_backoff_max < reconnect_backoff) {
    return absl::InvalidArgumentError(
        "reconnect.backoff.max.ms must not be below reconnect.backoff.ms");
  }
  return absl::OkStatus();
}

absl::Status ProducerOptions::Set(std::string_view key, std::string_view value) {
  RUNNEL_ASSIGN_OR_RETURN(bool known, client.TrySet(key, value));
  if (known) return absl::OkStatus();
  if (key == "acks" || key == "request.required.acks") {
    if (value == "all" || value == "-1") {
      acks = Acks::kAll;
    } else if (value == "1") {
      acks = Acks::kLeader;
    } else if (value == "0") {
      acks = Acks::kNone;
    } else {
      return InvalidProperty(key, value, "expected 0, 1, all or -1");
    }
  } else if (key == "enable.idempotence") {
    RUNNEL_ASSIGN_OR_RETURN(enable_idempotence, ParseBool(key, value));
  } else if (key == "linger.ms" || key == "queue.buffering.max.ms") {
    RUNNEL_ASSIGN_OR_RETURN(linger, ParseMillis(key, value));
  } else if (key == "batch.size") {
    RUNNEL_ASSIGN_OR_RETURN(int64_t n, ParseInt(key, value, 1, 1 << 30));
    batch_size = static_cast<int32_t>(n);
  } else if (key == "buffer.memory") {
    RUNNEL_ASSIGN_OR_RETURN(buffer_memory, ParseInt(key, value, 1024, int64_t{1} << 45));
  } else if (key == "max.block.ms") {
    RUNNEL_ASSIGN_OR_RETURN(max_block, ParseMillis(key, value));
  } else if (key == "max.in.flight.requests.per.connection" || key == "max.in.flight") {
    RUNNEL_ASSIGN_OR_RETURN(int64_t n, ParseInt(key, value, 1, 1000000));
    max_in_flight = static_cast<int32_t>(n);
  } else if (key == "retries" || key == "message.send.max.retries") {
    RUNNEL_ASSIGN_OR_RETURN(int64_t n, ParseInt(key, value, 0, 2147483647));
    retries = static_cast<int32_t>(n);
  } else if (key == "delivery.timeout.ms" || key == "message.timeout.ms") {
    RUNNEL_ASSIGN_OR_RETURN(delivery_timeout, ParseMillis(key, value));
  } else if (key == "max.request.size" || key == "message.max.bytes") {
    RUNNEL_ASSIGN_OR_RETURN(int64_t n, ParseInt(key, value, 1000, 1 << 30));
    max_request_size = static_cast<int32_t>(n);
  } else if (key == "compression.type" || key == "compression.codec") {
    std::string v = absl::AsciiStrToLower(absl::string_view(value.data(), value.size()));
    if (v == "none") {
      compression = Compression::kNone;
    } else if (v == "gzip") {
      compression = Compression::kGzip;
    } else if (v == "snappy") {
      compression = Compression::kSnappy;
    } else if (v == "lz4") {
      compression = Compression::kLz4;
    } else if (v == "zstd") {
      compression = Compression::kZstd;
    } else {
      return InvalidProperty(key, value, "expected none, gzip, snappy, lz4 or zstd");
    }
  } else if (key == "compression.level") {
    RUNNEL_ASSIGN_OR_RETURN(int64_t n, ParseInt(key, value, -131072, 22));
    // -1 is librdkafka's "codec default".
    if (n == -1) {
      compression_level.reset();
    } else {
      compression_level.emplace(static_cast<int>(n));
    }
  } else {
    return client::UnknownProperty(key);
  }
  return absl::OkStatus();
}

absl::StatusOr<ProducerOptions> ProducerOptions::FromProperties(
    const std::map<std::string, std::string>& properties) {
  ProducerOptions options;
  for (const auto& [key, value] : properties) {
    RUNNEL_RETURN_IF_ERROR(options.Set(key, value));
  }
  RUNNEL_RETURN_IF_ERROR(options.Validate());
  return options;
}

absl::Status ProducerOptions::Validate() const {
  RUNNEL_RETURN_IF_ERROR(client.Validate());
  if (enable_idempotence) {
    if (acks != Acks::kAll) {
      return absl::InvalidArgumentError(
          "enable.idempotence=true needs acks=all (set enable.idempotence=false for acks 0 or 1)");
    }
    if (max_in_flight > 5) {
      return absl::InvalidArgumentError(
          "enable.idempotence=true needs max.in.flight.requests.per.connection <= 5");
    }
  }
  if (max_in_flight < 1) {
    return absl::InvalidArgumentError("max.in.flight.requests.per.connection must be >= 1");
  }
  if (batch_size < 1 || buffer_memory < batch_size) {
    return absl::InvalidArgumentError("batch.size must be >= 1 and <= buffer.memory");
  }
  if (delivery_timeout < linger + client.request_timeout) {
    return absl::InvalidArgumentError(
        "delivery.timeout.ms must be >= linger.ms + request.timeout.ms");
  }
  return absl::OkStatus();
}

}  // namespace runnel
