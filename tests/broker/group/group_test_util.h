// A coordinator over a fresh data directory with a manual clock, and small
// helpers that issue requests and keep the responses (JoinGroup/SyncGroup
// ones arrive later, when the rebalance completes).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/group/group_coordinator.h"
#include "broker/group/timer_service.h"
#include "runnel/log_manager.h"
#include "runnel/protocol/wire.h"
#include "tests/temp_dir.h"

namespace runnel::broker::group::testing {

using runnel::testing::TempDir;

// A response slot filled by the coordinator's callback.
template <typename T>
using Slot = std::shared_ptr<std::optional<T>>;

template <typename T>
Slot<T> NewSlot() {
  return std::make_shared<std::optional<T>>();
}

template <typename T>
Done<T> Fill(const Slot<T>& slot) {
  return [slot](T r) { *slot = std::move(r); };
}

// ConsumerProtocolSubscription v0: version, topics, null user data.
inline std::vector<uint8_t> Subscription(const std::vector<std::string>& topics) {
  ByteBuffer buf;
  protocol::Writer w(&buf);
  w.Int16(0);
  w.ArrayLength(topics.size(), false);
  for (const auto& t : topics) w.String(t, false);
  w.NullableBytes(std::nullopt, false);
  return std::vector<uint8_t>(buf.data(), buf.data() + buf.size());
}

// ConsumerProtocolAssignment v0 for one topic.
inline std::vector<uint8_t> Assignment(const std::string& topic,
                                       const std::vector<int32_t>& partitions) {
  ByteBuffer buf;
  protocol::Writer w(&buf);
  w.Int16(0);
  w.ArrayLength(1, false);
  w.String(topic, false);
  w.ArrayLength(partitions.size(), false);
  for (int32_t p : partitions) w.Int32(p);
  w.NullableBytes(std::nullopt, false);
  return std::vector<uint8_t>(buf.data(), buf.data() + buf.size());
}

struct JoinArgs {
  std::string group = "g";
  std::string member_id;
  std::optional<std::string> instance_id;
  std::vector<std::string> protocols = {"range"};
  std::vector<std::string> topics = {"t"};
  std::string client_id = "client";
  int16_t version = 5;  // below 4 skips MEMBER_ID_REQUIRED
  int32_t session_timeout_ms = 10000;
  int32_t rebalance_timeout_ms = 30000;
};

class Harness {
 public:
  explicit Harness(GroupConfig config = DefaultConfig(), int32_t partitions = 5)
      : config_(config), partitions_(partitions) {
    Open();
  }
  ~Harness() { Close(); }

  static GroupConfig DefaultConfig() {
    GroupConfig c;
    c.initial_rebalance_delay_ms = 0;
    return c;
  }

  GroupCoordinator& coordinator() { return *coordinator_; }
  ManualTimerService& timers() { return timers_; }
  storage::LogManager& logs() { return *logs_; }

  // A new coordinator (and log manager) over the same data directory.
  void Restart() {
    Close();
    Open();
  }

  Slot<protocol::JoinGroupResponse> Join(const JoinArgs& a) {
    protocol::JoinGroupRequest req;
    req.group_id = a.group;
    req.member_id = a.member_id;
    req.group_instance_id = a.instance_id;
    req.protocol_type = "consumer";
    req.session_timeout_ms = a.session_timeout_ms;
    req.rebalance_timeout_ms = a.rebalance_timeout_ms;
    for (const auto& p : a.protocols) req.protocols.push_back({p, Subscription(a.topics), {}});
    auto slot = NewSlot<protocol::JoinGroupResponse>();
    coordinator_->JoinGroup({a.version, a.client_id, "/127.0.0.1"}, req, Fill(slot));
    return slot;
  }

