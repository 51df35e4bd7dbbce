// runnel::Admin: ListOffsets and DeleteRecords, one request per partition
// leader (from a fresh Metadata response). A partition whose topic or leader
// is unknown gets its own error and does not hold up the others.
#include "absl/strings/str_cat.h"
#include "client/admin_impl.h"
#include "runnel/common/status_macros.h"
#include "runnel/protocol/messages/delete_records.h"
#include "runnel/protocol/messages/list_offsets.h"

namespace runnel::client {
namespace {

using protocol::ErrorCode;

std::string PartitionContext(const TopicPartition& tp) {
  return absl::StrCat(tp.topic, "-", tp.partition);
}

// Leader of each partition asked for; partitions without one get `errors`.
template <typename Value>
std::map<int32_t, std::map<TopicPartition, Value>> ByLeader(
    const protocol::MetadataResponse& md, const std::map<TopicPartition, Value>& wanted,
    std::map<TopicPartition, absl::Status>& errors) {
  std::map<int32_t, std::map<TopicPartition, Value>> out;
  for (const auto& [tp, v] : wanted) {
    ErrorCode ec = ErrorCode::kUnknownTopicOrPartition;
    for (const auto& t : md.topics) {
      if (t.name != tp.topic) continue;
      if (t.error_code != 0) {
        ec = static_cast<ErrorCode>(t.error_code);
        break;
      }
      for (const auto& p : t.partitions) {
        if (p.partition_index != tp.partition) continue;
        if (p.leader_id >= 0) {
          out[p.leader_id][tp] = v;
          ec = ErrorCode::kNone;
        } else {
          ec = ErrorCode::kLeaderNotAvailable;
        }
      }
    }
    if (ec != ErrorCode::kNone) errors[tp] = protocol::ErrorCodeToStatus(ec, PartitionContext(tp));
  }
  return out;
}

template <typename Value>
std::vector<std::string> TopicsOf(const std::map<TopicPartition, Value>& m) {
  std::vector<std::string> topics;
  for (const auto& [tp, v] : m) {
    if (topics.empty() || topics.back() != tp.topic) topics.push_back(tp.topic);
  }
  return topics;
}

int64_t WireTimestamp(const OffsetSpec& s) {
  switch (s.kind) {
    case OffsetSpec::Kind::kEarliest:
      return -2;
    case OffsetSpec::Kind::kLatest:
      return -1;
    case OffsetSpec::Kind::kMaxTimestamp:
      return -3;
    case OffsetSpec::Kind::kTimestamp:
      break;
  }
  return s.timestamp_ms;
}

}  // namespace

absl::StatusOr<std::map<TopicPartition, ListOffsetsResult>> AdminImpl::ListOffsets(
    const std::map<TopicPartition, OffsetSpec>& specs, IsolationLevel isolation) {
  for (const auto& [tp, s] : specs) {
    if (s.kind == OffsetSpec::Kind::kTimestamp && s.timestamp_ms < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(PartitionContext(tp), ": a timestamp to look up must be >= 0"));
    }
  }
  RUNNEL_ASSIGN_OR_RETURN(protocol::MetadataResponse md, FetchMetadata(TopicsOf(specs)));
  std::map<TopicPartition, absl::Status> errors;
  auto by_leader = ByLeader(md, specs, errors);
  std::map<TopicPartition, ListOffsetsResult> out;
  for (const auto& [tp, s] : errors) out[tp].status = s;
  for (const auto& [leader, parts] : by_leader) {
    protocol::ListOffsetsRequest req;
    req.replica_id = -1;
    req.isolation_level = static_cast<int8_t>(isolation);
    RequestOptions ro;
    if (isolation == IsolationLevel::kReadCommitted) ro.min_version = 2;
    for (const auto& [tp, spec] : parts) {
      if (spec.kind == OffsetSpec::Kind::kMaxTimestamp) ro.min_version = 7;
      if (req.topics.empty() || req.topics.back().name != tp.topic) {
        req.topics.emplace_back();
        req.topics.back().name = tp.topic;
      }
      protocol::ListOffsetsRequest::ListOffsetsPartition p;
      p.partition_index = tp.partition;
      p.timestamp = WireTimestamp(spec);
      req.topics.back().partitions.push_back(p);
    }
    const std::string what = absl::StrCat("ListOffsets to broker ", leader);
    auto answer = Call<protocol::ListOffsetsResponse>(Target::Node(leader), req, what.c_str(), ro);
    if (absl::IsInvalidArgument(answer.status()) && ro.min_version <= 3) {
      // A response we cannot decode: librdkafka 2.0's mock cluster answers
      // v5 with 4 bytes too many. v1-3 carry all but the leader epoch.
      ro.max_version = 3;
      answer = Call<protocol::ListOffsetsResponse>(Target::Node(leader), req, what.c_str(), ro);
    }
    RUNNEL_ASSIGN_OR_RETURN(auto reply, std::move(answer));
    for (const auto& t : reply.response.topics) {
      for (const auto& p : t.partitions) {
        TopicPartition tp{t.name, p.partition_index};
        if (!parts.contains(tp)) continue;  // not asked for
        ListOffsetsResult& r = out[tp];
        r.status = ItemStatus(p.error_code, std::nullopt, PartitionContext(tp));
        r.offset = p.offset;
        r.timestamp_ms = p.timestamp;
        r.leader_epoch = p.leader_epoch;
      }
    }
    for (const auto& [tp, spec] : parts) {
      if (!out.contains(tp)) {
        out[tp].status = absl::InternalError(PartitionContext(tp) + ": not in the broker's answer");
      }
    }
  }
  return out;
}

