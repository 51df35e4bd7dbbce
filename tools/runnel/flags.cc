#include "tools/runnel/flags.h"

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tools/runnel/command.h"

namespace runnel::tools {

FlagSet::FlagSet(std::string command, std::string description)
    : command_(std::move(command)), description_(std::move(description)) {}

void FlagSet::AddString(std::string name, std::string value_name, std::string help, bool required,
                        std::optional<std::string> default_value) {
  order_.push_back(name);
  flags_[std::move(name)] = {Kind::kString, std::move(value_name),    std::move(help),
                             required,      std::move(default_value), std::nullopt};
}

void FlagSet::AddInt(std::string name, std::string value_name, std::string help, bool required,
                     std::optional<int64_t> default_value) {
  order_.push_back(name);
  Flag f{Kind::kInt, std::move(value_name), std::move(help), required, std::nullopt, default_value};
  if (default_value.has_value()) f.value = absl::StrCat(*default_value);
  flags_[std::move(name)] = std::move(f);
}

void FlagSet::AddBool(std::string name, std::string help) {
  order_.push_back(name);
  flags_[std::move(name)] = {Kind::kBool, "", std::move(help), false, std::nullopt, std::nullopt};
}

absl::Status FlagSet::Set(const std::string& name, Flag& flag, absl::string_view value) {
  switch (flag.kind) {
    case Kind::kString:
      break;
    case Kind::kInt: {
      int64_t n = 0;
      if (!absl::SimpleAtoi(value, &n)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a number, got '", value, "'"));
      }
      flag.number = n;
      break;
    }
    case Kind::kBool:
      if (value != "true" && value != "false") {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " takes no value (or =true/=false), got '", value, "'"));
      }
      break;
  }
  flag.value = std::string(value);
  return absl::OkStatus();
}

absl::Status FlagSet::Parse(std::span<const std::string> args) {
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") return absl::CancelledError("help");
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
    }
    absl::string_view body = arg.substr(2);
    std::optional<absl::string_view> inline_value;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      inline_value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    std::string name(body);
    auto it = flags_.find(name);
    if (it == flags_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    Flag& flag = it->second;
    if (flag.kind == Kind::kBool) {
      if (auto s = Set(name, flag, inline_value.value_or("true")); !s.ok()) return s;
      continue;
    }
    if (!inline_value.has_value()) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs ", flag.kind == Kind::kInt ? "a number" : "a value"));
      }
      inline_value = args[++i];
    }
    if (auto s = Set(name, flag, *inline_value); !s.ok()) return s;
  }
  for (const std::string& name : order_) {
    const Flag& flag = flags_.find(name)->second;
    if (flag.required && !flag.value.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " is required"));
    }
  }
  return absl::OkStatus();
}

bool FlagSet::Has(std::string_view name) const {
  auto it = flags_.find(name);
  return it != flags_.end() && it->second.value.has_value();
}

std::string FlagSet::GetString(std::string_view name) const {
  auto it = flags_.find(name);
  return it != flags_.end() ? it->second.value.value_or("") : "";
}

int64_t FlagSet::GetInt(std::string_view name) const {
  auto it = flags_.find(name);
  return it != flags_.end() ? it->second.number.value_or(0) : 0;
}

bool FlagSet::GetBool(std::string_view name) const {
  auto it = flags_.find(name);
  return it != flags_.end() && it->second.value.value_or("false") == "true";
}

std::string FlagSet::Usage() const {
  std::string usage = absl::StrCat("usage: ", command_);
  for (const std::string& name : order_) {
    const Flag& f = flags_.find(name)->second;
    std::string one = absl::StrCat("--", name, f.kind == Kind::kBool ? "" : " ", f.value_name);
    absl::StrAppend(&usage, " ", f.required ? one : absl::StrCat("[", one, "]"));
  }
  absl::StrAppend(&usage, "\n\n", description_, "\n\nflags:\n");
  for (const std::string& name : order_) {
    const Flag& f = flags_.find(name)->second;
    std::string left = absl::StrCat("  --", name, f.kind == Kind::kBool ? "" : " ", f.value_name);
    left.resize(std::max<size_t>(left.size() + 2, 24), ' ');
    absl::StrAppend(&usage, left, f.help);
    if (!f.required && f.kind != Kind::kBool && f.value.has_value()) {
      absl::StrAppend(&usage, " (default ", *f.value, ")");
    }
    absl::StrAppend(&usage, "\n");
  }
  return usage;
}

int ReportParseResult(const FlagSet& flags, const absl::Status& status) {
  if (absl::IsCancelled(status)) {
    std::fputs(flags.Usage().c_str(), stdout);
    return kExitOk;
  }
  std::fprintf(stderr, "%s: %s (see %s --help)\n", flags.command().c_str(),
               std::string(status.message()).c_str(), flags.command().c_str());
  return kExitUsage;
}

}  // namespace runnel::tools
