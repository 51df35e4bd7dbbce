// The group coordinator inside the broker, seen from the wire: Metadata lists
// __consumer_offsets as an internal topic, FindCoordinator sends clients to
// the broker's own address, a whole join/sync/commit round works over a
// socket, the commit is readable in __consumer_offsets (its high watermark
// follows the coordinator's appends), and group state and offsets survive a
// restart that keeps the topic's partition count.
#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "broker/group/offsets_topic.h"
#include "broker_fixture.h"
#include "raw_client.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/fetch.h"
#include "runnel/protocol/messages/find_coordinator.h"
#include "runnel/protocol/messages/join_group.h"
#include "runnel/protocol/messages/metadata.h"
#include "runnel/protocol/messages/offset_commit.h"
#include "runnel/protocol/messages/offset_fetch.h"
#include "runnel/protocol/messages/produce.h"
#include "runnel/protocol/messages/sync_group.h"

namespace runnel::broker::testing {
namespace {

using protocol::ErrorCode;

using Properties = std::map<std::string, std::string>;

int16_t Code(ErrorCode c) { return static_cast<int16_t>(c); }

const protocol::MetadataResponse::MetadataResponseTopic* FindTopic(
    const protocol::MetadataResponse& md, const std::string& name) {
  for (const auto& t : md.topics) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

protocol::MetadataResponse AllTopics(RawClient& c) {
  protocol::MetadataRequest req;
  req.topics = std::nullopt;
  c.Send(req, 12, 1);
  return c.Receive<protocol::MetadataResponse>(12, 1);
}

protocol::OffsetFetchResponse FetchOffsets(RawClient& c, const std::string& group,
                                           const std::string& topic) {
  protocol::OffsetFetchRequest req;
  req.group_id = group;
  req.topics = std::vector<protocol::OffsetFetchRequest::OffsetFetchRequestTopic>{{topic, {0}, {}}};
  c.Send(req, 7, 2);
  return c.Receive<protocol::OffsetFetchResponse>(7, 2);
}

TEST_CASE("broker: __consumer_offsets is an internal topic of offsets.topic.num.partitions",
          "[broker][group]") {
  // A fresh data directory: the property decides the count.
  BrokerFixture f(Properties{{"offsets.topic.num.partitions", "5"}});
  RawClient c(f.port());
  protocol::MetadataResponse md = AllTopics(c);
  const auto* t = FindTopic(md, "__consumer_offsets");
  REQUIRE(t != nullptr);
  CHECK(t->is_internal);
  CHECK(t->error_code == 0);
  CHECK(t->partitions.size() == 5);
}

TEST_CASE("broker: join, sync and commit over a socket; offsets survive a restart",
          "[broker][group]") {
  BrokerFixture f(
      Properties{{"offsets.topic.num.partitions", "4"}, {"group.initial.rebalance.delay.ms", "0"}});
  const std::string group = "wired-group";
  {
    RawClient c(f.port());
    // FindCoordinator: this broker, at the address clients bootstrap from.
    protocol::FindCoordinatorRequest find;
    find.key = group;
    c.Send(find, 3, 10);
    auto coord = c.Receive<protocol::FindCoordinatorResponse>(3, 10);
    CHECK(coord.error_code == 0);
    CHECK(coord.node_id == 0);
    CHECK(absl::StrCat(coord.host, ":", coord.port) == f.broker().bootstrap_address());

    // JoinGroup v5: the first answer hands out a member id (KIP-394).
    protocol::JoinGroupRequest join;
    join.group_id = group;
    join.session_timeout_ms = 10000;
    join.rebalance_timeout_ms = 10000;
    join.protocol_type = "consumer";
    join.protocols.push_back({"range", {0, 1, 2}, {}});
    c.Send(join, 5, 11);
    auto first = c.Receive<protocol::JoinGroupResponse>(5, 11);
    REQUIRE(first.error_code == Code(ErrorCode::kMemberIdRequired));
    REQUIRE(!first.member_id.empty());
    join.member_id = first.member_id;
    c.Send(join, 5, 12);
    auto joined = c.Receive<protocol::JoinGroupResponse>(5, 12);
    REQUIRE(joined.error_code == 0);
    CHECK(joined.generation_id == 1);
    CHECK(joined.leader == first.member_id);
    CHECK(joined.protocol_name == "range");

    protocol::SyncGroupRequest sync;
    sync.group_id = group;
    sync.generation_id = joined.generation_id;
    sync.member_id = joined.member_id;
    sync.assignments.push_back({joined.member_id, {9, 9}, {}});
    c.Send(sync, 3, 13);
    auto synced = c.Receive<protocol::SyncGroupResponse>(3, 13);
    CHECK(synced.error_code == 0);
    CHECK(synced.assignment == std::vector<uint8_t>{9, 9});

    protocol::OffsetCommitRequest commit;
    commit.group_id = group;
    commit.generation_id_or_member_epoch = joined.generation_id;
    commit.member_id = joined.member_id;
    protocol::OffsetCommitRequest::OffsetCommitRequestTopic ct;
    ct.name = "orders";
    ct.partitions.push_back({0, 42, -1, "meta", {}});
    commit.topics.push_back(ct);
    c.Send(commit, 8, 14);
    auto committed = c.Receive<protocol::OffsetCommitResponse>(8, 14);
    REQUIRE(committed.topics.size() == 1);
    CHECK(committed.topics[0].partitions[0].error_code == 0);

    // The group's records are in its __consumer_offsets partition, visible
    // to a consumer of that topic (lag monitors read it).
    const int32_t partition = group::OffsetsPartitionFor(group, 4);
    protocol::FetchRequest fetch;
    fetch.max_wait_ms = 0;
    fetch.min_bytes = 1;
    protocol::FetchRequest::FetchTopic ft;
    ft.topic = "__consumer_offsets";
    ft.partitions.push_back({partition, -1, 0, -1, -1, 1 << 20, {}});
    fetch.topics.push_back(ft);
    c.Send(fetch, 12, 15);
    auto fetched = c.Receive<protocol::FetchResponse>(12, 15);
    REQUIRE(fetched.responses.size() == 1);
    const auto& pd = fetched.responses[0].partitions[0];
    CHECK(pd.error_code == 0);
    // At least the group metadata record of generation 1 and the commit.
    CHECK(pd.high_watermark >= 2);
    REQUIRE(pd.records.has_value());
    protocol::RecordBatchReader reader(*pd.records);
    int records = 0;
    while (reader.NextBatch()) {
      while (reader.NextRecord()) ++records;
    }
    CHECK(reader.status().ok());
    CHECK(records == pd.high_watermark);

    auto offsets = FetchOffsets(c, group, "orders");
    REQUIRE(offsets.topics.size() == 1);
    CHECK(offsets.topics[0].partitions[0].committed_offset == 42);
  }

  // A restart asking for another partition count keeps the existing topic's
  // (groups hash to partitions by it), and finds the commit again.
  f.broker().Stop(absl::Seconds(5)).IgnoreError();
  f.Start({{"offsets.topic.num.partitions", "7"}});
  RawClient c(f.port());
  protocol::MetadataResponse md = AllTopics(c);
  const auto* t = FindTopic(md, "__consumer_offsets");
  REQUIRE(t != nullptr);
  CHECK(t->partitions.size() == 4);
  auto offsets = FetchOffsets(c, group, "orders");
  REQUIRE(offsets.topics.size() == 1);
  REQUIRE(offsets.topics[0].partitions.size() == 1);
  CHECK(offsets.topics[0].partitions[0].error_code == 0);
  CHECK(offsets.topics[0].partitions[0].committed_offset == 42);
  CHECK(offsets.topics[0].partitions[0].metadata == "meta");
}

TEST_CASE("broker: clients cannot produce to __consumer_offsets", "[broker][group]") {
  BrokerFixture f(Properties{{"offsets.topic.num.partitions", "2"}});
  RawClient c(f.port());
  protocol::ProduceRequest req;
  req.acks = -1;
  req.timeout_ms = 1000;
  protocol::ProduceRequest::TopicProduceData td;
  td.name = "__consumer_offsets";
  td.partition_data.push_back({0, MakeBatch({"forged"}), {}});
  req.topic_data.push_back(td);
  c.Send(req, 9, 1);
  auto resp = c.Receive<protocol::ProduceResponse>(9, 1);
  REQUIRE(resp.responses.size() == 1);
  REQUIRE(resp.responses[0].partition_responses.size() == 1);
  const auto& pr = resp.responses[0].partition_responses[0];
  CHECK(pr.error_code == Code(ErrorCode::kInvalidTopicException));
  CHECK(pr.error_message == "Cannot append to internal topic __consumer_offsets");
  CHECK(pr.base_offset == -1);

  // Nothing was written: the partition is still empty.
  protocol::FetchRequest fetch;
  fetch.max_wait_ms = 0;
  protocol::FetchRequest::FetchTopic ft;
  ft.topic = "__consumer_offsets";
  ft.partitions.push_back({0, -1, 0, -1, -1, 1 << 20, {}});
  fetch.topics.push_back(ft);
  c.Send(fetch, 12, 2);
  auto fetched = c.Receive<protocol::FetchResponse>(12, 2);
  REQUIRE(fetched.responses.size() == 1);
  CHECK(fetched.responses[0].partitions[0].error_code == 0);
  CHECK(fetched.responses[0].partitions[0].high_watermark == 0);
}

}  // namespace
}  // namespace runnel::broker::testing
