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
// repeats), metadata (debug: each refresh; warn: a refresh that failed).
//
// Threads: the sink is called on the client's network I/O thread (and for
// the consumer also its group thread), never with a client lock held. It
// must be thread-safe (a consumer's two threads may call it at once) and
// quick: a slow sink holds up every broker connection of that client. It
// must not call back into the client's blocking functions (Flush, Close,
// Poll). Lines below log_level are dropped before they are formatted.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace runnel {

enum class ClientLogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

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
};

using ClientLogSink = std::function<void(const ClientLogLine& line)>;

// "debug", "info", "warn"/"warning", "error", "off" (case-insensitive), or
// a syslog number as librdkafka's log_level takes it: 7 debug, 6 and 5
// info, 4 warn, 0-3 error.
absl::StatusOr<ClientLogLevel> ParseClientLogLevel(std::string_view name);
std::string_view ClientLogLevelName(ClientLogLevel level);

}  // namespace runnel