absl::StatusOr<std::map<TopicPartition, DeleteRecordsResult>> AdminImpl::DeleteRecords(
    const std::map<TopicPartition, int64_t>& before) {
  RUNNEL_ASSIGN_OR_RETURN(protocol::MetadataResponse md, FetchMetadata(TopicsOf(before)));
  std::map<TopicPartition, absl::Status> errors;
  auto by_leader = ByLeader(md, before, errors);
  std::map<TopicPartition, DeleteRecordsResult> out;
  for (const auto& [tp, s] : errors) out[tp].status = s;
  for (const auto& [leader, parts] : by_leader) {
    protocol::DeleteRecordsRequest req;
    req.timeout_ms = static_cast<int32_t>(absl::ToInt64Milliseconds(options_.operation_timeout));
    for (const auto& [tp, offset] : parts) {
      if (req.topics.empty() || req.topics.back().name != tp.topic) {
        req.topics.emplace_back();
        req.topics.back().name = tp.topic;
      }
      protocol::DeleteRecordsRequest::DeleteRecordsPartition p;
      p.partition_index = tp.partition;
      p.offset = offset;
      req.topics.back().partitions.push_back(p);
    }
    const std::string what = absl::StrCat("DeleteRecords to broker ", leader);
    RUNNEL_ASSIGN_OR_RETURN(
        auto reply, Call<protocol::DeleteRecordsResponse>(Target::Node(leader), req, what.c_str()));
    for (const auto& t : reply.response.topics) {
      for (const auto& p : t.partitions) {
        TopicPartition tp{t.name, p.partition_index};
        if (!parts.contains(tp)) continue;
        DeleteRecordsResult& r = out[tp];
        r.status = ItemStatus(p.error_code, std::nullopt, PartitionContext(tp));
        r.low_watermark = p.low_watermark;
      }
    }
    for (const auto& [tp, offset] : parts) {
      if (!out.contains(tp)) {
        out[tp].status = absl::InternalError(PartitionContext(tp) + ": not in the broker's answer");
      }
    }
  }
  return out;
}

}  // namespace runnel::client
