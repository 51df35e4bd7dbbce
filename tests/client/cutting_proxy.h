// CuttingProxy: a loopback TCP proxy in front of one broker that can lose
// answers, for tests of what a client does when a connection dies with
// requests the broker has already handled.
//
//   CuttingProxy proxy;                       // listens on proxy.port()
//   ... start the broker advertising 127.0.0.1:proxy.port() ...
//   proxy.Forward(broker_port);
//   proxy.Cut(absl::Milliseconds(200));       // answers lost, then closed
//
// Cut() stops passing the broker's bytes back, waits `settle` for what was
// already sent up to be handled, then closes every connection. Connections
// made afterwards are passed through as before. One thread polls every
// socket; nothing blocks on a slow side.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace runnel::client::testing {

class CuttingProxy {
 public:
  CuttingProxy() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in addr = Loopback(0);
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0) {
      throw std::runtime_error("CuttingProxy: cannot listen on loopback");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~CuttingProxy() {
    stop_ = true;
    thread_.join();
    for (auto& p : pairs_) p.Close();
    ::close(listen_fd_);
  }
  CuttingProxy(const CuttingProxy&) = delete;
  CuttingProxy& operator=(const CuttingProxy&) = delete;

  uint16_t port() const { return port_; }

  // Where accepted connections go (loopback); set before clients connect.
  void Forward(uint16_t upstream_port) { upstream_port_ = upstream_port; }

  void Cut(absl::Duration settle) {
    dropping_answers_ = true;
    absl::SleepFor(settle);
    close_all_ = true;
    while (close_all_) absl::SleepFor(absl::Milliseconds(1));
    dropping_answers_ = false;
  }

  // Connections cut so far.
  int cut() const { return cut_; }

  // A loopback port nothing listens on now (for a broker to take).
  static uint16_t FreePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = Loopback(0);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("CuttingProxy: no free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
  }

 private:
  // One direction of a connection: bytes read from `from` not yet written
  // to `to`.
  struct Pipe {
    std::string pending;
  };
  struct Pair {
    int client = -1;
    int upstream = -1;
    Pipe up;    // client -> upstream
    Pipe down;  // upstream -> client
    void Close() {
      if (client >= 0) ::close(client);
      if (upstream >= 0) ::close(upstream);
      client = upstream = -1;
    }
  };

  static sockaddr_in Loopback(uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
  }

  void Accept() {
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK);
    if (client < 0) return;
    int upstream = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = Loopback(upstream_port_);
    // A blocking connect is quick on loopback; a refused one drops the
    // client, as a broker that is down would.
    if (upstream < 0 || ::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (upstream >= 0) ::close(upstream);
      ::close(client);
      return;
    }
    ::fcntl(upstream, F_SETFL, ::fcntl(upstream, F_GETFL) | O_NONBLOCK);
    Pair p;
    p.client = client;
    p.upstream = upstream;
    pairs_.push_back(std::move(p));
  }

  // Reads what `from` has into `pipe` (or discards it); false when `from`
  // closed or failed.
  static bool Read(int from, Pipe& pipe, bool discard) {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(from, buf, sizeof buf);
      if (n > 0) {
        if (!discard) pipe.pending.append(buf, static_cast<size_t>(n));
        continue;
      }
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }

  static bool Write(int to, Pipe& pipe) {
    while (!pipe.pending.empty()) {
      ssize_t n = ::write(to, pipe.pending.data(), pipe.pending.size());
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
      pipe.pending.erase(0, static_cast<size_t>(n));
    }
    return true;
  }

  void Run() {
    while (!stop_) {
      if (close_all_) {
        cut_ += static_cast<int>(pairs_.size());
        for (auto& p : pairs_) p.Close();
        pairs_.clear();
        close_all_ = false;
      }
      std::vector<pollfd> fds;
      fds.push_back({listen_fd_, POLLIN, 0});
      for (auto& p : pairs_) {
        fds.push_back({p.client, static_cast<short>(POLLIN | (p.down.pending.empty() ? 0 : POLLOUT)), 0});
        fds.push_back({p.upstream, static_cast<short>(POLLIN | (p.up.pending.empty() ? 0 : POLLOUT)), 0});
      }
      if (::poll(fds.data(), fds.size(), 10) <= 0) continue;
      const bool drop = dropping_answers_;
      std::vector<Pair> alive;
      for (size_t i = 0; i < pairs_.size(); ++i) {
        Pair& p = pairs_[i];
        const short c = fds[1 + 2 * i].revents;
        const short u = fds[2 + 2 * i].revents;
        bool ok = true;
        if (c & (POLLIN | POLLHUP | POLLERR)) ok = Read(p.client, p.up, false) && ok;
        if (u & (POLLIN | POLLHUP | POLLERR)) ok = Read(p.upstream, p.down, drop) && ok;
        if (drop) p.down.pending.clear();
        ok = Write(p.upstream, p.up) && Write(p.client, p.down) && ok;
        if (ok) {
          alive.push_back(std::move(p));
        } else {
          p.Close();
        }
      }
      pairs_ = std::move(alive);
      if (fds[0].revents & POLLIN) Accept();
    }
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<uint16_t> upstream_port_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> dropping_answers_{false};
  std::atomic<bool> close_all_{false};
  std::atomic<int> cut_{0};
  std::vector<Pair> pairs_;  // the proxy thread's own
  std::thread thread_;
};

}  // namespace runnel::client::testing
