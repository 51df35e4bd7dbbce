// RequestRouter: dispatch by key, and the answers it gives by itself.
#include <catch2/catch.hpp>

#include <optional>

#include "broker/router.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/api_versions.h"

namespace runnel::broker {
namespace {

Request MakeRequest(int16_t key, int16_t version) {
  Request r;
  r.header.api_key = key;
  r.header.api_version = version;
  r.header.correlation_id = 42;
  r.peer = "test";
  return r;
}

std::optional<absl::StatusOr<Response>> Call(RequestRouter& router, const Request& req) {
  std::optional<absl::StatusOr<Response>> got;
  router.Handle(req, [&](absl::StatusOr<Response> r) { got = std::move(r); });
  return got;
}

TEST_CASE("router dispatches to the handler registered for the key", "[router]") {
  RequestRouter router;
  int calls = 0;
  router.Register(3, 1, 12, [&](const Request& r, Respond respond) {
    ++calls;
    CHECK(r.header.api_version == 5);
    respond(Response::None());
  });
  auto got = Call(router, MakeRequest(3, 5));
  REQUIRE(got.has_value());
  REQUIRE(got->ok());
  CHECK((*got)->empty());
  CHECK(calls == 1);
}

TEST_CASE("router closes on unknown keys and unsupported versions", "[router]") {
  RequestRouter router;
  router.Register(3, 1, 12, [](const Request&, Respond respond) { respond(Response::None()); });
  auto unknown = Call(router, MakeRequest(999, 0));
  REQUIRE(unknown.has_value());
  CHECK(!unknown->ok());
  auto too_old = Call(router, MakeRequest(3, 0));
  REQUIRE(too_old.has_value());
  CHECK(!too_old->ok());
  CHECK(std::string(too_old->status().message()).find("unsupported version 0") !=
        std::string::npos);
}

TEST_CASE("a too-new ApiVersions gets v0 with UNSUPPORTED_VERSION and the ranges", "[router]") {
  RequestRouter router;
  router.Register(18, 0, 3, [](const Request&, Respond respond) { respond(Response::None()); });
  router.Register(0, 3, 9, [](const Request&, Respond respond) { respond(Response::None()); });
  auto got = Call(router, MakeRequest(18, 7));
  REQUIRE(got.has_value());
  REQUIRE(got->ok());
  REQUIRE((*got)->chunks.size() == 1);
  const ByteBuffer& frame = std::get<ByteBuffer>((*got)->chunks[0]);
  // size(4) correlation id(4), then the v0 body.
  protocol::Reader r(frame.span().subspan(4));
  auto header = protocol::ResponseHeader::Decode(r, 0);
  REQUIRE(header.ok());
  CHECK(header->correlation_id == 42);
  auto body = protocol::ApiVersionsResponse::Decode(frame.span().subspan(4 + r.offset()), 0);
  REQUIRE(body.ok());
  CHECK(body->error_code == static_cast<int16_t>(protocol::ErrorCode::kUnsupportedVersion));
  REQUIRE(body->api_keys.size() == 2);
  CHECK(body->api_keys[0].api_key == 0);
  CHECK(body->api_keys[0].min_version == 3);
  CHECK(body->api_keys[0].max_version == 9);
  CHECK(body->api_keys[1].api_key == 18);
}

}  // namespace
}  // namespace runnel::broker
