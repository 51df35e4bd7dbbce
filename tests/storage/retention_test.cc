#include <unistd.h>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "runnel/log.h"
#include "storage/file_util.h"
#include "test_util.h"

namespace runnel::storage {
namespace {

using testing::FakeClock;
using testing::MakeBatch;
using testing::ReadAll;
using testing::Span;
using testing::TempDir;

int CountFiles(const std::string& dir, absl::string_view suffix) {
  int n = 0;
  const std::vector<std::string> names = *ListDir(dir);
  for (const std::string& name : names) n += absl::EndsWith(name, suffix) ? 1 : 0;
  return n;
}

// Ten segments of 5 batches each; batch i has timestamps from `t0 + 1000 * i`.
std::unique_ptr<Log> FillLog(const std::string& dir, const LogOptions& o, FakeClock& clock,
                             int64_t t0) {
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir, .log = o, .clock = &clock});
  REQUIRE(log.ok());
  for (int i = 0; i < 50; ++i) {
    ByteBuffer b = MakeBatch(2, t0 + 1000 * i, 30);
    REQUIRE((*log)->Append(Span(b)).ok());
    if (i % 5 == 4) REQUIRE((*log)->Roll().ok());
  }
  return *std::move(log);
}

TEST_CASE("time retention deletes segments older than retention.ms", "[retention]") {
  TempDir dir;
  FakeClock clock(1'000'000);
  LogOptions o;
  o.retention_ms = 20'000;
  o.file_delete_delay_ms = 5'000;
  const int64_t t0 = 1'000'000;
  auto log = FillLog(dir.path(), o, clock, t0);
  CHECK(log->segment_count() == 11);  // ten full, one empty active

  // Newest record of segment k is at t0 + 1000 * (5k + 4) + 1.
  clock.Set(t0 + 1000 * 14 + 1 + 20'000 + 1);  // segments 0..2 expired
  absl::StatusOr<int> deleted = log->ApplyRetention();
  REQUIRE(deleted.ok());
  CHECK(*deleted == 3);
  CHECK(log->log_start_offset() == 30);
  CHECK(log->segment_count() == 8);
  CHECK(ReadAll(*log).front().offset == 30);
  // Renamed now, removed after file.delete.delay.ms.
  CHECK(CountFiles(dir.path(), ".deleted") == 9);
  REQUIRE(log->ApplyRetention().ok());
  CHECK(CountFiles(dir.path(), ".deleted") == 9);
  clock.Advance(5'000);
  // The next pass removes those, and renames segment 3 (now expired too).
  REQUIRE(log->ApplyRetention().ok());
  CHECK(CountFiles(dir.path(), ".deleted") == 3);
  CHECK(log->log_start_offset() == 40);
}

TEST_CASE("time retention never deletes the active segment", "[retention]") {
  TempDir dir;
  FakeClock clock(1'000'000);
  LogOptions o;
  o.retention_ms = 1000;
  absl::StatusOr<std::unique_ptr<Log>> log =
      Log::Open({.dir = dir.path(), .log = o, .clock = &clock});
  REQUIRE(log.ok());
  ByteBuffer b = MakeBatch(2, 1'000'000, 30);
  REQUIRE((*log)->Append(Span(b)).ok());
  clock.Advance(1'000'000);
  REQUIRE((*log)->ApplyRetention().ok());
  CHECK((*log)->segment_count() == 1);
  CHECK(ReadAll(**log).size() == 2);
}

TEST_CASE("size retention keeps the log under retention.bytes", "[retention]") {
  TempDir dir;
  FakeClock clock(1'000'000);
  LogOptions o;
  o.retention_ms = -1;
  auto log = FillLog(dir.path(), o, clock, 1'000'000);
  const int64_t total = log->size_bytes();
  const int64_t per_segment = total / 10;
  REQUIRE(total == 10 * per_segment);               // equal segments
  o.retention_bytes = total - 3 * per_segment - 1;  // a byte short of three segments too much
  REQUIRE(log->UpdateOptions(o).ok());
  absl::StatusOr<int> deleted = log->ApplyRetention();
  REQUIRE(deleted.ok());
  // As in Kafka, only whole segments go and only while the rest stays at or
  // above the limit: the log may exceed it by less than a segment.
  CHECK(*deleted == 3);
  CHECK(log->size_bytes() == o.retention_bytes + 1);
  CHECK(log->log_start_offset() == 30);
}

TEST_CASE("compact-only logs are not touched by retention", "[retention]") {
  TempDir dir;
  FakeClock clock(1'000'000);
  LogOptions o;
  o.retention_ms = 1;
  o.cleanup_policy = CleanupPolicy::kCompact;
  auto log = FillLog(dir.path(), o, clock, 1'000'000);
  clock.Advance(10'000'000);
  absl::StatusOr<int> deleted = log->ApplyRetention();
  REQUIRE(deleted.ok());
  CHECK(*deleted == 0);
  CHECK(log->log_start_offset() == 0);
}

TEST_CASE("readers keep reading a segment retention deleted", "[retention]") {
  TempDir dir;
  FakeClock clock(1'000'000);
  LogOptions o;
  o.retention_ms = 1;
  o.file_delete_delay_ms = 0;
  auto log = FillLog(dir.path(), o, clock, 1'000'000);
  absl::StatusOr<ReadResult> held = log->Read(0, {.max_bytes = 100, .copy_bytes = false});
  REQUIRE(held.ok());
  REQUIRE(held->slices.size() == 1);
  clock.Advance(10'000'000);
  REQUIRE(log->ApplyRetention().ok());
  CHECK(CountFiles(dir.path(), ".deleted") == 0);  // removed at once
  uint8_t first[8];
  CHECK(pread(held->slices[0].fd, first, 8, held->slices[0].position) == 8);
}

}  // namespace
}  // namespace runnel::storage
