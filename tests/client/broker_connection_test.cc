// BrokerConnection's gathered writes: records values of 4 KiB or more are
// sent from their owners' buffers, spliced into the request stream, and a
// peer must read exactly the bytes a plain encoding gives, through partial
// writes and after the caller has dropped its references.
#include "client/broker_connection.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "client/client_logger.h"
#include "runnel/client_options.h"
#include "runnel/protocol/header.h"
#include "runnel/protocol/messages/api_versions.h"
#include "runnel/protocol/messages/produce.h"

namespace runnel::client {
namespace {

bool ReadExactly(int fd, uint8_t* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t got = ::recv(fd, out + done, n - done, 0);
    if (got <= 0) return false;
    done += static_cast<size_t>(got);
  }
  return true;
}

// A broker that answers ApiVersions, waits (so that the client's small send
// buffer fills and its writes come back partial), then records the next
// `expect` bytes it is sent. No Catch assertions here: not the test thread.
class FakeBroker {
 public:
  FakeBroker() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listen_fd_, 1);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~FakeBroker() {
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
  }

  uint16_t port() const { return port_; }

  void Start(size_t expect) {
    thread_ = std::thread([this, expect] { Serve(expect); });
  }
  // What the client sent after ApiVersions; empty if the exchange failed.
  std::vector<uint8_t> Received() {
    thread_.join();
    return received_;
  }

