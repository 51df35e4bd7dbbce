// cooperative-sticky: Kafka's CooperativeStickyAssignor (KIP-429) over the
// sticky algorithm of AbstractStickyAssignor.
//
// 1. Claims. What each member says it owns counts only if the partition
//    still exists, the member still subscribes to its topic, the member's
//    generation is the highest in the group (older claims are stale: the
//    member missed a rebalance) and no other member of that generation
//    claims it too (then neither keeps it).
// 2. Target. With equal subscriptions (the common case) every member gets
//    floor(P/N) or ceil(P/N) partitions, exactly P % N of them the larger
//    quota; a member keeps its claims up to its quota, in member order.
//    With unequal subscriptions, members keep their claims, unclaimed
//    partitions go to the eligible member with the fewest (partitions with
//    the fewest eligible members first), and partitions then move from a
//    member to an eligible one with at least two fewer until none can.
// 3. Cooperation. A partition whose target owner differs from its claimed
//    owner is left out of this round: the owner revokes it on seeing its
//    new assignment and rejoins, and the next rebalance (where it is
//    unclaimed) gives it to the member that lacks it.
#include <algorithm>
#include <map>
#include <set>

#include "client/group/assignor.h"

namespace runnel::client::group {
namespace {

using internal::SortedMembers;
using internal::Subscribes;

using Claims = std::map<TopicPartition, std::string>;  // partition -> member id

bool Exists(const TopicPartitionCounts& partitions, const TopicPartition& tp) {
  auto it = partitions.find(tp.topic);
  return it != partitions.end() && tp.partition >= 0 && tp.partition < it->second;
}

Claims ValidClaims(const TopicPartitionCounts& partitions, const GroupMembers& members) {
  int32_t max_generation = -1;
  for (const auto& m : members) {
    if (!m.subscription.owned_partitions.empty()) {
      max_generation = std::max(max_generation, m.subscription.generation_id);
    }
  }
  Claims claims;
  std::set<TopicPartition> contested;
  for (const auto& m : members) {
    if (m.subscription.generation_id != max_generation) continue;
    for (const auto& tp : Flatten(m.subscription.owned_partitions)) {
      if (!Exists(partitions, tp) || !Subscribes(m, tp.topic)) continue;
      auto [it, inserted] = claims.emplace(tp, m.member_id);
      if (!inserted && it->second != m.member_id) contested.insert(tp);
    }
  }
  for (const auto& tp : contested) claims.erase(tp);
  return claims;
}

bool EqualSubscriptions(const GroupMembers& members) {
  if (members.empty()) return true;
  const std::set<std::string> first(members[0].subscription.topics.begin(),
                                    members[0].subscription.topics.end());
  for (const auto& m : members) {
    if (std::set<std::string>(m.subscription.topics.begin(), m.subscription.topics.end()) !=
        first) {
      return false;
    }
  }
  return true;
}

// Equal subscriptions: quotas.
void AssignConstrained(const std::vector<TopicPartition>& all, const Claims& claims,
                       const std::vector<const GroupMember*>& sorted, GroupAssignment& out) {
  const size_t n = sorted.size();
  const size_t min_quota = all.size() / n;
  const size_t expected_max = all.size() % n;  // members that get min_quota + 1
  std::map<std::string, std::vector<TopicPartition>> owned;
  for (const auto& [tp, member] : claims) owned[member].push_back(tp);
  std::set<TopicPartition> taken;
  size_t at_max = 0;
  for (const GroupMember* m : sorted) {
    auto& mine = owned[m->member_id];
    size_t keep = std::min(mine.size(), min_quota);
    if (mine.size() > min_quota && at_max < expected_max) {
      keep = min_quota + 1;
      ++at_max;
    }
    for (size_t i = 0; i < keep; ++i) {
      out[m->member_id].push_back(mine[i]);
      taken.insert(mine[i]);
    }
  }
  // The rest, one at a time, to the member with the fewest; never past
  // min_quota + 1, and only expected_max members reach it.
  for (const auto& tp : all) {
    if (taken.count(tp)) continue;
    const GroupMember* best = nullptr;
    for (const GroupMember* m : sorted) {
      const size_t have = out[m->member_id].size();
      if (have > min_quota || (have == min_quota && at_max >= expected_max)) continue;
      if (best == nullptr || have < out[best->member_id].size()) best = m;
    }
    // Counting guarantees a member is found; keep the partition assigned
    // somewhere even if an invariant were ever broken.
    if (best == nullptr) best = sorted.front();
    auto& dst = out[best->member_id];
    dst.push_back(tp);
    if (dst.size() == min_quota + 1) ++at_max;
  }
}

// Unequal subscriptions: keep claims, place the rest, then even out.
void AssignGeneral(const std::vector<TopicPartition>& all, const Claims& claims,
                   const std::vector<const GroupMember*>& sorted, GroupAssignment& out) {
  std::map<TopicPartition, std::vector<const GroupMember*>> eligible;
  for (const auto& tp : all) {
    for (const GroupMember* m : sorted) {
      if (Subscribes(*m, tp.topic)) eligible[tp].push_back(m);
    }
  }
  std::vector<TopicPartition> unclaimed;
  for (const auto& tp : all) {
    auto it = claims.find(tp);
    if (it != claims.end()) {
      out[it->second].push_back(tp);
    } else if (!eligible[tp].empty()) {
      unclaimed.push_back(tp);
    }
  }
  std::stable_sort(unclaimed.begin(), unclaimed.end(),
                   [&](const TopicPartition& a, const TopicPartition& b) {
                     return eligible[a].size() < eligible[b].size();
                   });
  auto fewest = [&](const TopicPartition& tp) {
    const GroupMember* best = nullptr;
    for (const GroupMember* m : eligible[tp]) {
      if (best == nullptr || out[m->member_id].size() < out[best->member_id].size()) best = m;
    }
    return best;
  };
  for (const auto& tp : unclaimed) out[fewest(tp)->member_id].push_back(tp);

  // Each move lowers the sum of squared counts, so this ends.
  bool moved = true;
  while (moved) {
    moved = false;
    for (const GroupMember* from : sorted) {
      auto& src = out[from->member_id];
      for (size_t i = 0; i < src.size(); ++i) {
        const GroupMember* to = fewest(src[i]);
        if (to == nullptr || out[to->member_id].size() + 1 >= src.size()) continue;
        out[to->member_id].push_back(src[i]);
        src.erase(src.begin() + static_cast<std::ptrdiff_t>(i));
        moved = true;
        break;
      }
    }
  }
}

class CooperativeStickyAssignor final : public Assignor {
 public:
  std::string_view name() const override { return "cooperative-sticky"; }
  RebalanceProtocol protocol() const override { return RebalanceProtocol::kCooperative; }

