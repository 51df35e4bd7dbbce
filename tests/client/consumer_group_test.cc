// A group of three cooperative-sticky consumers over six partitions, on
// librdkafka's mock cluster and on an in-process runnel::Broker: the members
// split the partitions, a member leaves (the others keep theirs and take its
// share without revoking anything), a member joins (exactly one partition
// leaves each of the two busier members), every record is consumed exactly
// once, and the group's committed offsets are exactly what was consumed.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/broker/broker_fixture.h"
#include "tests/client/consumer_util.h"
#include "tests/client/mock_cluster.h"

namespace runnel::client {
namespace {

using testing::PollingMember;
using testing::ProduceNumbered;
using testing::QuickConsumerOptions;
using testing::WaitFor;

constexpr int kPartitions = 6;

// The members' group-protocol lines (info, and debug of the "cgrp"
// context), in order, with the time since the scenario started: printed
// when a check fails, and written to $RUNNEL_GROUP_LOG when that is set.
class GroupLog {
 public:
  ClientLogSink Sink() {
    return [this](const ClientLogLine& line) {
      std::string text = absl::StrCat("+", absl::ToInt64Milliseconds(absl::Now() - start_), "ms ",
                                      std::string(line.client_id), " ", std::string(line.message));
      for (const auto& f : line.fields) absl::StrAppend(&text, " ", f.key, "=", f.value);
      std::lock_guard<std::mutex> l(mu_);
      lines_.push_back(std::move(text));
    };
  }
  std::string Text() {
    std::lock_guard<std::mutex> l(mu_);
    return absl::StrJoin(lines_, "\n");
  }
  ~GroupLog() {
    if (const char* path = std::getenv("RUNNEL_GROUP_LOG")) {
      std::ofstream out(path, std::ios::app);
      out << Text() << "\n----\n";
    }
  }

