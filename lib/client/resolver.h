// Resolver: turns a broker's host name into socket addresses without
// holding up the client's I/O thread. getaddrinfo() blocks for as long as
// the system's resolver takes (seconds for a name whose DNS server does not
// answer), and the I/O thread serves every other broker connection and the
// delivery callbacks, so a lookup runs elsewhere and its result is handed
// back (ClientCore drains it on the I/O thread).
//
//   std::shared_ptr<Resolver> r = DefaultResolver();
//   r->Resolve({"localhost", 9092}, [](ResolveResult addrs) { ... });  // another thread
//
// Numeric addresses ("127.0.0.1", "::1") need no lookup: ResolveNumeric
// answers them at once, so the common case costs no thread.
//
// Ownership and threads: Resolve may be called from any thread. `done` runs
// exactly once, on a thread of the resolver's (or, for a resolver that
// answers at once, inside Resolve): it must only hand the result over.
// The default resolver runs each lookup on a detached thread of its own, so
// that a client shutting down never waits for a lookup that hangs (there is
// no way to cancel getaddrinfo); the callback owns what it needs.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <optional>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "client/properties.h"

namespace runnel::client {

// One address getaddrinfo returned, ready for socket() and connect().
struct ResolvedAddress {
  int family = 0;
  int socktype = 0;
  int protocol = 0;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
};

// The addresses in the resolver's order, or Unavailable "cannot resolve
// host:port: <reason>".
using ResolveResult = absl::StatusOr<std::vector<ResolvedAddress>>;

class Resolver {
 public:
  virtual ~Resolver() = default;
  virtual void Resolve(const HostPort& address, absl::AnyInvocable<void(ResolveResult)> done) = 0;
};

// getaddrinfo on a detached thread per lookup.
std::shared_ptr<Resolver> DefaultResolver();

// The addresses of a numeric host (IPv4 or IPv6 literal), nullopt for a
// name that needs a lookup. Never blocks.
std::optional<ResolveResult> ResolveNumeric(const HostPort& address);

// getaddrinfo, blocking. For the resolver's threads (and tests).
ResolveResult ResolveBlocking(const HostPort& address);

}  // namespace runnel::client
