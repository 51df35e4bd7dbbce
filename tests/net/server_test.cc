// net::Server on its own, with a scripted handler and plain sockets: which
// thread serves a connection, and what Stop does to sockets and to requests
// still being answered.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "net/server.h"

namespace runnel::net {
namespace {

// Correlation ids from here on are parked: the handler keeps their respond
// callbacks for the test to call (or drop) later.
constexpr int32_t kParkedFrom = 1000;

// Answers each request with a frame holding just its correlation id. Odd ids
// are answered from a helper thread (as a long-poll timer would), even ids
// inline; parked ones are kept. Records the thread each request ran on.
class ScriptedHandler : public RequestHandler {
 public:
  ~ScriptedHandler() override { JoinHelpers(); }

  // A helper thread's callback holds its connection until the thread ends:
  // join them before the server goes.
  void JoinHelpers() {
    std::vector<std::thread> helpers;
    {
      absl::MutexLock l(&mu_);
      helpers = std::exchange(helpers_, {});
    }
    for (std::thread& t : helpers) t.join();
  }

  void Handle(const Request& request, Respond respond) override {
    const int32_t id = request.header.correlation_id;
    absl::MutexLock l(&mu_);
    threads_by_peer_[request.peer].insert(std::this_thread::get_id());
    if (id >= kParkedFrom) {
      parked_.push_back({id, std::move(respond)});
      return;
    }
    if (id % 2 == 1) {
      helpers_.emplace_back([id, respond = std::move(respond)] { respond(Answer(id)); });
      return;
    }
    respond(Answer(id));
  }

  static Response Answer(int32_t id) {
    ByteBuffer frame;
    const uint8_t bytes[8] = {0, 0, 0, 4,
                              static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16),
                              static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)};
    frame.Append(bytes, sizeof(bytes));
    return Response::Bytes(std::move(frame));
  }

  size_t parked_count() {
    absl::MutexLock l(&mu_);
    return parked_.size();
  }

  // Takes the parked callbacks (the test calls or drops them; each holds its
  // connection, which must go before the server does).
  std::vector<std::pair<int32_t, Respond>> TakeParked() {
    absl::MutexLock l(&mu_);
    return std::exchange(parked_, {});
  }

  std::map<std::string, std::set<std::thread::id>> threads_by_peer() {
    absl::MutexLock l(&mu_);
    return threads_by_peer_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::set<std::thread::id>> threads_by_peer_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<int32_t, Respond>> parked_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> helpers_ ABSL_GUARDED_BY(mu_);
};

// A blocking client socket. Its calls return outcomes; the test asserts.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }

  // An ApiVersions v0 request (header v1: key, version, correlation id,
  // null client id); the server decodes only the header.
  bool Send(int32_t id) {
    const uint8_t frame[14] = {0, 0, 0, 10, 0, 18, 0, 0,
                               static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16),
                               static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id),
                               0xff, 0xff};
    return ::send(fd_, frame, sizeof(frame), MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof(frame));
  }

  // The correlation id of the next response, or nullopt on EOF, error or
  // nothing within `timeout_ms`.
  std::optional<int32_t> Receive(int timeout_ms = 5000) {
    uint8_t b[8];
    size_t done = 0;
    while (done < sizeof(b)) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
      ssize_t n = ::recv(fd_, b + done, sizeof(b) - done, 0);
      if (n <= 0) return std::nullopt;
      done += static_cast<size_t>(n);
    }
    return static_cast<int32_t>((uint32_t{b[4]} << 24) | (uint32_t{b[5]} << 16) |
                                (uint32_t{b[6]} << 8) | b[7]);
  }

  // True when the server's end is closed (EOF or reset) within `timeout_ms`.
  // Stale bytes before the EOF count as open: the test reads answers first.
  bool SeesEof(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    uint8_t b;
    return ::recv(fd_, &b, 1, MSG_DONTWAIT) <= 0;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

std::unique_ptr<Server> StartServer(ScriptedHandler* handler, int io_threads) {
  ServerOptions options{.host = "127.0.0.1", .port = 0, .io_threads = io_threads};
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options, handler);
  REQUIRE(server.ok());
  return *std::move(server);
}

// Waits (bounded) until the handler holds `n` parked requests.
bool WaitParked(ScriptedHandler& handler, size_t n) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (handler.parked_count() < n && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  return handler.parked_count() >= n;
}

