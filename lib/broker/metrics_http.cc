#include "broker/metrics_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace runnel::broker {
namespace {

constexpr int kIoTimeoutMs = 5000;
constexpr size_t kMaxRequestBytes = 16 * 1024;

std::string Reply(const std::string& status, const std::string& content_type,
                  const std::string& body) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

class MetricsHttpServerImpl : public MetricsHttpServer {
 public:
  MetricsHttpServerImpl(int listen_fd, int wake_fd, uint16_t port,
                        std::function<std::string()> render)
      : listen_fd_(listen_fd), wake_fd_(wake_fd), port_(port), render_(std::move(render)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~MetricsHttpServerImpl() override {
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
    thread_.join();
    ::close(listen_fd_);
    ::close(wake_fd_);
  }
  uint16_t port() const override { return port_; }

 private:
  void Run() {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      int n = ::poll(fds, 2, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || (fds[1].revents & POLLIN)) return;
      if (!(fds[0].revents & POLLIN)) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      Serve(fd);
      ::close(fd);
    }
  }

  // False on timeout, error or the stop signal.
  bool WaitFor(int fd, short events) {
    pollfd fds[2] = {{fd, events, 0}, {wake_fd_, POLLIN, 0}};
    int n = ::poll(fds, 2, kIoTimeoutMs);
    return n > 0 && !(fds[1].revents & POLLIN) && (fds[0].revents & (events | POLLHUP | POLLERR));
  }

  void Serve(int fd) {
    std::string request;
    char buf[2048];
    while (request.find("\r\n\r\n") == std::string::npos) {
      if (request.size() > kMaxRequestBytes || !WaitFor(fd, POLLIN)) return;
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return;
      request.append(buf, static_cast<size_t>(n));
    }
    std::string line = request.substr(0, request.find("\r\n"));
    std::string reply;
    if (!absl::StartsWith(line, "GET ") && !absl::StartsWith(line, "HEAD ")) {
      reply = Reply("405 Method Not Allowed", "text/plain", "only GET\n");
    } else {
      size_t path_start = line.find(' ') + 1;
      std::string path = line.substr(path_start, line.find(' ', path_start) - path_start);
      if (size_t q = path.find('?'); q != std::string::npos) path.resize(q);
      if (path == "/metrics") {
        reply = Reply("200 OK", "text/plain; version=0.0.4; charset=utf-8", render_());
      } else if (path == "/") {
        reply = Reply("200 OK", "text/html",
                      "<html><body><a href=\"/metrics\">metrics</a></body></html>\n");
      } else {
        reply = Reply("404 Not Found", "text/plain", "not found; try /metrics\n");
      }
      if (absl::StartsWith(line, "HEAD ")) reply.resize(reply.find("\r\n\r\n") + 4);
    }
    size_t done = 0;
    while (done < reply.size()) {
      if (!WaitFor(fd, POLLOUT)) return;
      ssize_t n = ::send(fd, reply.data() + done, reply.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }

  const int listen_fd_;
  const int wake_fd_;
  const uint16_t port_;
  const std::function<std::string()> render_;
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& host, uint16_t port, std::function<std::string()> render) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve metrics address ", host, ": ", ::gai_strerror(rc)));
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  bool ok = fd >= 0 && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
            ::bind(fd, res->ai_addr, res->ai_addrlen) == 0 && ::listen(fd, 64) == 0;
  int err = errno;
  ::freeaddrinfo(res);
  if (!ok) {
    if (fd >= 0) ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot listen for metrics on ", host, ":", port, ": ", std::strerror(err)));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  uint16_t bound_port = bound.ss_family == AF_INET6
                            ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                            : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  int wake = ::eventfd(0, EFD_CLOEXEC);
  if (wake < 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServerImpl(fd, wake, bound_port, std::move(render)));
}

}  // namespace runnel::broker
