// Framing edge cases against an in-process broker: each bad input gets the
// right error or a clean close, and other connections keep working.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "broker_fixture.h"
#include "raw_client.h"
#include "runnel/protocol/messages/api_versions.h"
#include "runnel/protocol/messages/metadata.h"

namespace runnel::broker::testing {
namespace {

using protocol::ApiVersionsRequest;
using protocol::ApiVersionsResponse;

// A healthy connection still gets answers.
void CheckAlive(uint16_t port) {
  RawClient c(port);
  c.Send(ApiVersionsRequest{}, 3, 1);
  auto resp = c.Receive<ApiVersionsResponse>(3, 1);
  CHECK(resp.error_code == 0);
}

TEST_CASE("ApiVersions advertises the implemented ranges", "[framing]") {
  BrokerFixture f;
  RawClient c(f.port());
  c.Send(ApiVersionsRequest{}, 3, 7);
  auto resp = c.Receive<ApiVersionsResponse>(3, 7);
  CHECK(resp.error_code == 0);
  bool produce = false, fetch = false;
  for (const auto& k : resp.api_keys) {
    if (k.api_key == 0) produce = k.min_version == 3 && k.max_version == 9;
    if (k.api_key == 1) fetch = k.min_version == 4 && k.max_version == 12;
  }
  CHECK(produce);
  CHECK(fetch);
}

TEST_CASE("a too-new ApiVersions is answered at v0 with error 35", "[framing]") {
  BrokerFixture f;
  RawClient c(f.port());
  // Header v2 (as a flexible version would have): key, version, correlation
  // id, client id, empty tagged fields; an empty v3-style body.
  std::vector<uint8_t> frame = {0, 0, 0, 12, 0, 18, 0, 9, 0, 0, 0, 5, 0, 1, 'x', 0};
  c.SendBytes(frame);
  auto resp = c.Receive<ApiVersionsResponse>(0, 5);
  CHECK(resp.error_code == 35);
  CHECK(!resp.api_keys.empty());
}

TEST_CASE("responses come back in request order when pipelined", "[framing]") {
  BrokerFixture f;
  RawClient c(f.port());
  protocol::MetadataRequest all;
  all.topics = std::nullopt;
  for (int i = 0; i < 20; ++i) {
    if (i % 2 == 0) c.Send(ApiVersionsRequest{}, 3, 100 + i);
    else c.Send(all, 12, 100 + i);
  }
  for (int i = 0; i < 20; ++i) {
    if (i % 2 == 0) c.Receive<ApiVersionsResponse>(3, 100 + i);
    else c.Receive<protocol::MetadataResponse>(12, 100 + i);
  }
}

TEST_CASE("more requests in flight than the per-connection cap all get answers", "[framing]") {
  BrokerFixture f;
  RawClient c(f.port());
  constexpr int kRequests = 600;
  ByteBuffer all;
  for (int i = 0; i < kRequests; ++i) {
    protocol::RequestHeader h{ApiVersionsRequest::kApiKey, 3, i, "burst", {}};
    REQUIRE(protocol::EncodeRequestFrame(h, ApiVersionsRequest{}, &all).ok());
  }
  std::thread writer([&] { c.SendBytes(all.span()); });
  for (int i = 0; i < kRequests; ++i) c.Receive<ApiVersionsResponse>(3, i);
  writer.join();
}

TEST_CASE("bad frames close only their own connection", "[framing]") {
  BrokerFixture f;
  RawClient bystander(f.port());

  SECTION("frame above socket.request.max.bytes") {
    RawClient c(f.port());
    c.SendBytes(std::vector<uint8_t>{0x7f, 0xff, 0xff, 0xff});
    CHECK(c.WaitClosed());
  }
  SECTION("negative frame size") {
    RawClient c(f.port());
    c.SendBytes(std::vector<uint8_t>{0xff, 0xff, 0xff, 0xf0});
    CHECK(c.WaitClosed());
  }
  SECTION("header shorter than api key, version and correlation id") {
    RawClient c(f.port());
    c.SendBytes(std::vector<uint8_t>{0, 0, 0, 3, 0, 18, 0});
    CHECK(c.WaitClosed());
  }
  SECTION("garbage client id length") {
    RawClient c(f.port());
    c.SendBytes(std::vector<uint8_t>{0, 0, 0, 10, 0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0x00});
    CHECK(c.WaitClosed());
  }
  SECTION("unknown API key") {
    RawClient c(f.port());
    c.SendBytes(std::vector<uint8_t>{0, 0, 0, 10, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0});
    CHECK(c.WaitClosed());
  }
  SECTION("unsupported version of a known API") {
    RawClient c(f.port());
    // Produce v2 (Produce is served from v3): size, key 0, version 2,
    // correlation id 1, null client id.
    c.SendBytes(std::vector<uint8_t>{0, 0, 0, 10, 0, 0, 0, 2, 0, 0, 0, 1, 0xff, 0xff});
    CHECK(c.WaitClosed());
  }
  SECTION("undecodable body") {
    RawClient c(f.port());
    // Metadata v1 whose topic array claims 1000 entries and holds none.
    c.SendBytes(std::vector<uint8_t>{0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0x03, 0xe8});
    CHECK(c.WaitClosed());
  }
  SECTION("truncated frame then EOF") {
    {
      RawClient c(f.port());
      c.SendBytes(std::vector<uint8_t>{0, 0, 0, 100, 0, 18, 0, 3});
    }
  }
  // The bystander, opened before, and new connections still work.
  bystander.Send(ApiVersionsRequest{}, 3, 9);
  bystander.Receive<ApiVersionsResponse>(3, 9);
  CheckAlive(f.port());
}

TEST_CASE("idle connections are closed after connections.max.idle.ms", "[framing]") {
  BrokerFixture f;
  // Again with a short idle timeout.
  (void)f.broker().Stop(absl::Seconds(5));
  f.Start({{"connections.max.idle.ms", "300"}});
  RawClient c(f.port());
  CheckAlive(f.port());
  CHECK(c.WaitClosed(5000));
}

}  // namespace
}  // namespace runnel::broker::testing
