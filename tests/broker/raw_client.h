// A blocking Kafka client for tests: sends request frames built with the
// protocol layer over a plain socket and reads response frames back, so
// tests see exactly what the broker puts on the wire.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include "absl/status/statusor.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/protocol/header.h"
#include "runnel/protocol/wire.h"

namespace runnel::broker::testing {

class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void SendBytes(std::span<const uint8_t> bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;  // the broker closed; the test checks that
      done += static_cast<size_t>(n);
    }
  }

  template <typename Req>
  void Send(const Req& body, int16_t version, int32_t correlation_id) {
    ByteBuffer frame;
    protocol::RequestHeader h{Req::kApiKey, version, correlation_id, "raw-client", {}};
    REQUIRE(protocol::EncodeRequestFrame(h, body, &frame).ok());
    SendBytes(frame.span());
  }

  // The next response payload (after the size prefix), or nullopt when the
  // connection closed or nothing came within `timeout_ms`.
  std::optional<std::vector<uint8_t>> ReadFrame(int timeout_ms = 5000) {
    uint8_t prefix[4];
    if (!ReadExactly(prefix, 4, timeout_ms)) return std::nullopt;
    uint32_t size = (uint32_t{prefix[0]} << 24) | (uint32_t{prefix[1]} << 16) |
                    (uint32_t{prefix[2]} << 8) | prefix[3];
    std::vector<uint8_t> payload(size);
    if (!ReadExactly(payload.data(), size, timeout_ms)) return std::nullopt;
    return payload;
  }

  // Receive without Catch assertions, for threads other than the test's own:
  // Catch2 v2's assertion macros are not thread-safe (two threads asserting
  // at once corrupt its state). Any failure comes back as an error.
  template <typename Resp>
  absl::StatusOr<Resp> TryReceive(int16_t version, int32_t correlation_id) {
    std::optional<std::vector<uint8_t>> payload = ReadFrame();
    if (!payload.has_value()) return absl::UnavailableError("no response frame");
    protocol::Reader r(*payload);
    absl::StatusOr<protocol::ResponseHeader> h = protocol::ResponseHeader::Decode(
        r, protocol::ResponseHeaderVersion(Resp::kApiKey, version));
    if (!h.ok()) return h.status();
    if (h->correlation_id != correlation_id) {
      return absl::DataLossError("response correlation id does not match the request's");
    }
    return Resp::Decode(
        std::span<const uint8_t>(payload->data() + r.offset(), payload->size() - r.offset()),
        version);
  }

  // Send without Catch assertions (see TryReceive).
  template <typename Req>
  absl::Status TrySend(const Req& body, int16_t version, int32_t correlation_id) {
    ByteBuffer frame;
    protocol::RequestHeader h{Req::kApiKey, version, correlation_id, "raw-client", {}};
    if (absl::Status s = protocol::EncodeRequestFrame(h, body, &frame); !s.ok()) return s;
    SendBytes(frame.span());
    return absl::OkStatus();
  }

  // Reads a response to a request of (Resp's API, version) and checks its
  // correlation id.
  template <typename Resp>
  Resp Receive(int16_t version, int32_t correlation_id) {
    std::optional<std::vector<uint8_t>> payload = ReadFrame();
    REQUIRE(payload.has_value());
    protocol::Reader r(*payload);
    absl::StatusOr<protocol::ResponseHeader> h = protocol::ResponseHeader::Decode(
        r, protocol::ResponseHeaderVersion(Resp::kApiKey, version));
    REQUIRE(h.ok());
    CHECK(h->correlation_id == correlation_id);
    absl::StatusOr<Resp> body = Resp::Decode(
        std::span<const uint8_t>(payload->data() + r.offset(), payload->size() - r.offset()),
        version);
    INFO(body.status().ToString());
    REQUIRE(body.ok());
    return *std::move(body);
  }

  // True when the broker closed the connection (EOF or reset) within
  // `timeout_ms`.
  bool WaitClosed(int timeout_ms = 5000) {
    uint8_t b;
    pollfd p{fd_, POLLIN, 0};
    while (::poll(&p, 1, timeout_ms) > 0) {
      ssize_t n = ::recv(fd_, &b, 1, 0);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  bool ReadExactly(uint8_t* out, size_t n, int timeout_ms) {
    size_t done = 0;
    while (done < n) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      ssize_t got = ::recv(fd_, out + done, n - done, 0);
      if (got <= 0) return false;
      done += static_cast<size_t>(got);
    }
    return true;
  }

  int fd_ = -1;
};

}  // namespace runnel::broker::testing
