// JoinGroup / SyncGroup / Heartbeat / LeaveGroup through whole rebalances,
// with time driven by the manual clock.
#include <catch2/catch.hpp>

#include "tests/broker/group/group_test_util.h"

namespace runnel::broker::group::testing {
namespace {

constexpr int16_t kNone = 0;
const int16_t kRebalanceInProgress = static_cast<int16_t>(ErrorCode::kRebalanceInProgress);
const int16_t kIllegalGeneration = static_cast<int16_t>(ErrorCode::kIllegalGeneration);
const int16_t kUnknownMemberId = static_cast<int16_t>(ErrorCode::kUnknownMemberId);
const int16_t kFencedInstanceId = static_cast<int16_t>(ErrorCode::kFencedInstanceId);

// What a range assignor on the leader computes: members in id order, the
// partitions of `topic` split into contiguous runs.
std::vector<std::pair<std::string, std::vector<uint8_t>>> RangeAssign(
    const protocol::JoinGroupResponse& leader, const std::string& topic, int32_t partitions) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> out;
  const auto n = static_cast<int32_t>(leader.members.size());
  int32_t next = 0;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t count = partitions / n + (i < partitions % n ? 1 : 0);
    std::vector<int32_t> mine;
    for (int32_t k = 0; k < count; ++k) mine.push_back(next++);
    out.push_back({leader.members[static_cast<size_t>(i)].member_id, Assignment(topic, mine)});
  }
  return out;
}

protocol::DescribeGroupsResponse::DescribedGroup Describe(Harness& h, const std::string& group) {
  protocol::DescribeGroupsRequest req;
  req.groups = {group};
  auto slot = NewSlot<protocol::DescribeGroupsResponse>();
  h.coordinator().DescribeGroups({5, "admin", "/127.0.0.1"}, req, Fill(slot));
  return (*slot)->groups.at(0);
}

TEST_CASE("Three members join within the initial delay and get the leader's range assignment",
          "[group][rebalance]") {
  GroupConfig config = Harness::DefaultConfig();
  config.initial_rebalance_delay_ms = 100;
  Harness h(config);
  auto a = h.Join({.client_id = "a", .version = 3});
  h.timers().AdvanceMs(60);
  auto b = h.Join({.client_id = "b", .version = 3});
  auto c = h.Join({.client_id = "c", .version = 3});
  h.timers().AdvanceMs(60);
  // b and c arrived during the delay, which started again for them.
  CHECK(!a->has_value());
  h.timers().AdvanceMs(100);
  REQUIRE(a->has_value());
  REQUIRE(b->has_value());
  REQUIRE(c->has_value());
  for (const auto& r : {**a, **b, **c}) {
    CHECK(r.error_code == kNone);
    CHECK(r.generation_id == 1);
    CHECK(r.protocol_name == "range");
    CHECK(r.leader == (*a)->member_id);
  }
  CHECK((*a)->member_id.rfind("a-", 0) == 0);
  REQUIRE((*a)->members.size() == 3);
  CHECK((*b)->members.empty());
  for (const auto& m : (*a)->members) CHECK(m.metadata == Subscription({"t"}));

  auto assignments = RangeAssign(**a, "t", 6);
  auto sb = h.Sync((*b)->member_id, 1);
  auto sc = h.Sync((*c)->member_id, 1);
  CHECK(!sb->has_value());  // waits for the leader
  auto sa = h.Sync((*a)->member_id, 1, assignments);
  REQUIRE(sa->has_value());
  REQUIRE(sb->has_value());
  REQUIRE(sc->has_value());
  std::map<std::string, std::vector<uint8_t>> got = {{(*a)->member_id, (*sa)->assignment},
                                                     {(*b)->member_id, (*sb)->assignment},
                                                     {(*c)->member_id, (*sc)->assignment}};
  for (const auto& [id, bytes] : assignments) CHECK(got.at(id) == bytes);
  CHECK((*sb)->protocol_name == "range");
  CHECK(h.Heartbeat((*c)->member_id, 1) == kNone);

  auto d = Describe(h, "g");
  CHECK(d.group_state == "Stable");
  CHECK(d.protocol_type == "consumer");
  CHECK(d.protocol_data == "range");
  REQUIRE(d.members.size() == 3);
  CHECK(d.members[0].client_host == "/127.0.0.1");
}

