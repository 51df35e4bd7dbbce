// BrokerConnection: one TCP connection from a client to one broker, driven
// by ClientCore's I/O thread with poll(). It resolves the broker's name off
// the I/O thread (client/resolver.h: a name lookup can take seconds),
// connects without blocking,
// negotiates API versions (ApiVersions v3, falling back to v0 for brokers
// that answer UNSUPPORTED_VERSION), frames requests, pipelines them (any
// number in flight) and matches each response to its request by
// correlation id. A request's large records values (a producer's batches)
// are not copied into the write buffer: one sendmsg sends them from their
// owners' buffers, between the bytes around them, and holds them until
// written.
//
//   BrokerConnection conn(node_id, {"broker1", 9092}, options, hooks);
//   RUNNEL_RETURN_IF_ERROR(conn.StartConnect(absl::Now()));  // kResolving
//   // hooks.resolve's result, back on the I/O thread:
//   absl::Status s = conn.OnResolved(attempt, std::move(addresses), absl::Now());
//   // loop: poll(conn.fd(), conn.WantedEvents()) then
//   absl::Status s = conn.HandleEvents(revents, absl::Now(), &completions);
//   // once conn.state() == kReady:
//   RUNNEL_ASSIGN_OR_RETURN(int32_t id, conn.Enqueue(api_key, version, encode));
//   conn.Track(id, std::move(in_flight));
//   RUNNEL_RETURN_IF_ERROR(conn.Flush());
//
// Ownership and threads: owned by ClientCore and used on its I/O thread only.
// Callbacks are never run from inside the connection: finished requests are
// appended to a Completions list the caller runs afterwards, so a callback
// may send new requests without re-entering the connection.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/client_logger.h"
#include "client/properties.h"
#include "client/resolver.h"
#include "runnel/client_options.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/protocol/wire.h"

namespace runnel::client {

// A response as it came off the wire: the frame payload (response header +
// body) and where the body starts.
struct RawResponse {
  int32_t node_id = 0;
  int16_t api_key = 0;
  int16_t api_version = 0;
  ByteBuffer frame;
  size_t body_offset = 0;
  std::span<const uint8_t> body() const { return frame.span().subspan(body_offset); }
};

using RawCallback = absl::AnyInvocable<void(absl::StatusOr<RawResponse>)>;
// Encodes a request body at the version it is given.
using Encoder = absl::AnyInvocable<void(protocol::Writer&, int16_t version)>;

// A finished request and its outcome; run by the caller, outside the
// connection.
struct Completion {
  RawCallback done;
  absl::StatusOr<RawResponse> result;
};
using Completions = std::vector<Completion>;

// What a connection needs from its owner.
struct ConnectionHooks {
  // Where the connection logs (not null).
  const ClientLogger* log = nullptr;
  // Starts resolving `address` for attempt `attempt` of connection
  // `node_id`; the owner hands the result to OnResolved on the I/O thread.
  // Unset: names are resolved inline, blocking (standalone use and tests).
  std::function<void(int32_t node_id, uint64_t attempt, const HostPort& address)> resolve;
};

class BrokerConnection {
 public:
  enum class State { kDisconnected, kResolving, kConnecting, kNegotiating, kReady };

  struct InFlight {
    int16_t api_key = 0;
    int16_t api_version = 0;
    absl::Time sent;
    absl::Time deadline;
    RawCallback done;
  };

  BrokerConnection(int32_t node_id, HostPort address, const ClientOptions& options,
                   ConnectionHooks hooks);
  ~BrokerConnection();
  BrokerConnection(const BrokerConnection&) = delete;
  BrokerConnection& operator=(const BrokerConnection&) = delete;

  int32_t node_id() const { return node_id_; }
  const HostPort& address() const { return address_; }
  State state() const { return state_; }
  int fd() const { return fd_; }
  size_t in_flight() const { return in_flight_.size(); }
  // The last error that closed the connection (OK when it never failed).
  const absl::Status& last_error() const { return last_error_; }

