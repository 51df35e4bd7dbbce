// Assignors: Kafka's documented examples (RangeAssignor and
// RoundRobinAssignor javadoc), invariants over many member/partition
// combinations (every partition exactly once and only to a subscriber,
// balance within one), and cooperative-sticky's rebalance rounds: nothing
// changes hands within one rebalance, and only what must move moves.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "client/group/assignor.h"

namespace runnel::client::group {
namespace {

using TPs = std::vector<TopicPartition>;

GroupMember Member(std::string id, std::vector<std::string> topics,
                   std::optional<std::string> instance = std::nullopt) {
  GroupMember m;
  m.member_id = std::move(id);
  m.group_instance_id = std::move(instance);
  m.subscription.topics = std::move(topics);
  return m;
}

GroupAssignment MustAssign(const Assignor& a, const TopicPartitionCounts& counts,
                           const GroupMembers& members) {
  auto out = a.Assign(counts, members);
  REQUIRE(out.ok());
  return *out;
}

// Every partition of a topic someone subscribes to is assigned exactly once,
// to a subscriber; every member has an entry.
void CheckComplete(const TopicPartitionCounts& counts, const GroupMembers& members,
                   const GroupAssignment& a) {
  REQUIRE(a.size() == members.size());
  std::map<TopicPartition, int> seen;
  for (const auto& m : members) {
    REQUIRE(a.count(m.member_id) == 1);
    for (const auto& tp : a.at(m.member_id)) {
      CHECK(internal::Subscribes(m, tp.topic));
      ++seen[tp];
    }
  }
  for (const auto& entry : counts) {
    // Not a structured binding: clang 14 cannot capture one in a lambda.
    const auto& topic = entry.first;
    const int32_t n = entry.second;
    const bool wanted = std::any_of(members.begin(), members.end(),
                                    [&](const GroupMember& m) { return internal::Subscribes(m, topic); });
    for (int32_t p = 0; p < n; ++p) {
      INFO(topic << "-" << p);
      CHECK(seen[{topic, p}] == (wanted ? 1 : 0));
    }
  }
}

void CheckBalanced(const GroupAssignment& a) {
  size_t lo = SIZE_MAX, hi = 0;
  for (const auto& [m, tps] : a) {
    lo = std::min(lo, tps.size());
    hi = std::max(hi, tps.size());
  }
  CHECK(hi - lo <= 1);
}

TEST_CASE("range: Kafka's javadoc example", "[assignor]") {
  auto a = MakeRangeAssignor();
  GroupMembers members = {Member("C1", {"t0", "t1"}), Member("C0", {"t0", "t1"})};
  auto out = MustAssign(*a, {{"t0", 3}, {"t1", 3}}, members);
  CHECK(out["C0"] == TPs{{"t0", 0}, {"t0", 1}, {"t1", 0}, {"t1", 1}});
  CHECK(out["C1"] == TPs{{"t0", 2}, {"t1", 2}});
}

TEST_CASE("range: static members sort by instance id, before dynamic ones", "[assignor]") {
  auto a = MakeRangeAssignor();
  GroupMembers members = {Member("a", {"t"}), Member("b", {"t"}, "z-instance"),
                          Member("c", {"t"}, "y-instance")};
  auto out = MustAssign(*a, {{"t", 3}}, members);
  CHECK(out["c"] == TPs{{"t", 0}});
  CHECK(out["b"] == TPs{{"t", 1}});
  CHECK(out["a"] == TPs{{"t", 2}});
}

TEST_CASE("roundrobin: Kafka's javadoc examples", "[assignor]") {
  auto a = MakeRoundRobinAssignor();
  {
    GroupMembers members = {Member("C0", {"t0", "t1"}), Member("C1", {"t0", "t1"})};
    auto out = MustAssign(*a, {{"t0", 3}, {"t1", 3}}, members);
    CHECK(out["C0"] == TPs{{"t0", 0}, {"t0", 2}, {"t1", 1}});
    CHECK(out["C1"] == TPs{{"t0", 1}, {"t1", 0}, {"t1", 2}});
  }
  {
    GroupMembers members = {Member("C0", {"t0"}), Member("C1", {"t0", "t1"}),
                            Member("C2", {"t0", "t1", "t2"})};
    auto out = MustAssign(*a, {{"t0", 1}, {"t1", 2}, {"t2", 3}}, members);
    CHECK(out["C0"] == TPs{{"t0", 0}});
    CHECK(out["C1"] == TPs{{"t1", 0}});
    CHECK(out["C2"] == TPs{{"t1", 1}, {"t2", 0}, {"t2", 1}, {"t2", 2}});
  }
}

TEST_CASE("factory names and duplicate member ids", "[assignor]") {
  for (const char* name : {"range", "roundrobin", "cooperative-sticky"}) {
    auto a = MakeAssignor(name);
    REQUIRE(a.ok());
    CHECK((*a)->name() == name);
  }
  CHECK((*MakeAssignor("cooperative-sticky"))->protocol() == RebalanceProtocol::kCooperative);
  CHECK((*MakeAssignor("range"))->protocol() == RebalanceProtocol::kEager);
  CHECK(MakeAssignor("sticky-ish").status().code() == absl::StatusCode::kInvalidArgument);
  GroupMembers dup = {Member("m", {"t"}), Member("m", {"t"})};
  CHECK_FALSE(MakeRangeAssignor()->Assign({{"t", 2}}, dup).ok());
}

TEST_CASE("every assignor: complete and balanced over many combinations", "[assignor]") {
  std::mt19937 rng(42);
  for (const char* name : {"range", "roundrobin", "cooperative-sticky"}) {
    auto a = *MakeAssignor(name);
    for (int iter = 0; iter < 300; ++iter) {
      const int members_n = 1 + static_cast<int>(rng() % 9);
      const int topics_n = 1 + static_cast<int>(rng() % 3);
      TopicPartitionCounts counts;
      for (int t = 0; t < topics_n; ++t) counts["t" + std::to_string(t)] = rng() % 13;
      const bool equal = iter % 2 == 0;
      GroupMembers members;
      for (int m = 0; m < members_n; ++m) {
        std::vector<std::string> topics;
        for (int t = 0; t < topics_n; ++t) {
          if (equal || rng() % 2 == 0) topics.push_back("t" + std::to_string(t));
        }
        topics.push_back("missing-topic");
        members.push_back(Member("m" + std::to_string(rng() % 1000) + "-" + std::to_string(m),
                                 topics));
      }
      INFO(name << " iteration " << iter);
      auto out = MustAssign(*a, counts, members);
      CheckComplete(counts, members, out);
      // Range balances per topic, not overall; the others overall.
      if (equal && std::string(name) != "range") CheckBalanced(out);
    }
  }
}

// --- cooperative-sticky rounds

// A simulated group: members own what they were assigned; a rebalance runs
// the assignor, members revoke what they lost at once, and the round repeats
// while anyone revoked (as a cooperative member rejoins after revoking).
struct Group {
  std::map<std::string, TPs> owned;
  int32_t generation = 0;
  int rounds = 0;

