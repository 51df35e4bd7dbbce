// InitProducerId 0-4 for idempotent producers (transactional_id null): a new
// producer id with epoch 0 each time, as Kafka's TransactionCoordinator
// answers a null transactional id ("always blindly accept the request and
// return a new producerId"), whatever producer id and epoch a v3+ request
// carries. KIP-360's epoch bump for an idempotent producer happens in the
// client (the Java producer bumps its epoch locally; librdkafka asks for a
// new id this way); the broker's part is Produce accepting a newer epoch
// from sequence 0 (producer_state.h). Epoch bumps and fencing by
// InitProducerId (PRODUCER_FENCED from v4, INVALID_PRODUCER_EPOCH before)
// belong to transactional ids, which this broker does not serve yet: a
// transactional id is refused with INVALID_REQUEST ("sent to an incompatible
// broker"), a fatal error, rather than a retriable coordinator error that
// would make the client retry forever.
#include <utility>

#include "broker/broker_context.h"
#include "broker/encode.h"
#include "broker/producer_ids.h"
#include "runnel/protocol/messages/init_producer_id.h"

namespace runnel::broker {
namespace {

using protocol::ErrorCode;

void HandleInitProducerId(BrokerContext* ctx, const Request& request, Respond respond) {
  absl::StatusOr<protocol::InitProducerIdRequest> req =
      DecodeBody<protocol::InitProducerIdRequest>(request);
  if (!req.ok()) return respond(req.status());
  protocol::InitProducerIdResponse resp;
  // Kafka's initTransactionError: no producer id, no epoch.
  resp.producer_id = -1;
  resp.producer_epoch = -1;
  if (req->transactional_id.has_value()) {
    resp.error_code = static_cast<int16_t>(ErrorCode::kInvalidRequest);
  } else if (absl::StatusOr<int64_t> id = ctx->producer_ids->Next(); !id.ok()) {
    // The metadata log could not record a new block of ids.
    resp.error_code = static_cast<int16_t>(ErrorCode::kUnknownServerError);
  } else {
    resp.producer_id = *id;
    resp.producer_epoch = 0;
  }
  respond(EncodeResponse(request, resp));
}

}  // namespace

void RegisterInitProducerIdHandler(BrokerContext* ctx) {
  ctx->router->Register(protocol::InitProducerIdRequest::kApiKey, 0, 4,
                        [ctx](const Request& r, Respond d) {
                          HandleInitProducerId(ctx, r, std::move(d));
                        });
}

}  // namespace runnel::broker
