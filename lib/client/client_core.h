// ClientCore: what every Runnel client (producer, consumer, admin) is built
// on. It owns one I/O thread, the connections to the brokers, the API
// versions each broker speaks and the cluster metadata.
//
// Design, for the clients built on it:
// - One I/O thread per ClientCore runs a poll() loop over every broker
//   connection (client/broker_connection.h) and a wake-up eventfd. Users
//   never poll: requests are handed over from any thread, responses come
//   back as callbacks on the I/O thread (or as futures).
// - A request names where it goes (Target): a broker by node id, the
//   leader of a topic partition (resolved from the metadata when it is
//   sent, waiting for a refresh when the leader is unknown), or any broker
//   (the least busy ready connection; bootstrap servers before the first
//   metadata). Requests wait (up to their timeout) while their broker
//   connects; on a ready connection they are written at once, so several
//   are in flight per connection (pipelining), matched to their responses
//   by correlation id.
// - Versions: each connection starts with ApiVersions; a request is sent at
//   the highest version both the broker and the caller support (the
//   caller's range defaults to everything Runnel's generated messages
//   cover). A broker that supports none of them fails the request with
//   FailedPrecondition "broker N (host:port) supports Fetch v0-3; this
//   client needs v4-13".
// - Errors are Status values: Unavailable for a lost connection (the
//   request may or may not have reached the broker), DeadlineExceeded for
//   request.timeout.ms (the connection is closed too: Kafka answers in
//   order, so a late answer would be matched to nothing), Cancelled at
//   Shutdown. Kafka error codes inside a response are the caller's to
//   read; a caller that sees NOT_LEADER_OR_FOLLOWER or
//   UNKNOWN_TOPIC_OR_PARTITION calls RequestMetadataRefresh(). A lost
//   connection refreshes the metadata by itself.
// - Names: broker host names are resolved on the resolver's threads, never
//   on the I/O thread (a lookup can take seconds and would stall every
//   other connection); a connection waits in kResolving meanwhile.
// - Logging: connections and metadata log through the options' log sink
//   (runnel/client_log.h) on the I/O thread.
// - Metadata: the core tracks the topics it is told about (AddTopics, or
//   all topics with SetAllTopics for regex subscriptions), refreshes them
//   every metadata.max.age.ms and on request, and publishes immutable
//   snapshots (metadata()). Listeners hear of every new snapshot on the I/O
//   thread.
// - The group protocol and the producer's sender keep their own state and
//   use Post/PostAfter to run code on the I/O thread (timers for
//   heartbeats, backoffs), which needs no locks for state touched only
//   there.
//
//   absl::StatusOr<std::unique_ptr<ClientCore>> core = ClientCore::Create(options);
//   protocol::MetadataRequest req;
//   (*core)->Send<protocol::MetadataResponse>(Target::AnyBroker(), req,
//       [](absl::StatusOr<Reply<protocol::MetadataResponse>> r) { ... });   // I/O thread
//   auto f = (*core)->Call<protocol::MetadataResponse>(Target::Node(1), req);
//   absl::StatusOr<Reply<protocol::MetadataResponse>> reply = f.get();   // blocking
//
// Ownership and threads: every public member may be called from any thread,
// including from callbacks on the I/O thread, except the blocking ones
// (WaitForTopic, Call(...).get(), Shutdown), which must not run on the I/O
// thread. Callbacks must not block: they hold up every connection. The
// destructor calls Shutdown(absl::Now()).
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/broker_connection.h"
#include "client/cluster_metadata.h"
#include "client/resolver.h"
#include "runnel/client_options.h"
#include "runnel/protocol/api_keys.h"
#include "runnel/protocol/wire.h"

namespace runnel::client {

// Where a request goes.
struct Target {
  enum class Kind { kAnyBroker, kNode, kLeader };
  Kind kind = Kind::kAnyBroker;
  int32_t node_id = -1;
  std::string topic;
  int32_t partition = -1;

  static Target AnyBroker() { return Target{}; }
  static Target Node(int32_t node) { return Target{Kind::kNode, node, {}, -1}; }
  static Target LeaderOf(std::string topic, int32_t partition) {
    return Target{Kind::kLeader, -1, std::move(topic), partition};
  }
};

struct RequestOptions {
  // Unset: request.timeout.ms. Covers waiting for a connection or a leader
  // as well as the round trip. Long polls (Fetch with max wait) add their
  // wait here.
  std::optional<absl::Duration> timeout;
  // The versions the caller can build and read; -1: the whole range of
  // Runnel's generated message.
  int16_t min_version = -1;
  int16_t max_version = -1;
  // false for requests the broker does not answer (Produce with acks=0):
  // the callback runs with an empty response once the request is queued on
  // the connection.
  bool expect_response = true;
};

// A decoded response and where it came from.
template <typename Response>
struct Reply {
  int32_t node_id = 0;
  int16_t api_version = 0;
  Response response;
};

class ClientCore {
 public:
  // `resolver` turns broker names into addresses off the I/O thread
  // (client/resolver.h); null: DefaultResolver(). Tests inject slow ones.
  static absl::StatusOr<std::unique_ptr<ClientCore>> Create(
      const ClientOptions& options, std::shared_ptr<Resolver> resolver = nullptr);
  ~ClientCore();
  ClientCore(const ClientCore&) = delete;
  ClientCore& operator=(const ClientCore&) = delete;