  absl::StatusOr<GroupAssignment> Assign(const TopicPartitionCounts& partitions,
                                         const GroupMembers& members) const override {
    auto out = internal::EmptyAssignment(members);
    if (!out.ok() || members.empty()) return out;
    const auto sorted = SortedMembers(members);
    std::vector<TopicPartition> all;
    for (const auto& entry : partitions) {
      // Not a structured binding: clang 14 cannot capture one in a lambda.
      const auto& topic = entry.first;
      const int32_t count = entry.second;
      const bool anyone = std::any_of(sorted.begin(), sorted.end(),
                                      [&](const GroupMember* m) { return Subscribes(*m, topic); });
      if (!anyone) continue;
      for (int32_t p = 0; p < count; ++p) all.push_back({topic, p});
    }
    const Claims claims = ValidClaims(partitions, members);
    if (EqualSubscriptions(members)) {
      AssignConstrained(all, claims, sorted, *out);
    } else {
      AssignGeneral(all, claims, sorted, *out);
    }
    // Cooperation: nothing changes hands within one rebalance.
    for (auto& [member, tps] : *out) {
      std::erase_if(tps, [&, &member = member](const TopicPartition& tp) {
        auto it = claims.find(tp);
        return it != claims.end() && it->second != member;
      });
      std::sort(tps.begin(), tps.end());
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<Assignor> MakeCooperativeStickyAssignor() {
  return std::make_unique<CooperativeStickyAssignor>();
}

}  // namespace runnel::client::group