  // Begins connecting: a numeric address connects at once (non-blocking);
  // a name is handed to hooks.resolve and the connection waits in
  // kResolving (no fd, counted against connection.setup.timeout) until
  // OnResolved. An error leaves the connection kDisconnected.
  absl::Status StartConnect(absl::Time now);
  // The resolver's answer for `attempt`. An answer for an attempt that was
  // given up (closed, timed out) is ignored. Then as StartConnect.
  absl::Status OnResolved(uint64_t attempt, ResolveResult addresses, absl::Time now);
  // poll() events to wait for (0 when disconnected).
  short WantedEvents() const;
  // Handles poll() results: finishes the connect, writes, reads and
  // completes responses. An error means the connection is broken; the
  // caller closes it with Close().
  absl::Status HandleEvents(short revents, absl::Time now, Completions* completions);

  // The broker's version range for `api_key`, nullopt when the broker does
  // not offer it. Meaningful once kReady.
  std::optional<std::pair<int16_t, int16_t>> BrokerVersions(int16_t api_key) const;

  // Frames a request at `version` into the write buffer and returns its
  // correlation id; an encoding error (a value the version cannot carry)
  // leaves the buffer as it was. Needs kReady. Flush() sends it.
  absl::StatusOr<int32_t> Enqueue(int16_t api_key, int16_t version, Encoder& encode);
  // Expects a response to `correlation_id`.
  void Track(int32_t correlation_id, InFlight in_flight);
  // Writes what the socket takes now; the rest goes when poll() says so.
  // An error means the connection is broken.
  absl::Status Flush() { return WritePending(); }

  // Fails every in-flight request with `status` (into `completions`) and
  // closes the socket; state becomes kDisconnected.
  void Close(const absl::Status& status, Completions* completions);

  // The earliest deadline among in-flight requests and the connect (or
  // InfiniteFuture); past it the caller closes the connection.
  absl::Time NextDeadline() const;
  // Whether an in-flight request or the connection setup is past its deadline.
  bool TimedOut(absl::Time now) const;

 private:
  absl::Status ConnectTo(ResolveResult addresses, absl::Time now);
  absl::Status FinishConnect(absl::Time now);
  void SendApiVersions(int16_t version, absl::Time now);
  absl::Status OnApiVersions(absl::StatusOr<RawResponse> response, absl::Time now);
  absl::Status ReadFrames(absl::Time now, Completions* completions);
  // Completes the whole frames at the front of in_; a frame larger than a
  // read chunk that has begun moves to large_frame_ to be read in place.
  absl::Status TakeBufferedFrames(absl::Time now, Completions* completions);
  absl::Status WritePending();
  bool WritePendingBytes() const {
    return out_pos_ < out_.size() || gather_next_ < gathered_.size();
  }
  // Moves the write position `n` bytes on through out_ and gathered_.
  void AdvanceWritten(size_t n);
  absl::Status CompleteFrame(ByteBuffer frame, absl::Time now, Completions* completions);

  const int32_t node_id_;
  const HostPort address_;
  const ClientOptions& options_;
  const ConnectionHooks hooks_;
  // Counts StartConnect calls that went to the resolver, so that a late
  // answer for an abandoned attempt is recognised.
  uint64_t resolve_attempt_ = 0;
  State state_ = State::kDisconnected;
  int fd_ = -1;
  absl::Time setup_deadline_ = absl::InfiniteFuture();
  int32_t next_correlation_id_ = 1;
  // What is to be written: out_, with the gathered records values (batches
  // of at least kGatherMinBytes, sent from the producer's own buffers)
  // spliced in at their places. out_pos_ is how much of out_ went;
  // gathered_[gather_next_] is the first value not wholly written, of which
  // gather_sent_ bytes went.
  ByteBuffer out_;
  size_t out_pos_ = 0;
  std::vector<protocol::GatheredBytes> gathered_;
  size_t gather_next_ = 0;
  size_t gather_sent_ = 0;
  ByteBuffer in_;
  // A frame larger than a read chunk (a big Fetch answer) is read straight
  // into a buffer of its own size, which becomes the response (its records
  // view it) with no copy out of in_. Its size prefix is not in it.
  std::optional<ByteBuffer> large_frame_;
  size_t large_frame_size_ = 0;
  std::map<int32_t, InFlight> in_flight_;
  // ApiVersions exchange: the correlation id of our request, -1 when none.
  int32_t api_versions_correlation_ = -1;
  int16_t api_versions_version_ = 3;
  std::map<int16_t, std::pair<int16_t, int16_t>> versions_;
  absl::Status last_error_;
};

}  // namespace runnel::client
