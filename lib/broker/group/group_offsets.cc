// A group's committed offsets, its deletion, description and reload.
#include <set>

#include "broker/group/group.h"
#include "runnel/protocol/wire.h"

namespace runnel::broker::group {
namespace {

// Storage errors as Kafka reports them for the offsets topic: a batch too
// large is the client's fault, anything else is retriable.
ErrorCode AppendError(const absl::Status& s) {
  if (absl::IsOutOfRange(s) || absl::IsInvalidArgument(s)) {
    return ErrorCode::kInvalidCommitOffsetSize;
  }
  return ErrorCode::kCoordinatorNotAvailable;
}

// The topics of a ConsumerProtocolSubscription (version:int16, then
// topics:[string], the same in every version); nullopt when it does not
// parse, which callers treat as "may be subscribed to anything".
std::optional<std::set<std::string>> SubscribedTopics(const std::vector<uint8_t>& metadata) {
  protocol::Reader r(metadata);
  r.Int16("version");
  const int32_t n = r.ArrayLength("topics", false, false, 2);
  std::set<std::string> topics;
  for (int32_t i = 0; i < n && r.ok(); ++i) topics.insert(r.String("topic", false));
  if (!r.ok()) return std::nullopt;
  return topics;
}

}  // namespace

protocol::OffsetCommitResponse Group::CommitOffsets(const ClientInfo& client,
                                                    const protocol::OffsetCommitRequest& request) {
  absl::MutexLock lock(&mu_);
  protocol::OffsetCommitResponse resp;
  for (const auto& t : request.topics) {
    protocol::OffsetCommitResponse::OffsetCommitResponseTopic rt;
    rt.name = t.name;
    for (const auto& p : t.partitions) rt.partitions.push_back({p.partition_index, 0, {}});
    resp.topics.push_back(std::move(rt));
  }
  auto fail_all = [&](ErrorCode e) {
    for (auto& t : resp.topics) {
      for (auto& p : t.partitions) p.error_code = static_cast<int16_t>(e);
    }
    return resp;
  };
  const int32_t generation = request.generation_id_or_member_epoch;
  if (state_ == GroupState::kDead) return fail_all(ErrorCode::kCoordinatorNotAvailable);
  // generation < 0 on an empty group: a consumer that assigns partitions
  // itself (or an admin tool) commits outside group management.
  if (!(generation < 0 && state_ == GroupState::kEmpty)) {
    if (ErrorCode e = ValidateMember(request.member_id, request.group_instance_id);
        e != ErrorCode::kNone) {
      return fail_all(e);
    }
    if (generation != generation_) return fail_all(ErrorCode::kIllegalGeneration);
    // The member has its JoinGroup response but not its assignment yet.
    if (state_ == GroupState::kCompletingRebalance) {
      return fail_all(ErrorCode::kRebalanceInProgress);
    }
    ScheduleHeartbeatExpiry(members_.at(request.member_id));
  }

  const int64_t now = timers_->NowMs();
  std::vector<OffsetsRecord> records;
  std::vector<std::pair<TopicPartitionKey, OffsetCommitValue>> updates;
  for (size_t ti = 0; ti < request.topics.size(); ++ti) {
    const auto& t = request.topics[ti];
    for (size_t pi = 0; pi < t.partitions.size(); ++pi) {
      const auto& p = t.partitions[pi];
      const std::string metadata = p.committed_metadata.value_or("");
      if (metadata.size() > static_cast<size_t>(config_->offset_metadata_max_bytes)) {
        resp.topics[ti].partitions[pi].error_code =
            static_cast<int16_t>(ErrorCode::kOffsetMetadataTooLarge);
        continue;
      }
      OffsetCommitValue v;
      v.offset = p.committed_offset;
      v.leader_epoch = p.committed_leader_epoch;
      v.metadata = metadata;
      v.commit_timestamp_ms = now;
      records.push_back({EncodeOffsetCommitKey({group_id_, t.name, p.partition_index}),
                         EncodeOffsetCommitValue(v)});
      updates.push_back({{t.name, p.partition_index}, v});
    }
  }
  if (records.empty()) return resp;
  // The commit is acknowledged only once in the log; all its partitions
  // go in one batch, so a crash keeps all or none of them.
  if (absl::Status s = topic_->Append(offsets_partition_, records, now); !s.ok()) {
    for (auto& t : resp.topics) {
      for (auto& p : t.partitions) {
        if (p.error_code == 0) p.error_code = static_cast<int16_t>(AppendError(s));
      }
    }
    return resp;
  }
  for (auto& [key, value] : updates) offsets_[key] = std::move(value);
  return resp;
}

std::vector<Group::FetchedOffset> Group::FetchOffsets(
    const std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>>& topics) {
  absl::MutexLock lock(&mu_);
  std::vector<FetchedOffset> out;
  auto fetched = [](const TopicPartitionKey& key, const OffsetCommitValue* v) {
    FetchedOffset f;
    f.topic = key.topic;
    f.partition = key.partition;
    if (v != nullptr) {
      f.offset = v->offset;
      f.leader_epoch = v->leader_epoch;
      f.metadata = v->metadata;
    }
    return f;
  };
  if (!topics.has_value()) {
    for (const auto& [key, v] : offsets_) out.push_back(fetched(key, &v));
    return out;
  }
  for (const auto& [topic, partitions] : *topics) {
    for (int32_t p : partitions) {
      const TopicPartitionKey key{topic, p};
      auto it = offsets_.find(key);
      out.push_back(fetched(key, it == offsets_.end() ? nullptr : &it->second));
    }
  }
  return out;
}

protocol::OffsetDeleteResponse Group::DeleteOffsets(const protocol::OffsetDeleteRequest& request) {
  absl::MutexLock lock(&mu_);
  protocol::OffsetDeleteResponse resp;
  if (state_ == GroupState::kDead) {
    resp.error_code = static_cast<int16_t>(ErrorCode::kGroupIdNotFound);
    return resp;
  }
  // Offsets of topics the live members consume cannot go: the group would
  // commit them again. Only consumer groups say what they consume.
  std::optional<std::set<std::string>> subscribed = std::set<std::string>{};
  if (state_ != GroupState::kEmpty) {
    if (protocol_type_ != "consumer") {
      resp.error_code = static_cast<int16_t>(ErrorCode::kNonEmptyGroup);
      return resp;
    }
    for (const auto& [id, m] : members_) {
      const auto* md = m.MetadataFor(protocol_name_.value_or(""));
      std::optional<std::set<std::string>> topics =
          md ? SubscribedTopics(*md) : std::optional<std::set<std::string>>();
      if (!topics.has_value()) {
        subscribed.reset();
        break;
      }
      subscribed->insert(topics->begin(), topics->end());
    }
  }
  std::vector<OffsetsRecord> tombstones;
  std::vector<TopicPartitionKey> deleted;
  for (const auto& t : request.topics) {
    protocol::OffsetDeleteResponse::OffsetDeleteResponseTopic rt;
    rt.name = t.name;
    const bool in_use = !subscribed.has_value() || subscribed->contains(t.name);
    for (const auto& p : t.partitions) {
      protocol::OffsetDeleteResponse::OffsetDeleteResponsePartition rp;
      rp.partition_index = p.partition_index;
      if (in_use) {
        rp.error_code = static_cast<int16_t>(ErrorCode::kGroupSubscribedToTopic);
      } else if (offsets_.contains({t.name, p.partition_index})) {
        tombstones.push_back(
            {EncodeOffsetCommitKey({group_id_, t.name, p.partition_index}), std::nullopt});
        deleted.push_back({t.name, p.partition_index});
      }
      rt.partitions.push_back(rp);
    }
    resp.topics.push_back(std::move(rt));
  }
  if (tombstones.empty()) return resp;
  if (absl::Status s = topic_->Append(offsets_partition_, tombstones, timers_->NowMs()); !s.ok()) {
    resp.error_code = static_cast<int16_t>(ErrorCode::kCoordinatorNotAvailable);
    resp.topics.clear();
    return resp;
  }
  for (const auto& key : deleted) offsets_.erase(key);
  return resp;
}

bool Group::ExpireOffsets(int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  if (state_ != GroupState::kEmpty) return false;
  std::vector<OffsetsRecord> tombstones;
  std::vector<TopicPartitionKey> expired;
  for (const auto& [key, v] : offsets_) {
    // An emptied group's offsets age from when it emptied: a group idle
    // for a week keeps them, one gone for a week loses them.
    const int64_t since = std::max(v.commit_timestamp_ms, state_timestamp_ms_);
    if (now_ms - since >= config_->offsets_retention_ms) {
      tombstones.push_back(
          {EncodeOffsetCommitKey({group_id_, key.topic, key.partition}), std::nullopt});
      expired.push_back(key);
    }
  }
  const bool now_empty = expired.size() == offsets_.size() && pending_members_.empty();
  if (now_empty) tombstones.push_back({EncodeGroupMetadataKey({group_id_}), std::nullopt});
  if (tombstones.empty()) return false;
  if (!topic_->Append(offsets_partition_, tombstones, now_ms).ok()) return false;
  for (const auto& key : expired) offsets_.erase(key);
  if (now_empty) TransitionTo(GroupState::kDead);
  return now_empty;
}

ErrorCode Group::Delete() {
  absl::MutexLock lock(&mu_);
  if (state_ == GroupState::kDead) return ErrorCode::kGroupIdNotFound;
  if (state_ != GroupState::kEmpty || !pending_members_.empty()) return ErrorCode::kNonEmptyGroup;
  std::vector<OffsetsRecord> tombstones;
  for (const auto& [key, v] : offsets_) {
    tombstones.push_back(
        {EncodeOffsetCommitKey({group_id_, key.topic, key.partition}), std::nullopt});
  }
  tombstones.push_back({EncodeGroupMetadataKey({group_id_}), std::nullopt});
  if (!topic_->Append(offsets_partition_, tombstones, timers_->NowMs()).ok()) {
    return ErrorCode::kCoordinatorNotAvailable;
  }
  offsets_.clear();
  TransitionTo(GroupState::kDead);
  return ErrorCode::kNone;
}

protocol::DescribeGroupsResponse::DescribedGroup Group::Describe() {
  absl::MutexLock lock(&mu_);
  protocol::DescribeGroupsResponse::DescribedGroup d;
  d.group_id = group_id_;
  d.group_state = std::string(GroupStateName(state_));
  d.protocol_type = protocol_type_.value_or("");
  const bool stable = state_ == GroupState::kStable;
  // Only a stable group's protocol, subscriptions and assignments mean
  // anything; mid-rebalance they are about to change.
  if (stable) d.protocol_data = protocol_name_.value_or("");
  for (const auto& [id, m] : members_) {
    protocol::DescribeGroupsResponse::DescribedGroupMember dm;
    dm.member_id = id;
    dm.group_instance_id = m.group_instance_id;
    dm.client_id = m.client_id;
    dm.client_host = m.client_host;
    if (stable) {
      if (const auto* md = m.MetadataFor(protocol_name_.value_or(""))) dm.member_metadata = *md;
      dm.member_assignment = m.assignment;
    }
    d.members.push_back(std::move(dm));
  }
  return d;
}

GroupState Group::state() {
  absl::MutexLock lock(&mu_);
  return state_;
}

std::string Group::protocol_type() {
  absl::MutexLock lock(&mu_);
  return protocol_type_.value_or("");
}

bool Group::is_dead() {
  absl::MutexLock lock(&mu_);
  return state_ == GroupState::kDead;
}

void Group::LoadMetadata(const GroupMetadataValue& value) {
  absl::MutexLock lock(&mu_);
  protocol_type_.reset();
  if (!value.protocol_type.empty()) protocol_type_ = value.protocol_type;
  generation_ = value.generation;
  protocol_name_ = value.protocol;
  leader_id_ = value.leader;
  members_.clear();
  static_members_.clear();
  for (const GroupMemberRecord& r : value.members) {
    Member m;
    m.member_id = r.member_id;
    m.group_instance_id = r.group_instance_id;
    m.client_id = r.client_id;
    m.client_host = r.client_host;
    m.rebalance_timeout_ms =
        r.rebalance_timeout_ms >= 0 ? r.rebalance_timeout_ms : r.session_timeout_ms;
    m.session_timeout_ms = r.session_timeout_ms;
    m.protocol_type = value.protocol_type;
    m.protocols = {{value.protocol.value_or(""), r.subscription}};
    m.assignment = r.assignment;
    if (m.group_instance_id.has_value()) static_members_[*m.group_instance_id] = m.member_id;
    members_.emplace(m.member_id, std::move(m));
  }
  TransitionTo(members_.empty() ? GroupState::kEmpty : GroupState::kStable);
  if (value.current_state_timestamp_ms >= 0) state_timestamp_ms_ = value.current_state_timestamp_ms;
  // Members that died while the coordinator was down expire one session
  // timeout from now.
  for (auto& [id, m] : members_) ScheduleHeartbeatExpiry(m);
}

void Group::LoadOffsets(std::map<TopicPartitionKey, OffsetCommitValue> offsets) {
  absl::MutexLock lock(&mu_);
  offsets_ = std::move(offsets);
}

}  // namespace runnel::broker::group