TEST_CASE("each connection is served on one I/O thread, connections spread over them",
          "[net][server]") {
  ScriptedHandler handler;
  std::unique_ptr<Server> server = StartServer(&handler, 2);
  constexpr int kClients = 4;
  constexpr int kRequests = 40;
  std::vector<std::unique_ptr<Client>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::make_unique<Client>(server->port()));
    REQUIRE(clients.back()->connected());
  }
  // Pipelined, half answered from other threads: answers still come back in
  // request order.
  for (auto& c : clients) {
    for (int i = 0; i < kRequests; ++i) REQUIRE(c->Send(i));
  }
  for (auto& c : clients) {
    for (int i = 0; i < kRequests; ++i) REQUIRE(c->Receive() == std::optional<int32_t>(i));
  }
  auto threads = handler.threads_by_peer();
  REQUIRE(threads.size() == kClients);
  std::set<std::thread::id> all;
  for (const auto& [peer, ids] : threads) {
    INFO("peer " << peer);
    CHECK(ids.size() == 1);
    all.insert(ids.begin(), ids.end());
  }
  // Round-robin over two threads: both serve connections.
  CHECK(all.size() == 2);
  CHECK(server->stats().connections_accepted.load() == kClients);
  handler.JoinHelpers();
  server->Stop(absl::Seconds(1));
}

TEST_CASE("Stop closes every socket before it returns, the server still alive",
          "[net][server]") {
  ScriptedHandler handler;
  std::unique_ptr<Server> server = StartServer(&handler, 2);
  Client idle(server->port());
  REQUIRE(idle.connected());
  REQUIRE(idle.Send(2));
  REQUIRE(idle.Receive() == std::optional<int32_t>(2));
  // Several parked connections on each thread: the old Stop queued their
  // closes and stopped the threads, which then ran some of them and not the
  // others.
  constexpr int kParked = 16;
  std::vector<std::unique_ptr<Client>> parked;
  for (int i = 0; i < kParked; ++i) {
    parked.push_back(std::make_unique<Client>(server->port()));
    REQUIRE(parked.back()->connected());
    REQUIRE(parked.back()->Send(kParkedFrom + i));
  }
  REQUIRE(WaitParked(handler, kParked));

  const absl::Time start = absl::Now();
  server->Stop(absl::Milliseconds(200));
  const absl::Duration took = absl::Now() - start;
  // The parked request held Stop for its timeout, no longer.
  CHECK(took >= absl::Milliseconds(190));
  CHECK(took < absl::Seconds(2));
  // Closed by Stop itself: the FIN is already on its way (the old Stop left
  // both open until the server was destroyed).
  CHECK(idle.SeesEof(500));
  int open = 0;
  for (auto& c : parked) open += c->SeesEof(500) ? 0 : 1;
  CHECK(open == 0);
  CHECK(server->stats().connections_active.load() == 0);
  // Nobody new gets in either.
  Client late(server->port());
  CHECK((!late.connected() || late.SeesEof(500)));

  // An answer after Stop goes nowhere and harms nothing.
  for (auto& [id, respond] : handler.TakeParked()) respond(ScriptedHandler::Answer(id));
}

TEST_CASE("Stop answers requests already read when they complete within the timeout",
          "[net][server]") {
  ScriptedHandler handler;
  std::unique_ptr<Server> server = StartServer(&handler, 1);
  Client c(server->port());
  REQUIRE(c.connected());
  REQUIRE(c.Send(kParkedFrom));
  REQUIRE(c.Send(kParkedFrom + 1));
  REQUIRE(WaitParked(handler, 2));
  std::vector<std::pair<int32_t, Respond>> parked = handler.TakeParked();
  // Answered 100 ms into Stop, from another thread, in reverse order.
  std::thread late_answers([&parked] {
    absl::SleepFor(absl::Milliseconds(100));
    for (auto it = parked.rbegin(); it != parked.rend(); ++it) {
      it->second(ScriptedHandler::Answer(it->first));
    }
  });
  const absl::Time start = absl::Now();
  server->Stop(absl::Seconds(3));
  const absl::Duration took = absl::Now() - start;
  late_answers.join();
  parked.clear();
  // Stop returned once both were written, well before its timeout.
  CHECK(took < absl::Seconds(2));
  CHECK(c.Receive() == std::optional<int32_t>(kParkedFrom));
  CHECK(c.Receive() == std::optional<int32_t>(kParkedFrom + 1));
  CHECK(c.SeesEof(500));
}

TEST_CASE("a server destroyed without Stop closes its connections", "[net][server]") {
  ScriptedHandler handler;
  std::unique_ptr<Server> server = StartServer(&handler, 0);
  Client c(server->port());
  REQUIRE(c.connected());
  REQUIRE(c.Send(4));
  REQUIRE(c.Receive() == std::optional<int32_t>(4));
  server.reset();
  CHECK(c.SeesEof(500));
}

}  // namespace
}  // namespace runnel::net
