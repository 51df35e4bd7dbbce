// ListOffsets: earliest (-2), latest (-1, the high watermark), the first
// offset at or after a timestamp, and (v7, KIP-734) max timestamp (-3): the
// offset and timestamp of the record with the largest timestamp, the first
// such record when several share it.
#include <limits>
#include <utility>

#include "broker/broker_context.h"
#include "broker/encode.h"
#include "runnel/protocol/messages/list_offsets.h"

namespace runnel::broker {
namespace {

using protocol::ErrorCode;
using protocol::ListOffsetsResponse;

constexpr int64_t kLatest = -1;
constexpr int64_t kEarliest = -2;
constexpr int64_t kMaxTimestamp = -3;

// The record with the largest timestamp below `hw`, or nullopt when no
// record has a timestamp (or the log is empty).
//
// The storage API answers "first record at or after T" (ReadByTimestamp,
// guided by each segment's time index), and whether one exists is monotone
// in T; so the largest timestamp M is found by bisection over T, and
// ReadByTimestamp(M) is then the first record carrying it. That is ~64
// index lookups per request, far cheaper than scanning the log, and needs
// no new storage entry point. Records at or above the high watermark are
// not visible; on one node the high watermark is the log end.
absl::StatusOr<std::optional<storage::TimestampAndOffset>> FindMaxTimestamp(const storage::Log& log,
                                                                            int64_t hw) {
  absl::StatusOr<std::optional<storage::TimestampAndOffset>> probe = log.ReadByTimestamp(0);
  if (!probe.ok() || !probe->has_value()) return probe;
  int64_t lo = (*probe)->timestamp_ms;               // some record has a timestamp >= lo
  int64_t hi = std::numeric_limits<int64_t>::max();  // none is above hi
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2 + 1;
    probe = log.ReadByTimestamp(mid);
    if (!probe.ok()) return probe;
    if (probe->has_value()) {
      lo = (*probe)->timestamp_ms;  // >= mid: jump straight to what exists
    } else {
      hi = mid - 1;
    }
  }
  probe = log.ReadByTimestamp(lo);
  if (!probe.ok() || !probe->has_value()) return probe;
  if ((*probe)->offset >= hw) return std::optional<storage::TimestampAndOffset>();
  return probe;
}

ListOffsetsResponse::ListOffsetsPartitionResponse Lookup(BrokerContext* ctx,
                                                         const std::string& topic,
                                                         int32_t partition, int64_t timestamp,
                                                         int16_t version) {
  ListOffsetsResponse::ListOffsetsPartitionResponse out;
  out.partition_index = partition;
  std::shared_ptr<Partition> p = ctx->topics->FindPartition(topic, partition);
  if (p == nullptr) {
    out.error_code = static_cast<int16_t>(ErrorCode::kUnknownTopicOrPartition);
    return out;
  }
  out.leader_epoch = 0;
  if (timestamp == kLatest) {
    out.offset = p->high_watermark.load();
  } else if (timestamp == kEarliest) {
    out.offset = p->log->log_start_offset();
  } else if (timestamp == kMaxTimestamp && version >= 7) {
    absl::StatusOr<std::optional<storage::TimestampAndOffset>> found =
        FindMaxTimestamp(*p->log, p->high_watermark.load());
    if (!found.ok()) {
      out.error_code = static_cast<int16_t>(ErrorCode::kKafkaStorageError);
    } else if (found->has_value()) {
      out.offset = (*found)->offset;
      out.timestamp = (*found)->timestamp_ms;
    }
  } else if (timestamp < 0) {
    out.error_code = static_cast<int16_t>(ErrorCode::kUnsupportedVersion);
  } else {
    absl::StatusOr<std::optional<storage::TimestampAndOffset>> found =
        p->log->ReadByTimestamp(timestamp);
    if (!found.ok()) {
      out.error_code = static_cast<int16_t>(ErrorCode::kKafkaStorageError);
    } else if (found->has_value() && (*found)->offset < p->high_watermark.load()) {
      out.offset = (*found)->offset;
      out.timestamp = (*found)->timestamp_ms;
    }
    // Not found: offset -1 and timestamp -1, as Kafka answers.
  }
  return out;
}

void HandleListOffsets(BrokerContext* ctx, const Request& request, Respond respond) {
  absl::StatusOr<protocol::ListOffsetsRequest> req =
      DecodeBody<protocol::ListOffsetsRequest>(request);
  if (!req.ok()) return respond(req.status());
  ListOffsetsResponse resp;
  for (const auto& t : req->topics) {
    ListOffsetsResponse::ListOffsetsTopicResponse tr;
    tr.name = t.name;
    for (const auto& p : t.partitions) {
      tr.partitions.push_back(
          Lookup(ctx, t.name, p.partition_index, p.timestamp, request.header.api_version));
    }
    resp.topics.push_back(std::move(tr));
  }
  respond(EncodeResponse(request, resp));
}

}  // namespace

void RegisterListOffsetsHandler(BrokerContext* ctx) {
  ctx->router->Register(
      protocol::ListOffsetsRequest::kApiKey, 1, 7,
      [ctx](const Request& r, Respond d) { HandleListOffsets(ctx, r, std::move(d)); });
}

}  // namespace runnel::broker
