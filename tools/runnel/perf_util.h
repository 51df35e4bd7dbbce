// Shared by the `runnel perf` load generators (produce_commands.cc,
// consume_perf.cc).
#pragma once

#include <sys/resource.h>

namespace runnel::tools {

// User plus system CPU time of the whole process so far (every thread,
// the client library's I/O threads included), in seconds.
inline double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace runnel::tools