TEST_CASE("A new member makes the others rejoin: heartbeats say REBALANCE_IN_PROGRESS",
          "[group][rebalance]") {
  Harness h;
  auto a = h.Join({.client_id = "a", .version = 3});
  REQUIRE(a->has_value());  // no delay, no one else: generation 1 at once
  const std::string id_a = (*a)->member_id;
  CHECK((*a)->generation_id == 1);
  REQUIRE(h.Sync(id_a, 1, RangeAssign(**a, "t", 4))->value().error_code == kNone);
  CHECK(h.Heartbeat(id_a, 1) == kNone);

  auto b = h.Join({.client_id = "b", .version = 3});
  CHECK(!b->has_value());
  CHECK(h.Heartbeat(id_a, 1) == kRebalanceInProgress);
  CHECK(h.Sync(id_a, 1)->value().error_code == kRebalanceInProgress);

  auto a2 = h.Join({.member_id = id_a, .version = 3});
  REQUIRE(a2->has_value());
  REQUIRE(b->has_value());
  CHECK((*a2)->generation_id == 2);
  CHECK((*b)->generation_id == 2);
  CHECK((*a2)->leader == id_a);
  CHECK((*a2)->members.size() == 2);

  // The old generation is over; strangers are unknown.
  CHECK(h.Heartbeat(id_a, 1) == kIllegalGeneration);
  CHECK(h.Sync((*b)->member_id, 1)->value().error_code == kIllegalGeneration);
  CHECK(h.Heartbeat("nobody", 2) == kUnknownMemberId);
  CHECK(h.Sync("nobody", 2)->value().error_code == kUnknownMemberId);
  CHECK(h.Join({.member_id = "nobody", .version = 3})->value().error_code == kUnknownMemberId);
  // Heartbeats during CompletingRebalance are fine.
  CHECK(h.Heartbeat((*b)->member_id, 2) == kNone);
}

// Two members, Stable in generation 2; returns their ids (leader first).
std::pair<std::string, std::string> TwoMemberGroup(Harness& h) {
  auto a = h.Join({.client_id = "a", .version = 3});
  const std::string id_a = (*a)->member_id;
  h.Sync(id_a, 1, RangeAssign(**a, "t", 4));
  auto b = h.Join({.client_id = "b", .version = 3});
  auto a2 = h.Join({.member_id = id_a, .version = 3});
  REQUIRE(b->has_value());
  const std::string id_b = (*b)->member_id;
  h.Sync(id_b, 2);
  REQUIRE(h.Sync(id_a, 2, RangeAssign(**a2, "t", 4))->value().error_code == kNone);
  return {id_a, id_b};
}

TEST_CASE("A member leaving triggers a rebalance of the rest", "[group][rebalance]") {
  Harness h;
  auto [id_a, id_b] = TwoMemberGroup(h);
  protocol::LeaveGroupResponse left = h.Leave(id_b);
  CHECK(left.error_code == kNone);
  REQUIRE(left.members.size() == 1);
  CHECK(left.members[0].error_code == kNone);
  CHECK(h.Heartbeat(id_a, 2) == kRebalanceInProgress);
  CHECK(h.Leave(id_b).members[0].error_code == kUnknownMemberId);
  auto a = h.Join({.member_id = id_a, .version = 3});
  REQUIRE(a->has_value());
  CHECK((*a)->generation_id == 3);
  CHECK((*a)->members.size() == 1);
}

