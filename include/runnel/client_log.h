// Logging for Runnel's clients (producer, consumer, admin): a sink the
// application sets in ClientOptions receives every line a client logs, with
// its level, the client's client.id, a message and key=value fields, so the
// lines can go to the application's own logger instead of stderr.
//
//   runnel::ProducerOptions options;
//   options.client.bootstrap_servers = "127.0.0.1:9092";
//   options.client.log_level = runnel::ClientLogLevel::kInfo;  // or Set("log_level", "info")
//   options.client.log_sink = [](const runnel::ClientLogLine& line) {
//     std::string text(line.message);
//     for (const runnel::ClientLogField& f : line.fields) text += " " + f.key + "=" + f.value;
//     MyLogger(ToMyLevel(line.level), std::string(line.client_id), text);
//   };
//   auto producer = runnel::Producer::Create(options);
//
// What is logged: connections (debug: connecting, resolving; info:
// connected with the API count; warn: a connection or a name resolution
// that failed, once per distinct error a broker, then debug while it
// repeats), metadata (debug: each refresh; warn: a refresh that failed),
// the consumer group (info: each join's result, the assignment the leader
// computed, each member's assignment with what it added and revoked,
// leaving; debug: JoinGroup/SyncGroup sent, heartbeat and commit results,
// the coordinator found), and in the "protocol" context every request sent
// and response received (api, version, correlation id, size, round trip).
//
// Debug lines belong to one of librdkafka's debug contexts ("broker",
// "metadata", "cgrp", "fetch", "protocol", ...; ClientDebugContext). They are
// logged when log_level is debug (every context) or when their context is
// on in ClientOptions::debug_contexts (the `debug` property, a comma list
// such as "cgrp,fetch" or "all"), whatever log_level says.
//
// Threads: the sink is called on the client's network I/O thread (and for
// the consumer also its group thread), never with a client lock held. It
// must be thread-safe (a consumer's two threads may call it at once) and
// quick: a slow sink holds up every broker connection of that client. It
// must not call back into the client's blocking functions (Flush, Close,
// Poll). Lines below log_level are dropped before they are formatted.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace runnel {

enum class ClientLogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

// librdkafka's debug contexts, as bits of ClientOptions::debug_contexts.
enum class ClientDebugContext : uint32_t {
  kGeneric = 1u << 0,
  kBroker = 1u << 1,
  kTopic = 1u << 2,
  kMetadata = 1u << 3,
  kFeature = 1u << 4,
  kQueue = 1u << 5,
  kMsg = 1u << 6,
  kProtocol = 1u << 7,
  kCgrp = 1u << 8,
  kSecurity = 1u << 9,
  kFetch = 1u << 10,
  kInterceptor = 1u << 11,
  kPlugin = 1u << 12,
  kConsumer = 1u << 13,
  kAdmin = 1u << 14,
  kEos = 1u << 15,
  kMock = 1u << 16,
  kAssignor = 1u << 17,
  kConf = 1u << 18,
  kTelemetry = 1u << 19,
};
inline constexpr uint32_t kAllClientDebugContexts = (1u << 20) - 1;

struct ClientLogField {
  std::string key;
  std::string value;
};

// One log line. The views are valid only during the sink call.
struct ClientLogLine {
  ClientLogLevel level = ClientLogLevel::kInfo;
  std::string_view client_id;
  std::string_view message;
  std::span<const ClientLogField> fields;
  // A debug line's context ("cgrp", "broker", ...); empty for other levels.
  std::string_view context;
};

using ClientLogSink = std::function<void(const ClientLogLine& line)>;

// "debug", "info", "warn"/"warning", "error", "off" (case-insensitive), or
// a syslog number as librdkafka's log_level takes it: 7 debug, 6 and 5
// info, 4 warn, 0-3 error.
absl::StatusOr<ClientLogLevel> ParseClientLogLevel(std::string_view name);
std::string_view ClientLogLevelName(ClientLogLevel level);

// The `debug` property: a comma list of context names (librdkafka's:
// generic, broker, topic, metadata, feature, queue, msg, protocol, cgrp,
// security, fetch, interceptor, plugin, consumer, admin, eos, mock,
// assignor, conf, telemetry; "all" for every one), spaces ignored, empty
// for none. An unknown name is InvalidArgument naming it.
absl::StatusOr<uint32_t> ParseClientDebugContexts(std::string_view list);
std::string_view ClientDebugContextName(ClientDebugContext context);

}  // namespace runnel
