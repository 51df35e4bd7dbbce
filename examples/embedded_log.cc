// embedded_log: an application that keeps its events in a Runnel log, with no
// broker: it appends records, reads them back, and tails new ones from another
// thread as they arrive.
//
//   embedded_log [DATA_DIR]     (default: a fresh directory under /tmp)
//
// The data directory is a Kafka log directory: `runnel log dump --dir DATA_DIR
// --topic events --partition 0` prints what this program wrote. It exits
// non-zero when anything does not behave as described, so it doubles as a test.
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "runnel/common/status_macros.h"
#include "runnel/log.h"
#include "runnel/log_manager.h"
#include "runnel/protocol/record_batch.h"

namespace {

using runnel::storage::Log;
using runnel::storage::LogManager;
using runnel::storage::Record;

// Prints every record of `bytes` (whole record batches, as Read returns them)
// at or above `from`, and returns the offset after the last one.
absl::StatusOr<int64_t> PrintRecords(const char* who, const runnel::ByteBuffer& bytes,
                                     int64_t from) {
  runnel::protocol::RecordBatchReader reader(bytes.span());
  int64_t next = from;
  while (reader.NextBatch()) {
    while (reader.NextRecord()) {
      const runnel::protocol::Record& r = reader.record();
      if (r.offset < from) continue;  // a batch may start below the offset asked for
      std::printf("%s: offset %lld key=%s value=%s\n", who, static_cast<long long>(r.offset),
                  r.key.is_null() ? "(null)" : std::string(r.key.str()).c_str(),
                  std::string(r.value.str()).c_str());
      next = r.offset + 1;
    }
  }
  RUNNEL_RETURN_IF_ERROR(reader.status());
  return next;
}

// Follows the log from `from` until it has seen `until`: waits for new data
// with WaitForOffset, which returns as soon as an append makes it visible.
absl::Status Tail(const Log& log, int64_t from, int64_t until) {
  int64_t next = from;
  while (next < until) {
    RUNNEL_RETURN_IF_ERROR(log.WaitForOffset(next, absl::Now() + absl::Seconds(10)));
    RUNNEL_ASSIGN_OR_RETURN(runnel::storage::ReadResult got, log.Read(next));
    RUNNEL_ASSIGN_OR_RETURN(next, PrintRecords("tailer", got.bytes, next));
  }
  return absl::OkStatus();
}

absl::Status Run(const std::string& data_dir) {
  // One manager per data directory; it recovers the partitions in it and
  // checkpoints what has been flushed.
  RUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<LogManager> mgr,
                          LogManager::Open({.data_dir = data_dir}));
  RUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<Log> log, mgr->GetOrCreateLog({"events", 0}));
  std::printf("opened %s: offsets %lld..%lld\n", log->dir().c_str(),
              static_cast<long long>(log->log_start_offset()),
              static_cast<long long>(log->log_end_offset()));

  // Append three records as one batch. Offsets are assigned by the log.
  const int64_t first = log->log_end_offset();
  std::vector<Record> records = {
      {.key = "user-1", .value = "signed up"},
      {.key = "user-2", .value = "signed up"},
      {.key = "user-1", .value = "clicked"},
  };
  RUNNEL_ASSIGN_OR_RETURN(runnel::storage::AppendResult appended, log->AppendRecords(records));
  std::printf("appended offsets %lld..%lld\n", static_cast<long long>(appended.base_offset),
              static_cast<long long>(appended.last_offset));
  if (appended.base_offset != first || appended.record_count != 3) {
    return absl::InternalError("the append did not get the next three offsets");
  }

  // Read them back. Read returns whole batches from the one holding `first`.
  RUNNEL_ASSIGN_OR_RETURN(runnel::storage::ReadResult got, log->Read(first));
  RUNNEL_ASSIGN_OR_RETURN(int64_t after, PrintRecords("reader", got.bytes, first));
  if (after != appended.last_offset + 1) return absl::InternalError("read back too few records");

  // A one-shot watch: the callback runs on the appending thread once the
  // log passes the offset.
  absl::Notification watched;
  log->WatchOffset(after, [&](absl::Status s) {
    std::printf("watch: offset %lld is here (%s)\n", static_cast<long long>(after),
                s.ok() ? "ok" : std::string(s.message()).c_str());
    watched.Notify();
  });

  // Tail from another thread while this one keeps appending.
  constexpr int kMore = 5;
  absl::Status tail_status;
  std::thread tailer([&] { tail_status = Tail(*log, after, after + kMore); });
  for (int i = 0; i < kMore; ++i) {
    // Record holds views: the value's bytes must outlive the append.
    const std::string value = "event " + std::to_string(i);
    Record r{.key = "user-3", .value = value};
    RUNNEL_RETURN_IF_ERROR(log->AppendRecords({&r, 1}).status());
    absl::SleepFor(absl::Milliseconds(20));  // a trickle, so the tailer waits
  }
  tailer.join();
  RUNNEL_RETURN_IF_ERROR(tail_status);
  if (!watched.WaitForNotificationWithTimeout(absl::Seconds(10))) {
    return absl::InternalError("the watch callback never ran");
  }

  // Make everything durable, then close; the next run recovers nothing.
  RUNNEL_RETURN_IF_ERROR(log->Flush());
  std::printf("flushed: recovery point %lld\n", static_cast<long long>(log->recovery_point()));
  return mgr->Close();
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  bool temporary = false;
  if (argc > 1) {
    dir = argv[1];
  } else {
    std::string tmpl = std::filesystem::temp_directory_path() / "embedded-log-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
    temporary = true;
  }
  absl::Status status = Run(dir);
  if (temporary) std::filesystem::remove_all(dir);
  if (!status.ok()) {
    std::fprintf(stderr, "embedded_log: %s\n", std::string(status.ToString()).c_str());
    return 1;
  }
  std::printf("done\n");
  return 0;
}
