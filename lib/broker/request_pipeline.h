// RequestPipeline: what the net server hands every request to. It times the
// request for BrokerMetrics, runs the RequestHooks of runnel/broker.h
// before (reject, rewrite or answer) and after (observe the response), and
// passes the request on to the router.
//
//   RequestPipeline pipeline(&router, &metrics, options.hooks);
//   net::Server::Start(server_options, &pipeline);
//
// Without hooks the cost per request is one clock read at each end, a few
// relaxed atomic adds and the wrapped `respond`.
//
// Threads: Handle runs on I/O threads concurrently (see net/request.h).
// The router and metrics must outlive the pipeline.
#pragma once

#include <memory>
#include <vector>

#include "broker/metrics.h"
#include "broker/request_handler.h"
#include "broker/router.h"
#include "runnel/broker.h"

namespace runnel::broker {

class RequestPipeline : public RequestHandler {
 public:
  RequestPipeline(RequestHandler* next, BrokerMetrics* metrics,
                  std::vector<std::shared_ptr<RequestHook>> hooks)
      : next_(next), metrics_(metrics), hooks_(std::move(hooks)) {}

  void Handle(const Request& request, Respond respond) override;

 private:
  void HandleWithHooks(const Request& request, Respond respond, int64_t start_us);

  RequestHandler* const next_;
  BrokerMetrics* const metrics_;
  const std::vector<std::shared_ptr<RequestHook>> hooks_;
};

}  // namespace runnel::broker
