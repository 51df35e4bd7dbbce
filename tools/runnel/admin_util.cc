// Helpers shared by the runnel tool's client commands (topics, groups,
// consume).
#include "tools/runnel/admin_util.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "tools/runnel/command.h"

namespace runnel::tools {

std::vector<std::string> ExpandAdminShortFlags(std::span<const std::string> args,
                                               std::span<const ShortFlag> extra) {
  static constexpr ShortFlag kShort[] = {
      {"-b", "--bootstrap"}, {"-t", "--topic"}, {"-g", "--group"}};
  std::vector<std::string> out;
  for (const auto& a : args) {
    std::string mapped = a;
    for (const ShortFlag& f : kShort) {
      if (a == f.short_name) mapped = f.long_name;
    }
    for (const ShortFlag& f : extra) {
      if (a == f.short_name) mapped = f.long_name;
    }
    out.push_back(mapped);
  }
  return out;
}

std::optional<int> ParseCommandFlags(FlagSet& flags, std::span<const std::string> raw,
                                     std::span<const ShortFlag> extra) {
  std::vector<std::string> args = ExpandAdminShortFlags(raw, extra);
  if (absl::Status s = flags.Parse(args); !s.ok()) return ReportParseResult(flags, s);
  return std::nullopt;
}

int ReportFailure(const FlagSet& flags, const absl::Status& s) {
  std::fprintf(stderr, "%s: %s\n", flags.command().c_str(), s.ToString().c_str());
  return kExitFailure;
}

void AddBootstrapFlag(FlagSet& flags) {
  flags.AddString("bootstrap", "HOST:PORT[,...]", "bootstrap servers (-b)", /*required=*/true);
}

std::unique_ptr<Admin> MakeAdmin(const FlagSet& flags, absl::Duration request_timeout) {
  AdminOptions o;
  o.client.bootstrap_servers = flags.GetString("bootstrap");
  o.client.client_id = "runnel-cli";
  o.client.request_timeout = request_timeout;
  o.operation_timeout = std::min(absl::Seconds(10), request_timeout);
  o.retries = 2;
  absl::StatusOr<std::unique_ptr<Admin>> admin = Admin::Create(o);
  if (!admin.ok()) {
    std::fprintf(stderr, "%s: %s\n", flags.command().c_str(), admin.status().ToString().c_str());
    return nullptr;
  }
  return std::move(*admin);
}

std::vector<std::string> SplitList(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ParseKeyValues(const std::string& flag,
                                                                  const std::string& s) {
  std::map<std::string, std::string> out;
  for (const std::string& kv : SplitList(s, ';')) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, " '", kv, "' is not KEY=VALUE"));
    }
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

bool ReportItem(const std::string& command, const absl::Status& s) {
  if (s.ok()) return true;
  std::fprintf(stderr, "%s: %s\n", command.c_str(), std::string(s.message()).c_str());
  return false;
}

}  // namespace runnel::tools