  Slot<protocol::SyncGroupResponse> Sync(
      const std::string& member_id, int32_t generation,
      std::vector<std::pair<std::string, std::vector<uint8_t>>> assignments = {},
      std::optional<std::string> instance_id = std::nullopt, const std::string& group = "g") {
    protocol::SyncGroupRequest req;
    req.group_id = group;
    req.member_id = member_id;
    req.generation_id = generation;
    req.group_instance_id = std::move(instance_id);
    for (auto& [id, bytes] : assignments) req.assignments.push_back({id, bytes, {}});
    auto slot = NewSlot<protocol::SyncGroupResponse>();
    coordinator_->SyncGroup({5, "client", "/127.0.0.1"}, req, Fill(slot));
    return slot;
  }

  int16_t Heartbeat(const std::string& member_id, int32_t generation,
                    std::optional<std::string> instance_id = std::nullopt,
                    const std::string& group = "g") {
    protocol::HeartbeatRequest req;
    req.group_id = group;
    req.member_id = member_id;
    req.generation_id = generation;
    req.group_instance_id = std::move(instance_id);
    auto slot = NewSlot<protocol::HeartbeatResponse>();
    coordinator_->Heartbeat({4, "client", "/127.0.0.1"}, req, Fill(slot));
    return (*slot)->error_code;
  }

  protocol::LeaveGroupResponse Leave(const std::string& member_id,
                                     std::optional<std::string> instance_id = std::nullopt) {
    protocol::LeaveGroupRequest req;
    req.group_id = "g";
    req.members.push_back({member_id, std::move(instance_id), std::nullopt, {}});
    auto slot = NewSlot<protocol::LeaveGroupResponse>();
    coordinator_->LeaveGroup({5, "client", "/127.0.0.1"}, req, Fill(slot));
    return **slot;
  }

  protocol::OffsetCommitResponse Commit(const std::string& group, const std::string& member_id,
                                        int32_t generation, const std::string& topic,
                                        std::vector<std::pair<int32_t, int64_t>> offsets,
                                        const std::string& metadata = "m") {
    protocol::OffsetCommitRequest req;
    req.group_id = group;
    req.member_id = member_id;
    req.generation_id_or_member_epoch = generation;
    req.topics.push_back({});
    req.topics.back().name = topic;
    for (auto [p, o] : offsets) {
      protocol::OffsetCommitRequest::OffsetCommitRequestPartition part;
      part.partition_index = p;
      part.committed_offset = o;
      part.committed_leader_epoch = 7;
      part.committed_metadata = metadata;
      req.topics.back().partitions.push_back(part);
    }
    auto slot = NewSlot<protocol::OffsetCommitResponse>();
    coordinator_->OffsetCommit({8, "client", "/127.0.0.1"}, req, Fill(slot));
    return **slot;
  }

  // OffsetFetch v7; `partitions` empty: all topics (null).
  protocol::OffsetFetchResponse Fetch(const std::string& group, const std::string& topic = "",
                                      std::vector<int32_t> partitions = {}) {
    protocol::OffsetFetchRequest req;
    req.group_id = group;
    if (topic.empty()) {
      req.topics.reset();
    } else {
      req.topics->push_back({topic, partitions, {}});
    }
    auto slot = NewSlot<protocol::OffsetFetchResponse>();
    coordinator_->OffsetFetch({7, "client", "/127.0.0.1"}, req, Fill(slot));
    return **slot;
  }

 private:
  void Open() {
    auto logs = storage::LogManager::Open(
        {.data_dir = dir_.path(), .clock = &timers_, .background_thread = false});
    logs_ = std::move(logs).value();
    GroupCoordinatorOptions opts;
    opts.node_id = 1;
    opts.host = "broker-1";
    opts.port = 9092;
    opts.group = config_;
    opts.offsets_topic.num_partitions = partitions_;
    coordinator_ = GroupCoordinator::Create(logs_.get(), &timers_, opts).value();
    load_status_ = coordinator_->Load();
  }
  void Close() {
    coordinator_.reset();
    if (logs_ != nullptr) (void)logs_->Close();
    logs_.reset();
  }

  TempDir dir_;
  ManualTimerService timers_;
  GroupConfig config_;
  int32_t partitions_;
  std::unique_ptr<storage::LogManager> logs_;
  std::unique_ptr<GroupCoordinator> coordinator_;

 public:
  absl::Status load_status_;
};

}  // namespace runnel::broker::group::testing
