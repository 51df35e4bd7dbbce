#include "common/logging.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace runnel::logging {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

// The sink is swapped rarely and read on every line: readers take a copy of
// the shared_ptr under the mutex and call it outside.
std::mutex g_sink_mu;
std::shared_ptr<Sink> g_sink;

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

void AppendValue(std::string* out, std::string_view v) {
  if (!NeedsQuotes(v)) {
    out->append(v.data(), v.size());
    return;
  }
  out->push_back('"');
  for (char c : v) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(c));
          out->append(buf);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

}  // namespace

absl::StatusOr<Level> ParseLevel(std::string_view name) {
  std::string n = absl::AsciiStrToLower(std::string(name));
  if (n == "debug" || n == "trace") return Level::kDebug;
  if (n == "info") return Level::kInfo;
  if (n == "warn" || n == "warning") return Level::kWarn;
  if (n == "error") return Level::kError;
  if (n == "off" || n == "none") return Level::kOff;
  return absl::InvalidArgumentError(absl::StrCat(
      "log level must be debug, info, warn, error or off, got \"", std::string(name), "\""));
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
    case Level::kOff:
      return "off";
  }
  return "unknown";
}

void SetLevel(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }
Level GetLevel() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }
bool Enabled(Level level) {
  return level != Level::kOff && static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void SetSink(Sink sink) {
  std::lock_guard<std::mutex> l(g_sink_mu);
  g_sink = sink ? std::make_shared<Sink>(std::move(sink)) : nullptr;
}

std::string FormatLine(Level level, std::string_view message, std::initializer_list<Field> fields) {
  return FormatLine(level, message, std::span<const Field>(fields.begin(), fields.size()));
}

std::string FormatLine(Level level, std::string_view message, std::span<const Field> fields) {
  std::string line = absl::StrCat("level=", std::string(LevelName(level)), " msg=");
  AppendValue(&line, message);
  for (const Field& f : fields) {
    line.push_back(' ');
    line.append(f.first.data(), f.first.size());
    line.push_back('=');
    AppendValue(&line, f.second);
  }
  return line;
}

void Log(Level level, std::string_view message, std::initializer_list<Field> fields) {
  Log(level, message, std::span<const Field>(fields.begin(), fields.size()));
}

void Log(Level level, std::string_view message, std::span<const Field> fields) {
  if (!Enabled(level)) return;
  std::string line = absl::StrCat(
      "ts=", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ",
      FormatLine(level, message, fields));
  std::shared_ptr<Sink> sink;
  {
    std::lock_guard<std::mutex> l(g_sink_mu);
    sink = g_sink;
  }
  if (sink != nullptr) {
    (*sink)(line);
    return;
  }
  line.push_back('\n');
  // One write per line: concurrent lines do not interleave. A failed write
  // to stderr has nowhere to be reported.
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace runnel::logging
