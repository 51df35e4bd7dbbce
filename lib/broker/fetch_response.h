// Turns a FetchResponse whose record data stays in segment files into a
// chunked Response: the generated encoder writes every field, with a
// 16-byte marker standing in for each partition's records; the encoded
// frame is then cut at the markers, each marker's length prefix rewritten
// for the real size, and FileRange chunks (sent with sendfile) put where the
// markers were. Hand-written code thus encodes no field itself.
//
//   FetchResponseBuilder b;
//   partition.records = b.Placeholder(std::move(read_result.slices));
//   ...
//   absl::StatusOr<Response> r = b.Finish(request, response);
//
// Thread-compatible.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/request_handler.h"
#include "runnel/log.h"
#include "runnel/protocol/messages/fetch.h"

namespace runnel::broker {

class FetchResponseBuilder {
 public:
  FetchResponseBuilder();

  // The bytes to put in a partition's `records`: empty when `slices` is,
  // else a marker that Finish replaces by the slices.
  std::vector<uint8_t> Placeholder(std::vector<storage::FileSlice> slices);

  absl::StatusOr<Response> Finish(const Request& request, const protocol::FetchResponse& body);

 private:
  struct Pending {
    std::vector<uint8_t> marker;
    std::vector<storage::FileSlice> slices;
    int64_t length = 0;
  };
  uint64_t nonce_;
  std::vector<Pending> pending_;
};

}  // namespace runnel::broker
