// Broker::Stop and destruction with requests still parked: a long-poll
// fetch (held by its timer and its log watches) and a JoinGroup waiting for
// the initial rebalance delay (held by the group coordinator). Their answer
// callbacks hold client connections, whose sockets and strands belong to the
// net server's io_context, so they must be gone before the server is. The
// old order (server freed first, the coordinator and the timers after)
// showed as runnel-broker aborting on SIGTERM in glibc's
// __pthread_tpp_change_priority (a strand's mutex locked in freed memory);
// under ASan it is a heap-use-after-free in this test.
#include <catch2/catch.hpp>

#include "absl/time/clock.h"
#include "broker_fixture.h"
#include "raw_client.h"
#include "runnel/protocol/messages/create_topics.h"
#include "runnel/protocol/messages/fetch.h"
#include "runnel/protocol/messages/join_group.h"

namespace runnel::broker::testing {
namespace {

void SendParkedFetch(RawClient& c, const std::string& topic) {
  protocol::FetchRequest req;
  req.max_wait_ms = 30000;
  req.min_bytes = 1 << 20;
  req.max_bytes = 1 << 20;
  protocol::FetchRequest::FetchTopic ft;
  ft.topic = topic;
  protocol::FetchRequest::FetchPartition fp;
  fp.partition = 0;
  fp.fetch_offset = 0;
  fp.partition_max_bytes = 1 << 20;
  ft.partitions.push_back(fp);
  req.topics.push_back(ft);
  c.Send(req, 12, 31);
}

// A JoinGroup that the coordinator holds for the initial rebalance delay.
void SendParkedJoin(RawClient& c) {
  protocol::JoinGroupRequest join;
  join.group_id = "waiting";
  join.session_timeout_ms = 30000;
  join.rebalance_timeout_ms = 30000;
  join.protocol_type = "consumer";
  join.protocols.push_back({"range", {0, 1}, {}});
  c.Send(join, 5, 2);
  // v4+: the first join only hands out a member id.
  auto first = c.Receive<protocol::JoinGroupResponse>(5, 2);
  REQUIRE(!first.member_id.empty());
  join.member_id = first.member_id;
  c.Send(join, 5, 3);
}

TEST_CASE("Stop and destruction with a parked fetch and a pending JoinGroup",
          "[broker][shutdown]") {
  for (int round = 0; round < 3; ++round) {
    BrokerFixture f(
        std::map<std::string, std::string>{{"group.initial.rebalance.delay.ms", "30000"}});
    RawClient admin(f.port());
    protocol::CreateTopicsRequest create;
    protocol::CreateTopicsRequest::CreatableTopic topic;
    topic.name = "quiet";
    topic.num_partitions = 1;
    topic.replication_factor = -1;
    create.topics.push_back(topic);
    admin.Send(create, 7, 1);
    REQUIRE(admin.Receive<protocol::CreateTopicsResponse>(7, 1).topics[0].error_code == 0);

    RawClient fetcher(f.port());
    RawClient joiner(f.port());
    SendParkedFetch(fetcher, "quiet");
    SendParkedJoin(joiner);
    // Both are parked now (neither can answer for 30 s); let the requests
    // reach their handlers.
    absl::SleepFor(absl::Milliseconds(100));
    const absl::Time start = absl::Now();
    REQUIRE(f.broker().Stop(absl::Milliseconds(200)).ok());
    // Stop waits out its timeout for the two, then closes their connections.
    CHECK(absl::Now() - start < absl::Seconds(5));
    CHECK(fetcher.WaitClosed());
    CHECK(joiner.WaitClosed());
    // The fixture destroys the broker next: the parked requests' callbacks
    // go with the timers, the log watches and the coordinator.
  }
}

}  // namespace
}  // namespace runnel::broker::testing
