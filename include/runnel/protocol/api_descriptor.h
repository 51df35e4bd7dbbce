// ApiDescriptor: what Runnel knows of one Kafka API (key, versions, the first
// flexible version). Every generated message header defines one
// (k<Api>Api, e.g. kProduceApi); runnel/protocol/api_keys.h lists them all.
//
//   const ApiDescriptor* api = FindApi(key);   // runnel/protocol/api_keys.h
//   if (api == nullptr || !api->SupportsVersion(version)) { /* UNSUPPORTED_VERSION */ }
//   bool flexible = api->IsFlexible(version);
//
// Plain constant data; safe to share between threads.
#pragma once

#include <cstdint>
#include <string_view>

namespace runnel::protocol {

struct ApiDescriptor {
  int16_t key;
  std::string_view name;  // "Produce", "ApiVersions", ...
  int16_t min_version;
  int16_t max_version;
  int16_t first_flexible;  // -1: no flexible version

  constexpr bool SupportsVersion(int16_t v) const {
    return v >= min_version && v <= max_version;
  }
  constexpr bool IsFlexible(int16_t v) const {
    return first_flexible >= 0 && v >= first_flexible;
  }
};

}  // namespace runnel::protocol
