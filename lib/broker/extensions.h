// The broker's side of the extension points in runnel/broker.h: the
// RequestInfo a hook, policy or custom handler sees, the TopicPolicy check
// handlers make per topic, and the router entries for CustomApis.
//
//   // In a handler, per topic:
//   if (TopicError e = CheckTopicPolicy(*ctx, request, TopicOperation::kProduce, name);
//       !e.ok()) { /* answer e.code for the topic's partitions */ }
//
// Threads: every function may be called from any thread.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/request_handler.h"
#include "broker/router.h"
#include "broker/topic_registry.h"
#include "runnel/broker.h"

namespace runnel::broker {

struct BrokerContext;

RequestInfo MakeRequestInfo(const Request& request);

// OK when ctx.topic_policy is unset or allows `op` on `topic` for the
// request's sender; else the error code the policy's status maps to (see
// TopicPolicy::Check) with its message.
TopicError CheckTopicPolicy(const BrokerContext& ctx, const Request& request, TopicOperation op,
                            const std::string& topic);

// A whole response frame (size, header at the version the request's API
// and version call for, then `body`).
absl::StatusOr<Response> FrameResponseBody(const Request& request, std::span<const uint8_t> body);

// Registers each CustomApi with `router` (replacing a built-in handler for
// the same key). Fails on a bad key or range or a missing handler.
absl::Status RegisterCustomApis(RequestRouter* router, const std::vector<CustomApi>& apis);

}  // namespace runnel::broker
