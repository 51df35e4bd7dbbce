// What the network layer exchanges with whoever answers requests: a decoded
// request header and body in, a response frame out as a list of chunks
// (owned bytes or file ranges for sendfile). lib/broker builds its router on
// this (broker/request_handler.h); lib/net never sees broker types.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/protocol/header.h"

namespace runnel::net {

// A byte range of an open file, written with sendfile(2) on plaintext
// connections. `fd_owner` keeps the descriptor open until the write is done
// (the segment's shared_ptr, or anything holding it).
struct FileRange {
  std::shared_ptr<const void> fd_owner;
  int fd = -1;
  int64_t offset = 0;
  int64_t length = 0;
};

// A response frame as a list of chunks written back to back: owned bytes
// (size prefix, header, fields) and file ranges (record data from segment
// files). The chunks' sizes must add up to the frame's size prefix + 4.
struct Response {
  using Chunk = std::variant<ByteBuffer, FileRange>;
  std::vector<Chunk> chunks;

  // No response at all: Produce with acks=0. The connection moves on to the
  // next queued response.
  static Response None() { return Response{}; }
  static Response Bytes(ByteBuffer frame) {
    Response r;
    r.chunks.emplace_back(std::move(frame));
    return r;
  }
  bool empty() const { return chunks.empty(); }
  int64_t size() const;
};

// One request as read from a connection. `body` (bytes after the header)
// stays valid only until the handler returns: decode it before then.
struct Request {
  protocol::RequestHeader header;
  std::span<const uint8_t> body;
  std::string peer;  // "host:port", for log lines
  // Kafka's principal for the connection: "User:ANONYMOUS" until SASL
  // authenticates one.
  std::string principal = "User:ANONYMOUS";
};

// A non-OK status closes the connection (undecodable request), with a log
// line naming the peer and the status.
using Respond = std::function<void(absl::StatusOr<Response>)>;

// Called on an I/O thread: must not block. Calls `respond` exactly once, on
// any thread, possibly before returning.
using Handler = std::function<void(const Request& request, Respond respond)>;

// What lib/net calls for every request frame.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  virtual void Handle(const Request& request, Respond respond) = 0;
};

}  // namespace runnel::net
