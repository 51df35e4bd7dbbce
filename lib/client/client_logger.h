// ClientLogger: where the clients' log lines go. Each ClientCore owns one,
// built from ClientOptions (log_level, log_sink, client_id): a line at or
// above the level goes to the application's sink, or, when none is set, to
// Runnel's process-wide logfmt log (common/logging.h, stderr by default)
// with the client id as a field.
//
//   ClientLogger log(options);
//   RUNNEL_CLIENT_LOG(log, kWarn, "broker connection failed",
//                     {{"broker", "1"}, {"error", status.message()}});
//   RUNNEL_CLIENT_DEBUG(log, kCgrp, "heartbeat", {{"error", "REBALANCE_IN_PROGRESS"}});
//
// Threads: Log may be called from any thread; the sink's own thread-safety
// is the application's (runnel/client_log.h). The logger holds a copy of
// the options it needs and is immutable after construction.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "runnel/client_log.h"
#include "runnel/client_options.h"

namespace runnel::client {

class ClientLogger {
 public:
  using Field = std::pair<std::string_view, std::string_view>;

  explicit ClientLogger(const ClientOptions& options);

  bool Enabled(ClientLogLevel level) const {
    return level != ClientLogLevel::kOff && static_cast<int>(level) >= static_cast<int>(level_);
  }
  // A debug line of `context`: log_level debug, or the context turned on.
  bool DebugEnabled(ClientDebugContext context) const {
    return level_ == ClientLogLevel::kDebug ||
           (debug_contexts_ & static_cast<uint32_t>(context)) != 0;
  }
  void Log(ClientLogLevel level, std::string_view message,
           std::initializer_list<Field> fields = {}) const;
  void Debug(ClientDebugContext context, std::string_view message,
             std::initializer_list<Field> fields = {}) const;

 private:
  void Emit(ClientLogLevel level, std::string_view context, std::string_view message,
            std::initializer_list<Field> fields) const;

  const ClientLogLevel level_;
  const uint32_t debug_contexts_;
  const std::string client_id_;
  const ClientLogSink sink_;
};

}  // namespace runnel::client

// Skips evaluating the arguments when the level is filtered out.
// RUNNEL_CLIENT_DEBUG(log, kCgrp, "message", {fields}) is a debug line of a
// context (runnel/client_log.h).
#define RUNNEL_CLIENT_LOG(logger, level, ...)                     \
  do {                                                            \
    if ((logger).Enabled(::runnel::ClientLogLevel::level)) {      \
      (logger).Log(::runnel::ClientLogLevel::level, __VA_ARGS__); \
    }                                                             \
  } while (0)

#define RUNNEL_CLIENT_DEBUG(logger, context, ...)                         \
  do {                                                                    \
    if ((logger).DebugEnabled(::runnel::ClientDebugContext::context)) {   \
      (logger).Debug(::runnel::ClientDebugContext::context, __VA_ARGS__); \
    }                                                                     \
  } while (0)
