// Broker: a single-node Kafka-compatible broker an application runs
// in-process (tests, embedded use) or that runnel-broker runs as a server.
// Kafka clients (librdkafka, kcat, the Java client) connect to
// bootstrap_address().
//
//   runnel::BrokerOptions options;
//   options.port = 0;                    // any free port
//   options.data_dir = "/tmp/runnel-data";
//   absl::StatusOr<std::unique_ptr<runnel::Broker>> broker =
//       runnel::Broker::Start(options);
//   if (!broker.ok()) return broker.status();
//   std::string bootstrap = (*broker)->bootstrap_address();  // "127.0.0.1:40123"
//   ...
//   absl::Status s = (*broker)->Stop(absl::Seconds(5));
//
// Custom brokers plug in through BrokerOptions: RequestHooks see every
// request before its handler (and may reject, rewrite or answer it) and
// every response after; a TopicPolicy allows or refuses topic creation,
// produce and fetch; CustomApis serve API keys the broker does not:
//
//   class OnlyPrefix : public runnel::TopicPolicy {
//     absl::Status Check(const runnel::RequestInfo& who, runnel::TopicOperation op,
//                        const std::string& topic) override {
//       if (topic.rfind("app.", 0) == 0) return absl::OkStatus();
//       return absl::PermissionDeniedError("only app.* topics");
//     }
//   };
//   options.topic_policy = std::make_shared<OnlyPrefix>();
//
// Ownership and threads: the Broker owns its I/O threads, its storage and
// its timer thread. Start, Stop and the destructor (which stops with a
// 5-second timeout) from one thread; the accessors from any. Hooks,
// policies and custom handlers are shared with the broker and called on its
// I/O threads (or its timer thread) concurrently: they must be thread-safe
// and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace runnel {

// Who sent a request, as hooks, policies and custom handlers see it.
struct RequestInfo {
  int16_t api_key = 0;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  std::string client_id;  // "" when the client sent none
  // Kafka's principal: "User:ANONYMOUS" on plaintext connections (no SASL).
  std::string principal;
  std::string peer;  // "host:port"
};

// What RequestHook::BeforeRequest decides about one request.
struct HookDecision {
  enum class Action {
    kContinue,  // hand the request on unchanged
    kRewrite,   // hand `body` on instead of the request's body (same key and version)
    kRespond,   // answer with `body` (the response body; the broker adds size and header)
    kReject,    // close the connection, logging `status` (Kafka's answer to what it refuses
                // to parse); to refuse politely, kRespond with the API's error response
  };
  Action action = Action::kContinue;
  std::vector<uint8_t> body;
  absl::Status status;

  static HookDecision Continue() { return {}; }
  static HookDecision Rewrite(std::vector<uint8_t> request_body) {
    return {Action::kRewrite, std::move(request_body), absl::OkStatus()};
  }
  static HookDecision Respond(std::vector<uint8_t> response_body) {
    return {Action::kRespond, std::move(response_body), absl::OkStatus()};
  }
  static HookDecision Reject(absl::Status why) { return {Action::kReject, {}, std::move(why)}; }
};

// What RequestHook::AfterResponse observes.
struct ResponseInfo {
  // Not OK when the connection is closed instead of answered (undecodable
  // request, rejection by a hook, a handler error).
  absl::Status status;
  // Bytes of the whole frame; 0 for no response (Produce with acks=0).
  int64_t size_bytes = 0;
  // From the request's arrival to its response being ready (long polls
  // included).
  absl::Duration latency;
  // The response body after its header when the whole response is in
  // memory; empty when it carries record data sent from files (Fetch) or
  // there is none. Valid only during the call.
  std::span<const uint8_t> body;
  bool body_available = false;
};

// A hook before and after each request. Hooks run in the order given in
// BrokerOptions::hooks; the first that does not kContinue decides (a
// kRewrite's body is what later hooks see). Both methods are called on I/O
// threads (AfterResponse for long polls on the timer thread), concurrently
// for different requests: implementations must be thread-safe and quick.
class RequestHook {
 public:
  virtual ~RequestHook() = default;
  // `body` is the request after its header, encoded at info.api_version
  // (decode it with the runnel/protocol/messages types).
  virtual HookDecision BeforeRequest(const RequestInfo& info, std::span<const uint8_t> body) {
    (void)info;
    (void)body;
    return HookDecision::Continue();
  }
  virtual void AfterResponse(const RequestInfo& info, const ResponseInfo& response) {
    (void)info;
    (void)response;
  }
};

