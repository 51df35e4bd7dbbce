// Group membership against an in-process runnel-broker, with every consumer
// polled from the test's own thread (so the listeners need no locks and
// Catch2 is only called from here): static membership (a restart within
// session.timeout.ms keeps the assignment with no rebalance; a duplicate
// instance id fences the older member), max.poll.interval.ms (a member that
// stops polling leaves, and rejoins on its next Poll) and pattern
// subscriptions (existing and later topics, never internal ones).
#include <catch2/catch.hpp>

#include "runnel/protocol/error_code.h"
#include "tests/broker/broker_fixture.h"
#include "tests/client/consumer_util.h"

namespace runnel::client {
namespace {

using testing::MakeConsumer;
using testing::ProduceNumbered;
using testing::QuickConsumerOptions;

// What a rebalance listener heard; called inside Poll on the test's thread.
struct Recorder : RebalanceListener {
  void OnPartitionsAssigned(const std::vector<TopicPartition>& tps) override {
    ++assigned_calls;
    owned.insert(tps.begin(), tps.end());
  }
  void OnPartitionsRevoked(const std::vector<TopicPartition>& tps) override {
    ++revoked_calls;
    for (const auto& tp : tps) owned.erase(tp);
  }
  void OnPartitionsLost(const std::vector<TopicPartition>& tps) override {
    ++lost_calls;
    lost.insert(tps.begin(), tps.end());
    for (const auto& tp : tps) owned.erase(tp);
  }
  std::set<TopicPartition> owned, lost;
  int assigned_calls = 0, revoked_calls = 0, lost_calls = 0;
};

// Polls each consumer in turn (20 ms each) until `done` holds or `timeout`
// passes; records go to `records`, Poll errors to `errors` (each consumer's
// first error only: a fenced consumer fails every Poll).
struct Poller {
  std::vector<Consumer*> consumers;
  std::vector<ConsumerRecord> records;
  std::map<Consumer*, absl::Status> errors;

