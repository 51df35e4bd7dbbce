// The `runnel log` commands, one file each: append (log_commands.cc), dump
// (log_dump.cc) and check (log_check.cc).
#pragma once

#include <span>
#include <string>

namespace runnel::tools {

int RunLogAppend(std::span<const std::string> args);
int RunLogDump(std::span<const std::string> args);
int RunLogCheck(std::span<const std::string> args);

}  // namespace runnel::tools
