// The assignor factory, shared helpers, and the two eager assignors (range
// and roundrobin), which are a few lines each; cooperative-sticky is in
// sticky_assignor.cc.
#include "client/group/assignor.h"

#include <algorithm>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace runnel::client::group {
namespace internal {

std::vector<const GroupMember*> SortedMembers(const GroupMembers& members) {
  std::vector<const GroupMember*> out;
  out.reserve(members.size());
  for (const auto& m : members) out.push_back(&m);
  // Kafka's MemberInfo.compareTo: static members by instance id first.
  std::sort(out.begin(), out.end(), [](const GroupMember* a, const GroupMember* b) {
    if (a->group_instance_id && b->group_instance_id) {
      if (*a->group_instance_id != *b->group_instance_id) {
        return *a->group_instance_id < *b->group_instance_id;
      }
      return a->member_id < b->member_id;
    }
    if (a->group_instance_id.has_value() != b->group_instance_id.has_value()) {
      return a->group_instance_id.has_value();
    }
    return a->member_id < b->member_id;
  });
  return out;
}

absl::StatusOr<GroupAssignment> EmptyAssignment(const GroupMembers& members) {
  GroupAssignment out;
  for (const auto& m : members) {
    if (!out.emplace(m.member_id, std::vector<TopicPartition>{}).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("two group members share the member id '", m.member_id, "'"));
    }
  }
  return out;
}

bool Subscribes(const GroupMember& m, std::string_view topic) {
  return std::find(m.subscription.topics.begin(), m.subscription.topics.end(), topic) !=
         m.subscription.topics.end();
}

}  // namespace internal

namespace {

using internal::SortedMembers;
using internal::Subscribes;

void SortAll(GroupAssignment& a) {
  for (auto& [member, tps] : a) std::sort(tps.begin(), tps.end());
}

class RangeAssignor final : public Assignor {
 public:
  std::string_view name() const override { return "range"; }
  RebalanceProtocol protocol() const override { return RebalanceProtocol::kEager; }

  absl::StatusOr<GroupAssignment> Assign(const TopicPartitionCounts& partitions,
                                         const GroupMembers& members) const override {
    auto out = internal::EmptyAssignment(members);
    if (!out.ok()) return out;
    const auto sorted = SortedMembers(members);
    for (const auto& [topic, count] : partitions) {
      std::vector<const GroupMember*> subscribed;
      for (const GroupMember* m : sorted) {
        if (Subscribes(*m, topic)) subscribed.push_back(m);
      }
      if (subscribed.empty()) continue;
      const int32_t n = static_cast<int32_t>(subscribed.size());
      const int32_t per = count / n;
      const int32_t extra = count % n;
      for (int32_t i = 0; i < n; ++i) {
        const int32_t start = per * i + std::min(i, extra);
        const int32_t len = per + (i < extra ? 1 : 0);
        auto& dst = (*out)[subscribed[i]->member_id];
        for (int32_t p = start; p < start + len; ++p) dst.push_back({topic, p});
      }
    }
    SortAll(*out);
    return out;
  }
};

class RoundRobinAssignor final : public Assignor {
 public:
  std::string_view name() const override { return "roundrobin"; }
  RebalanceProtocol protocol() const override { return RebalanceProtocol::kEager; }

  absl::StatusOr<GroupAssignment> Assign(const TopicPartitionCounts& partitions,
                                         const GroupMembers& members) const override {
    auto out = internal::EmptyAssignment(members);
    if (!out.ok()) return out;
    const auto sorted = SortedMembers(members);
    if (sorted.empty()) return out;
    // Topics anyone subscribes to, in order (TopicPartitionCounts is sorted).
    size_t next = 0;  // the circular iterator over sorted members
    for (const auto& entry : partitions) {
      // Not a structured binding: clang 14 cannot capture one in a lambda.
      const auto& topic = entry.first;
      const int32_t count = entry.second;
      const bool anyone = std::any_of(sorted.begin(), sorted.end(),
                                      [&](const GroupMember* m) { return Subscribes(*m, topic); });
      if (!anyone) continue;
      for (int32_t p = 0; p < count; ++p) {
        while (!Subscribes(*sorted[next], topic)) next = (next + 1) % sorted.size();
        (*out)[sorted[next]->member_id].push_back({topic, p});
        next = (next + 1) % sorted.size();
      }
    }
    SortAll(*out);
    return out;
  }
};

}  // namespace

std::unique_ptr<Assignor> MakeRangeAssignor() { return std::make_unique<RangeAssignor>(); }
std::unique_ptr<Assignor> MakeRoundRobinAssignor() {
  return std::make_unique<RoundRobinAssignor>();
}

absl::StatusOr<std::unique_ptr<Assignor>> MakeAssignor(std::string_view name) {
  if (name == "range") return MakeRangeAssignor();
  if (name == "roundrobin") return MakeRoundRobinAssignor();
  if (name == "cooperative-sticky") return MakeCooperativeStickyAssignor();
  return absl::InvalidArgumentError(
      absl::StrCat("unknown partition assignor '", std::string(name),
                   "' (known: range, roundrobin, cooperative-sticky)"));
}

std::vector<TopicPartitions> GroupByTopic(const std::vector<TopicPartition>& tps) {
  std::map<std::string, std::set<int32_t>> by_topic;
  for (const auto& tp : tps) by_topic[tp.topic].insert(tp.partition);
  std::vector<TopicPartitions> out;
  for (auto& [topic, parts] : by_topic) {
    out.push_back({topic, std::vector<int32_t>(parts.begin(), parts.end())});
  }
  return out;
}

std::vector<TopicPartition> Flatten(const std::vector<TopicPartitions>& tps) {
  std::vector<TopicPartition> out;
  for (const auto& t : tps) {
    for (int32_t p : t.partitions) out.push_back({t.topic, p});
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace runnel::client::group
