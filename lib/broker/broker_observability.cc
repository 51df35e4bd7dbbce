#include "broker/broker_observability.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/server_config.h"
#include "common/logging.h"

namespace runnel::broker {

constexpr char kLogLevelKey[] = "runnel.log.level";
constexpr char kMetricsListenKey[] = "runnel.metrics.listen";

absl::Status TakeObservabilityOptions(BrokerOptions* options) {
  auto& props = options->properties;
  if (auto it = props.find(kLogLevelKey); it != props.end()) {
    if (options->log_level.empty()) options->log_level = it->second;
    props.erase(it);
  }
  if (auto it = props.find(kMetricsListenKey); it != props.end()) {
    if (options->metrics_listen.empty()) options->metrics_listen = it->second;
    props.erase(it);
  }
  if (!options->log_level.empty()) {
    absl::StatusOr<logging::Level> level = logging::ParseLevel(options->log_level);
    if (!level.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(kLogLevelKey, ": ", level.status().message()));
    }
    logging::SetLevel(*level);
  }
  if (!options->metrics_listen.empty()) {
    std::string host;
    uint16_t port = 0;
    if (absl::Status s = ParseListener(kMetricsListenKey, options->metrics_listen, &host, &port);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status BrokerObservability::StartEndpoint(const std::string& listen) {
  if (listen.empty()) return absl::OkStatus();
  std::string host;
  uint16_t port = 0;
  if (absl::Status s = ParseListener(kMetricsListenKey, listen, &host, &port); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> http =
      MetricsHttpServer::Start(host, port, [this] { return Text(); });
  if (!http.ok()) return http.status();
  http_ = *std::move(http);
  std::string shown = (host == "0.0.0.0" || host == "::" || host.empty()) ? "127.0.0.1" : host;
  address_ = absl::StrCat(shown, ":", http_->port());
  return absl::OkStatus();
}

}  // namespace runnel::broker
