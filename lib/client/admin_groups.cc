// runnel::Admin: consumer groups. ListGroups asks every broker (each lists
// the groups it coordinates); the others go to each group's coordinator
// (FindCoordinator), one request per group, so groups on different
// coordinators and a coordinator that moves are handled the same way.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/admin_impl.h"
#include "client/group/consumer_protocol.h"
#include "runnel/common/status_macros.h"
#include "runnel/protocol/messages/delete_groups.h"
#include "runnel/protocol/messages/describe_groups.h"
#include "runnel/protocol/messages/list_groups.h"
#include "runnel/protocol/messages/offset_commit.h"
#include "runnel/protocol/messages/offset_fetch.h"

namespace runnel::client {
namespace {

using protocol::ErrorCode;

std::string GroupContext(const std::string& group) { return absl::StrCat("group '", group, "'"); }

ErrorCode DescribeError(const protocol::DescribeGroupsResponse& r) {
  return r.groups.empty() ? ErrorCode::kNone : static_cast<ErrorCode>(r.groups[0].error_code);
}

ErrorCode DeleteError(const protocol::DeleteGroupsResponse& r) {
  return r.results.empty() ? ErrorCode::kNone : static_cast<ErrorCode>(r.results[0].error_code);
}

ErrorCode OffsetFetchError(const protocol::OffsetFetchResponse& r) {
  if (!r.groups.empty()) return static_cast<ErrorCode>(r.groups[0].error_code);  // v8+
  return static_cast<ErrorCode>(r.error_code);
}

ErrorCode OffsetCommitError(const protocol::OffsetCommitResponse& r) {
  // A coordinator error is the same for every partition; the first says it.
  for (const auto& t : r.topics) {
    for (const auto& p : t.partitions) return static_cast<ErrorCode>(p.error_code);
  }
  return ErrorCode::kNone;
}

}  // namespace

absl::StatusOr<std::vector<GroupListing>> AdminImpl::ListGroups(
    const std::vector<std::string>& states) {
  RUNNEL_ASSIGN_OR_RETURN(protocol::MetadataResponse md, FetchMetadata(std::vector<std::string>{}));
  protocol::ListGroupsRequest req;
  req.states_filter = states;
  RequestOptions ro;
  if (!states.empty()) ro.min_version = 4;  // older versions would ignore the filter
  std::vector<GroupListing> out;
  for (const auto& b : md.brokers) {
    const std::string what = absl::StrCat("ListGroups on broker ", b.node_id);
    RUNNEL_ASSIGN_OR_RETURN(auto reply, Call<protocol::ListGroupsResponse>(Target::Node(b.node_id),
                                                                           req, what.c_str(), ro));
    RUNNEL_RETURN_IF_ERROR(ItemStatus(reply.response.error_code, std::nullopt, what));
    for (const auto& g : reply.response.groups) {
      out.push_back(GroupListing{g.group_id, g.protocol_type, g.group_state, b.node_id});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const GroupListing& a, const GroupListing& b) { return a.group_id < b.group_id; });
  return out;
}

absl::StatusOr<std::vector<GroupDescription>> AdminImpl::DescribeGroups(
    const std::vector<std::string>& groups) {
  std::vector<GroupDescription> out;
  for (const std::string& group : groups) {
    GroupDescription d;
    d.group_id = group;
    protocol::DescribeGroupsRequest req;
    req.groups = {group};
    auto reply = CallCoordinator<protocol::DescribeGroupsResponse>(group, req, "DescribeGroups",
                                                                   &DescribeError);
    if (!reply.ok()) {
      // Unsupported API or no broker: the whole call fails. A coordinator
      // that stays unavailable is this group's problem only.
      if (!protocol::ErrorCodeFromStatus(reply.status()).has_value()) return reply.status();
      d.status = reply.status();
      out.push_back(std::move(d));
      continue;
    }
    d.coordinator = reply->node_id;
    if (reply->response.groups.empty()) {
      d.status = absl::InternalError(GroupContext(group) + ": not in the broker's answer");
      out.push_back(std::move(d));
      continue;
    }
    const auto& g = reply->response.groups[0];
    d.status = ItemStatus(g.error_code, std::nullopt, GroupContext(group));
    d.state = g.group_state;
    d.protocol_type = g.protocol_type;
    d.protocol = g.protocol_data;
    for (const auto& m : g.members) {
      MemberDescription md;
      md.member_id = m.member_id;
      md.group_instance_id = m.group_instance_id;
      md.client_id = m.client_id;
      md.client_host = m.client_host;
      if (g.protocol_type == group::kConsumerProtocolType && !m.member_assignment.empty()) {
        // An assignment we cannot read is left empty: the rest of the
        // description is still right.
        absl::StatusOr<group::Assignment> a = group::DecodeAssignment(m.member_assignment);
        if (a.ok()) {
          for (const auto& tp : a->partitions) {
            for (int32_t p : tp.partitions) md.assignment.push_back(TopicPartition{tp.topic, p});
          }
        }
      }
      d.members.push_back(std::move(md));
    }
    out.push_back(std::move(d));
  }
  return out;
}

absl::StatusOr<std::vector<GroupResult>> AdminImpl::DeleteGroups(
    const std::vector<std::string>& groups) {
  std::vector<GroupResult> out;
  for (const std::string& group : groups) {
    protocol::DeleteGroupsRequest req;
    req.groups_names = {group};
    auto reply =
        CallCoordinator<protocol::DeleteGroupsResponse>(group, req, "DeleteGroups", &DeleteError);
    if (!reply.ok()) {
      if (!protocol::ErrorCodeFromStatus(reply.status()).has_value()) return reply.status();
      out.push_back(GroupResult{group, reply.status()});
      continue;
    }
    absl::Status s =
        reply->response.results.empty()
            ? absl::InternalError(GroupContext(group) + ": not in the broker's answer")
            : ItemStatus(reply->response.results[0].error_code, std::nullopt, GroupContext(group));
    out.push_back(GroupResult{group, std::move(s)});
  }
  return out;
}

absl::StatusOr<std::map<TopicPartition, CommittedOffset>> AdminImpl::ListConsumerGroupOffsets(
    const std::string& group, const std::optional<std::vector<TopicPartition>>& partitions) {
  protocol::OffsetFetchRequest req;
  req.group_id = group;                                     // v1-7
  protocol::OffsetFetchRequest::OffsetFetchRequestGroup g;  // v8+
  g.group_id = group;
  // null: every partition (the generated defaults are empty lists).
  req.topics.reset();
  g.topics.reset();
  if (partitions.has_value()) {
    std::map<std::string, std::vector<int32_t>> by_topic;
    for (const auto& tp : *partitions) by_topic[tp.topic].push_back(tp.partition);
    req.topics.emplace();
    g.topics.emplace();
    for (const auto& [topic, ps] : by_topic) {
      protocol::OffsetFetchRequest::OffsetFetchRequestTopic t;
      t.name = topic;
      t.partition_indexes = ps;
      req.topics->push_back(t);
      protocol::OffsetFetchRequest::OffsetFetchRequestTopics t8;
      t8.name = topic;
      t8.partition_indexes = ps;
      g.topics->push_back(std::move(t8));
    }
  }
  req.groups.push_back(std::move(g));
  RequestOptions ro;
  ro.min_version = 2;  // v1 cannot ask for "every partition"
  const std::string what = absl::StrCat("OffsetFetch for ", GroupContext(group));
  RUNNEL_ASSIGN_OR_RETURN(auto reply, CallCoordinator<protocol::OffsetFetchResponse>(
                                          group, req, what.c_str(), &OffsetFetchError, ro));
  RUNNEL_RETURN_IF_ERROR(
      ItemStatus(static_cast<int16_t>(OffsetFetchError(reply.response)), std::nullopt, what));
  std::map<TopicPartition, CommittedOffset> out;
  auto add = [&](const std::string& topic, int32_t partition, int64_t offset, int32_t epoch,
                 const std::optional<std::string>& metadata, int16_t error) {
    CommittedOffset c;
    c.committed.offset = offset;
    c.committed.leader_epoch = epoch;
    c.committed.metadata = metadata.value_or("");
    c.status = ItemStatus(error, std::nullopt, absl::StrCat(topic, "-", partition));
    out[TopicPartition{topic, partition}] = std::move(c);
  };
  if (reply.api_version >= 8) {
    for (const auto& rg : reply.response.groups) {
      for (const auto& t : rg.topics) {
        for (const auto& p : t.partitions) {
          add(t.name, p.partition_index, p.committed_offset, p.committed_leader_epoch, p.metadata,
              p.error_code);
        }
      }
    }
  } else {
    for (const auto& t : reply.response.topics) {
      for (const auto& p : t.partitions) {
        add(t.name, p.partition_index, p.committed_offset, p.committed_leader_epoch, p.metadata,
            p.error_code);
      }
    }
  }
  return out;
}

absl::StatusOr<std::map<TopicPartition, absl::Status>> AdminImpl::AlterConsumerGroupOffsets(
    const std::string& group, const TopicPartitionOffsets& offsets) {
  protocol::OffsetCommitRequest req;
  req.group_id = group;
  req.generation_id_or_member_epoch = -1;  // from outside the group
  std::map<std::string, std::vector<protocol::OffsetCommitRequest::OffsetCommitRequestPartition>>
      by_topic;
  for (const auto& [tp, om] : offsets) {
    protocol::OffsetCommitRequest::OffsetCommitRequestPartition p;
    p.partition_index = tp.partition;
    p.committed_offset = om.offset;
    p.committed_leader_epoch = om.leader_epoch;
    p.committed_metadata.emplace(om.metadata);
    by_topic[tp.topic].push_back(std::move(p));
  }
  for (auto& [topic, ps] : by_topic) {
    protocol::OffsetCommitRequest::OffsetCommitRequestTopic t;
    t.name = topic;
    t.partitions = std::move(ps);
    req.topics.push_back(std::move(t));
  }
  const std::string what = absl::StrCat("OffsetCommit for ", GroupContext(group));
  RUNNEL_ASSIGN_OR_RETURN(auto reply, CallCoordinator<protocol::OffsetCommitResponse>(
                                          group, req, what.c_str(), &OffsetCommitError));
  std::map<TopicPartition, absl::Status> out;
  for (const auto& t : reply.response.topics) {
    for (const auto& p : t.partitions) {
      out[TopicPartition{t.name, p.partition_index}] =
          ItemStatus(p.error_code, std::nullopt, absl::StrCat(t.name, "-", p.partition_index));
    }
  }
  return out;
}

}  // namespace runnel::client
