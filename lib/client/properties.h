// Parsing of Kafka-style string properties ("linger.ms" = "5") into typed
// option fields, shared by every client's options (producer, consumer,
// admin). Every error names the property and the value:
//   property 'linger.ms': invalid value 'soon' (expected an integer)
//
//   RUNNEL_ASSIGN_OR_RETURN(absl::Duration d, ParseMillis(key, value));
//   RUNNEL_ASSIGN_OR_RETURN(std::vector<HostPort> hp,
//                           ParseBootstrapServers("a:9092,b:9093"));
//
// Free functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace runnel::client {

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;
  friend bool operator==(const HostPort&, const HostPort&) = default;
};

// "host:port[,host:port...]", whitespace around entries ignored; IPv6 hosts
// in brackets ("[::1]:9092"). A missing or bad port is an error naming the
// entry; so is an empty list.
absl::StatusOr<std::vector<HostPort>> ParseBootstrapServers(std::string_view servers);

// InvalidArgument "property 'KEY': invalid value 'VALUE' (WHY)".
absl::Status InvalidProperty(std::string_view key, std::string_view value, std::string_view why);
// InvalidArgument "unknown property 'KEY'".
absl::Status UnknownProperty(std::string_view key);

// Integers in [min, max]; "true"/"false" (also "1"/"0"); milliseconds into a
// Duration (non-negative).
absl::StatusOr<int64_t> ParseInt(std::string_view key, std::string_view value, int64_t min,
                                 int64_t max);
absl::StatusOr<bool> ParseBool(std::string_view key, std::string_view value);
absl::StatusOr<absl::Duration> ParseMillis(std::string_view key, std::string_view value);

}  // namespace runnel::client
