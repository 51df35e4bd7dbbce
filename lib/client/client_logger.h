// ClientLogger: where the clients' log lines go. Each ClientCore owns one,
// built from ClientOptions (log_level, log_sink, client_id): a line at or
// above the level goes to the application's sink, or, when none is set, to
// Runnel's process-wide logfmt log (common/logging.h, stderr by default)
// with the client id as a field.
//
//   ClientLogger log(options);
//   RUNNEL_CLIENT_LOG(log, kWarn, "broker connection failed",
//                     {{"broker", "1"}, {"error", status.message()}});
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
  void Log(ClientLogLevel level, std::string_view message,
           std::initializer_list<Field> fields = {}) const;

 private:
  const ClientLogLevel level_;
  const std::string client_id_;
  const ClientLogSink sink_;
};

}  // namespace runnel::client

// Skips evaluating the arguments when the level is filtered out.
#define RUNNEL_CLIENT_LOG(logger, level, ...)                     \
  do {                                                            \
    if ((logger).Enabled(::runnel::ClientLogLevel::level)) {      \
      (logger).Log(::runnel::ClientLogLevel::level, __VA_ARGS__); \
    }                                                             \
  } while (0)