  template <typename Done>
  bool Until(Done done, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      for (Consumer* c : consumers) {
        auto batch = c->Poll(absl::Milliseconds(20));
        if (!batch.ok()) {
          errors.emplace(c, batch.status());
          continue;
        }
        for (auto& r : *batch) records.push_back(std::move(r));
      }
      if (done()) return true;
    }
    return done();
  }
  void For(absl::Duration d) {
    Until([] { return false; }, d);
  }
};

std::string Owned(const Recorder& r) {
  std::string out;
  for (const auto& tp : r.owned) out += tp.topic + "-" + std::to_string(tp.partition) + " ";
  return out;
}

TEST_CASE("static member: a restart within session.timeout keeps its partitions",
          "[consumer][static]") {
  broker::testing::BrokerFixture broker({{"num.partitions", std::string("4")}});
  const std::string bootstrap = broker.broker().bootstrap_address();
  ProduceNumbered(bootstrap, "static", 40, 4);
  ConsumerOptions o = QuickConsumerOptions(bootstrap, "static-group");
  // Eager: any rebalance would revoke every member's partitions, which the
  // listener of the member that stays would hear.
  o.assignment_strategies = {"range"};
  o.enable_auto_commit = false;
  ConsumerOptions oa = o, ob = o;
  oa.group_instance_id.emplace("member-a");
  ob.group_instance_id.emplace("member-b");

  Recorder la, lb;
  auto a = MakeConsumer(oa);
  auto b = MakeConsumer(ob);
  REQUIRE(a->Subscribe({"static"}, &la).ok());
  REQUIRE(b->Subscribe({"static"}, &lb).ok());
  Poller both{{a.get(), b.get()}};
  const bool split = both.Until(
      [&] { return la.owned.size() == 2 && lb.owned.size() == 2 && both.records.size() == 40; },
      absl::Seconds(20));
  INFO("a: " << Owned(la) << " b: " << Owned(lb) << " records " << both.records.size());
  REQUIRE(split);
  const auto a_had = la.owned, b_had = lb.owned;
  const auto b_member = b->GroupMember();
  const int b_assigned = lb.assigned_calls, b_revoked = lb.revoked_calls;
  REQUIRE(b_member.second > 0);

  // A static member's Close sends no LeaveGroup: the coordinator keeps its
  // place for session.timeout.ms (6 s here), so b sees nothing.
  REQUIRE(a->Close(absl::Seconds(5)).ok());
  a.reset();
  Poller only_b{{b.get()}};
  only_b.For(absl::Seconds(1));

  Recorder la2;
  auto a2 = MakeConsumer(oa);
  REQUIRE(a2->Subscribe({"static"}, &la2).ok());
  Poller again{{a2.get(), b.get()}};
  REQUIRE(again.Until([&] { return la2.owned.size() == 2; }, absl::Seconds(10)));
  again.For(absl::Seconds(1));  // room for a rebalance to show, if one came
  CHECK(la2.owned == a_had);
  CHECK(la2.revoked_calls + la2.lost_calls == 0);
  CHECK(lb.owned == b_had);
  CHECK(lb.assigned_calls == b_assigned);
  CHECK(lb.revoked_calls == b_revoked);
  CHECK(lb.lost_calls == 0);
  CHECK(b->GroupMember() == b_member);  // same member id, same generation
  CHECK(a2->GroupMember().second == b_member.second);
  CHECK(both.errors.empty());
  CHECK(again.errors.empty());
}

TEST_CASE("static member: a second live member with the same instance id fences the first",
          "[consumer][static]") {
  broker::testing::BrokerFixture broker({{"num.partitions", std::string("2")}});
  const std::string bootstrap = broker.broker().bootstrap_address();
  ProduceNumbered(bootstrap, "fence", 10, 2);
  ConsumerOptions o = QuickConsumerOptions(bootstrap, "fence-group");
  o.enable_auto_commit = false;
  o.group_instance_id.emplace("the-one");

  Recorder l1, l2;
  auto first = MakeConsumer(o);
  REQUIRE(first->Subscribe({"fence"}, &l1).ok());
  Poller p1{{first.get()}};
  REQUIRE(p1.Until([&] { return l1.owned.size() == 2; }, absl::Seconds(20)));

  auto second = MakeConsumer(o);
  REQUIRE(second->Subscribe({"fence"}, &l2).ok());
  Poller p{{first.get(), second.get()}};
  // The second takes the instance's place; the first learns at its next
  // heartbeat (200 ms) that it is fenced, and Poll says so.
  const bool fenced = p.Until(
      [&] { return l2.owned.size() == 2 && p.errors.count(first.get()) == 1; }, absl::Seconds(15));
  INFO("first: " << Owned(l1) << " second: " << Owned(l2));
  REQUIRE(fenced);
  const absl::Status poll_error = p.errors.at(first.get());
  INFO(poll_error.ToString());
  CHECK(protocol::ErrorCodeFromStatus(poll_error) == protocol::ErrorCode::kFencedInstanceId);
  CHECK(p.errors.count(second.get()) == 0);
  // Its commits are refused too (the coordinator checks the instance id).
  const absl::Status commit = first->Commit({{{"fence", 0}, {3, "", -1}}}, absl::Seconds(5));
  INFO(commit.ToString());
  CHECK(protocol::ErrorCodeFromStatus(commit) == protocol::ErrorCode::kFencedInstanceId);
  // The new holder of the instance id commits as usual.
  CHECK(second->Commit({{{"fence", 0}, {4, "", -1}}}, absl::Seconds(5)).ok());
  auto committed = second->Committed({{"fence", 0}}, absl::Seconds(5));
  REQUIRE(committed.ok());
  CHECK(committed->at({"fence", 0}).offset == 4);
}

TEST_CASE("max.poll.interval.ms: a member that stops polling leaves; its next Poll rejoins",
          "[consumer]") {
  broker::testing::BrokerFixture broker({{"num.partitions", std::string("4")}});
  const std::string bootstrap = broker.broker().bootstrap_address();
  ProduceNumbered(bootstrap, "slow", 40, 4);
  ConsumerOptions o = QuickConsumerOptions(bootstrap, "slow-group");
  o.max_poll_interval = absl::Milliseconds(1500);
  o.enable_auto_commit = false;

  Recorder la, lb;
  auto a = MakeConsumer(o);
  auto b = MakeConsumer(o);
  REQUIRE(a->Subscribe({"slow"}, &la).ok());
  REQUIRE(b->Subscribe({"slow"}, &lb).ok());
  Poller both{{a.get(), b.get()}};
  REQUIRE(both.Until([&] { return la.owned.size() == 2 && lb.owned.size() == 2; },
                     absl::Seconds(20)));
  const auto a_had = la.owned;
  const std::string a_member = a->GroupMember().first;
  REQUIRE(!a_member.empty());

  // a's application stalls: past 1.5 s its I/O thread leaves the group, and
  // b (still polling) takes every partition.
  Poller only_b{{b.get()}};
  const bool taken = only_b.Until([&] { return lb.owned.size() == 4; }, absl::Seconds(10));
  INFO("a: " << Owned(la) << " b: " << Owned(lb));
  REQUIRE(taken);
  CHECK(a->GroupMember().first.empty());  // it left: no member id any more
  CHECK(la.lost_calls == 0);              // the listener runs inside Poll only

  // The next Poll tells a's listener its partitions were lost (someone else
  // may own them already), then a joins again and the group splits anew.
  Poller after{{a.get(), b.get()}};
  const bool rejoined =
      after.Until([&] { return la.owned.size() == 2 && lb.owned.size() == 2; }, absl::Seconds(20));
  INFO("a: " << Owned(la) << " b: " << Owned(lb));
  REQUIRE(rejoined);
  CHECK(la.lost_calls == 1);
  CHECK(la.lost == a_had);
  const std::string a_again = a->GroupMember().first;
  CHECK(!a_again.empty());
  CHECK(a_again != a_member);
  CHECK(both.errors.empty());
  CHECK(after.errors.empty());
}

TEST_CASE("SubscribePattern: matching topics and later ones but never internal ones",
          "[consumer]") {
  broker::testing::BrokerFixture broker({{"num.partitions", std::string("2")}});
  const std::string bootstrap = broker.broker().bootstrap_address();
  for (const char* t : {"pat-a", "pat-b", "other", "xpat-a"}) ProduceNumbered(bootstrap, t, 10, 2);
  ConsumerOptions o = QuickConsumerOptions(bootstrap, "pattern-group");
  o.client.metadata_max_age = absl::Milliseconds(500);
  Recorder l;
  auto c = MakeConsumer(o);
  // Whole names only; the internal __consumer_offsets is never matched
  // even when the pattern names it.
  REQUIRE(c->SubscribePattern("pat-.*|__consumer_offsets", &l).ok());
  Poller p{{c.get()}};
  auto topics_seen = [&] {
    std::set<std::string> out;
    for (const auto& r : p.records) out.insert(r.topic);
    return out;
  };
  REQUIRE(p.Until([&] { return p.records.size() >= 20 && l.owned.size() == 4; },
                  absl::Seconds(20)));
  // The group has committed nothing yet, but joining made the coordinator
  // create its internal topic: it exists, and still is not subscribed.
  auto wm = c->WatermarkOffsets({"__consumer_offsets", 0}, absl::Seconds(5));
  INFO(wm.status().ToString());
  REQUIRE(wm.ok());
  CHECK(topics_seen() == std::set<std::string>{"pat-a", "pat-b"});
  CHECK(Owned(l) == "pat-a-0 pat-a-1 pat-b-0 pat-b-1 ");

  // A topic created later joins at a metadata refresh (every 500 ms here).
  ProduceNumbered(bootstrap, "pat-c", 10, 2);
  const bool grew = p.Until([&] { return p.records.size() >= 30 && l.owned.size() == 6; },
                            absl::Seconds(15));
  INFO(Owned(l) << " records " << p.records.size());
  REQUIRE(grew);
  CHECK(topics_seen() == std::set<std::string>{"pat-a", "pat-b", "pat-c"});
  CHECK(Owned(l) == "pat-a-0 pat-a-1 pat-b-0 pat-b-1 pat-c-0 pat-c-1 ");
  CHECK(p.records.size() == 30);
  for (const auto& tp : c->Assignment()) CHECK(tp.topic != "__consumer_offsets");
  CHECK(p.errors.empty());
}

}  // namespace
}  // namespace runnel::client
