// Shared by `runnel topics` and `runnel groups` (topics_commands.cc,
// groups_commands.cc): the -b/-t/-g short flags, the admin client from
// --bootstrap, list flags ("a,b" and "k=v;k=v") and the per-item error report.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runnel/admin.h"
#include "tools/runnel/flags.h"

namespace runnel::tools {

// "-b" -> "--bootstrap", "-t" -> "--topic", "-g" -> "--group".
std::vector<std::string> ExpandAdminShortFlags(std::span<const std::string> args);

// Adds --bootstrap (required) to `flags`.
void AddBootstrapFlag(FlagSet& flags);

// An Admin for --bootstrap; prints the error and returns nullptr on failure.
std::unique_ptr<Admin> MakeAdmin(const FlagSet& flags);

// "a,b,c" -> {"a","b","c"} (empty items dropped).
std::vector<std::string> SplitList(const std::string& s, char sep = ',');
// "k=v;k=v" -> map; InvalidArgument naming the item without '='.
absl::StatusOr<std::map<std::string, std::string>> ParseKeyValues(const std::string& flag,
                                                                  const std::string& s);

// Prints "<command>: <status>" for a failed item to stderr; returns whether
// `s` was OK.
bool ReportItem(const std::string& command, const absl::Status& s);

}  // namespace runnel::tools
