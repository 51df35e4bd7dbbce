// OffsetCommit / OffsetFetch / OffsetDelete / DeleteGroups / ListGroups /
// FindCoordinator, and reloading everything from __consumer_offsets.
#include <catch2/catch.hpp>

#include "broker/group/record_formats.h"
#include "runnel/protocol/record_batch.h"
#include "tests/broker/group/group_test_util.h"

namespace runnel::broker::group::testing {
namespace {

constexpr int16_t kNone = 0;
int16_t Code(ErrorCode e) { return static_cast<int16_t>(e); }

// (topic, partition) -> (offset, leader epoch, metadata) from a v7 fetch.
std::map<std::pair<std::string, int32_t>, std::tuple<int64_t, int32_t, std::string>> Offsets(
    const protocol::OffsetFetchResponse& r) {
  std::map<std::pair<std::string, int32_t>, std::tuple<int64_t, int32_t, std::string>> out;
  for (const auto& t : r.topics) {
    for (const auto& p : t.partitions) {
      out[{t.name, p.partition_index}] = {p.committed_offset, p.committed_leader_epoch,
                                          p.metadata.value_or("<null>")};
    }
  }
  return out;
}

// A Stable single-member group "g" subscribed to "t"; returns the member id.
std::string StableMember(Harness& h) {
  auto a = h.Join({.version = 3});
  REQUIRE(a->has_value());
  const std::string id = (*a)->member_id;
  REQUIRE(h.Sync(id, 1, {{id, Assignment("t", {0, 1})}})->value().error_code == kNone);
  return id;
}

TEST_CASE("Offsets committed outside group management round-trip", "[group][offsets]") {
  Harness h;
  auto c = h.Commit("solo", "", -1, "t", {{0, 42}, {1, 7}}, "hello");
  REQUIRE(c.topics.size() == 1);
  for (const auto& p : c.topics[0].partitions) CHECK(p.error_code == kNone);
  auto got = Offsets(h.Fetch("solo", "t", {0, 1, 2}));
  CHECK(got[{"t", 0}] == std::make_tuple(int64_t{42}, 7, std::string("hello")));
  CHECK(got[{"t", 1}] == std::make_tuple(int64_t{7}, 7, std::string("hello")));
  CHECK(std::get<0>(got[{"t", 2}]) == -1);  // never committed
  // Null topics: everything the group has.
  CHECK(Offsets(h.Fetch("solo")).size() == 2);
  CHECK(h.Fetch("nobody", "t", {0}).topics.at(0).partitions.at(0).committed_offset == -1);

  // Every partition of the offsets topic exists; the commit is in the
  // group's.
  CHECK(h.logs().ListLogs().size() == 5);
  auto log = h.logs().GetLog({"__consumer_offsets", h.coordinator().PartitionFor("solo")});
  REQUIRE(log != nullptr);
  CHECK(log->log_end_offset() == 2);
  auto read = log->Read(0);
  REQUIRE(read.ok());
  protocol::RecordBatchReader reader(read->bytes.span());
  REQUIRE(reader.NextBatch());
  REQUIRE(reader.NextRecord());
  CHECK(reader.record().key.str() == EncodeOffsetCommitKey({"solo", "t", 0}));
  auto value = DecodeOffsetCommitValue(reader.record().value.span());
  REQUIRE(value.ok());
  CHECK(value->offset == 42);
  CHECK(value->commit_timestamp_ms == h.timers().NowMs());
}

TEST_CASE("Commits are checked against the member and its generation", "[group][offsets]") {
  Harness h;
  const std::string id = StableMember(h);
  CHECK(h.Commit("g", id, 1, "t", {{0, 5}}).topics[0].partitions[0].error_code == kNone);
  CHECK(h.Commit("g", id, 2, "t", {{0, 6}}).topics[0].partitions[0].error_code ==
        Code(ErrorCode::kIllegalGeneration));
  CHECK(h.Commit("g", "stranger", 1, "t", {{0, 6}}).topics[0].partitions[0].error_code ==
        Code(ErrorCode::kUnknownMemberId));
  // A non-empty group refuses commits from outside it.
  CHECK(h.Commit("g", "", -1, "t", {{0, 6}}).topics[0].partitions[0].error_code ==
        Code(ErrorCode::kUnknownMemberId));
  CHECK(h.Commit("missing", "m", 3, "t", {{0, 6}}).topics[0].partitions[0].error_code ==
        Code(ErrorCode::kIllegalGeneration));
  CHECK(h.Commit("g", id, 1, "t", {{1, 6}}, std::string(5000, 'x'))
            .topics[0]
            .partitions[0]
            .error_code == Code(ErrorCode::kOffsetMetadataTooLarge));
  CHECK(std::get<0>(Offsets(h.Fetch("g", "t", {0}))[{"t", 0}]) == 5);
}

TEST_CASE("OffsetFetch v8 answers for several groups", "[group][offsets]") {
  Harness h;
  h.Commit("g1", "", -1, "t", {{0, 1}});
  h.Commit("g2", "", -1, "u", {{3, 9}});
  protocol::OffsetFetchRequest req;
  req.groups.push_back({"g1", std::nullopt, {}});
  protocol::OffsetFetchRequest::OffsetFetchRequestGroup g2;
  g2.group_id = "g2";
  g2.topics->push_back({"u", {3, 4}, {}});
  req.groups.push_back(g2);
  auto slot = NewSlot<protocol::OffsetFetchResponse>();
  h.coordinator().OffsetFetch({8, "c", "h"}, req, Fill(slot));
  const auto& groups = (*slot)->groups;
  REQUIRE(groups.size() == 2);
  REQUIRE(groups[0].topics.size() == 1);
  CHECK(groups[0].topics[0].partitions[0].committed_offset == 1);
  REQUIRE(groups[1].topics[0].partitions.size() == 2);
  CHECK(groups[1].topics[0].partitions[0].committed_offset == 9);
  CHECK(groups[1].topics[0].partitions[1].committed_offset == -1);
}

TEST_CASE("A restarted coordinator reloads groups, members and offsets", "[group][offsets]") {
  Harness h;
  const std::string id = StableMember(h);
  h.Commit("g", id, 1, "t", {{0, 100}, {1, 200}});
  h.Commit("solo", "", -1, "u", {{0, 1}});
  h.Commit("solo", "", -1, "u", {{0, 2}});  // the later commit wins

  h.Restart();
  REQUIRE(h.load_status_.ok());
  CHECK(std::get<0>(Offsets(h.Fetch("g", "t", {0}))[{"t", 0}]) == 100);
  CHECK(std::get<0>(Offsets(h.Fetch("g", "t", {1}))[{"t", 1}]) == 200);
  CHECK(std::get<0>(Offsets(h.Fetch("solo", "u", {0}))[{"u", 0}]) == 2);
  // The member is back in generation 1 with its assignment.
  CHECK(h.Heartbeat(id, 1) == kNone);
  auto sync = h.Sync(id, 1);
  REQUIRE(sync->has_value());
  CHECK((*sync)->assignment == Assignment("t", {0, 1}));
  CHECK(h.Heartbeat(id, 2) == Code(ErrorCode::kIllegalGeneration));
  // ... and expires if it does not heartbeat.
  h.timers().AdvanceMs(10001);
  CHECK(h.Heartbeat(id, 1) == Code(ErrorCode::kUnknownMemberId));
}

TEST_CASE("Loading skips records of other group types sharing the topic", "[group][offsets]") {
  Harness h;
  h.Commit("solo", "", -1, "t", {{0, 5}});
  // A KIP-848 ConsumerGroupMetadataKey (version 3) in the same partition.
  auto log = h.logs().GetLog({"__consumer_offsets", h.coordinator().PartitionFor("solo")});
  REQUIRE(log != nullptr);
  const std::string key("\x00\x03\x00\x04solo", 8);
  storage::Record r{.key = key, .value = std::string_view("\x00\x00", 2)};
  REQUIRE(log->AppendRecords(std::span(&r, 1)).ok());
  h.Restart();
  REQUIRE(h.load_status_.ok());
  CHECK(std::get<0>(Offsets(h.Fetch("solo", "t", {0}))[{"t", 0}]) == 5);
}

TEST_CASE("Requests before Load get COORDINATOR_LOAD_IN_PROGRESS", "[group][offsets]") {
  TempDir dir;
  ManualTimerService timers;
  auto logs = storage::LogManager::Open({.data_dir = dir.path(), .background_thread = false});
  REQUIRE(logs.ok());
  auto coordinator = GroupCoordinator::Create(logs->get(), &timers, {}).value();
  auto slot = NewSlot<protocol::HeartbeatResponse>();
  coordinator->Heartbeat({4, "c", "h"}, {"g", 1, "m", std::nullopt, {}}, Fill(slot));
  CHECK((*slot)->error_code == Code(ErrorCode::kCoordinatorLoadInProgress));
  REQUIRE(coordinator->Load().ok());
  coordinator->Heartbeat({4, "c", "h"}, {"g", 1, "m", std::nullopt, {}}, Fill(slot));
  CHECK((*slot)->error_code == Code(ErrorCode::kUnknownMemberId));
}

protocol::DeleteGroupsResponse DeleteGroups(Harness& h, std::vector<std::string> groups) {
  protocol::DeleteGroupsRequest req;
  req.groups_names = std::move(groups);
  auto slot = NewSlot<protocol::DeleteGroupsResponse>();
  h.coordinator().DeleteGroups({2, "admin", "h"}, req, Fill(slot));
  return **slot;
}

TEST_CASE("DeleteGroups removes empty groups and their offsets, for good", "[group][offsets]") {
  Harness h;
  const std::string id = StableMember(h);
  h.Commit("solo", "", -1, "t", {{0, 1}});
  auto r = DeleteGroups(h, {"g", "solo", "missing"});
  CHECK(r.results[0].error_code == Code(ErrorCode::kNonEmptyGroup));
  CHECK(r.results[1].error_code == kNone);
  CHECK(r.results[2].error_code == Code(ErrorCode::kGroupIdNotFound));
  CHECK(std::get<0>(Offsets(h.Fetch("solo", "t", {0}))[{"t", 0}]) == -1);
  CHECK(DeleteGroups(h, {"solo"}).results[0].error_code == Code(ErrorCode::kGroupIdNotFound));

  h.Leave(id);
  CHECK(DeleteGroups(h, {"g"}).results[0].error_code == kNone);
  h.Restart();
  CHECK(Offsets(h.Fetch("solo")).empty());
  CHECK(DeleteGroups(h, {"g", "solo"}).results[1].error_code == Code(ErrorCode::kGroupIdNotFound));
  CHECK(DeleteGroups(h, {"g"}).results[0].error_code == Code(ErrorCode::kGroupIdNotFound));
}

protocol::OffsetDeleteResponse OffsetDelete(Harness& h, const std::string& group,
                                            const std::string& topic, int32_t partition) {
  protocol::OffsetDeleteRequest req;
  req.group_id = group;
  req.topics.push_back({topic, {{partition, {}}}, {}});
  auto slot = NewSlot<protocol::OffsetDeleteResponse>();
  h.coordinator().OffsetDelete({0, "admin", "h"}, req, Fill(slot));
  return **slot;
}

TEST_CASE("OffsetDelete spares topics the members consume", "[group][offsets]") {
  Harness h;
  const std::string id = StableMember(h);
  h.Commit("g", id, 1, "t", {{0, 10}});
  h.Commit("g", id, 1, "old", {{0, 20}});
  auto in_use = OffsetDelete(h, "g", "t", 0);
  CHECK(in_use.error_code == kNone);
  CHECK(in_use.topics[0].partitions[0].error_code == Code(ErrorCode::kGroupSubscribedToTopic));
  auto gone = OffsetDelete(h, "g", "old", 0);
  CHECK(gone.topics[0].partitions[0].error_code == kNone);
  CHECK(std::get<0>(Offsets(h.Fetch("g", "old", {0}))[{"old", 0}]) == -1);
  CHECK(OffsetDelete(h, "missing", "t", 0).error_code == Code(ErrorCode::kGroupIdNotFound));
  h.Restart();
  CHECK(std::get<0>(Offsets(h.Fetch("g", "old", {0}))[{"old", 0}]) == -1);
  CHECK(std::get<0>(Offsets(h.Fetch("g", "t", {0}))[{"t", 0}]) == 10);
}

TEST_CASE("Offsets of an empty group expire after offsets.retention", "[group][offsets]") {
  GroupConfig config = Harness::DefaultConfig();
  config.offsets_retention_ms = 60'000;
  config.offsets_retention_check_interval_ms = 10'000;
  Harness h(config);
  h.Commit("solo", "", -1, "t", {{0, 1}});
  h.timers().AdvanceMs(30'000);
  h.Commit("solo", "", -1, "t", {{1, 1}});
  h.timers().AdvanceMs(40'000);  // partition 0 is 70 s old, partition 1 40 s
  auto got = Offsets(h.Fetch("solo", "t", {0, 1}));
  CHECK(std::get<0>(got[{"t", 0}]) == -1);
  CHECK(std::get<0>(got[{"t", 1}]) == 1);
  h.timers().AdvanceMs(30'000);
  CHECK(Offsets(h.Fetch("solo")).empty());
  h.Restart();
  CHECK(Offsets(h.Fetch("solo")).empty());
}

TEST_CASE("ListGroups filters by state; FindCoordinator names this broker", "[group][offsets]") {
  Harness h;
  StableMember(h);
  h.Commit("solo", "", -1, "t", {{0, 1}});
  auto list = [&](std::vector<std::string> states) {
    protocol::ListGroupsRequest req;
    req.states_filter = std::move(states);
    auto slot = NewSlot<protocol::ListGroupsResponse>();
    h.coordinator().ListGroups({4, "admin", "h"}, req, Fill(slot));
    std::vector<std::string> out;
    for (const auto& g : (*slot)->groups) out.push_back(g.group_id + "/" + g.group_state);
    return out;
  };
  CHECK(list({}) == std::vector<std::string>{"g/Stable", "solo/Empty"});
  CHECK(list({"stable"}) == std::vector<std::string>{"g/Stable"});
  CHECK(list({"Empty", "Dead"}) == std::vector<std::string>{"solo/Empty"});

  protocol::FindCoordinatorRequest req;
  req.key = "g";
  auto slot = NewSlot<protocol::FindCoordinatorResponse>();
  h.coordinator().FindCoordinator({3, "c", "h"}, req, Fill(slot));
  CHECK((*slot)->error_code == kNone);
  CHECK((*slot)->node_id == 1);
  CHECK((*slot)->host == "broker-1");
  CHECK((*slot)->port == 9092);
  req.coordinator_keys = {"a", "b"};
  h.coordinator().FindCoordinator({4, "c", "h"}, req, Fill(slot));
  REQUIRE((*slot)->coordinators.size() == 2);
  CHECK((*slot)->coordinators[1].key == "b");
  CHECK((*slot)->coordinators[1].node_id == 1);
  h.coordinator().SetEndpoint(2, "elsewhere", 19092);
  h.coordinator().FindCoordinator({4, "c", "h"}, req, Fill(slot));
  CHECK((*slot)->coordinators[0].node_id == 2);
  CHECK((*slot)->coordinators[0].host == "elsewhere");
  CHECK((*slot)->coordinators[0].port == 19092);
  req.key_type = 7;
  h.coordinator().FindCoordinator({4, "c", "h"}, req, Fill(slot));
  CHECK((*slot)->coordinators[0].error_code == Code(ErrorCode::kInvalidRequest));
}

}  // namespace
}  // namespace runnel::broker::group::testing
