#include "broker/group/group_coordinator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "broker/group/record_formats.h"

namespace runnel::broker::group {
namespace {

int16_t Code(ErrorCode e) { return static_cast<int16_t>(e); }

// What one partition's replay leaves of a group: the last metadata record
// (nullopt after a tombstone) and the offsets not tombstoned since.
struct LoadedGroup {
  std::optional<GroupMetadataValue> metadata;
  std::map<TopicPartitionKey, OffsetCommitValue> offsets;
};

}  // namespace

absl::StatusOr<std::unique_ptr<GroupCoordinator>> GroupCoordinator::Create(
    storage::LogManager* logs, TimerService* timers, const GroupCoordinatorOptions& options) {
  if (logs == nullptr || timers == nullptr) {
    return absl::InvalidArgumentError("GroupCoordinator needs a LogManager and a TimerService");
  }
  if (options.offsets_topic.num_partitions <= 0) {
    return absl::InvalidArgumentError("offsets.topic.num.partitions must be positive");
  }
  return std::unique_ptr<GroupCoordinator>(new GroupCoordinator(logs, timers, options));
}

GroupCoordinator::GroupCoordinator(storage::LogManager* logs, TimerService* timers,
                                   const GroupCoordinatorOptions& options)
    : options_(options),
      timers_(timers),
      topic_(logs, options.offsets_topic),
      lifeline_(std::make_shared<Lifeline>()),
      node_id_(options.node_id),
      host_(options.host),
      port_(options.port) {
  absl::MutexLock lock(&lifeline_->mu);
  lifeline_->self = this;
}

void GroupCoordinator::SetEndpoint(int32_t node_id, const std::string& host, int32_t port) {
  absl::MutexLock lock(&mu_);
  node_id_ = node_id;
  host_ = host;
  port_ = port;
}

GroupCoordinator::~GroupCoordinator() {
  {
    absl::MutexLock lock(&lifeline_->mu);
    lifeline_->self = nullptr;
    if (retention_timer_ != 0) timers_->Cancel(retention_timer_);
  }
  absl::MutexLock lock(&mu_);
  for (auto& [id, g] : groups_) g->Shutdown();
}

void GroupCoordinator::ScheduleRetention() {
  std::weak_ptr<Lifeline> weak = lifeline_;
  retention_timer_ = timers_->Schedule(options_.group.offsets_retention_check_interval_ms, [weak] {
    std::shared_ptr<Lifeline> line = weak.lock();
    if (line == nullptr) return;
    absl::MutexLock lock(&line->mu);
    if (line->self == nullptr) return;
    line->self->ExpireOffsetsOnce();
    line->self->ScheduleRetention();
  });
}

absl::Status GroupCoordinator::Load() {
  if (absl::Status s = topic_.CreateAll(); !s.ok()) return s;
  std::map<std::string, LoadedGroup> loaded;
  for (int32_t p = 0; p < topic_.num_partitions(); ++p) {
    absl::Status s =
        topic_.Replay(p,
                      [&](std::span<const uint8_t> key_bytes,
                          std::optional<std::span<const uint8_t>> value) -> absl::Status {
                        absl::StatusOr<OffsetsTopicKey> key = DecodeOffsetsTopicKey(key_bytes);
                        // Records of other group types (KIP-848) share the topic.
                        if (absl::IsUnimplemented(key.status())) return absl::OkStatus();
                        if (!key.ok()) return key.status();
                        if (const auto* ok = std::get_if<OffsetCommitKey>(&*key)) {
                          LoadedGroup& g = loaded[ok->group];
                          const TopicPartitionKey tp{ok->topic, ok->partition};
                          if (!value.has_value()) {
                            g.offsets.erase(tp);
                            return absl::OkStatus();
                          }
                          absl::StatusOr<OffsetCommitValue> v = DecodeOffsetCommitValue(*value);
                          if (!v.ok()) return v.status();
                          g.offsets[tp] = *std::move(v);
                          return absl::OkStatus();
                        }
                        const auto& gk = std::get<GroupMetadataKey>(*key);
                        LoadedGroup& g = loaded[gk.group];
                        if (!value.has_value()) {
                          g.metadata.reset();
                          return absl::OkStatus();
                        }
                        absl::StatusOr<GroupMetadataValue> v = DecodeGroupMetadataValue(*value);
                        if (!v.ok()) return v.status();
                        g.metadata = *std::move(v);
                        return absl::OkStatus();
                      });
    if (!s.ok()) return s;
  }
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, l] : loaded) {
      if (!l.metadata.has_value() && l.offsets.empty()) continue;  // deleted
      auto g =
          std::make_shared<Group>(id, topic_.PartitionFor(id), &options_.group, timers_, &topic_);
      if (l.metadata.has_value()) g->LoadMetadata(*l.metadata);
      g->LoadOffsets(std::move(l.offsets));
      groups_[id] = std::move(g);
    }
    loaded_ = true;
  }
  absl::MutexLock lock(&lifeline_->mu);
  ScheduleRetention();
  return absl::OkStatus();
}

