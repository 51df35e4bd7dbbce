// Shared by the runnel tool's client commands (topics_commands.cc,
// groups_commands.cc, consume_commands.cc, consume_perf.cc): kcat-style short
// flags, parsing with the usage-error report, the admin client from
// --bootstrap, list flags ("a,b" and "k=v;k=v") and the per-item error
// report.
//
//   FlagSet flags("runnel topics list", "Prints every topic's name.");
//   AddBootstrapFlag(flags);
//   if (std::optional<int> rc = ParseCommandFlags(flags, raw_args)) return *rc;
//   std::unique_ptr<Admin> admin = MakeAdmin(flags);
//   if (admin == nullptr) return kExitFailure;  // the error is printed
//   auto topics = admin->ListTopics(false);
//   if (!topics.ok()) return ReportFailure(flags, topics.status());
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runnel/admin.h"
#include "tools/runnel/flags.h"

namespace runnel::tools {

struct ShortFlag {
  const char* short_name;  // "-b"
  const char* long_name;   // "--bootstrap"
};

// "-b" -> "--bootstrap", "-t" -> "--topic", "-g" -> "--group", and `extra`
// (a command's own short flags, e.g. {"-c", "--count"}). Only whole
// arguments are mapped: "-c5" stays as it is (and is then an error).
std::vector<std::string> ExpandAdminShortFlags(std::span<const std::string> args,
                                               std::span<const ShortFlag> extra = {});

// Expands the short flags and parses `raw` into `flags`. Returns the exit code
// to return at once (a usage error, already printed; 0 for --help, with the
// usage printed), or nullopt when the command goes on.
std::optional<int> ParseCommandFlags(FlagSet& flags, std::span<const std::string> raw,
                                     std::span<const ShortFlag> extra = {});

// Prints "<command>: <status>" to stderr and returns kExitFailure.
int ReportFailure(const FlagSet& flags, const absl::Status& s);

// Adds --bootstrap (required) to `flags`.
void AddBootstrapFlag(FlagSet& flags);

// An Admin for --bootstrap whose requests give up after `request_timeout`
// (so a broker that is not there is reported by then); prints the error and
// returns nullptr on failure.
std::unique_ptr<Admin> MakeAdmin(const FlagSet& flags,
                                 absl::Duration request_timeout = absl::Seconds(15));

// "a,b,c" -> {"a","b","c"} (empty items dropped).
std::vector<std::string> SplitList(const std::string& s, char sep = ',');
// "k=v;k=v" -> map; InvalidArgument naming the item without '='.
absl::StatusOr<std::map<std::string, std::string>> ParseKeyValues(const std::string& flag,
                                                                  const std::string& s);

// Prints "<command>: <status>" for a failed item to stderr; returns whether
// `s` was OK.
bool ReportItem(const std::string& command, const absl::Status& s);

}  // namespace runnel::tools
