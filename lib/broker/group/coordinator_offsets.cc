// The offset APIs of the coordinator: OffsetCommit, OffsetFetch (one group
// or, from v8, several), OffsetDelete, and offsets.retention expiry.
#include <utility>

#include "broker/group/group_coordinator.h"

namespace runnel::broker::group {
namespace {

int16_t Code(ErrorCode e) { return static_cast<int16_t>(e); }

}  // namespace

void GroupCoordinator::OffsetCommit(const ClientInfo& client,
                                    const protocol::OffsetCommitRequest& request,
                                    Done<protocol::OffsetCommitResponse> done) {
  auto fail = [&](ErrorCode e) {
    protocol::OffsetCommitResponse r;
    for (const auto& t : request.topics) {
      protocol::OffsetCommitResponse::OffsetCommitResponseTopic rt;
      rt.name = t.name;
      for (const auto& p : t.partitions) rt.partitions.push_back({p.partition_index, Code(e), {}});
      r.topics.push_back(std::move(rt));
    }
    done(std::move(r));
  };
  if (!loaded()) return fail(ErrorCode::kCoordinatorLoadInProgress);
  if (request.group_id.empty()) return fail(ErrorCode::kInvalidGroupId);
  // Without a generation the commit needs no group; with one, a missing
  // group means the member's generation is long gone.
  std::shared_ptr<Group> g = request.generation_id_or_member_epoch < 0
                                 ? GetOrCreate(request.group_id)
                                 : Find(request.group_id);
  if (g == nullptr) return fail(ErrorCode::kIllegalGeneration);
  done(g->CommitOffsets(client, request));
}

std::vector<Group::FetchedOffset> GroupCoordinator::FetchFor(
    const std::string& group_id,
    const std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>>& topics) const {
  if (std::shared_ptr<Group> g = Find(group_id); g != nullptr) return g->FetchOffsets(topics);
  std::vector<Group::FetchedOffset> out;
  if (!topics.has_value()) return out;
  for (const auto& [topic, partitions] : *topics) {
    for (int32_t p : partitions) out.push_back({topic, p, -1, -1, ""});
  }
  return out;
}

void GroupCoordinator::OffsetFetch(const ClientInfo& client,
                                   const protocol::OffsetFetchRequest& request,
                                   Done<protocol::OffsetFetchResponse> done) {
  protocol::OffsetFetchResponse resp;
  const bool is_loaded = loaded();
  if (client.api_version >= 8) {
    for (const auto& group : request.groups) {
      protocol::OffsetFetchResponse::OffsetFetchResponseGroup rg;
      rg.group_id = group.group_id;
      if (!is_loaded) {
        rg.error_code = Code(ErrorCode::kCoordinatorLoadInProgress);
        resp.groups.push_back(std::move(rg));
        continue;
      }
      std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>> topics;
      if (group.topics.has_value()) {
        topics.emplace();
        for (const auto& t : *group.topics) topics->push_back({t.name, t.partition_indexes});
      }
      for (const Group::FetchedOffset& f : FetchFor(group.group_id, topics)) {
        if (rg.topics.empty() || rg.topics.back().name != f.topic) {
          rg.topics.push_back({});
          rg.topics.back().name = f.topic;
        }
        protocol::OffsetFetchResponse::OffsetFetchResponsePartitions p;
        p.partition_index = f.partition;
        p.committed_offset = f.offset;
        p.committed_leader_epoch = f.leader_epoch;
        p.metadata = f.metadata;
        rg.topics.back().partitions.push_back(std::move(p));
      }
      resp.groups.push_back(std::move(rg));
    }
    done(std::move(resp));
    return;
  }
  std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>> topics;
  if (request.topics.has_value()) {
    topics.emplace();
    for (const auto& t : *request.topics) topics->push_back({t.name, t.partition_indexes});
  }
  if (!is_loaded) {
    // v1 has no top-level error: each partition carries it.
    resp.error_code = Code(ErrorCode::kCoordinatorLoadInProgress);
    if (topics.has_value()) {
      for (const auto& [name, parts] : *topics) {
        protocol::OffsetFetchResponse::OffsetFetchResponseTopic rt;
        rt.name = name;
        for (int32_t p : parts) {
          protocol::OffsetFetchResponse::OffsetFetchResponsePartition rp;
          rp.partition_index = p;
          rp.committed_offset = -1;
          rp.error_code = Code(ErrorCode::kCoordinatorLoadInProgress);
          rt.partitions.push_back(std::move(rp));
        }
        resp.topics.push_back(std::move(rt));
      }
    }
    done(std::move(resp));
    return;
  }
  for (const Group::FetchedOffset& f : FetchFor(request.group_id, topics)) {
    if (resp.topics.empty() || resp.topics.back().name != f.topic) {
      resp.topics.push_back({});
      resp.topics.back().name = f.topic;
    }
    protocol::OffsetFetchResponse::OffsetFetchResponsePartition p;
    p.partition_index = f.partition;
    p.committed_offset = f.offset;
    p.committed_leader_epoch = f.leader_epoch;
    p.metadata = f.metadata;
    resp.topics.back().partitions.push_back(std::move(p));
  }
  done(std::move(resp));
}

void GroupCoordinator::OffsetDelete(const ClientInfo& client,
                                    const protocol::OffsetDeleteRequest& request,
                                    Done<protocol::OffsetDeleteResponse> done) {
  protocol::OffsetDeleteResponse resp;
  if (!loaded()) {
    resp.error_code = Code(ErrorCode::kCoordinatorLoadInProgress);
  } else if (std::shared_ptr<Group> g = Find(request.group_id); g == nullptr) {
    resp.error_code = Code(ErrorCode::kGroupIdNotFound);
  } else {
    resp = g->DeleteOffsets(request);
  }
  done(std::move(resp));
}

void GroupCoordinator::ExpireOffsetsOnce() {
  std::vector<std::shared_ptr<Group>> groups;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, g] : groups_) groups.push_back(g);
  }
  const int64_t now = timers_->NowMs();
  for (const auto& g : groups) {
    if (!g->ExpireOffsets(now)) continue;
    absl::MutexLock lock(&mu_);
    auto it = groups_.find(g->group_id());
    if (it != groups_.end() && it->second == g) groups_.erase(it);
  }
}

}  // namespace runnel::broker::group