enum class TopicOperation {
  kCreate,   // CreateTopics, and auto-creation by Metadata
  kProduce,  // each topic of a Produce request
  kFetch,    // each topic of a Fetch request
};

// Allows or refuses operations on topics (an authorizer and a creation
// policy in one). Consulted once per topic per request, on I/O threads,
// concurrently: thread-safe, quick, non-blocking.
class TopicPolicy {
 public:
  virtual ~TopicPolicy() = default;
  // OK allows. PermissionDenied answers TOPIC_AUTHORIZATION_FAILED; any
  // other status answers POLICY_VIOLATION for kCreate (with the status
  // message) and TOPIC_AUTHORIZATION_FAILED for produce and fetch. A
  // refused auto-creation leaves the topic unknown to that Metadata request.
  virtual absl::Status Check(const RequestInfo& who, TopicOperation op,
                             const std::string& topic) = 0;
};

// A handler for an API key the broker does not serve (or serves and this
// one replaces). It gets the request body and returns the response body;
// the broker adds the size and the response header (v1 with tagged fields
// from the API's first flexible version when runnel/protocol knows the API,
// else v0). For a key runnel/protocol does not know, the request header is
// read as v1 (up to the client id), so a flexible request's header tagged
// fields begin `body`. A non-OK status closes the connection. Called on an
// I/O thread; must not block.
struct CustomApi {
  int16_t api_key = -1;
  int16_t min_version = 0;
  int16_t max_version = 0;  // advertised in ApiVersions with min_version
  std::function<absl::StatusOr<std::vector<uint8_t>>(const RequestInfo& info,
                                                     std::span<const uint8_t> body)>
      handler;
};

struct BrokerOptions {
  // Where to listen. Port 0 picks a free port (see bootstrap_address()).
  std::string host = "127.0.0.1";
  uint16_t port = 9092;
  // Partitions and the topic metadata live here; created if missing.
  std::string data_dir = "./data";
  int32_t node_id = 0;
  // I/O threads; 0 means one per core.
  int io_threads = 0;
  // Kafka server.properties keys (num.partitions, log.retention.ms, ...;
  // see lib/broker/server_config.h for the full list). listeners and
  // log.dirs override host/port/data_dir. An unknown key or a bad value
  // fails Start with a message naming the key.
  std::map<std::string, std::string> properties;

  // Extension points (see the top of this file); shared with the broker,
  // which keeps them until it is destroyed.
  std::vector<std::shared_ptr<RequestHook>> hooks;
  std::shared_ptr<TopicPolicy> topic_policy;  // nullptr: everything allowed
  std::vector<CustomApi> custom_apis;

  // "host:port" for the Prometheus endpoint (plain HTTP, GET /metrics);
  // port 0 picks a free one (see metrics_address()). Empty: no endpoint
  // (MetricsText() still works). The property runnel.metrics.listen sets
  // it too.
  std::string metrics_listen;
  // Log level of the process-wide structured log on stderr: debug, info,
  // warn, error or off. Empty keeps the current level (info at start).
  // The property runnel.log.level sets it too.
  std::string log_level;
};

class Broker {
 public:
  // Opens the data directory (recovering it after a crash) and starts
  // listening.
  static absl::StatusOr<std::unique_ptr<Broker>> Start(BrokerOptions options);
  virtual ~Broker() = default;

  // "host:port" clients bootstrap from (the advertised listener).
  virtual std::string bootstrap_address() const = 0;

  // Stops accepting, answers the requests already read for up to `timeout`,
  // closes connections, flushes every partition and writes checkpoints.
  // Idempotent.
  virtual absl::Status Stop(absl::Duration timeout) = 0;

  // "host:port" of the Prometheus endpoint; "" when there is none.
  virtual std::string metrics_address() const = 0;

  // The metrics in Prometheus text format (what GET /metrics serves):
  // requests and latency by API, bytes in and out, connections,
  // partitions, log sizes, groups.
  virtual std::string MetricsText() const = 0;
};

}  // namespace runnel
