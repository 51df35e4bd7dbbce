// The Asio side of net::Server: an acceptor coroutine and, per connection, a
// reader coroutine, a writer coroutine and an idle watchdog, all on the
// connection's strand so its state needs no lock.
#include "net/server.h"

#include <pthread.h>
#include <signal.h>
#include <sys/sendfile.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include <asio.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "net/connection.h"

namespace runnel::net {

int64_t Response::size() const {
  int64_t total = 0;
  for (const Chunk& c : chunks) {
    if (const auto* b = std::get_if<ByteBuffer>(&c)) {
      total += static_cast<int64_t>(b->size());
    } else {
      total += std::get<FileRange>(c).length;
    }
  }
  return total;
}

namespace {

using asio::ip::tcp;

class ServerImpl : public Server, public ConnectionRegistry {
 public:
  ServerImpl(ServerOptions options, RequestHandler* handler)
      : options_(std::move(options)), handler_(handler), acceptor_(ctx_) {}

  ~ServerImpl() override { Stop(absl::Seconds(1)); }

  absl::Status Listen() {
    asio::error_code ec;
    tcp::resolver resolver(ctx_);
    auto results = resolver.resolve(options_.host, std::to_string(options_.port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot resolve listen address ", options_.host, ": ", ec.message()));
    }
    tcp::endpoint ep = results.begin()->endpoint();
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.host, ":",
                                                 options_.port, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    return absl::OkStatus();
  }

  // sendfile() has no MSG_NOSIGNAL: writing to a socket the peer has closed
  // raises SIGPIPE in the calling thread, whose default action kills the
  // process (an application embedding the broker has not ignored it, as
  // runnel-broker's main does). Blocked here, the signal stays pending on
  // this thread only and sendfile returns EPIPE, which closes the connection.
  static void BlockSigpipe() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }

  void Run() {
    asio::co_spawn(ctx_, Accept(), asio::detached);
    int n = options_.io_threads > 0
                ? options_.io_threads
                : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this] {
        BlockSigpipe();
        ctx_.run();
      });
    }
  }

  uint16_t port() const override { return port_; }
  const ServerOptions& options() const { return options_; }
  const ServerStats& stats() const override { return stats_; }

  void Stop(absl::Duration timeout) override {
    if (stopped_.exchange(true)) return;
    asio::post(ctx_, [this] {
      asio::error_code ec;
      acceptor_.close(ec);
    });
    std::vector<std::shared_ptr<Connection>> conns;
    {
      absl::MutexLock l(&mu_);
      for (const auto& c : connections_) conns.push_back(c);
    }
    for (auto& c : conns) c->StopReading();
    absl::Time deadline = absl::Now() + timeout;
    for (auto& c : conns) {
      while (!c->Drained() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
      c->Close("broker shutting down");
    }
    ctx_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    absl::MutexLock l(&mu_);
    connections_.clear();
  }

  void Remove(Connection* c) override {
    absl::MutexLock l(&mu_);
    for (auto it = connections_.begin(); it != connections_.end(); ++it) {
      if (it->get() == c) {
        connections_.erase(it);
        return;
      }
    }
  }

 private:
  asio::awaitable<void> Accept() {
    while (!stopped_) {
      asio::error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(
          asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopped_) co_return;
        RUNNEL_LOG(kWarn, "accept failed", {{"error", ec.message()}});
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto conn = std::make_shared<Connection>(std::move(socket), ConnectionOptions{
          options_.max_frame_size, options_.idle_timeout, &stats_}, handler_, this);
      stats_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
      stats_.connections_active.fetch_add(1, std::memory_order_relaxed);
      {
        absl::MutexLock l(&mu_);
        connections_.push_back(conn);
      }
      conn->Start();
    }
  }

  const ServerOptions options_;
  RequestHandler* const handler_;
  asio::io_context ctx_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  ServerStats stats_;
  std::atomic<bool> stopped_{false};
  std::vector<std::thread> threads_;
  absl::Mutex mu_;
  std::vector<std::shared_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options,
                                                      RequestHandler* handler) {
  auto server = std::make_unique<ServerImpl>(std::move(options), handler);
  if (absl::Status s = server->Listen(); !s.ok()) return s;
  if (server->options().on_listening) server->options().on_listening(server->port());
  server->Run();
  return server;
}

}  // namespace runnel::net
