// A small flag parser for the runnel tool's commands.
//
// Lighter than absl flags for a tool with per-command flag sets: each command
// declares its flags, parses its own arguments and gets errors that say what
// to fix ("unknown flag --x", "--partition needs a number").
//
//   FlagSet flags("runnel log dump", "Prints the records of a partition.");
//   flags.AddString("dir", "DIR", "the data directory", /*required=*/true);
//   flags.AddInt("partition", "N", "the partition number", /*required=*/true);
//   flags.AddBool("verbose", "also print batch headers");
//   if (absl::Status s = flags.Parse(args); !s.ok()) { ... usage error ... }
//   int64_t p = flags.GetInt("partition");
//
// Accepted forms: --name value, --name=value, and --name for booleans
// (--name=true/false too). "-h"/"--help" make Parse return a Cancelled
// status: the caller prints Usage() and exits 0. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace runnel::tools {

class FlagSet {
 public:
  FlagSet(std::string command, std::string description);

  void AddString(std::string name, std::string value_name, std::string help, bool required = false,
                 std::optional<std::string> default_value = std::nullopt);
  void AddInt(std::string name, std::string value_name, std::string help, bool required = false,
              std::optional<int64_t> default_value = std::nullopt);
  void AddBool(std::string name, std::string help);

  // InvalidArgument describing the first problem; Cancelled for --help.
  absl::Status Parse(std::span<const std::string> args);

  // Whether the flag was given or has a default.
  bool Has(std::string_view name) const;
  std::string GetString(std::string_view name) const;  // "" when absent
  int64_t GetInt(std::string_view name) const;         // 0 when absent
  bool GetBool(std::string_view name) const;

  // "usage: <command> --dir DIR ...\n<description>\n\nflags:\n  ..." for --help.
  std::string Usage() const;
  const std::string& command() const { return command_; }

 private:
  enum class Kind { kString, kInt, kBool };
  struct Flag {
    Kind kind;
    std::string value_name;
    std::string help;
    bool required = false;
    std::optional<std::string> value;  // given or defaulted, as text
    std::optional<int64_t> number;     // kInt: the parsed value
  };

  absl::Status Set(const std::string& name, Flag& flag, absl::string_view value);

  std::string command_;
  std::string description_;
  std::vector<std::string> order_;  // declaration order, for Usage()
  std::map<std::string, Flag, std::less<>> flags_;
};

// Prints "<prefix>: <status message>" and the hint to run --help to stderr,
// and returns kExitUsage; for Cancelled (--help) prints Usage() and returns 0.
int ReportParseResult(const FlagSet& flags, const absl::Status& status);

}  // namespace runnel::tools
