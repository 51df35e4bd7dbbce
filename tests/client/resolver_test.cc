// Broker names are resolved off the client's I/O thread: a name that
// resolves (localhost) connects, one that does not fails with a clear error
// within the timeout, and a connection to another broker proceeds while a
// lookup hangs (an injected resolver holds it).
#include "client/resolver.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "client/client_core.h"
#include "runnel/protocol/messages/metadata.h"
#include "tests/broker/broker_fixture.h"

namespace runnel::client {
namespace {

using broker::testing::BrokerFixture;

ClientOptions Quick(const std::string& bootstrap) {
  ClientOptions o;
  o.bootstrap_servers = bootstrap;
  o.request_timeout = absl::Seconds(5);
  o.reconnect_backoff = absl::Milliseconds(10);
  o.retry_backoff = absl::Milliseconds(20);
  return o;
}

std::future<absl::StatusOr<Reply<protocol::MetadataResponse>>> Metadata(ClientCore& core,
                                                                        Target target) {
  protocol::MetadataRequest req;
  req.topics.emplace();
  return core.Call<protocol::MetadataResponse>(target, req);
}

// Holds lookups of `slow_host` until Release; resolves others at once.
class HoldingResolver : public Resolver {
 public:
  explicit HoldingResolver(std::string slow_host) : slow_host_(std::move(slow_host)) {}
  void Resolve(const HostPort& address, absl::AnyInvocable<void(ResolveResult)> done) override {
    if (address.host != slow_host_) {
      done(ResolveBlocking(address));
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    held_.push_back(std::move(done));
  }
  size_t held() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.size();
  }
  // Answers the held lookups with `to`'s addresses.
  void Release(const HostPort& to) {
    std::vector<absl::AnyInvocable<void(ResolveResult)>> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.swap(held_);
    }
    for (auto& d : held) d(ResolveBlocking(to));
  }

 private:
  const std::string slow_host_;
  std::mutex mu_;
  std::vector<absl::AnyInvocable<void(ResolveResult)>> held_;
};

TEST_CASE("resolver: numeric hosts need no lookup, names do") {
  auto v4 = ResolveNumeric({"127.0.0.1", 9092});
  REQUIRE(v4.has_value());
  REQUIRE(v4->ok());
  CHECK((*v4)->at(0).family == AF_INET);
  auto v6 = ResolveNumeric({"::1", 9092});
  REQUIRE(v6.has_value());
  REQUIRE(v6->ok());
  CHECK((*v6)->at(0).family == AF_INET6);
  CHECK(!ResolveNumeric({"localhost", 9092}).has_value());
}

TEST_CASE("resolver: a broker named localhost connects through the resolver thread") {
  BrokerFixture b;
  auto core = ClientCore::Create(Quick("localhost:" + std::to_string(b.port())));
  REQUIRE(core.ok());
  auto r = Metadata(**core, Target::AnyBroker()).get();
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->response.brokers.size() == 1);
}

TEST_CASE("resolver: a name that does not resolve fails clearly within the timeout") {
  ClientOptions o = Quick("no-such-broker.invalid:9092");
  o.request_timeout = absl::Seconds(3);
  o.connection_setup_timeout = absl::Seconds(2);
  auto core = ClientCore::Create(o);
  REQUIRE(core.ok());
  const absl::Time start = absl::Now();
  auto r = Metadata(**core, Target::AnyBroker()).get();
  const absl::Duration took = absl::Now() - start;
  REQUIRE(!r.ok());
  const std::string msg(r.status().message());
  INFO(msg);
  CHECK(r.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(msg.find("no-such-broker.invalid:9092") != std::string::npos);
  // Either the resolver said no, or it took longer than the setup timeout.
  CHECK((msg.find("cannot resolve") != std::string::npos ||
         msg.find("took longer than socket.connection.setup.timeout.ms") != std::string::npos));
  CHECK(took < absl::Seconds(4));
  // Shutdown does not wait for a lookup that may still be running.
  const absl::Time stop = absl::Now();
  (*core)->Shutdown(absl::Now() + absl::Seconds(1));
  CHECK(absl::Now() - stop < absl::Seconds(1));
}

TEST_CASE("resolver: a hung lookup does not hold up another broker's connection") {
  BrokerFixture b;
  const std::string port = std::to_string(b.port());
  auto resolver = std::make_shared<HoldingResolver>("slow.example");
  // Bootstrap node -1 is the slow name, -2 the broker by address.
  auto core = ClientCore::Create(Quick("slow.example:" + port + ",127.0.0.1:" + port), resolver);
  REQUIRE(core.ok());
  auto slow = Metadata(**core, Target::Node(-1));
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (resolver->held() == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  REQUIRE(resolver->held() == 1);  // the lookup is pending

  auto fast = Metadata(**core, Target::Node(-2)).get();
  INFO(fast.status().ToString());
  REQUIRE(fast.ok());  // served while -1 still waits for its name
  CHECK(fast->node_id == -2);
  CHECK(slow.wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout);

  resolver->Release({"127.0.0.1", b.port()});
  auto late = slow.get();
  INFO(late.status().ToString());
  REQUIRE(late.ok());
  CHECK(late->node_id == -1);
}

TEST_CASE("resolver: a lookup answered after the connection gave up is ignored") {
  BrokerFixture b;
  const std::string port = std::to_string(b.port());
  auto resolver = std::make_shared<HoldingResolver>("slow.example");
  ClientOptions o = Quick("slow.example:" + port + ",127.0.0.1:" + port);
  o.connection_setup_timeout = absl::Milliseconds(200);
  o.request_timeout = absl::Seconds(1);
  auto core = ClientCore::Create(o, resolver);
  REQUIRE(core.ok());
  auto r = Metadata(**core, Target::Node(-1)).get();
  REQUIRE(!r.ok());
  INFO(r.status().ToString());
  CHECK(std::string(r.status().message()).find("resolving slow.example") != std::string::npos);
  // Several attempts were given up; answering them all now must not
  // connect a stale attempt or crash. A fresh attempt then connects.
  REQUIRE(resolver->held() >= 1);
  resolver->Release({"127.0.0.1", b.port()});
  auto again = Metadata(**core, Target::Node(-1));
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (again.wait_for(std::chrono::milliseconds(5)) != std::future_status::ready &&
         absl::Now() < deadline) {
    resolver->Release({"127.0.0.1", b.port()});
  }
  auto ok = again.get();
  INFO(ok.status().ToString());
  CHECK(ok.ok());
}

}  // namespace
}  // namespace runnel::client
