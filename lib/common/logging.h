// Structured log lines with levels, for the broker and the layers under it.
// Each line is one event in logfmt (key=value, the format Prometheus, Loki
// and Heroku read): a UTC timestamp, the level, a message and fields.
//
//   runnel::logging::SetLevel(runnel::logging::Level::kWarn);
//   RUNNEL_LOG(kInfo, "topic created", {{"topic", name}, {"partitions", "3"}});
//   // ts=2026-12-01T23:50:00.123Z level=info msg="topic created" topic=t partitions=3
//
// Lines go to stderr by default (one write(2) each, so lines from several
// threads never interleave) or to the sink an application installs.
// Levels and the sink are process-wide: several brokers in one process
// share them, as they share stderr.
//
// Threads: every function may be called from any thread.
#pragma once

#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace runnel::logging {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

// "debug", "info", "warn" (or "warning"), "error", "off"; case-insensitive.
absl::StatusOr<Level> ParseLevel(std::string_view name);
std::string_view LevelName(Level level);

// Lines below `level` are dropped before anything is formatted.
void SetLevel(Level level);
Level GetLevel();
bool Enabled(Level level);

// Receives each finished line (no trailing newline). nullptr restores
// stderr. Called on the logging thread, under no lock: it must be
// thread-safe.
using Sink = std::function<void(std::string_view line)>;
void SetSink(Sink sink);

using Field = std::pair<std::string_view, std::string_view>;

// Formats and emits one line when `level` is enabled. Values holding a
// space, a quote, '=' or nothing are quoted with Go-style escapes.
void Log(Level level, std::string_view message, std::initializer_list<Field> fields = {});
// As above, for fields built at run time (the clients' log, which adds the
// client id to the caller's fields).
void Log(Level level, std::string_view message, std::span<const Field> fields);

// The line Log would emit, without the timestamp (for tests).
std::string FormatLine(Level level, std::string_view message, std::initializer_list<Field> fields);
std::string FormatLine(Level level, std::string_view message, std::span<const Field> fields);

}  // namespace runnel::logging

// Skips argument evaluation when the level is off.
#define RUNNEL_LOG(level, ...)                                              \
  do {                                                                      \
    if (::runnel::logging::Enabled(::runnel::logging::Level::level)) {      \
      ::runnel::logging::Log(::runnel::logging::Level::level, __VA_ARGS__); \
    }                                                                       \
  } while (0)