TEST_CASE("A member whose session expires is removed and the group rebalances",
          "[group][rebalance]") {
  Harness h;
  auto [id_a, id_b] = TwoMemberGroup(h);
  h.timers().AdvanceMs(6000);
  CHECK(h.Heartbeat(id_a, 2) == kNone);
  CHECK(h.Heartbeat(id_b, 2) == kNone);
  h.timers().AdvanceMs(6000);
  CHECK(h.Heartbeat(id_a, 2) == kNone);
  // b stops heartbeating; its 10 s session ends at 16 s.
  h.timers().AdvanceMs(4100);
  CHECK(h.Heartbeat(id_a, 2) == kRebalanceInProgress);
  CHECK(h.Heartbeat(id_b, 2) == kUnknownMemberId);
  auto a = h.Join({.member_id = id_a, .version = 3});
  REQUIRE(a->has_value());
  CHECK((*a)->generation_id == 3);
  REQUIRE((*a)->members.size() == 1);
  CHECK((*a)->members[0].member_id == id_a);
}

TEST_CASE("Members that do not rejoin before the rebalance timeout are dropped",
          "[group][rebalance]") {
  Harness h;
  auto [id_a, id_b] = TwoMemberGroup(h);
  auto c = h.Join({.client_id = "c", .version = 3, .rebalance_timeout_ms = 8000});
  auto a = h.Join({.member_id = id_a, .version = 3, .rebalance_timeout_ms = 8000});
  // b keeps heartbeating but never rejoins; its rebalance timeout (30 s)
  // is the group's.
  for (int i = 0; i < 5; ++i) {
    h.timers().AdvanceMs(5000);
    CHECK(h.Heartbeat(id_b, 2) == kRebalanceInProgress);
  }
  CHECK(!a->has_value());
  h.timers().AdvanceMs(5000);
  REQUIRE(a->has_value());
  REQUIRE(c->has_value());
  CHECK((*a)->generation_id == 3);
  CHECK((*a)->members.size() == 2);
  CHECK(h.Heartbeat(id_b, 3) == kUnknownMemberId);
}

TEST_CASE("JoinGroup v4+ asks a new member to rejoin with its assigned id", "[group][rebalance]") {
  Harness h;
  auto first = h.Join({.client_id = "a", .version = 5});
  REQUIRE(first->has_value());
  CHECK((*first)->error_code == static_cast<int16_t>(ErrorCode::kMemberIdRequired));
  const std::string id = (*first)->member_id;
  CHECK(id.rfind("a-", 0) == 0);
  auto second = h.Join({.member_id = id, .version = 5});
  REQUIRE(second->has_value());
  CHECK((*second)->error_code == kNone);
  CHECK((*second)->member_id == id);
  CHECK((*second)->generation_id == 1);
}

TEST_CASE("The protocol is the one all members support, by vote", "[group][rebalance]") {
  GroupConfig config = Harness::DefaultConfig();
  config.initial_rebalance_delay_ms = 10;
  Harness h(config);
  auto a = h.Join({.protocols = {"range", "roundrobin"}, .version = 3});
  auto b = h.Join({.protocols = {"roundrobin", "range"}, .version = 3});
  auto c = h.Join({.protocols = {"sticky", "roundrobin"}, .version = 3});
  // b and c joined during the delay: it runs once more.
  h.timers().AdvanceMs(10);
  CHECK(!a->has_value());
  h.timers().AdvanceMs(10);
  REQUIRE(a->has_value());
  CHECK((*a)->protocol_name == "roundrobin");
  CHECK((*c)->protocol_name == "roundrobin");
  // A member sharing no protocol with the group is refused.
  auto d = h.Join({.protocols = {"sticky"}, .version = 3});
  CHECK(d->value().error_code == static_cast<int16_t>(ErrorCode::kInconsistentGroupProtocol));
  auto e = h.Join({.version = 3, .session_timeout_ms = 10});
  CHECK(e->value().error_code == static_cast<int16_t>(ErrorCode::kInvalidSessionTimeout));
}

