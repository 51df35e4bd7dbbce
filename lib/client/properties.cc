#include "client/properties.h"

#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace runnel::client {

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<std::vector<HostPort>> ParseBootstrapServers(std::string_view servers) {
  std::vector<HostPort> out;
  for (absl::string_view piece : absl::StrSplit(absl::string_view(servers.data(), servers.size()),
                                                ',', absl::SkipWhitespace())) {
    std::string entry(absl::StripAsciiWhitespace(piece));
    std::string host;
    std::string port_text;
    if (!entry.empty() && entry[0] == '[') {
      size_t close = entry.find(']');
      if (close == std::string::npos || close + 1 >= entry.size() || entry[close + 1] != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("bootstrap.servers: bad entry '", entry, "' (expected [host]:port)"));
      }
      host = entry.substr(1, close - 1);
      port_text = entry.substr(close + 2);
    } else {
      size_t colon = entry.rfind(':');
      if (colon == std::string::npos || colon == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("bootstrap.servers: bad entry '", entry, "' (expected host:port)"));
      }
      host = entry.substr(0, colon);
      port_text = entry.substr(colon + 1);
    }
    int port = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port <= 0 ||
        port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("bootstrap.servers: bad port in '", entry, "'"));
    }
    out.push_back(HostPort{host, static_cast<uint16_t>(port)});
  }
  if (out.empty()) {
    return absl::InvalidArgumentError("bootstrap.servers is empty (expected host:port[,...])");
  }
  return out;
}

absl::Status InvalidProperty(std::string_view key, std::string_view value, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("property '", std::string(key),
                                                 "': invalid value '", std::string(value), "' (",
                                                 std::string(why), ")"));
}

absl::Status UnknownProperty(std::string_view key) {
  return absl::InvalidArgumentError(absl::StrCat("unknown property '", std::string(key), "'"));
}

absl::StatusOr<int64_t> ParseInt(std::string_view key, std::string_view value, int64_t min,
                                 int64_t max) {
  std::string_view v = value;
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || ptr != v.data() + v.size()) {
    return InvalidProperty(key, value, "expected an integer");
  }
  if (n < min || n > max) {
    return InvalidProperty(key, value, absl::StrCat("expected ", min, "..", max));
  }
  return n;
}

absl::StatusOr<bool> ParseBool(std::string_view key, std::string_view value) {
  std::string v = absl::AsciiStrToLower(absl::string_view(value.data(), value.size()));
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  return InvalidProperty(key, value, "expected true or false");
}

absl::StatusOr<absl::Duration> ParseMillis(std::string_view key, std::string_view value) {
  auto n = ParseInt(key, value, 0, int64_t{1} << 40);
  if (!n.ok()) return n.status();
  return absl::Milliseconds(*n);
}

}  // namespace runnel::client
