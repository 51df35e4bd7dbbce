// The broker's request router interface: one handler per Kafka API key.
// lib/net hands every decoded request frame to a RequestHandler; the router
// (router.h) implements RequestHandler by dispatching on the API key to the
// handlers registered with it. Other broker parts (the group coordinator)
// register their handlers the same way:
//
//   router.Register(FindCoordinatorRequest::kApiKey, /*min=*/0, /*max=*/4,
//       [coord](const Request& req, Respond respond) {
//         group::HandleGroupRequest(*coord,
//             {req.header.api_key, req.header.correlation_id,
//              {req.header.api_version, client_id, req.peer}, req.body},
//             [respond](absl::StatusOr<ByteBuffer> frame) {
//               if (!frame.ok()) return respond(frame.status());
//               respond(Response::Bytes(*std::move(frame)));
//             });
//       });
//
// A handler may answer later on any thread (long-poll fetch, rebalances):
// the connection queues responses and writes them strictly in request
// order. `respond` must be called exactly once.
#pragma once

#include "absl/status/statusor.h"
#include "net/request.h"
#include "runnel/common/byte_buffer.h"

namespace runnel::broker {

// The types live in the net layer (it must not depend on the broker); the
// broker uses them under these names.
using net::FileRange;
using net::Handler;
using net::Request;
using net::RequestHandler;
using net::Respond;
using net::Response;

}  // namespace runnel::broker
