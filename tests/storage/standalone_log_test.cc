// A Log opened without a LogManager: it keeps its own recovery point and
// start offset (standalone-log-checkpoint), and like every log it holds no
// index descriptors between appends.
#include <filesystem>
#include <map>
#include <string>

#include <catch2/catch.hpp>

#include "runnel/log.h"
#include "storage/checkpoint_file.h"
#include "storage/log_format.h"
#include "test_util.h"

namespace runnel::storage {
namespace {

using testing::MakeBatch;
using testing::ReadAll;
using testing::Span;
using testing::TempDir;

int64_t SavedOffset(const std::string& dir, const std::string& key) {
  absl::StatusOr<std::map<TopicPartition, int64_t>> saved =
      ReadOffsetCheckpoint(dir + "/" + std::string(kStandaloneCheckpointFile));
  REQUIRE(saved.ok());
  auto it = saved->find(TopicPartition{key, 0});
  REQUIRE(it != saved->end());
  return it->second;
}

// Descriptors this process has open on files of `dir`.
int OpenFilesIn(const std::string& dir) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = std::filesystem::read_symlink(e.path(), ec).string();
    if (!ec && target.rfind(dir + "/", 0) == 0) ++n;
  }
  return n;
}

TEST_CASE("a standalone log reopens without rescanning what it flushed", "[standalone]") {
  TempDir dir;
  LogOptions o;
  o.segment_bytes = 1024;
  int64_t end;
  int32_t segments;
  {
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir.path(), .log = o});
    REQUIRE(log.ok());
    for (int i = 0; i < 30; ++i) {
      ByteBuffer b = MakeBatch(2, i, 60);
      REQUIRE((*log)->Append(Span(b)).ok());
    }
    REQUIRE((*log)->Flush().ok());
    end = (*log)->log_end_offset();
    segments = (*log)->segment_count();
    REQUIRE(segments > 5);
    REQUIRE((*log)->DeleteRecordsBefore(3).ok());  // inside the first segment
    REQUIRE((*log)->Close().ok());
  }
  CHECK(SavedOffset(dir.path(), "recovery-point") == end);
  CHECK(SavedOffset(dir.path(), "log-start-offset") == 3);
  // No recovery point given: the log's own checkpoint supplies it.
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir.path(), .log = o});
  REQUIRE(log.ok());
  CHECK((*log)->recovery_report().segments_recovered == 1);  // the active one only
  CHECK((*log)->recovery_point() == end);
  CHECK((*log)->log_start_offset() == 3);
  CHECK((*log)->segment_count() == segments);
  CHECK(ReadAll(**log).size() == static_cast<size_t>(end - 3));
}

TEST_CASE("a standalone log without its checkpoint rescans every segment", "[standalone]") {
  TempDir dir;
  LogOptions o;
  o.segment_bytes = 1024;
  int32_t segments;
  {
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir.path(), .log = o});
    REQUIRE(log.ok());
    for (int i = 0; i < 30; ++i) {
      ByteBuffer b = MakeBatch(2, i, 60);
      REQUIRE((*log)->Append(Span(b)).ok());
    }
    REQUIRE((*log)->Flush().ok());
    segments = (*log)->segment_count();
  }
  std::filesystem::remove(dir.Sub(std::string(kStandaloneCheckpointFile)));
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir.path(), .log = o});
  REQUIRE(log.ok());
  CHECK((*log)->recovery_report().segments_recovered == segments);
  CHECK(ReadAll(**log).size() == 60);
}

TEST_CASE("truncation lowers a standalone log's saved recovery point at once", "[standalone]") {
  TempDir dir;
  LogOptions o;
  o.segment_bytes = 1024;
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir.path(), .log = o});
  REQUIRE(log.ok());
  for (int i = 0; i < 30; ++i) {
    ByteBuffer b = MakeBatch(2, i, 60);
    REQUIRE((*log)->Append(Span(b)).ok());
  }
  REQUIRE((*log)->Roll().ok());  // a flush reaching a new segment saves the point
  CHECK(SavedOffset(dir.path(), "recovery-point") == 60);
  REQUIRE((*log)->Truncate(21).ok());
  // Before any Close or Flush: a crash now must not trust offsets >= 20
  // (the batch holding 21 starts at 20).
  CHECK(SavedOffset(dir.path(), "recovery-point") <= 21);
  CHECK((*log)->log_end_offset() == 20);
  REQUIRE((*log)->TruncateFully(5).ok());
  CHECK(SavedOffset(dir.path(), "recovery-point") == 5);
  CHECK(SavedOffset(dir.path(), "log-start-offset") == 5);
}

TEST_CASE("an appending log holds one descriptor, its active segment's .log", "[standalone]") {
  TempDir dir;
  LogOptions o;
  o.index_interval_bytes = 256;  // an index entry for nearly every batch
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir.path(), .log = o});
  REQUIRE(log.ok());
  for (int i = 0; i < 50; ++i) {
    ByteBuffer b = MakeBatch(4, i, 100);
    REQUIRE((*log)->Append(Span(b)).ok());
  }
  CHECK(OpenFilesIn(dir.path()) == 1);
  // Indexed lookups map the index files without keeping descriptors.
  for (int64_t off = 0; off < 200; off += 17) {
    absl::StatusOr<ReadResult> r = (*log)->Read(off, {.max_bytes = 1});
    REQUIRE(r.ok());
    REQUIRE_FALSE(r->bytes.empty());
  }
  CHECK(OpenFilesIn(dir.path()) == 1);
  REQUIRE((*log)->Flush().ok());
  CHECK(OpenFilesIn(dir.path()) == 1);
}

}  // namespace
}  // namespace runnel::storage
