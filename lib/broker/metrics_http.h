// MetricsHttpServer: a minimal HTTP/1.1 responder for Prometheus scrapes.
// GET /metrics answers 200 with whatever `render` returns (text format
// 0.0.4); GET / points there; other paths 404, other methods 405. One
// request per connection (Connection: close), served one at a time on the
// server's own thread: a scrape every few seconds needs no more, and a slow
// or silent client is dropped after a 5-second timeout.
//
//   auto http = MetricsHttpServer::Start("127.0.0.1", 0, [&] { return metrics.Render(src); });
//   if (!http.ok()) return http.status();
//   uint16_t port = (*http)->port();
//
// Plain sockets and poll(2) rather than Asio: it must not share (or stall)
// the Kafka I/O threads, and it needs none of their machinery.
//
// Threads: Start and the destructor from one thread; port() from any.
// `render` runs on the server's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace runnel::broker {

class MetricsHttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& host, uint16_t port, std::function<std::string()> render);
  virtual ~MetricsHttpServer() = default;  // stops and joins the thread
  virtual uint16_t port() const = 0;
};

}  // namespace runnel::broker