TEST_CASE("A static member rejoins without a rebalance and fences its old incarnation",
          "[group][static]") {
  Harness h;
  auto a = h.Join({.instance_id = "i-a", .client_id = "a", .version = 5});
  REQUIRE(a->has_value());
  const std::string old_a = (*a)->member_id;
  CHECK(old_a.rfind("i-a-", 0) == 0);  // static members need no MEMBER_ID_REQUIRED
  h.Sync(old_a, 1, RangeAssign(**a, "t", 4), "i-a");
  auto b = h.Join({.instance_id = "i-b", .client_id = "b", .version = 5});
  auto a2 = h.Join({.member_id = old_a, .instance_id = "i-a", .version = 5});
  REQUIRE(b->has_value());
  const std::string id_b = (*b)->member_id;
  auto assignments = RangeAssign(**a2, "t", 4);
  h.Sync(id_b, 2, {}, "i-b");
  REQUIRE(h.Sync(old_a, 2, assignments, "i-a")->value().error_code == kNone);

  // b restarts: same instance id, no member id.
  auto b2 = h.Join({.instance_id = "i-b", .client_id = "b", .version = 5});
  REQUIRE(b2->has_value());
  CHECK((*b2)->error_code == kNone);
  CHECK((*b2)->generation_id == 2);  // no rebalance
  CHECK((*b2)->member_id != id_b);
  CHECK((*b2)->leader == old_a);
  CHECK(h.Heartbeat(old_a, 2, "i-a") == kNone);
  auto sync = h.Sync((*b2)->member_id, 2, {}, "i-b");
  REQUIRE(sync->has_value());
  for (const auto& [id, bytes] : assignments) {
    if (id == id_b) CHECK((*sync)->assignment == bytes);
  }
  // The old incarnation is a zombie now.
  CHECK(h.Heartbeat(id_b, 2, "i-b") == kFencedInstanceId);
  CHECK(h.Sync(id_b, 2, {}, "i-b")->value().error_code == kFencedInstanceId);
  CHECK(h.Join({.member_id = id_b, .instance_id = "i-b", .version = 5})->value().error_code ==
        kFencedInstanceId);

  // The leader restarting keeps its assignment and is told to skip one.
  auto a3 = h.Join({.instance_id = "i-a", .client_id = "a", .version = 9});
  REQUIRE(a3->has_value());
  CHECK((*a3)->generation_id == 2);
  CHECK((*a3)->leader == (*a3)->member_id);
  CHECK((*a3)->skip_assignment);
  CHECK((*a3)->members.size() == 2);
  CHECK(Describe(h, "g").group_state == "Stable");
}

TEST_CASE("LeaveGroup v3+ removes several members at once, static ones by instance id",
          "[group][rebalance]") {
  Harness h;
  auto [id_a, id_b] = TwoMemberGroup(h);
  protocol::LeaveGroupRequest req;
  req.group_id = "g";
  req.members.push_back({id_a, std::nullopt, std::nullopt, {}});
  req.members.push_back({id_b, std::nullopt, std::nullopt, {}});
  req.members.push_back({"", std::string("ghost"), std::nullopt, {}});
  auto slot = NewSlot<protocol::LeaveGroupResponse>();
  h.coordinator().LeaveGroup({5, "admin", "/127.0.0.1"}, req, Fill(slot));
  REQUIRE((*slot)->members.size() == 3);
  CHECK((*slot)->members[0].error_code == kNone);
  CHECK((*slot)->members[1].error_code == kNone);
  CHECK((*slot)->members[2].error_code == kUnknownMemberId);
  // Everyone left: the join phase completes with nobody, the group is Empty.
  CHECK(Describe(h, "g").group_state == "Empty");
}

}  // namespace
}  // namespace runnel::broker::group::testing