  const ClientOptions& options() const { return options_; }

  // Sends `request` and calls `done` on the I/O thread with the decoded
  // response or an error (see the design notes above).
  template <typename Response, typename Request>
  void Send(const Target& target, Request request,
            absl::AnyInvocable<void(absl::StatusOr<Reply<Response>>)> done,
            const RequestOptions& options = {}) {
    SendRaw(
        target, Request::kApiKey,
        [request = std::move(request)](protocol::Writer& w, int16_t v) { request.Encode(w, v); },
        options,
        [done = std::move(done), expect = options.expect_response](
            absl::StatusOr<RawResponse> raw) mutable {
          if (!raw.ok()) return done(raw.status());
          Reply<Response> reply;
          reply.node_id = raw->node_id;
          reply.api_version = raw->api_version;
          if (expect) {
            // Shared, so that record data (Fetch) views the frame.
            auto frame = std::make_shared<const ByteBuffer>(std::move(raw->frame));
            auto decoded = Response::Decode(frame->span().subspan(raw->body_offset),
                                            raw->api_version, frame);
            if (!decoded.ok()) return done(decoded.status());
            reply.response = std::move(*decoded);
          }
          done(std::move(reply));
        });
  }

  // As Send, with a future instead of a callback. Do not wait on it from the
  // I/O thread.
  template <typename Response, typename Request>
  std::future<absl::StatusOr<Reply<Response>>> Call(const Target& target, Request request,
                                                    const RequestOptions& options = {}) {
    auto promise = std::make_shared<std::promise<absl::StatusOr<Reply<Response>>>>();
    auto future = promise->get_future();
    Send<Response>(
        target, std::move(request),
        [promise](absl::StatusOr<Reply<Response>> r) { promise->set_value(std::move(r)); },
        options);
    return future;
  }

  // The untyped form: `encode` writes the body at the chosen version.
  void SendRaw(const Target& target, int16_t api_key, Encoder encode,
               const RequestOptions& options, RawCallback done);

  // --- Metadata
  // The latest snapshot (never null; empty before the first response).
  std::shared_ptr<const ClusterMetadata> metadata() const;
  // Adds topics to those the core keeps metadata for and refreshes if any
  // is new.
  void AddTopics(const std::vector<std::string>& topics);
  // Asks for every topic in the cluster (regex subscriptions, admin
  // listings) instead of the tracked ones.
  void SetAllTopics(bool all);
  // Refreshes soon (at most once per retry.backoff.ms).
  void RequestMetadataRefresh();
  // Blocks until the snapshot has partitions for `topic` (tracking it) or
  // `deadline` passes: DeadlineExceeded, with the topic's last error
  // (e.g. UNKNOWN_TOPIC_OR_PARTITION) in the message. Not on the I/O thread.
  absl::StatusOr<std::shared_ptr<const ClusterMetadata>> WaitForTopic(const std::string& topic,
                                                                      absl::Time deadline);
  // Called on the I/O thread with every new snapshot. Returns an id for
  // RemoveMetadataListener.
  int AddMetadataListener(
      absl::AnyInvocable<void(const std::shared_ptr<const ClusterMetadata>&)> listener);
  void RemoveMetadataListener(int id);

  // --- Running code on the I/O thread
  void Post(absl::AnyInvocable<void()> fn);
  void PostAfter(absl::Duration delay, absl::AnyInvocable<void()> fn);
  bool InIoThread() const;

  // --- Introspection
  // The version range broker `node_id` offers for `api_key`; nullopt while
  // not connected or when it offers none. Thread-safe (a snapshot taken by
  // the I/O thread).
  std::optional<std::pair<int16_t, int16_t>> BrokerVersions(int32_t node_id,
                                                             int16_t api_key) const;
  // Requests sent and not answered, over all connections.
  int64_t in_flight() const;

  // Fails every queued and in-flight request with Cancelled, closes the
  // connections and joins the I/O thread. Returns by `deadline` (the I/O
  // thread never blocks for long). Idempotent; not on the I/O thread.
  void Shutdown(absl::Time deadline);

 private:
  class Impl;
  explicit ClientCore(const ClientOptions& options);
  ClientOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace runnel::client