bool GroupCoordinator::loaded() const {
  absl::MutexLock lock(&mu_);
  return loaded_;
}

std::shared_ptr<Group> GroupCoordinator::Find(const std::string& group_id) const {
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(group_id);
  return it == groups_.end() ? nullptr : it->second;
}

std::shared_ptr<Group> GroupCoordinator::GetOrCreate(const std::string& group_id) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Group>& g = groups_[group_id];
  if (g == nullptr) {
    g = std::make_shared<Group>(group_id, topic_.PartitionFor(group_id), &options_.group, timers_,
                                &topic_);
  }
  return g;
}

void GroupCoordinator::FindCoordinator(const ClientInfo& client,
                                       const protocol::FindCoordinatorRequest& request,
                                       Done<protocol::FindCoordinatorResponse> done) {
  protocol::FindCoordinatorResponse resp;
  // 0 = group, 1 = transaction: this broker coordinates both.
  const bool valid_type = request.key_type == 0 || request.key_type == 1;
  auto answer = [&](const std::string& key, int32_t* node, std::string* host, int32_t* port,
                    int16_t* error, std::optional<std::string>* message) {
    if (!valid_type || key.empty()) {
      *error = Code(ErrorCode::kInvalidRequest);
      *message = valid_type ? "empty coordinator key" : "unknown key type";
      *node = -1;
      *port = -1;
      return;
    }
    // Answered while loading too, as Kafka does: the group requests that
    // follow get COORDINATOR_LOAD_IN_PROGRESS until the load is done.
    absl::MutexLock lock(&mu_);
    *node = node_id_;
    *host = host_;
    *port = port_;
    message->reset();
  };
  if (client.api_version >= 4) {
    for (const std::string& key : request.coordinator_keys) {
      protocol::FindCoordinatorResponse::Coordinator c;
      c.key = key;
      answer(key, &c.node_id, &c.host, &c.port, &c.error_code, &c.error_message);
      resp.coordinators.push_back(std::move(c));
    }
  } else {
    answer(request.key, &resp.node_id, &resp.host, &resp.port, &resp.error_code,
           &resp.error_message);
  }
  done(std::move(resp));
}

void GroupCoordinator::JoinGroup(const ClientInfo& client,
                                 const protocol::JoinGroupRequest& request,
                                 Done<protocol::JoinGroupResponse> done) {
  auto fail = [&](ErrorCode e) {
    protocol::JoinGroupResponse r;
    r.error_code = Code(e);
    r.member_id = request.member_id;
    r.protocol_name = "";
    done(std::move(r));
  };
  if (!loaded()) return fail(ErrorCode::kCoordinatorLoadInProgress);
  if (request.group_id.empty()) return fail(ErrorCode::kInvalidGroupId);
  if (request.session_timeout_ms < options_.group.min_session_timeout_ms ||
      request.session_timeout_ms > options_.group.max_session_timeout_ms) {
    return fail(ErrorCode::kInvalidSessionTimeout);
  }
  std::shared_ptr<Group> g =
      request.member_id.empty() ? GetOrCreate(request.group_id) : Find(request.group_id);
  if (g == nullptr) return fail(ErrorCode::kUnknownMemberId);
  g->Join(client, request, std::move(done));
}

void GroupCoordinator::SyncGroup(const ClientInfo& client,
                                 const protocol::SyncGroupRequest& request,
                                 Done<protocol::SyncGroupResponse> done) {
  auto fail = [&](ErrorCode e) {
    protocol::SyncGroupResponse r;
    r.error_code = Code(e);
    done(std::move(r));
  };
  if (!loaded()) return fail(ErrorCode::kCoordinatorLoadInProgress);
  if (request.group_id.empty()) return fail(ErrorCode::kInvalidGroupId);
  std::shared_ptr<Group> g = Find(request.group_id);
  if (g == nullptr) return fail(ErrorCode::kUnknownMemberId);
  g->Sync(client, request, std::move(done));
}

void GroupCoordinator::Heartbeat(const ClientInfo& client,
                                 const protocol::HeartbeatRequest& request,
                                 Done<protocol::HeartbeatResponse> done) {
  protocol::HeartbeatResponse r;
  if (!loaded()) {
    r.error_code = Code(ErrorCode::kCoordinatorLoadInProgress);
  } else if (request.group_id.empty()) {
    r.error_code = Code(ErrorCode::kInvalidGroupId);
  } else if (std::shared_ptr<Group> g = Find(request.group_id); g == nullptr) {
    r.error_code = Code(ErrorCode::kUnknownMemberId);
  } else {
    r.error_code = Code(g->Heartbeat(request));
  }
  done(std::move(r));
}

