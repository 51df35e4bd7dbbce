// Group requests as bytes in, response frames out.
#include "broker/group/group_handlers.h"

#include <catch2/catch.hpp>
#include <map>

#include "broker/group/group_registration.h"
#include "runnel/protocol/header.h"
#include "tests/broker/group/group_test_util.h"

namespace runnel::broker::group::testing {
namespace {

template <typename Request>
ByteBuffer EncodeBody(const Request& request, int16_t version) {
  ByteBuffer buf;
  protocol::Writer w(&buf);
  request.Encode(w, version);
  REQUIRE(w.status().ok());
  return buf;
}

// Runs one request and decodes the response frame it produced.
template <typename Response, typename Request>
Response RoundTrip(Harness& h, const Request& request, int16_t version) {
  ByteBuffer body = EncodeBody(request, version);
  std::optional<absl::StatusOr<ByteBuffer>> frame;
  HandleGroupRequest(h.coordinator(), {Request::kApiKey, 77, {version, "c", "h"}, body.span()},
                     [&](absl::StatusOr<ByteBuffer> f) { frame = std::move(f); });
  REQUIRE(frame.has_value());
  REQUIRE(frame->ok());
  protocol::Reader r((*frame)->span());
  CHECK(r.Int32("size") == static_cast<int32_t>((*frame)->size() - 4));
  auto header = protocol::ResponseHeader::Decode(
      r, protocol::ResponseHeaderVersion(Request::kApiKey, version));
  REQUIRE(header.ok());
  CHECK(header->correlation_id == 77);
  auto response = Response::Decode(r, version);
  REQUIRE(response.ok());
  return *response;
}

TEST_CASE("Group requests are decoded, run and answered as frames", "[group][handlers]") {
  Harness h;
  protocol::JoinGroupRequest join;
  join.group_id = "g";
  join.session_timeout_ms = 10000;
  join.rebalance_timeout_ms = 10000;
  join.protocol_type = "consumer";
  join.protocols.push_back({"range", Subscription({"t"}), {}});
  auto first = RoundTrip<protocol::JoinGroupResponse>(h, join, 9);
  CHECK(first.error_code == static_cast<int16_t>(ErrorCode::kMemberIdRequired));
  join.member_id = first.member_id;
  auto joined = RoundTrip<protocol::JoinGroupResponse>(h, join, 9);
  CHECK(joined.error_code == 0);
  CHECK(joined.generation_id == 1);
  CHECK(joined.protocol_type == "consumer");
  for (int16_t v = 0; v <= 4; ++v) {
    protocol::HeartbeatRequest hb;
    hb.group_id = "g";
    hb.member_id = joined.member_id;
    hb.generation_id = 1;
    CHECK(RoundTrip<protocol::HeartbeatResponse>(h, hb, v).error_code == 0);
  }
  protocol::FindCoordinatorRequest find;
  find.coordinator_keys = {"g"};
  auto found = RoundTrip<protocol::FindCoordinatorResponse>(h, find, 4);
  REQUIRE(found.coordinators.size() == 1);
  CHECK(found.coordinators[0].host == "broker-1");
}

TEST_CASE("A request that does not decode is an error for the router", "[group][handlers]") {
  Harness h;
  const uint8_t garbage[] = {0x00, 0x05, 'x'};
  std::optional<absl::StatusOr<ByteBuffer>> frame;
  HandleGroupRequest(
      h.coordinator(),
      {protocol::HeartbeatRequest::kApiKey, 1, {3, "c", "h"}, std::span<const uint8_t>(garbage)},
      [&](absl::StatusOr<ByteBuffer> f) { frame = std::move(f); });
  REQUIRE(frame.has_value());
  CHECK(absl::IsInvalidArgument(frame->status()));
  CHECK(IsGroupApi(protocol::OffsetDeleteRequest::kApiKey));
  CHECK(!IsGroupApi(0));  // Produce
}

}  // namespace
}  // namespace runnel::broker::group::testing

namespace runnel::broker::group::testing {
namespace {

TEST_CASE("The router serves the group APIs at the versions the coordinator has",
          "[group][handlers]") {
  Harness h;
  RequestRouter router;
  RegisterGroupHandlers(router, &h.coordinator());
  std::map<int16_t, std::pair<int16_t, int16_t>> ranges;
  for (const ApiRange& r : router.Ranges()) ranges[r.api_key] = {r.min_version, r.max_version};
  CHECK(ranges.size() == 11);
  CHECK(ranges[protocol::JoinGroupRequest::kApiKey] == std::make_pair<int16_t, int16_t>(0, 9));
  CHECK(ranges[protocol::OffsetCommitRequest::kApiKey] == std::make_pair<int16_t, int16_t>(2, 8));
  CHECK(ranges[protocol::OffsetFetchRequest::kApiKey] == std::make_pair<int16_t, int16_t>(1, 8));

  protocol::HeartbeatRequest hb;
  hb.group_id = "g";
  hb.member_id = "nobody";
  ByteBuffer body = EncodeBody(hb, 4);
  Request req;
  req.header.api_key = protocol::HeartbeatRequest::kApiKey;
  req.header.api_version = 4;
  req.header.correlation_id = 5;
  req.header.client_id = "c";
  req.body = body.span();
  req.peer = "10.0.0.7:51234";
  std::optional<absl::StatusOr<Response>> out;
  router.Handle(req, [&](absl::StatusOr<Response> r) { out = std::move(r); });
  REQUIRE(out.has_value());
  REQUIRE(out->ok());
  REQUIRE((*out)->chunks.size() == 1);
  const ByteBuffer& frame = std::get<ByteBuffer>((*out)->chunks[0]);
  protocol::Reader r(frame.span());
  r.Int32("size");
  auto header = protocol::ResponseHeader::Decode(r, protocol::ResponseHeaderVersion(12, 4));
  REQUIRE(header.ok());
  CHECK(header->correlation_id == 5);
  auto resp = protocol::HeartbeatResponse::Decode(r, 4);
  REQUIRE(resp.ok());
  CHECK(resp->error_code == static_cast<int16_t>(ErrorCode::kUnknownMemberId));

  CHECK(ClientHostOf("10.0.0.7:51234") == "/10.0.0.7");
  CHECK(ClientHostOf("[::1]:9092") == "/::1");
}

}  // namespace
}  // namespace runnel::broker::group::testing
