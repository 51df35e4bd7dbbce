#include "client/client_logger.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace runnel {

absl::StatusOr<ClientLogLevel> ParseClientLogLevel(std::string_view name) {
  std::string n = absl::AsciiStrToLower(std::string(name));
  if (n == "debug" || n == "trace") return ClientLogLevel::kDebug;
  if (n == "info" || n == "notice") return ClientLogLevel::kInfo;
  if (n == "warn" || n == "warning") return ClientLogLevel::kWarn;
  if (n == "error") return ClientLogLevel::kError;
  if (n == "off" || n == "none") return ClientLogLevel::kOff;
  // librdkafka's log_level is a syslog severity (0 emergency .. 7 debug).
  int syslog = -1;
  if (absl::SimpleAtoi(n, &syslog) && syslog >= 0 && syslog <= 7) {
    if (syslog == 7) return ClientLogLevel::kDebug;
    if (syslog >= 5) return ClientLogLevel::kInfo;
    if (syslog == 4) return ClientLogLevel::kWarn;
    return ClientLogLevel::kError;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("log level must be debug, info, warn, error, off or a syslog level 0-7, got '",
                   std::string(name), "'"));
}

std::string_view ClientLogLevelName(ClientLogLevel level) {
  switch (level) {
    case ClientLogLevel::kDebug:
      return "debug";
    case ClientLogLevel::kInfo:
      return "info";
    case ClientLogLevel::kWarn:
      return "warn";
    case ClientLogLevel::kError:
      return "error";
    case ClientLogLevel::kOff:
      return "off";
  }
  return "unknown";
}

namespace client {

ClientLogger::ClientLogger(const ClientOptions& options)
    : level_(options.log_level), client_id_(options.client_id), sink_(options.log_sink) {}

void ClientLogger::Log(ClientLogLevel level, std::string_view message,
                       std::initializer_list<Field> fields) const {
  if (!Enabled(level)) return;
  if (sink_) {
    std::vector<ClientLogField> owned;
    owned.reserve(fields.size());
    for (const Field& f : fields) owned.push_back({std::string(f.first), std::string(f.second)});
    sink_(ClientLogLine{level, client_id_, message, owned});
    return;
  }
  // The process-wide log: the same levels, the client id first.
  std::vector<logging::Field> all;
  all.reserve(fields.size() + 1);
  all.emplace_back("client_id", client_id_);
  for (const Field& f : fields) all.emplace_back(f.first, f.second);
  logging::Log(static_cast<logging::Level>(static_cast<int>(level)), message, all);
}

}  // namespace client
}  // namespace runnel