  GroupMembers Members(const std::vector<std::string>& topics) const {
    GroupMembers out;
    for (const auto& [id, tps] : owned) {
      GroupMember m = Member(id, topics);
      m.subscription.owned_partitions = GroupByTopic(tps);
      m.subscription.generation_id = generation;
      out.push_back(std::move(m));
    }
    return out;
  }

  // Returns how many partitions changed owner overall.
  int Rebalance(const TopicPartitionCounts& counts, const std::vector<std::string>& topics) {
    auto a = MakeCooperativeStickyAssignor();
    std::map<TopicPartition, std::string> before;
    for (const auto& [id, tps] : owned) {
      for (const auto& tp : tps) before[tp] = id;
    }
    rounds = 0;
    bool revoked = true;
    while (revoked) {
      REQUIRE(++rounds <= 3);
      auto out = MustAssign(*a, counts, Members(topics));
      ++generation;
      revoked = false;
      std::map<TopicPartition, std::string> now;
      for (auto& [id, tps] : owned) {
        const TPs& next = out.at(id);
        for (const auto& tp : tps) {
          if (!std::binary_search(next.begin(), next.end(), tp)) revoked = true;
        }
        tps = next;
        for (const auto& tp : tps) {
          // Nobody else holds it in the same round.
          REQUIRE(now.emplace(tp, id).second);
        }
      }
    }
    int moved = 0;
    for (const auto& [id, tps] : owned) {
      for (const auto& tp : tps) {
        auto it = before.find(tp);
        if (it != before.end() && it->second != id) ++moved;
      }
    }
    return moved;
  }
};

TEST_CASE("cooperative-sticky: three members over six partitions, leave and join",
          "[assignor]") {
  const TopicPartitionCounts counts = {{"t", 6}};
  const std::vector<std::string> topics = {"t"};
  Group g;
  g.owned = {{"a", {}}, {"b", {}}, {"c", {}}};
  g.Rebalance(counts, topics);
  CHECK(g.rounds == 1);  // nothing owned yet: nothing to revoke
  for (const auto& [id, tps] : g.owned) CHECK(tps.size() == 2);
  const auto a_before = g.owned["a"];
  const auto c_before = g.owned["c"];

  // b leaves: a and c keep theirs and split b's, in one round.
  g.owned.erase("b");
  CHECK(g.Rebalance(counts, topics) == 0);
  CHECK(g.rounds == 1);
  for (const auto& tp : a_before) CHECK(std::count(g.owned["a"].begin(), g.owned["a"].end(), tp));
  for (const auto& tp : c_before) CHECK(std::count(g.owned["c"].begin(), g.owned["c"].end(), tp));
  CHECK(g.owned["a"].size() == 3);
  CHECK(g.owned["c"].size() == 3);

  // d joins: exactly one partition leaves a and one leaves c, over two
  // rounds (revoke, then assign).
  g.owned["d"] = {};
  const auto a3 = g.owned["a"], c3 = g.owned["c"];
  CHECK(g.Rebalance(counts, topics) == 2);
  CHECK(g.rounds == 2);
  for (const auto& [id, tps] : g.owned) CHECK(tps.size() == 2);
  for (const auto& tp : g.owned["a"]) CHECK(std::count(a3.begin(), a3.end(), tp));
  for (const auto& tp : g.owned["c"]) CHECK(std::count(c3.begin(), c3.end(), tp));
}

TEST_CASE("cooperative-sticky: random joins and leaves move only what balance needs",
          "[assignor]") {
  std::mt19937 rng(7);
  const TopicPartitionCounts counts = {{"a", 7}, {"b", 11}};
  const std::vector<std::string> topics = {"a", "b"};
  Group g;
  int next_id = 0;
  for (int step = 0; step < 200; ++step) {
    if (g.owned.size() < 2 || (g.owned.size() < 12 && rng() % 2 == 0)) {
      g.owned["m" + std::to_string(next_id++)] = {};
    } else {
      auto it = g.owned.begin();
      std::advance(it, rng() % g.owned.size());
      g.owned.erase(it);
    }
    std::map<std::string, size_t> had;
    for (const auto& [id, tps] : g.owned) had[id] = tps.size();
    INFO("step " << step << " members " << g.owned.size());
    g.Rebalance(counts, topics);
    CHECK(g.rounds <= 2);
    const size_t total = 18, n = g.owned.size();
    size_t sum = 0;
    for (const auto& [id, tps] : g.owned) {
      sum += tps.size();
      // Sticky: a member keeps all it had up to the lower quota, so the
      // only partitions that move are the ones above quota.
      CHECK(tps.size() >= std::min(had[id], total / n));
      CHECK(tps.size() <= total / n + 1);
    }
    CHECK(sum == total);
  }
}

TEST_CASE("cooperative-sticky: stale and contested claims are ignored", "[assignor]") {
  auto a = MakeCooperativeStickyAssignor();
  GroupMembers members = {Member("x", {"t"}), Member("y", {"t"}), Member("z", {"t"})};
  // x and y both claim t-0 at generation 5; z claims t-1 from generation 4.
  members[0].subscription.owned_partitions = {{"t", {0, 2}}};
  members[0].subscription.generation_id = 5;
  members[1].subscription.owned_partitions = {{"t", {0}}};
  members[1].subscription.generation_id = 5;
  members[2].subscription.owned_partitions = {{"t", {1}}};
  members[2].subscription.generation_id = 4;
  auto out = MustAssign(*a, {{"t", 3}}, members);
  CheckComplete({{"t", 3}}, members, out);
  CHECK(out["x"] == TPs{{"t", 2}});  // its uncontested claim is kept
}

}  // namespace
}  // namespace runnel::client::group
