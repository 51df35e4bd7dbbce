#include "client/client_logger.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
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

namespace {

constexpr std::pair<std::string_view, ClientDebugContext> kDebugContexts[] = {
    {"generic", ClientDebugContext::kGeneric}, {"broker", ClientDebugContext::kBroker},
    {"topic", ClientDebugContext::kTopic},     {"metadata", ClientDebugContext::kMetadata},
    {"feature", ClientDebugContext::kFeature}, {"queue", ClientDebugContext::kQueue},
    {"msg", ClientDebugContext::kMsg},         {"protocol", ClientDebugContext::kProtocol},
    {"cgrp", ClientDebugContext::kCgrp},       {"security", ClientDebugContext::kSecurity},
    {"fetch", ClientDebugContext::kFetch},     {"interceptor", ClientDebugContext::kInterceptor},
    {"plugin", ClientDebugContext::kPlugin},   {"consumer", ClientDebugContext::kConsumer},
    {"admin", ClientDebugContext::kAdmin},     {"eos", ClientDebugContext::kEos},
    {"mock", ClientDebugContext::kMock},       {"assignor", ClientDebugContext::kAssignor},
    {"conf", ClientDebugContext::kConf},       {"telemetry", ClientDebugContext::kTelemetry},
};

}  // namespace

absl::StatusOr<uint32_t> ParseClientDebugContexts(std::string_view list) {
  uint32_t out = 0;
  for (absl::string_view part : absl::StrSplit(absl::string_view(list.data(), list.size()), ',')) {
    const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(part));
    if (name.empty()) continue;
    if (name == "all") {
      out |= kAllClientDebugContexts;
      continue;
    }
    bool found = false;
    for (const auto& [n, bit] : kDebugContexts) {
      if (n == name) {
        out |= static_cast<uint32_t>(bit);
        found = true;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown debug context '", name,
          "' (expected a comma list of generic, broker, topic, metadata, feature, queue, msg, "
          "protocol, cgrp, security, fetch, interceptor, plugin, consumer, admin, eos, mock, "
          "assignor, conf, telemetry or all)"));
    }
  }
  return out;
}

std::string_view ClientDebugContextName(ClientDebugContext context) {
  for (const auto& [n, bit] : kDebugContexts) {
    if (bit == context) return n;
  }
  return "unknown";
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
    : level_(options.log_level),
      debug_contexts_(options.debug_contexts),
      client_id_(options.client_id),
      sink_(options.log_sink) {}

void ClientLogger::Log(ClientLogLevel level, std::string_view message,
                       std::initializer_list<Field> fields) const {
  if (!Enabled(level)) return;
  Emit(level, "", message, fields);
}

void ClientLogger::Debug(ClientDebugContext context, std::string_view message,
                         std::initializer_list<Field> fields) const {
  if (!DebugEnabled(context)) return;
  Emit(ClientLogLevel::kDebug, ClientDebugContextName(context), message, fields);
}

void ClientLogger::Emit(ClientLogLevel level, std::string_view context, std::string_view message,
                        std::initializer_list<Field> fields) const {
  if (sink_) {
    std::vector<ClientLogField> owned;
    owned.reserve(fields.size());
    for (const Field& f : fields) owned.push_back({std::string(f.first), std::string(f.second)});
    sink_(ClientLogLine{level, client_id_, message, owned, context});
    return;
  }
  // The process-wide log: the same levels, the client id first (and the
  // context of a debug line). It keeps its own level too (logging::SetLevel,
  // info by default), so debug lines need it at debug as well.
  std::vector<logging::Field> all;
  all.reserve(fields.size() + 2);
  all.emplace_back("client_id", client_id_);
  if (!context.empty()) all.emplace_back("context", context);
  for (const Field& f : fields) all.emplace_back(f.first, f.second);
  logging::Log(static_cast<logging::Level>(static_cast<int>(level)), message, all);
}

}  // namespace client
}  // namespace runnel
