// DeleteRecords: moves each partition's log start offset forward, as
// `kafka-delete-records.sh` and AdminClient.deleteRecords do. Offsets below
// the new start become unreadable at once (fetches get
// OFFSET_OUT_OF_RANGE, ListOffsets earliest the new start); whole segments
// below it are removed in the background by the storage engine.
//
// Kafka's rules: offset -1 means "up to the high watermark"; an offset
// above the high watermark, or another negative one, is OFFSET_OUT_OF_RANGE;
// an offset at or below the current start changes nothing. The answer
// carries the low watermark (the log start offset) after the call. On one
// node nothing waits for replicas, so timeout_ms is not needed.
#include <utility>

#include "broker/broker_context.h"
#include "broker/encode.h"
#include "runnel/protocol/messages/delete_records.h"

namespace runnel::broker {
namespace {

using protocol::DeleteRecordsResponse;
using protocol::ErrorCode;

constexpr int64_t kHighWatermark = -1;

DeleteRecordsResponse::DeleteRecordsPartitionResult DeleteBefore(BrokerContext* ctx,
                                                                 const std::string& topic,
                                                                 int32_t partition,
                                                                 int64_t offset) {
  DeleteRecordsResponse::DeleteRecordsPartitionResult out;
  out.partition_index = partition;
  out.low_watermark = -1;
  std::shared_ptr<Partition> p = ctx->topics->FindPartition(topic, partition);
  if (p == nullptr) {
    out.error_code = static_cast<int16_t>(ErrorCode::kUnknownTopicOrPartition);
    return out;
  }
  const int64_t hw = p->high_watermark.load();
  const int64_t target = offset == kHighWatermark ? hw : offset;
  if (target < 0 || target > hw) {
    out.error_code = static_cast<int16_t>(ErrorCode::kOffsetOutOfRange);
    out.low_watermark = p->log->log_start_offset();
    return out;
  }
  if (absl::Status s = p->log->DeleteRecordsBefore(target); !s.ok()) {
    // OutOfRange cannot happen below the high watermark unless the log was
    // truncated under us; anything else is the disk's fault.
    out.error_code = static_cast<int16_t>(absl::IsOutOfRange(s) ? ErrorCode::kOffsetOutOfRange
                                                                : ErrorCode::kKafkaStorageError);
  }
  out.low_watermark = p->log->log_start_offset();
  return out;
}

void HandleDeleteRecords(BrokerContext* ctx, const Request& request, Respond respond) {
  absl::StatusOr<protocol::DeleteRecordsRequest> req =
      DecodeBody<protocol::DeleteRecordsRequest>(request);
  if (!req.ok()) return respond(req.status());
  DeleteRecordsResponse resp;
  for (const auto& t : req->topics) {
    DeleteRecordsResponse::DeleteRecordsTopicResult tr;
    tr.name = t.name;
    for (const auto& p : t.partitions) {
      tr.partitions.push_back(DeleteBefore(ctx, t.name, p.partition_index, p.offset));
    }
    resp.topics.push_back(std::move(tr));
  }
  respond(EncodeResponse(request, resp));
}

}  // namespace

void RegisterDeleteRecordsHandler(BrokerContext* ctx) {
  ctx->router->Register(
      protocol::DeleteRecordsRequest::kApiKey, 0, 2,
      [ctx](const Request& r, Respond d) { HandleDeleteRecords(ctx, r, std::move(d)); });
}

}  // namespace runnel::broker
