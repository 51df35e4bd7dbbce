// Produce: appends each partition's record batches to its log and answers
// per partition. Durability follows Kafka on one node: acks=1 and acks=all
// both answer once the batches are in the log's page cache (Kafka's acks=all
// means "on every in-sync replica", not "fsynced"; flush.ms/flush.messages
// decide when the storage fsyncs). A SIGKILL loses nothing acknowledged; a
// power failure can lose what was not yet flushed, as in Kafka.
// Idempotent producers' batches are checked and deduplicated per partition
// (producer_state_append.h).
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/broker_context.h"
#include "broker/encode.h"
#include "broker/extensions.h"
#include "broker/producer_state_append.h"
#include "runnel/protocol/messages/produce.h"

namespace runnel::broker {
namespace {

using protocol::ErrorCode;

// Kafka's AdminUtils.ADMIN_CLIENT_ID: the one client id whose produce may
// append to an internal topic (ReplicaManager's internalTopicsAllowed).
constexpr char kAdminClientId[] = "__admin_client";

// Kafka's Topic.isInternal: the topics the broker itself writes. Their
// records (group metadata, offsets) are the coordinator's state, so a
// client's produce would corrupt it.
bool IsInternalTopic(const std::string& topic) {
  return topic == "__consumer_offsets" || topic == "__transaction_state";
}

protocol::ProduceResponse::PartitionProduceResponse AppendTo(
    BrokerContext* ctx, const std::string& topic,
    protocol::ProduceRequest::PartitionProduceData& data) {
  protocol::ProduceResponse::PartitionProduceResponse out;
  out.index = data.index;
  std::shared_ptr<Partition> p = ctx->topics->FindPartition(topic, data.index);
  if (p == nullptr) {
    out.error_code = static_cast<int16_t>(ErrorCode::kUnknownTopicOrPartition);
    return out;
  }
  if (!data.records.has_value() || data.records->empty()) {
    out.error_code = static_cast<int16_t>(ErrorCode::kInvalidRecord);
    out.error_message = "produce request without record batches";
    return out;
  }
  // No broker-wide size check here: message.max.bytes is only the default
  // of the topic-level max.message.bytes (server_config.cc maps it there),
  // and a topic may raise or lower it; the log enforces the topic's value
  // (MESSAGE_TOO_LARGE), as Kafka does.
  ProducedAppend a = AppendProduced(
      *p, std::span<uint8_t>(data.records->data(), data.records->size()),
      ctx->config.producer_id_expiration_ms);
  if (a.error != ErrorCode::kNone) {
    out.error_code = static_cast<int16_t>(a.error);
    out.error_message = std::move(a.message);
    out.base_offset = -1;
    return out;
  }
  out.base_offset = a.base_offset;
  out.log_append_time_ms = a.log_append_time_ms;
  out.log_start_offset = a.log_start_offset;
  return out;
}

void HandleProduce(BrokerContext* ctx, const Request& request, Respond respond) {
  absl::StatusOr<protocol::ProduceRequest> req = DecodeBody<protocol::ProduceRequest>(request);
  if (!req.ok()) return respond(req.status());
  protocol::ProduceResponse resp;
  bool bad_acks = req->acks != 0 && req->acks != 1 && req->acks != -1;
  for (auto& topic : req->topic_data) {
    protocol::ProduceResponse::TopicProduceResponse tr;
    tr.name = topic.name;
    TopicError denied = CheckTopicPolicy(*ctx, request, TopicOperation::kProduce, topic.name);
    if (denied.ok() && IsInternalTopic(topic.name) &&
        request.header.client_id.value_or("") != kAdminClientId) {
      denied = {ErrorCode::kInvalidTopicException,
                absl::StrCat("Cannot append to internal topic ", topic.name)};
    }
    for (auto& data : topic.partition_data) {
      if (bad_acks || !denied.ok()) {
        protocol::ProduceResponse::PartitionProduceResponse out;
        out.index = data.index;
        out.base_offset = -1;  // Kafka's PartitionResponse(error)
        out.error_code = static_cast<int16_t>(bad_acks ? ErrorCode::kInvalidRequiredAcks
                                                       : denied.code);
        if (!bad_acks) out.error_message = denied.message;
        tr.partition_responses.push_back(std::move(out));
        continue;
      }
      tr.partition_responses.push_back(AppendTo(ctx, topic.name, data));
    }
    resp.responses.push_back(std::move(tr));
  }
  // acks=0: the client reads no response at all.
  if (req->acks == 0) return respond(Response::None());
  respond(EncodeResponse(request, resp));
}

}  // namespace

void RegisterProduceHandler(BrokerContext* ctx) {
  ctx->router->Register(protocol::ProduceRequest::kApiKey, 3, 9,
                        [ctx](const Request& r, Respond d) { HandleProduce(ctx, r, std::move(d)); });
}

}  // namespace runnel::broker
