// Server: the Kafka-protocol TCP server. Accepts connections on one address,
// reads size-prefixed request frames back to back (clients pipeline), hands
// each to a RequestHandler and writes the responses strictly in request
// order, even when handlers complete out of order (long-poll fetch).
//
//   net::ServerOptions options{.host = "127.0.0.1", .port = 0};
//   RUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<net::Server> server,
//                           net::Server::Start(options, &router));
//   uint16_t port = server->port();
//   ...
//   server->Stop(absl::Seconds(5));
//
// Bad input closes the connection with a log line naming the peer: a frame
// size above max_frame_size or below zero, an undecodable request header, a
// handler answering with a non-OK status. Other connections are unaffected.
//
// Threads: the server owns `io_threads` I/O threads, each running its own
// io_context; a connection is given to one of them (round-robin) when
// accepted, and its reads, handler calls and writes all run on that thread.
// Start and Stop from any one thread; port() from any. The handler must
// outlive the server, and every `respond` callback (each holds its
// connection, whose socket lives in the server's io_contexts) must be
// destroyed before the server is.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "net/request.h"
#include "runnel/protocol/header.h"

namespace runnel::net {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 9092;  // 0: any free port (see Server::port())
  // I/O threads, each with its own io_context. 0: one per core. Handlers
  // run on them and must not block (a blocked handler stalls every
  // connection on its thread).
  int io_threads = 0;
  // socket.request.max.bytes: larger frames close the connection before
  // anything is allocated for them.
  size_t max_frame_size = protocol::kDefaultMaxFrameSize;
  // connections.max.idle.ms: a connection with no request for this long
  // is closed (Kafka's default, 10 minutes).
  absl::Duration idle_timeout = absl::Minutes(10);
  // Called once with the bound port after the socket listens and before
  // any request is served. The kernel completes handshakes as soon as the
  // socket listens, so a client can connect and send Metadata before Start
  // returns: whatever the first answers depend on (the advertised address
  // for port 0) must be settled here, not after Start.
  std::function<void(uint16_t port)> on_listening;
};

// Counters the server keeps for metrics. Relaxed atomics: read them from
// any thread, at any time; each value is exact, the set is not a snapshot.
struct ServerStats {
  std::atomic<int64_t> connections_accepted{0};
  std::atomic<int64_t> connections_active{0};
  std::atomic<int64_t> bytes_in{0};   // request frames, size prefix included
  std::atomic<int64_t> bytes_out{0};  // response frames, sendfile data included
};

class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options,
                                                       RequestHandler* handler);
  virtual ~Server() = default;

  // The bound port (the chosen one when options.port was 0).
  virtual uint16_t port() const = 0;

  virtual const ServerStats& stats() const = 0;

  // Stops accepting and reading, lets requests already read be answered for
  // up to `timeout`, then joins the threads and closes every connection
  // still open: when Stop returns, every socket is closed (clients see EOF)
  // though the server object lives on. Answers that come later are dropped.
  virtual void Stop(absl::Duration timeout) = 0;
};

}  // namespace runnel::net
