// The Asio side of net::Server: one io_context per I/O thread (Asio's
// io_context-per-thread pattern, as in Redpanda's shard-per-core). An
// acceptor coroutine hands each new socket to the next context round-robin,
// and everything that connection does (reads, handler calls, writes, its
// idle watchdog) runs on that context's one thread: no hop between threads
// and no cache lines moving between cores per request. One thread per
// context makes the context's executor an implicit strand, so a
// connection's state needs no lock.
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
#include <functional>
#include <memory>
#include <optional>
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
      : options_(std::move(options)), handler_(handler) {
    const int n = options_.io_threads > 0
                      ? options_.io_threads
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 0; i < n; ++i) {
      // Concurrency hint 1: exactly one thread runs each context (other
      // threads only post to it), so Asio can skip waking idle peers.
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      work_.push_back(asio::make_work_guard(*contexts_.back()));
    }
    acceptor_.emplace(*contexts_[0]);
  }

  ~ServerImpl() override {
    Stop(absl::Seconds(1));
    // The acceptor belongs to contexts_[0]: it goes before the contexts.
    acceptor_.reset();
  }

  absl::Status Listen() {
    asio::error_code ec;
    tcp::resolver resolver(*contexts_[0]);
    auto results = resolver.resolve(options_.host, std::to_string(options_.port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot resolve listen address ", options_.host, ": ", ec.message()));
    }
    tcp::endpoint ep = results.begin()->endpoint();
    acceptor_->open(ep.protocol(), ec);
    if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_->bind(ep, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.host, ":",
                                                 options_.port, ": ", ec.message()));
    }
    port_ = acceptor_->local_endpoint().port();
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
    asio::co_spawn(*contexts_[0], Accept(), asio::detached);
    for (auto& ctx : contexts_) {
      threads_.emplace_back([ctx = ctx.get()] {
        BlockSigpipe();
        ctx->run();
      });
    }
  }

  uint16_t port() const override { return port_; }
  const ServerOptions& options() const { return options_; }
  const ServerStats& stats() const override { return stats_; }

  // 1. The acceptor closes on its own thread; Stop waits for that, so no
  //    connection is accepted after the snapshot in 2.
  // 2. Every connection stops reading. Once each I/O thread has run a
  //    barrier posted after that, no request is handed to a handler any
  //    more, so the connections' pending counts are complete. Each
  //    connection that has answered all it read closes itself on its
  //    thread; Stop waits for the rest up to `timeout`.
  // 3. The I/O threads stop and are joined. No thread runs a connection's
  //    executor any more, so this thread may touch connection state: it
  //    closes the sockets still open (requests parked past the timeout).
  //    Every socket is closed when Stop returns, not when the server is
  //    destroyed; answers still to come are posted to stopped contexts and
  //    dropped with them.
  // The waits in 1 and 2 end at the deadline: handlers must not block, so
  // the posts run at once unless a thread is wedged, and then the join
  // waits for it anyway.
  void Stop(absl::Duration timeout) override {
    if (stopped_.exchange(true)) return;
    const absl::Time deadline = absl::Now() + timeout;
    const bool running = !threads_.empty();
    if (running) {
      RunOnEachContext({contexts_[0].get()}, [this] {
        asio::error_code ec;
        acceptor_->close(ec);
      }, deadline);
    }
    std::vector<std::shared_ptr<Connection>> conns = Snapshot();
    for (auto& c : conns) c->StopReading();
    if (running) RunOnEachContext(AllContexts(), [] {}, deadline);
    auto all_drained = [&conns] {
      return std::all_of(conns.begin(), conns.end(),
                         [](const auto& c) { return c->Drained(); });
    };
    while (!all_drained() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(2));
    for (auto& ctx : contexts_) ctx->stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    // Again, on this thread now: the wait in 1 may have ended first.
    asio::error_code ec;
    acceptor_->close(ec);
    for (auto& c : Snapshot()) c->CloseStopped("broker shutting down");
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
  std::vector<std::shared_ptr<Connection>> Snapshot() {
    absl::MutexLock l(&mu_);
    return connections_;
  }

  std::vector<asio::io_context*> AllContexts() const {
    std::vector<asio::io_context*> all;
    for (const auto& ctx : contexts_) all.push_back(ctx.get());
    return all;
  }

  // Posts `fn` to each of `contexts` and waits until all have run it, or
  // until `deadline`. The state the posts share outlives a timed-out wait.
  static void RunOnEachContext(const std::vector<asio::io_context*>& contexts,
                               std::function<void()> fn, absl::Time deadline) {
    struct Countdown {
      absl::Mutex mu;
      size_t left ABSL_GUARDED_BY(mu);
    };
    auto countdown = std::make_shared<Countdown>();
    {
      absl::MutexLock l(&countdown->mu);
      countdown->left = contexts.size();
    }
    for (asio::io_context* ctx : contexts) {
      asio::post(*ctx, [countdown, fn] {
        fn();
        absl::MutexLock l(&countdown->mu);
        --countdown->left;
      });
    }
    absl::MutexLock l(&countdown->mu);
    countdown->mu.AwaitWithDeadline(
        absl::Condition(+[](size_t* left) { return *left == 0; }, &countdown->left), deadline);
  }

  // On contexts_[0]'s thread.
  asio::awaitable<void> Accept() {
    size_t next = 0;
    while (!stopped_) {
      asio::error_code ec;
      asio::io_context& target = *contexts_[next];
      tcp::socket socket = co_await acceptor_->async_accept(
          target, asio::redirect_error(asio::use_awaitable, ec));
      // An accept that completed before Stop closed the acceptor may resume
      // after Stop took its snapshot of connections: drop it.
      if (stopped_) co_return;
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        RUNNEL_LOG(kWarn, "accept failed", {{"error", ec.message()}});
        continue;
      }
      next = (next + 1) % contexts_.size();
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
  // One per I/O thread; threads_[i] runs contexts_[i]. A connection's
  // socket and timers live in its context, so connections must be gone
  // before the contexts are (see ~ServerImpl and Broker::Stop).
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::optional<tcp::acceptor> acceptor_;  // on contexts_[0]
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
