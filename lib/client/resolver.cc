#include "client/resolver.h"

#include <netdb.h>

#include <cstring>
#include <string>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"

namespace runnel::client {
namespace {

ResolveResult GetAddrInfo(const HostPort& address, int flags) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags;
  addrinfo* res = nullptr;
  std::string port = std::to_string(address.port);
  int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", address.ToString(), ": ", ::gai_strerror(rc)));
  }
  std::vector<ResolvedAddress> out;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    ResolvedAddress a;
    a.family = ai->ai_family;
    a.socktype = ai->ai_socktype;
    a.protocol = ai->ai_protocol;
    std::memcpy(&a.addr, ai->ai_addr, ai->ai_addrlen);
    a.addr_len = ai->ai_addrlen;
    out.push_back(a);
  }
  ::freeaddrinfo(res);
  if (out.empty()) {
    return absl::UnavailableError(absl::StrCat("no address for ", address.ToString()));
  }
  return out;
}

class ThreadResolver : public Resolver {
 public:
  void Resolve(const HostPort& address, absl::AnyInvocable<void(ResolveResult)> done) override {
    if (std::optional<ResolveResult> numeric = ResolveNumeric(address)) {
      done(*std::move(numeric));
      return;
    }
    // Detached: a hung lookup must not hold up the client's shutdown; the
    // thread owns its copy of the address and the callback. A lookup that
    // outlives its attempt (connection setup timeout) is answered into the
    // void, so a name that hangs costs one thread per attempt.
    auto shared = std::make_shared<absl::AnyInvocable<void(ResolveResult)>>(std::move(done));
    try {
      std::thread([address, shared] { (*shared)(ResolveBlocking(address)); }).detach();
    } catch (const std::system_error& e) {
      // No thread to be had (EAGAIN): this attempt fails and is retried.
      (*shared)(absl::UnavailableError(
          absl::StrCat("cannot resolve ", address.ToString(), ": no thread: ", e.what())));
    }
  }
};

}  // namespace

std::shared_ptr<Resolver> DefaultResolver() { return std::make_shared<ThreadResolver>(); }

std::optional<ResolveResult> ResolveNumeric(const HostPort& address) {
  ResolveResult r = GetAddrInfo(address, AI_NUMERICHOST);
  if (!r.ok()) return std::nullopt;
  return r;
}

ResolveResult ResolveBlocking(const HostPort& address) { return GetAddrInfo(address, 0); }

}  // namespace runnel::client
