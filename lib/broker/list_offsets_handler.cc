// ListOffsets: earliest (-2), latest (-1, the high watermark) and the first
// offset at or after a timestamp. Max timestamp (-3, v7) is left for later,
// so v7 is not advertised.
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

ListOffsetsResponse::ListOffsetsPartitionResponse Lookup(BrokerContext* ctx,
                                                         const std::string& topic,
                                                         int32_t partition, int64_t timestamp) {
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
      tr.partitions.push_back(Lookup(ctx, t.name, p.partition_index, p.timestamp));
    }
    resp.topics.push_back(std::move(tr));
  }
  respond(EncodeResponse(request, resp));
}

}  // namespace

void RegisterListOffsetsHandler(BrokerContext* ctx) {
  ctx->router->Register(
      protocol::ListOffsetsRequest::kApiKey, 1, 6,
      [ctx](const Request& r, Respond d) { HandleListOffsets(ctx, r, std::move(d)); });
}

}  // namespace runnel::broker
