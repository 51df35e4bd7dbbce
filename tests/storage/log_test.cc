#include "runnel/log.h"

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "common/record_batch_format.h"
#include "runnel/common/endian.h"
#include "storage/file_util.h"
#include "storage/index_file.h"
#include "storage/log_format.h"
#include "test_util.h"

namespace runnel::storage {
namespace {

using testing::FakeClock;
using testing::MakeBatch;
using testing::ReadAll;
using testing::Span;
using testing::TempDir;

std::unique_ptr<Log> OpenLog(const std::string& dir, const LogOptions& o, const Clock* clock,
                             int64_t recovery_point = 0) {
  absl::StatusOr<std::unique_ptr<Log>> log =
      Log::Open({.dir = dir, .log = o, .recovery_point = recovery_point, .clock = clock});
  REQUIRE(log.ok());
  return *std::move(log);
}

// Appends `batches` batches of `per_batch` records; returns the base offsets.
std::vector<int64_t> AppendMany(Log& log, int batches, int per_batch, int64_t ts = 1000,
                                size_t value_bytes = 16) {
  std::vector<int64_t> bases;
  for (int i = 0; i < batches; ++i) {
    ByteBuffer b = MakeBatch(per_batch, ts + i * per_batch, value_bytes);
    absl::StatusOr<AppendResult> r = log.Append(Span(b));
    REQUIRE(r.ok());
    bases.push_back(r->base_offset);
  }
  return bases;
}

TEST_CASE("appends get consecutive offsets and read back across segments", "[log]") {
  TempDir dir;
  FakeClock clock;
  LogOptions o;
  o.segment_bytes = 4096;
  o.index_interval_bytes = 512;
  auto log = OpenLog(dir.path(), o, &clock);
  std::vector<int64_t> bases = AppendMany(*log, 100, 10);
  for (int i = 0; i < 100; ++i) CHECK(bases[i] == i * 10);
  CHECK(log->log_end_offset() == 1000);
  CHECK(log->segment_count() > 5);

  std::vector<testing::SeenRecord> seen = ReadAll(*log, 1000);
  REQUIRE(seen.size() == 1000);
  for (int i = 0; i < 1000; ++i) {
    CHECK(seen[i].offset == i);
    CHECK(seen[i].timestamp == 1000 + i);
  }

  // A read in the middle of a batch returns that whole batch first.
  absl::StatusOr<ReadResult> mid = log->Read(555, {.max_bytes = 1});
  REQUIRE(mid.ok());
  CHECK(LoadBigEndian<int64_t>(mid->bytes.data()) == 550);
  CHECK(mid->next_offset == 560);
  REQUIRE(mid->slices.size() == 1);
  CHECK(mid->slices[0].length == static_cast<int64_t>(mid->bytes.size()));

  // The file ranges hold the same bytes.
  absl::StatusOr<ReadResult> ranges = log->Read(0, {.max_bytes = 1 << 20, .copy_bytes = false});
  REQUIRE(ranges.ok());
  CHECK(ranges->bytes.empty());
  CHECK(ranges->slices.size() == static_cast<size_t>(log->segment_count()));
  absl::StatusOr<ReadResult> copied = log->Read(0, {.max_bytes = 1 << 20});
  REQUIRE(copied.ok());
  ByteBuffer from_files;
  for (const FileSlice& s : ranges->slices) {
    uint8_t* p = from_files.AppendUninitialized(static_cast<size_t>(s.length));
    REQUIRE(pread(s.fd, p, static_cast<size_t>(s.length), s.position) == s.length);
  }
  CHECK(from_files.view() == copied->bytes.view());
  CHECK(ranges->total_bytes == log->size_bytes());

  // max_offset bounds the read; the end offset reads empty; past it is an error.
  absl::StatusOr<ReadResult> bounded = log->Read(0, {.max_bytes = 1 << 20, .max_offset = 30});
  REQUIRE(bounded.ok());
  CHECK(bounded->next_offset == 30);
  absl::StatusOr<ReadResult> at_end = log->Read(1000);
  REQUIRE(at_end.ok());
  CHECK(at_end->bytes.empty());
  CHECK(absl::IsOutOfRange(log->Read(1001).status()));

  // Reopened: everything is still there.
  log.reset();
  auto again = OpenLog(dir.path(), o, &clock, 1000);
  CHECK(again->log_end_offset() == 1000);
  CHECK(ReadAll(*again).size() == 1000);
  CHECK(again->recovery_report().truncations.empty());
  CHECK(AppendMany(*again, 1, 5)[0] == 1000);
}

TEST_CASE("a strict max_bytes read returns nothing when the first batch is too big", "[log]") {
  TempDir dir;
  auto log = OpenLog(dir.path(), {}, nullptr);
  AppendMany(*log, 2, 10);
  absl::StatusOr<ReadResult> r = log->Read(0, {.max_bytes = 10, .strict_max_bytes = true});
  REQUIRE(r.ok());
  CHECK(r->bytes.empty());
  CHECK(r->slices.empty());
}

TEST_CASE("segments roll on size, on age and when an index is full", "[log]") {
  TempDir dir;
  FakeClock clock;
  SECTION("size") {
    LogOptions o;
    o.segment_bytes = 1000;
    auto log = OpenLog(dir.path(), o, &clock);
    ByteBuffer b = MakeBatch(5, clock.NowMs(), 50);  // ~ 400 bytes
    const int64_t size = static_cast<int64_t>(b.size());
    AppendMany(*log, 5, 5, clock.NowMs(), 50);
    CHECK(log->segment_count() == (5 + (1000 / size) - 1) / (1000 / size));
  }
  SECTION("age") {
    LogOptions o;
    o.segment_ms = 60'000;
    auto log = OpenLog(dir.path(), o, &clock);
    AppendMany(*log, 3, 1, clock.NowMs());
    CHECK(log->segment_count() == 1);
    clock.Advance(60'000);
    AppendMany(*log, 1, 1, clock.NowMs());
    CHECK(log->segment_count() == 2);
    AppendMany(*log, 1, 1, clock.NowMs());
    CHECK(log->segment_count() == 2);
  }
  SECTION("index full") {
    LogOptions o;
    o.segment_index_bytes = 3 * 12;  // three time-index entries, four offset-index ones
    o.index_interval_bytes = 0;      // an entry for every batch after the first
    auto log = OpenLog(dir.path(), o, &clock);
    AppendMany(*log, 4, 1);
    CHECK(log->segment_count() == 1);
    AppendMany(*log, 1, 1);
    CHECK(log->segment_count() == 2);
    CHECK(ReadAll(*log).size() == 5);
  }
}

int64_t IndexBytes(const std::string& path) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(path, ec);
  return ec ? -1 : static_cast<int64_t>(n);
}

TEST_CASE("reads find batches through index entries still buffered in memory", "[log]") {
  TempDir dir;
  LogOptions o;
  o.index_interval_bytes = 0;  // an index entry for every batch after the first
  auto log = OpenLog(dir.path(), o, nullptr);
  AppendMany(*log, 100, 10, /*ts=*/10'000);  // record i has timestamp 10'000 + i
  // 99 entries a file: the last ones are in memory, not yet in the file.
  const std::string index = dir.Sub("00000000000000000000.index");
  const int64_t written = (99 - 1) / kPendingIndexEntries * kPendingIndexEntries;
  REQUIRE(written < 99);
  CHECK(IndexBytes(index) == written * static_cast<int64_t>(kOffsetIndexEntrySize));
  auto check_reads = [](const Log& l) {
    for (int64_t offset = 0; offset < 1000; offset += 7) {
      absl::StatusOr<ReadResult> r = l.Read(offset, {.max_bytes = 1});
      REQUIRE(r.ok());
      CHECK(LoadBigEndian<int64_t>(r->bytes.data()) == offset / 10 * 10);
      absl::StatusOr<std::optional<TimestampAndOffset>> t = l.ReadByTimestamp(10'000 + offset);
      REQUIRE(t.ok());
      REQUIRE(t->has_value());
      CHECK((*t)->offset == offset);
    }
  };
  check_reads(*log);
  // A roll writes them; reopened without recovering that segment, the
  // index file alone serves the same reads.
  REQUIRE(log->Roll().ok());
  CHECK(IndexBytes(index) == 99 * static_cast<int64_t>(kOffsetIndexEntrySize));
  check_reads(*log);
  log.reset();
  auto again = OpenLog(dir.path(), o, nullptr, 1000);
  CHECK(again->recovery_report().rebuilt_indexes.empty());
  check_reads(*again);
}

TEST_CASE("ReadByTimestamp finds the first record at or after a time", "[log]") {
  TempDir dir;
  LogOptions o;
  o.segment_bytes = 2048;
  o.index_interval_bytes = 256;
  auto log = OpenLog(dir.path(), o, nullptr);
  AppendMany(*log, 50, 10, /*ts=*/10'000);  // record i has timestamp 10'000 + i
  for (int64_t t : {0, 10'000, 10'001, 10'123, 10'499}) {
    absl::StatusOr<std::optional<TimestampAndOffset>> r = log->ReadByTimestamp(t);
    REQUIRE(r.ok());
    REQUIRE(r->has_value());
    int64_t expect = std::max<int64_t>(t - 10'000, 0);
    CHECK((*r)->offset == expect);
    CHECK((*r)->timestamp_ms == 10'000 + expect);
  }
  absl::StatusOr<std::optional<TimestampAndOffset>> none = log->ReadByTimestamp(10'500);
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
}

TEST_CASE("Truncate removes the tail and appends continue there", "[log]") {
  TempDir dir;
  LogOptions o;
  o.segment_bytes = 2048;
  auto log = OpenLog(dir.path(), o, nullptr);
  AppendMany(*log, 40, 5);
  const int32_t segments = log->segment_count();
  REQUIRE(log->AssignLeaderEpoch(1, 0).ok());
  REQUIRE(log->AssignLeaderEpoch(2, 150).ok());
  REQUIRE(log->Truncate(100).ok());
  CHECK(log->log_end_offset() == 100);
  CHECK(log->segment_count() < segments);
  CHECK(log->LatestLeaderEpoch() == 1);
  std::vector<testing::SeenRecord> seen = ReadAll(*log);
  REQUIRE(seen.size() == 100);
  CHECK(seen.back().offset == 99);
  CHECK(AppendMany(*log, 1, 5)[0] == 100);
  CHECK(ReadAll(*log).size() == 105);

  // Mid-batch: the whole batch containing the offset goes.
  REQUIRE(log->Truncate(52).ok());
  CHECK(log->log_end_offset() == 50);

  REQUIRE(log->TruncateFully(5000).ok());
  CHECK(log->log_start_offset() == 5000);
  CHECK(log->log_end_offset() == 5000);
  CHECK(log->segment_count() == 1);
  CHECK(log->LeaderEpochs().empty());
  CHECK(AppendMany(*log, 1, 3)[0] == 5000);
  CHECK(absl::IsOutOfRange(log->Read(0).status()));
  REQUIRE(log->Close().ok());

  auto again = OpenLog(dir.path(), o, nullptr);
  CHECK(again->log_start_offset() == 5000);
  CHECK(again->log_end_offset() == 5003);
}

TEST_CASE("DeleteRecordsBefore moves the start offset and drops whole segments", "[log]") {
  TempDir dir;
  LogOptions o;
  o.segment_bytes = 2048;
  o.file_delete_delay_ms = 0;
  auto log = OpenLog(dir.path(), o, nullptr);
  AppendMany(*log, 40, 5);
  const int32_t segments = log->segment_count();
  REQUIRE(log->DeleteRecordsBefore(123).ok());
  CHECK(log->log_start_offset() == 123);
  CHECK(log->segment_count() < segments);
  CHECK(absl::IsOutOfRange(log->Read(122).status()));
  std::vector<testing::SeenRecord> seen = ReadAll(*log);
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.front().offset == 123);
  CHECK(absl::IsOutOfRange(log->DeleteRecordsBefore(1000)));
  REQUIRE(log->DeleteRecordsBefore(50).ok());  // below the start: no-op
  CHECK(log->log_start_offset() == 123);
}

TEST_CASE("bad batches are rejected and write nothing", "[log]") {
  TempDir dir;
  LogOptions o;
  o.max_message_bytes = 2000;
  auto log = OpenLog(dir.path(), o, nullptr);
  AppendMany(*log, 1, 3);
  const int64_t size = log->size_bytes();
  namespace rb = runnel::record_batch;

  ByteBuffer good = MakeBatch(3, 1000);
  SECTION("bad CRC") {
    ByteBuffer b = MakeBatch(3, 1000);
    b.data()[b.size() - 1] ^= 1;
    ByteBuffer both;  // a good batch followed by a bad one: all or nothing
    both.Append(good.span());
    both.Append(b.span());
    absl::StatusOr<AppendResult> r = log->Append(Span(both));
    CHECK(absl::IsInvalidArgument(r.status()));
    CHECK(r.status().message().find("CRC") != std::string::npos);
  }
  SECTION("bad magic") {
    ByteBuffer b = MakeBatch(3, 1000);
    b.data()[rb::kMagicOffset] = 1;
    CHECK(absl::IsInvalidArgument(log->Append(Span(b)).status()));
  }
  SECTION("truncated") {
    ByteBuffer b = MakeBatch(3, 1000);
    b.Truncate(b.size() - 5);
    CHECK(absl::IsInvalidArgument(log->Append(Span(b)).status()));
  }
  SECTION("length below the header") {
    ByteBuffer b = MakeBatch(3, 1000);
    StoreBigEndian<int32_t>(b.data() + rb::kBatchLengthOffset, 10);
    CHECK(absl::IsInvalidArgument(log->Append(Span(b)).status()));
  }
  SECTION("too large") {
    ByteBuffer b = MakeBatch(3, 1000, 1000);
    absl::StatusOr<AppendResult> r = log->Append(Span(b));
    CHECK(absl::IsOutOfRange(r.status()));
    CHECK(r.status().message().find("max.message.bytes") != std::string::npos);
  }
  SECTION("empty") { CHECK(absl::IsInvalidArgument(log->Append({}).status())); }
  CHECK(log->size_bytes() == size);
  CHECK(log->log_end_offset() == 3);
  CHECK(ReadAll(*log).size() == 3);
}

TEST_CASE("LogAppendTime stamps batches with the clock and a valid CRC", "[log]") {
  TempDir dir;
  FakeClock clock(5'000'000);
  LogOptions o;
  o.message_timestamp_type = TimestampType::kLogAppendTime;
  auto log = OpenLog(dir.path(), o, &clock);
  ByteBuffer b = MakeBatch(4, 1000);
  absl::StatusOr<AppendResult> r = log->Append(Span(b));
  REQUIRE(r.ok());
  CHECK(r->log_append_time_ms == 5'000'000);
  std::vector<testing::SeenRecord> seen = ReadAll(*log);
  REQUIRE(seen.size() == 4);
  for (const auto& s : seen) CHECK(s.timestamp == 5'000'000);
}

TEST_CASE("replica appends keep the leader's offsets and epochs", "[log]") {
  TempDir dir;
  auto log = OpenLog(dir.path(), {}, nullptr);
  ByteBuffer b = MakeBatch(5, 1000);
  StoreBigEndian<int64_t>(b.data(), 0);
  StoreBigEndian<int32_t>(b.data() + record_batch::kPartitionLeaderEpochOffset, 3);
  REQUIRE(log->Append(Span(b), {.origin = AppendOrigin::kReplica}).ok());
  ByteBuffer gap = MakeBatch(5, 1000);
  StoreBigEndian<int64_t>(gap.data(), 10);  // offsets 10..14 (a compacted leader)
  REQUIRE(log->Append(Span(gap), {.origin = AppendOrigin::kReplica}).ok());
  CHECK(log->log_end_offset() == 15);
  CHECK(log->LatestLeaderEpoch() == 3);
  ByteBuffer old = MakeBatch(2, 1000);
  StoreBigEndian<int64_t>(old.data(), 12);
  CHECK(absl::IsFailedPrecondition(
      log->Append(Span(old), {.origin = AppendOrigin::kReplica}).status()));

  // A producer's partitionLeaderEpoch field does not reach the cache...
  ByteBuffer odd = MakeBatch(1, 1000);
  StoreBigEndian<int32_t>(odd.data() + record_batch::kPartitionLeaderEpochOffset, 9);
  REQUIRE(log->Append(Span(odd)).ok());
  CHECK(log->LatestLeaderEpoch() == 3);
  // ...the epoch a leader append stamps does.
  ByteBuffer mine = MakeBatch(1, 1000);
  REQUIRE(log->Append(Span(mine), {.leader_epoch = 4}).ok());
  CHECK(log->EndOffsetForEpoch(3).start_offset == 16);
  CHECK(log->EndOffsetForEpoch(4).start_offset == 17);
}

TEST_CASE("AppendRecords batches key/value records for embedded writers", "[log]") {
  TempDir dir;
  FakeClock clock(777);
  auto log = OpenLog(dir.path(), {}, &clock);
  RecordHeader h{"trace", std::nullopt};
  std::vector<Record> records = {{.key = "a", .value = "1"},
                                 {.key = std::nullopt, .value = std::nullopt},
                                 {.value = "3", .headers = {&h, 1}, .timestamp_ms = 42}};
  absl::StatusOr<AppendResult> r = log->AppendRecords(records);
  REQUIRE(r.ok());
  CHECK(r->base_offset == 0);
  CHECK(r->last_offset == 2);
  CHECK(r->record_count == 3);
  std::vector<testing::SeenRecord> seen = ReadAll(*log);
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].timestamp == 777);
  CHECK(seen[0].value == "1");
  CHECK(seen[2].timestamp == 42);
}

TEST_CASE("waiters wake when data arrives, time out, or see the log close", "[log]") {
  TempDir dir;
  auto log = OpenLog(dir.path(), {}, nullptr);
  CHECK(absl::IsDeadlineExceeded(log->WaitForOffset(0, absl::Now() + absl::Milliseconds(10))));

  std::atomic<int> fired{0};
  absl::Status watch_status = absl::UnknownError("unset");
  log->WatchOffset(0, [&](absl::Status s) {
    watch_status = s;
    fired++;
  });
  WatchId cancelled = log->WatchOffset(5, [&](absl::Status) { fired += 100; });
  CHECK(log->CancelWatch(cancelled));
  CHECK(fired == 0);

  absl::Status waited = absl::UnknownError("unset");  // Catch macros are main-thread only
  std::thread waiter([&] { waited = log->WaitForOffset(0, absl::Now() + absl::Seconds(30)); });
  AppendMany(*log, 1, 1);
  waiter.join();
  CHECK(waited.ok());
  CHECK(fired == 1);
  CHECK(watch_status.ok());

  // Already there: the callback runs inline.
  log->WatchOffset(0, [&](absl::Status) { fired++; });
  CHECK(fired == 2);

  absl::Status on_close;
  log->WatchOffset(10, [&](absl::Status s) { on_close = s; });
  REQUIRE(log->Close().ok());
  CHECK(absl::IsCancelled(on_close));
  CHECK(absl::IsCancelled(log->WaitForOffset(10, absl::Now() + absl::Seconds(30))));
  ByteBuffer late = MakeBatch(1, 1);
  CHECK(absl::IsFailedPrecondition(log->Append(Span(late)).status()));
}

TEST_CASE("readers running beside a writer only ever see whole batches", "[log][threads]") {
  TempDir dir;
  LogOptions o;
  o.segment_bytes = 16 * 1024;
  o.index_interval_bytes = 1024;
  auto log = OpenLog(dir.path(), o, nullptr);
  constexpr int kBatches = 600;
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<int64_t> reads{0};
  auto reader = [&] {
    int64_t offset = 0;
    while (!done.load() || offset < log->log_end_offset()) {
      absl::StatusOr<ReadResult> r = log->Read(offset, {.max_bytes = 8192});
      if (!r.ok()) {
        bad++;
        break;
      }
      reads++;
      if (r->bytes.empty()) {
        (void)log->WaitForOffset(offset, absl::Now() + absl::Milliseconds(5));
        continue;
      }
      protocol::RecordBatchReader batches(r->bytes.span());
      int64_t expect = offset;
      while (batches.NextBatch()) {
        while (batches.NextRecord()) {
          if (batches.record().offset < offset) continue;
          if (batches.record().offset != expect) bad++;
          expect++;
        }
      }
      if (!batches.status().ok() || batches.has_incomplete_tail() ||
          batches.consumed_bytes() != r->bytes.size()) {
        bad++;
      }
      offset = r->next_offset;
    }
    if (offset != kBatches * 7) bad++;
  };
  std::thread r1(reader), r2(reader);
  for (int i = 0; i < kBatches; ++i) {
    ByteBuffer b = MakeBatch(7, i, 20 + i % 50);
    REQUIRE(log->Append(Span(b)).ok());
  }
  done = true;
  r1.join();
  r2.join();
  CHECK(bad == 0);
  CHECK(reads > 0);
}

}  // namespace
}  // namespace runnel::storage
