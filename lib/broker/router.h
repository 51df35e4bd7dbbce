// RequestRouter: dispatches each request to the handler registered for its
// API key, and answers by itself what no handler can: an unknown API key or
// an unsupported version (UNSUPPORTED_VERSION in the API's error field; a
// too-new ApiVersions request gets ApiVersions v0 with error 35 and the
// supported ranges, as Kafka does). It also knows the ranges to advertise in
// ApiVersions: exactly what was registered.
//
//   RequestRouter router;
//   router.Register(protocol::kMetadataApi.key, 1, 12, HandleMetadata);
//   std::vector<ApiRange> ranges = router.Ranges();
//
// Threads: Register before the first Handle (start-up); Handle and Ranges
// may then run on any thread concurrently.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "broker/request_handler.h"

namespace runnel::broker {

struct ApiRange {
  int16_t api_key;
  int16_t min_version;
  int16_t max_version;
};

class RequestRouter : public RequestHandler {
 public:
  // Replaces any handler already registered for `api_key`. The range must
  // lie within what the protocol layer can decode for that API.
  void Register(int16_t api_key, int16_t min_version, int16_t max_version, Handler handler);

  void Handle(const Request& request, Respond respond) override;

  // Registered APIs sorted by key, for ApiVersions.
  std::vector<ApiRange> Ranges() const;

 private:
  struct Entry {
    ApiRange range;
    Handler handler;
  };
  absl::flat_hash_map<int16_t, Entry> handlers_;
};

}  // namespace runnel::broker