 private:
  const absl::Time start_ = absl::Now();
  std::mutex mu_;
  std::vector<std::string> lines_;
};

bool Covers(std::vector<PollingMember*> members, const std::string& topic, int64_t per_partition) {
  std::map<TopicPartition, std::set<int64_t>> seen;
  for (auto* m : members) {
    for (const auto& [tp, offsets] : m->consumed()) {
      for (const auto& [o, n] : offsets) seen[tp].insert(o);
    }
  }
  for (int p = 0; p < kPartitions; ++p) {
    if (static_cast<int64_t>(seen[{topic, p}].size()) < per_partition) return false;
  }
  return true;
}

std::string Describe(std::vector<PollingMember*> members) {
  std::string out;
  for (auto* m : members) {
    out += "[";
    for (const auto& tp : m->owned()) out += std::to_string(tp.partition) + " ";
    auto [id, gen] = m->consumer().GroupMember();
    out += "] gen " + std::to_string(gen) + " revoked " + std::to_string(m->revoked().size()) +
           " errors " + std::to_string(m->errors().size()) + "; ";
    for (const auto& e : m->errors()) out += e.ToString() + "; ";
  }
  return out;
}

bool Split(std::vector<PollingMember*> members, size_t each) {
  std::set<TopicPartition> all;
  for (auto* m : members) {
    const auto owned = m->owned();
    if (owned.size() != each) return false;
    all.insert(owned.begin(), owned.end());
  }
  return all.size() == kPartitions;
}

void RequireSplit(std::vector<PollingMember*> members, size_t each, GroupLog& log,
                  absl::Duration timeout) {
  const bool split = WaitFor([&] { return Split(members, each); }, timeout);
  INFO(Describe(members));
  INFO((split ? std::string() : "group protocol log:\n" + log.Text()));
  REQUIRE(split);
}

// `split_timeout`: how long each split may take (rebalances included).
void GroupScenario(const std::string& bootstrap, const std::string& topic,
                   absl::Duration split_timeout) {
  GroupLog log;
  constexpr int kFirst = 600, kSecond = 600;  // 100 then 100 more per partition
  ProduceNumbered(bootstrap, topic, kFirst, kPartitions);
  ConsumerOptions o = QuickConsumerOptions(bootstrap, "group-" + topic);
  o.assignment_strategies = {"cooperative-sticky"};
  // Auto-commit: every second, when partitions are revoked (inside Poll,
  // after the application is done with the last batch) and at Close.
  o.enable_auto_commit = true;
  o.auto_commit_interval = absl::Seconds(1);
  o.client.log_level = ClientLogLevel::kInfo;
  o.client.debug_contexts = static_cast<uint32_t>(ClientDebugContext::kCgrp);
  o.client.log_sink = log.Sink();
  auto named = [&o](const char* id) {
    ConsumerOptions n = o;
    n.client.client_id = id;
    return n;
  };

  std::vector<std::unique_ptr<PollingMember>> gone;
  auto a = std::make_unique<PollingMember>(named("a"), std::vector<std::string>{topic}, false);
  auto b = std::make_unique<PollingMember>(named("b"), std::vector<std::string>{topic}, false);
  auto c = std::make_unique<PollingMember>(named("c"), std::vector<std::string>{topic}, false);
  INFO("three members split six partitions");
  RequireSplit({a.get(), b.get(), c.get()}, 2, log, split_timeout);
  REQUIRE(WaitFor([&] { return Covers({a.get(), b.get(), c.get()}, topic, 100); },
                  absl::Seconds(30)));

  const auto a_had = a->owned(), c_had = c->owned();
  const size_t a_revoked = a->revoked().size(), c_revoked = c->revoked().size();
  INFO("b leaves");
  const absl::Status b_closed = b->Stop(absl::Seconds(10));
  INFO("b's Close: " << b_closed.ToString());  // a commit at close can fail under load
  REQUIRE(b_closed.ok());
  RequireSplit({a.get(), c.get()}, 3, log, split_timeout);
  for (const auto& tp : a_had) CHECK(a->owned().count(tp) == 1);
  for (const auto& tp : c_had) CHECK(c->owned().count(tp) == 1);
  CHECK(a->revoked().size() == a_revoked);  // nothing moved away from a or c
  CHECK(c->revoked().size() == c_revoked);

  ProduceNumbered(bootstrap, topic, kSecond, kPartitions, "none", kFirst);
  const auto a3 = a->owned(), c3 = c->owned();
  INFO("d joins");
  auto d = std::make_unique<PollingMember>(named("d"), std::vector<std::string>{topic}, false);
  RequireSplit({a.get(), c.get(), d.get()}, 2, log, split_timeout);
  // Cooperative-sticky moves only what it must: one partition from a, one from c.
  CHECK(a->revoked().size() == a_revoked + 1);
  CHECK(c->revoked().size() == c_revoked + 1);
  for (const auto& tp : a->owned()) CHECK(a3.count(tp) == 1);
  for (const auto& tp : c->owned()) CHECK(c3.count(tp) == 1);
  CHECK(a->lost() + c->lost() + d->lost() == 0);

  REQUIRE(WaitFor([&] { return Covers({a.get(), b.get(), c.get(), d.get()}, topic, 200); },
                  absl::Seconds(30)));
  // Auto-commit catches up with what was consumed.
  ConsumerOptions reader = o;
  auto check = testing::MakeConsumer(reader);
  std::vector<TopicPartition> tps;
  for (int p = 0; p < kPartitions; ++p) tps.push_back({topic, p});
  absl::StatusOr<TopicPartitionOffsets> committed;
  WaitFor(
      [&] {
        committed = check->Committed(tps, absl::Seconds(5));
        if (!committed.ok() || committed->size() != tps.size()) return false;
        for (const auto& [tp, om] : *committed) {
          if (om.offset != 200) return false;
        }
        return true;
      },
      absl::Seconds(20));
  REQUIRE(committed.ok());
  for (auto* m : {a.get(), c.get(), d.get()}) m->Stop(absl::Seconds(10)).IgnoreError();

  // Every record exactly once across the members, and the commits match.
  std::map<TopicPartition, std::map<int64_t, int>> all;
  for (auto* m : {a.get(), b.get(), c.get(), d.get()}) {
    for (const auto& e : m->errors()) FAIL_CHECK(e.ToString());
    for (const auto& [tp, offsets] : m->consumed()) {
      for (const auto& [off, n] : offsets) all[tp][off] += n;
    }
  }
  for (const auto& tp : tps) {
    INFO(tp.topic << "-" << tp.partition);
    REQUIRE(all[tp].size() == 200);
    CHECK(all[tp].begin()->first == 0);
    CHECK(all[tp].rbegin()->first == 199);
    for (const auto& [off, n] : all[tp]) CHECK(n == 1);
    REQUIRE(committed->count(tp) == 1);
    CHECK(committed->at(tp).offset == 200);
  }
}

// librdkafka 2.0.2's mock cluster, an independent coordinator. Two of its
// ways differ from Kafka's and failed this case in 7 of 10 runs before the
// client allowed for them (seen in the group-protocol log above):
// - It ends a sync round at the leader's SyncGroup and answers a follower
//   whose SyncGroup comes later with an error and a null assignment; the
//   follower rejoins and every rejoin costs a 5 s round (session.timeout.ms
//   - 1 s). Our leader answered first almost every time. It now refreshes
//   metadata before it assigns, as librdkafka's and Java's leaders do, which
//   lets followers win more often but not always (the mock answers in
//   microseconds): 1-4 such lost rounds a run remain, so a split may take
//   60 s here (30 s gave one phase 4 s to spare in 10 runs).
// - It refuses OffsetCommit through a whole rebalance (Kafka takes the last
//   generation's commits until the JoinGroup answers). When two members
//   revoke a partition each in one round, the first to rejoin starts the
//   next rebalance and the other's commit is refused; the partition then
//   went to its new owner from the older commit and was read twice. A
//   revoked partition whose commit fails now stays claimed by its owner
//   until the commit goes through under a later generation (KIP-429: no
//   partition changes hands before its owner has let go of it).
TEST_CASE("group of three over six partitions on the mock cluster", "[consumer_group]") {
  testing::MockCluster mock(3);
  mock.CreateTopic("orders", kPartitions);
  GroupScenario(mock.bootstraps(), "orders", absl::Seconds(60));
}

TEST_CASE("group of three over six partitions on runnel-broker", "[consumer_group]") {
  broker::testing::BrokerFixture broker({{"num.partitions", std::to_string(kPartitions)}});
  GroupScenario(broker.broker().bootstrap_address(), "orders", absl::Seconds(30));
}

}  // namespace
}  // namespace runnel::client