void GroupCoordinator::LeaveGroup(const ClientInfo& client,
                                  const protocol::LeaveGroupRequest& request,
                                  Done<protocol::LeaveGroupResponse> done) {
  protocol::LeaveGroupResponse r;
  std::shared_ptr<Group> g;
  if (!loaded()) {
    r.error_code = Code(ErrorCode::kCoordinatorLoadInProgress);
  } else if (request.group_id.empty()) {
    r.error_code = Code(ErrorCode::kInvalidGroupId);
  } else if (g = Find(request.group_id); g != nullptr) {
    r = g->Leave(client, request);
  } else if (client.api_version < 3) {
    r.error_code = Code(ErrorCode::kUnknownMemberId);
  } else {
    for (const auto& m : request.members) {
      protocol::LeaveGroupResponse::MemberResponse mr;
      mr.member_id = m.member_id;
      mr.group_instance_id = m.group_instance_id;
      mr.error_code = Code(ErrorCode::kUnknownMemberId);
      r.members.push_back(std::move(mr));
    }
  }
  done(std::move(r));
}

void GroupCoordinator::ListGroups(const ClientInfo& client,
                                  const protocol::ListGroupsRequest& request,
                                  Done<protocol::ListGroupsResponse> done) {
  protocol::ListGroupsResponse resp;
  if (!loaded()) {
    resp.error_code = Code(ErrorCode::kCoordinatorLoadInProgress);
    done(std::move(resp));
    return;
  }
  std::vector<std::shared_ptr<Group>> groups;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, g] : groups_) groups.push_back(g);
  }
  for (const auto& g : groups) {
    const GroupState state = g->state();
    if (state == GroupState::kDead) continue;
    const std::string name(GroupStateName(state));
    // KIP-518: states match case-insensitively; no filter lists them all.
    const bool wanted =
        request.states_filter.empty() ||
        std::any_of(request.states_filter.begin(), request.states_filter.end(),
                    [&](const std::string& s) { return absl::EqualsIgnoreCase(s, name); });
    if (!wanted) continue;
    protocol::ListGroupsResponse::ListedGroup lg;
    lg.group_id = g->group_id();
    lg.protocol_type = g->protocol_type();
    lg.group_state = name;
    resp.groups.push_back(std::move(lg));
  }
  done(std::move(resp));
}

std::map<std::string, int64_t> GroupCoordinator::CountByState() const {
  std::vector<std::shared_ptr<Group>> groups;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, g] : groups_) groups.push_back(g);
  }
  std::map<std::string, int64_t> out;
  for (const auto& g : groups) {
    const GroupState state = g->state();
    if (state != GroupState::kDead) ++out[std::string(GroupStateName(state))];
  }
  return out;
}

void GroupCoordinator::DescribeGroups(const ClientInfo& client,
                                      const protocol::DescribeGroupsRequest& request,
                                      Done<protocol::DescribeGroupsResponse> done) {
  protocol::DescribeGroupsResponse resp;
  const bool is_loaded = loaded();
  for (const std::string& id : request.groups) {
    std::shared_ptr<Group> g = is_loaded ? Find(id) : nullptr;
    protocol::DescribeGroupsResponse::DescribedGroup d;
    if (!is_loaded) {
      d.group_id = id;
      d.error_code = Code(ErrorCode::kCoordinatorLoadInProgress);
    } else if (g == nullptr) {
      // Kafka describes an unknown group as Dead, without an error.
      d.group_id = id;
      d.group_state = std::string(GroupStateName(GroupState::kDead));
    } else {
      d = g->Describe();
    }
    resp.groups.push_back(std::move(d));
  }
  done(std::move(resp));
}

void GroupCoordinator::DeleteGroups(const ClientInfo& client,
                                    const protocol::DeleteGroupsRequest& request,
                                    Done<protocol::DeleteGroupsResponse> done) {
  protocol::DeleteGroupsResponse resp;
  const bool is_loaded = loaded();
  for (const std::string& id : request.groups_names) {
    protocol::DeleteGroupsResponse::DeletableGroupResult result;
    result.group_id = id;
    ErrorCode error = ErrorCode::kCoordinatorLoadInProgress;
    if (is_loaded) {
      std::shared_ptr<Group> g = Find(id);
      error = g == nullptr ? ErrorCode::kGroupIdNotFound : g->Delete();
      if (error == ErrorCode::kNone) {
        absl::MutexLock lock(&mu_);
        auto it = groups_.find(id);
        if (it != groups_.end() && it->second == g) groups_.erase(it);
      }
    }
    result.error_code = Code(error);
    resp.results.push_back(std::move(result));
  }
  done(std::move(resp));
}

}  // namespace runnel::broker::group
