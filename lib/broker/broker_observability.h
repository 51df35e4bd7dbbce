// BrokerObservability: what runnel::Broker adds for operators and custom
// brokers around its router: the request pipeline (hooks and per-API
// metrics), the Prometheus endpoint, and the two settings that are not
// Kafka server properties (runnel.log.level, runnel.metrics.listen).
//
//   RUNNEL_RETURN_IF_ERROR(TakeObservabilityOptions(&options));  // before ApplyServerProperties
//   BrokerObservability obs(&router, options.hooks);
//   net::Server::Start(server_options, obs.handler());
//   obs.SetSources({.net = &server->stats(), .topics = topics});
//   RUNNEL_RETURN_IF_ERROR(obs.StartEndpoint(options.metrics_listen));
//
// Threads: construct, StartEndpoint and StopEndpoint from the broker's
// start/stop thread; SetSources, Text and address from any thread. Text
// reads the sources under a lock that SetSources takes exclusively, so once
// SetSources({}) returns no Text is still reading the old ones (the broker
// clears them at Stop, before the net server and the group coordinator
// they point into go away).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "broker/metrics.h"
#include "broker/metrics_http.h"
#include "broker/request_pipeline.h"
#include "runnel/broker.h"

namespace runnel::broker {

// Moves runnel.log.level and runnel.metrics.listen from options->properties
// into the fields they set (the fields win when both are given) and applies
// the log level. A bad level or address fails naming the key.
absl::Status TakeObservabilityOptions(BrokerOptions* options);

class BrokerObservability {
 public:
  BrokerObservability(RequestHandler* router, std::vector<std::shared_ptr<RequestHook>> hooks)
      : pipeline_(router, &metrics_, std::move(hooks)) {}
  ~BrokerObservability() { StopEndpoint(); }

  // What the net server should call for every request.
  RequestHandler* handler() { return &pipeline_; }

  void SetSources(MetricsSources sources) {
    absl::WriterMutexLock l(&sources_mu_);
    sources_ = std::move(sources);
  }

  // "host:port" (port 0: any free one); empty: no endpoint.
  absl::Status StartEndpoint(const std::string& listen);
  void StopEndpoint() { http_.reset(); }

  std::string Text() const {
    absl::ReaderMutexLock l(&sources_mu_);
    return metrics_.Render(sources_);
  }
  const std::string& address() const { return address_; }

 private:
  BrokerMetrics metrics_;
  RequestPipeline pipeline_;
  mutable absl::Mutex sources_mu_;
  MetricsSources sources_ ABSL_GUARDED_BY(sources_mu_);
  std::unique_ptr<MetricsHttpServer> http_;
  std::string address_;
};

}  // namespace runnel::broker
