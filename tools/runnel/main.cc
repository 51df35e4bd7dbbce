// runnel: the command-line tool. `runnel <group> <command> [flags]`.
//
// Command groups are listed in kGroups; each is implemented in a file of its
// own (log_commands.cc: log append/dump/check). Exit codes are in command.h.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tools/runnel/command.h"

namespace runnel::tools {

int RunCommandTable(std::string_view prefix, std::span<const Command> table,
                    std::span<const std::string> args) {
  auto list = [&](std::FILE* out) {
    std::fprintf(out, "usage: %.*s <command> [flags]\n\ncommands:\n",
                 static_cast<int>(prefix.size()), prefix.data());
    for (const Command& c : table) {
      std::fprintf(out, "  %-10.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                   static_cast<int>(c.summary.size()), c.summary.data());
    }
    std::fprintf(out, "\nRun '%.*s <command> --help' for a command's flags.\n",
                 static_cast<int>(prefix.size()), prefix.data());
  };
  if (args.empty()) {
    list(stderr);
    return kExitUsage;
  }
  if (args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    list(stdout);
    return kExitOk;
  }
  for (const Command& c : table) {
    if (c.name == args[0]) return c.run(args.subspan(1));
  }
  std::fprintf(stderr, "%.*s: unknown command '%s' (run '%.*s help' for the list)\n",
               static_cast<int>(prefix.size()), prefix.data(), args[0].c_str(),
               static_cast<int>(prefix.size()), prefix.data());
  return kExitUsage;
}

namespace {

constexpr Command kGroups[] = {
    {"log", "read, write and check partition logs in a data directory", RunLogCommand},
    {"produce", "send stdin lines to a topic (-b BOOTSTRAP -t TOPIC)", RunProduceCommand},
    {"consume", "print a topic's records (-b BOOTSTRAP -t TOPIC [-g GROUP])", RunConsumeCommand},
    {"perf", "load generators: perf produce, perf consume", RunPerfCommand},
    {"topics", "list, create, delete, describe and alter topics (-b BOOTSTRAP)", RunTopicsCommand},
    {"groups", "list, describe and delete consumer groups; their offsets", RunGroupsCommand},
};

}  // namespace
}  // namespace runnel::tools

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return runnel::tools::RunCommandTable("runnel", runnel::tools::kGroups, args);
}
