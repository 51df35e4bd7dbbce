// The runnel tool's command table: `runnel <group> <command> [flags]`.
//
// Each command group (log; later produce, consume, topics, groups, perf) lives
// in a file of its own and exposes one entry point with this signature; main.cc
// lists the groups in a table, so adding one is a new file plus a table row.
// A group dispatches its own commands the same way (RunCommandTable).
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace runnel::tools {

// Exit codes shared by every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the command ran and failed or found problems
inline constexpr int kExitUsage = 2;    // bad command line

// `args` excludes the program and the names of the group and command.
using CommandFn = int (*)(std::span<const std::string> args);

struct Command {
  std::string_view name;
  std::string_view summary;  // one line for the listing
  CommandFn run;
};

// Runs the command named by args[0] from `table`, passing it the rest.
// Without a name, or with "help"/"--help", prints the table to stdout;
// an unknown name is a usage error naming it. `prefix` is what the user typed
// before the name ("runnel", "runnel log") for the messages.
int RunCommandTable(std::string_view prefix, std::span<const Command> table,
                    std::span<const std::string> args);

// Command groups (one file each).
int RunLogCommand(std::span<const std::string> args);      // log_commands.cc
int RunProduceCommand(std::span<const std::string> args);  // produce_commands.cc
int RunPerfCommand(std::span<const std::string> args);     // produce_commands.cc
int RunConsumeCommand(std::span<const std::string> args);  // consume_commands.cc
int RunTopicsCommand(std::span<const std::string> args);   // topics_commands.cc
int RunGroupsCommand(std::span<const std::string> args);   // groups_commands.cc

// Commands of a group that live in a file of their own.
int RunPerfConsume(std::span<const std::string> args);  // consume_perf.cc

}  // namespace runnel::tools
