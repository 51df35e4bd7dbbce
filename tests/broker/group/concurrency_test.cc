// Members on several threads at once: the group converges to one stable
// generation and every partition is assigned once. Run under TSan/ASan this
// is the coordinator's thread-safety check.
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tests/broker/group/group_test_util.h"

namespace runnel::broker::group::testing {
namespace {

constexpr int kMembers = 4;
constexpr int32_t kPartitions = 8;

// A response handed over between threads.
template <typename T>
struct Mailbox {
  absl::Mutex mu;
  std::optional<T> value ABSL_GUARDED_BY(mu);

  Done<T> Callback(std::shared_ptr<Mailbox> self) {
    return [self](T v) {
      absl::MutexLock lock(&self->mu);
      self->value = std::move(v);
    };
  }
  // Waits (really) for a response that another thread's request delivers.
  std::optional<T> Await() {
    absl::MutexLock lock(&mu);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return value.has_value(); };
    mu.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(30));
    return value;
  }
};

std::optional<protocol::JoinGroupResponse> Join(Harness& h, const std::string& member_id, int t) {
  protocol::JoinGroupRequest req;
  req.group_id = "g";
  req.member_id = member_id;
  req.protocol_type = "consumer";
  req.session_timeout_ms = 10000;
  req.rebalance_timeout_ms = 10000;
  req.protocols.push_back({"range", Subscription({"t"}), {}});
  auto box = std::make_shared<Mailbox<protocol::JoinGroupResponse>>();
  h.coordinator().JoinGroup({3, "c" + std::to_string(t), "h"}, req, box->Callback(box));
  return box->Await();
}

std::optional<protocol::SyncGroupResponse> Sync(
    Harness& h, const std::string& member_id, int32_t generation,
    const std::vector<std::pair<std::string, std::vector<uint8_t>>>& plan) {
  protocol::SyncGroupRequest req;
  req.group_id = "g";
  req.member_id = member_id;
  req.generation_id = generation;
  for (const auto& [id, bytes] : plan) req.assignments.push_back({id, bytes, {}});
  auto box = std::make_shared<Mailbox<protocol::SyncGroupResponse>>();
  h.coordinator().SyncGroup({3, "c", "h"}, req, box->Callback(box));
  return box->Await();
}

TEST_CASE("Members on concurrent threads converge on one assignment", "[group][threads]") {
  Harness h;
  std::atomic<bool> stable{false};
  std::atomic<bool> failed{false};
  std::vector<std::vector<uint8_t>> assignments(kMembers);
  std::vector<std::thread> threads;
  for (int t = 0; t < kMembers; ++t) {
    threads.emplace_back([&, t] {
      std::string member_id;
      const absl::Time deadline = absl::Now() + absl::Seconds(60);
      while (!stable && !failed && absl::Now() < deadline) {
        std::optional<protocol::JoinGroupResponse> join = Join(h, member_id, t);
        if (!join.has_value()) break;
        const protocol::JoinGroupResponse& j = *join;
        if (j.error_code != 0) {
          if (j.error_code == static_cast<int16_t>(ErrorCode::kUnknownMemberId)) member_id.clear();
          continue;
        }
        member_id = j.member_id;
        std::vector<std::pair<std::string, std::vector<uint8_t>>> plan;
        for (size_t i = 0; i < j.members.size(); ++i) {
          std::vector<int32_t> mine;
          for (int32_t p = static_cast<int32_t>(i); p < kPartitions;
               p += static_cast<int32_t>(j.members.size())) {
            mine.push_back(p);
          }
          plan.push_back({j.members[i].member_id, Assignment("t", mine)});
        }
        std::optional<protocol::SyncGroupResponse> sync = Sync(h, member_id, j.generation_id, plan);
        if (!sync.has_value()) break;
        if (sync->error_code != 0) continue;
        assignments[static_cast<size_t>(t)] = sync->assignment;
        h.Commit("offsets-" + std::to_string(t), "", -1, "t", {{t, 1}});
        // Heartbeat until the group is whole or a rebalance calls us back.
        while (!stable && absl::Now() < deadline) {
          const int16_t hb = h.Heartbeat(member_id, j.generation_id);
          if (hb != 0) break;
          protocol::DescribeGroupsRequest req;
          req.groups = {"g"};
          auto d = NewSlot<protocol::DescribeGroupsResponse>();
          h.coordinator().DescribeGroups({5, "admin", "h"}, req, Fill(d));
          const auto& g = (*d)->groups.at(0);
          if (g.group_state == "Stable" && g.members.size() == kMembers) stable = true;
        }
      }
      if (!stable) failed = true;
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(stable);
  // Each member's last assignment is of the final generation; together
  // they cover every partition once.
  // As strings: a std::set of byte vectors makes GCC 12 at -O3 warn falsely
  // in its comparison (-Wstringop-overread in the inlined memcmp).
  std::set<std::string> distinct;
  for (const auto& a : assignments) distinct.emplace(a.begin(), a.end());
  CHECK(distinct.size() == kMembers);
  for (int t = 0; t < kMembers; ++t) {
    auto fetched = h.Fetch("offsets-" + std::to_string(t), "t", {t});
    CHECK(fetched.topics.at(0).partitions.at(0).committed_offset == 1);
  }
}

}  // namespace
}  // namespace runnel::broker::group::testing