 private:
  void Serve(size_t expect) {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    uint8_t prefix[4];
    std::vector<uint8_t> request;
    if (ReadExactly(fd, prefix, 4)) {
      request.resize(LoadBigEndian<uint32_t>(prefix));
      if (ReadExactly(fd, request.data(), request.size()) && request.size() >= 8) {
        protocol::ApiVersionsResponse resp;
        resp.api_keys.push_back({protocol::ProduceRequest::kApiKey, 3, 9, {}});
        ByteBuffer frame;
        const int16_t version = LoadBigEndian<int16_t>(request.data() + 2);
        const int32_t correlation_id = LoadBigEndian<int32_t>(request.data() + 4);
        if (protocol::EncodeResponseFrame(correlation_id, version, resp, &frame).ok()) {
          ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          std::vector<uint8_t> got(expect);
          if (ReadExactly(fd, got.data(), got.size())) received_ = std::move(got);
        }
      }
    }
    ::close(fd);
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::vector<uint8_t> received_;
};

// Runs the connection until nothing is left to write (or it fails).
absl::Status Drive(BrokerConnection& conn, bool until_ready) {
  for (int i = 0; i < 2000; ++i) {
    if (until_ready ? conn.state() == BrokerConnection::State::kReady
                    : (conn.WantedEvents() & POLLOUT) == 0) {
      return absl::OkStatus();
    }
    pollfd p{conn.fd(), conn.WantedEvents(), 0};
    ::poll(&p, 1, 10);
    Completions completions;
    if (absl::Status s = conn.HandleEvents(p.revents, absl::Now(), &completions); !s.ok()) return s;
  }
  return absl::DeadlineExceededError("connection did not get there in 20 s");
}

std::shared_ptr<ByteBuffer> Pattern(size_t n, uint8_t seed) {
  auto b = std::make_shared<ByteBuffer>();
  uint8_t* p = b->AppendUninitialized(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

TEST_CASE("connection: large records go out from their own buffers, byte for byte") {
  FakeBroker broker;
  ClientOptions options;
  options.client_id = "gather-test";
  ClientLogger log(options);
  BrokerConnection conn(1, {"127.0.0.1", broker.port()}, options, ConnectionHooks{&log, {}});

  // Three pipelined Produce requests, flexible (v9) and classic (v8), with
  // values gathered (5,000 and 70,000 bytes, with owners) and copied (100
  // bytes; 8,000 bytes without an owner).
  std::vector<uint8_t> borrowed(8000, 0x5a);
  std::vector<std::shared_ptr<ByteBuffer>> owned;
  std::vector<std::shared_ptr<protocol::ProduceRequest>> requests;
  for (int r = 0; r < 3; ++r) {
    auto req = std::make_shared<protocol::ProduceRequest>();
    req->acks = 1;
    req->timeout_ms = 1000;
    auto& topic = req->topic_data.emplace_back();
    topic.name = "t";
    int32_t index = 0;
    for (size_t size : {size_t{5000}, size_t{100}, size_t{70000}}) {
      owned.push_back(Pattern(size, static_cast<uint8_t>(r * 31 + index)));
      topic.partition_data.push_back(
          {index++, SharedBytes(owned.back(), owned.back()->span()), {}});
    }
    topic.partition_data.push_back({index, SharedBytes(nullptr, borrowed), {}});
    requests.push_back(std::move(req));
  }
  // The bytes a plain (copying) encoding of the requests gives, as they are.
  const std::vector<int16_t> versions = {9, 8, 9};
  auto encode_plain = [&] {
    ByteBuffer plain;
    for (int r = 0; r < 3; ++r) {
      protocol::RequestHeader h;
      h.api_key = protocol::ProduceRequest::kApiKey;
      h.api_version = versions[r];
      h.correlation_id = r + 2;  // 1 is ApiVersions'
      h.client_id.emplace(options.client_id);
      REQUIRE(protocol::EncodeRequestFrame(h, *requests[r], &plain).ok());
    }
    return plain;
  };
  broker.Start(encode_plain().size());

  REQUIRE(conn.StartConnect(absl::Now()).ok());
  REQUIRE(Drive(conn, /*until_ready=*/true).ok());
  // A small send buffer, so that writes stop mid-value.
  int small = 4096;
  ::setsockopt(conn.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  for (int r = 0; r < 3; ++r) {
    Encoder encode = [req = requests[r]](protocol::Writer& w, int16_t v) { req->Encode(w, v); };
    absl::StatusOr<int32_t> id =
        conn.Enqueue(protocol::ProduceRequest::kApiKey, versions[r], encode);
    REQUIRE(id.ok());
    CHECK(*id == r + 2);
  }
  // Which values were gathered shows in what is sent after they change:
  // the owned ones of 4 KiB or more go from their buffers, as they are when
  // written; the rest were copied at Enqueue.
  for (auto& b : owned) {
    if (b->size() >= 4096) std::fill(b->data(), b->data() + b->size(), uint8_t{0xee});
  }
  const ByteBuffer expected = encode_plain();
  std::fill(borrowed.begin(), borrowed.end(), uint8_t{0x11});
  for (auto& b : owned) {
    if (b->size() < 4096) std::fill(b->data(), b->data() + b->size(), uint8_t{0x22});
  }
  // The connection alone keeps the gathered values alive now (as for acks=0,
  // where the batch is done once enqueued).
  requests.clear();
  owned.clear();
  REQUIRE(conn.Flush().ok());
  REQUIRE(Drive(conn, /*until_ready=*/false).ok());

  const std::vector<uint8_t> received = broker.Received();
  REQUIRE(received.size() == expected.size());
  CHECK(std::equal(received.begin(), received.end(), expected.data()));
}

TEST_CASE("connection: a request that fails to encode leaves nothing gathered behind") {
  ClientOptions options;
  ClientLogger log(options);
  FakeBroker broker;
  BrokerConnection conn(1, {"127.0.0.1", broker.port()}, options, ConnectionHooks{&log, {}});
  // One good request after a bad one: the peer must get the good one only.
  auto good = std::make_shared<protocol::ProduceRequest>();
  good->acks = 1;
  auto bytes = Pattern(6000, 3);
  good->topic_data.push_back({"t", {{0, SharedBytes(bytes, bytes->span()), {}}}, {}});
  ByteBuffer expected;
  protocol::RequestHeader h{protocol::ProduceRequest::kApiKey, 9, 3, options.client_id, {}};
  REQUIRE(protocol::EncodeRequestFrame(h, *good, &expected).ok());
  broker.Start(expected.size());
  REQUIRE(conn.StartConnect(absl::Now()).ok());
  REQUIRE(Drive(conn, /*until_ready=*/true).ok());

  // An encoding error after a records value was gathered: Enqueue fails
  // (correlation id 2 is spent) and must take the value back.
  auto bad = std::make_shared<protocol::ProduceRequest>();
  bad->topic_data.push_back({"t", {{0, SharedBytes(bytes, bytes->span()), {}}}, {}});
  Encoder fail = [bad](protocol::Writer& w, int16_t v) {
    bad->Encode(w, v);
    w.Fail("refused by the test");
  };
  CHECK(!conn.Enqueue(protocol::ProduceRequest::kApiKey, 9, fail).ok());
  Encoder encode = [good](protocol::Writer& w, int16_t v) { good->Encode(w, v); };
  REQUIRE(conn.Enqueue(protocol::ProduceRequest::kApiKey, 9, encode).ok());
  REQUIRE(conn.Flush().ok());
  REQUIRE(Drive(conn, /*until_ready=*/false).ok());
  const std::vector<uint8_t> received = broker.Received();
  REQUIRE(received.size() == expected.size());
  CHECK(std::equal(received.begin(), received.end(), expected.data()));
}

}  // namespace
}  // namespace runnel::client
