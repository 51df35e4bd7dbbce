// Log compaction against a reference model: the latest record per key,
// offsets preserved, tombstones after delete.retention.ms, compaction lags,
// partial passes under a small memory budget, log selection, truncation.
#include <array>
#include <catch2/catch.hpp>
#include <random>

#include "compaction_util.h"
#include "storage/file_util.h"
#include "storage/log_cleaner.h"

namespace runnel::storage {
namespace {

using protocol::CompressionType;
using testing::BatchSpec;
using testing::CheckCleaned;
using testing::CheckFullyCompacted;
using testing::Compacted;
using testing::FakeClock;
using testing::kRetention;
using testing::kTp;
using testing::KV;
using testing::Model;
using testing::MustClean;
using testing::OpenLog;
using testing::ReadRecords;
using testing::TempDir;

// Appends `batches` random batches: keys from `keys`, ~10% tombstones, a few
// keyless records, random codecs; the clock moves 1 s a batch.
void AppendRandom(std::mt19937_64& rng, Log& log, Model& model, FakeClock& clock, int batches,
                  int keys, bool compress = true) {
  static const CompressionType kCodecs[] = {CompressionType::kNone, CompressionType::kGzip,
                                            CompressionType::kSnappy, CompressionType::kLz4,
                                            CompressionType::kZstd};
  static int64_t serial = 0;
  for (int b = 0; b < batches; ++b) {
    std::vector<KV> records;
    const int n = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) {
      KV kv;
      if (rng() % 100 != 0) kv.key = "key-" + std::to_string(rng() % keys);
      if (rng() % 10 != 0)
        kv.value = "value-" + std::to_string(serial++) + std::string(rng() % 40, 'x');
      records.push_back(std::move(kv));
    }
    BatchSpec spec;
    if (compress) spec.compression = kCodecs[rng() % 5];
    model.Append(log, records, clock.NowMs(), spec);
    clock.Advance(1000);
  }
}

TEST_CASE("compaction keeps the latest record per key, against a reference model", "[compaction]") {
  TempDir dir;
  FakeClock clock;
  std::mt19937_64 rng(GENERATE(1, 2, 3));
  std::unique_ptr<LogImpl> log = OpenLog(dir.path(), Compacted(), &clock);
  LogCleaner cleaner({.clock = &clock});
  Model model;
  int64_t before = 0, after = 0;
  for (int round = 0; round < 12; ++round) {
    AppendRandom(rng, *log, model, clock, 25, 120);
    CleanStats stats = MustClean(cleaner, *log);
    CHECK_FALSE(stats.map_full);
    CHECK(stats.next_dirty == log->SegmentsSnapshot()->rbegin()->first);
    before += stats.bytes_before;
    after += stats.bytes_after;
    CheckCleaned(model, ReadRecords(*log), stats.next_dirty, clock.NowMs(), kRetention);
  }
  CHECK(after < before);
  // Once every tombstone's delete horizon has passed and everything is
  // inactive, the log is exactly the latest value of each live key. (A
  // tombstone goes delete.retention.ms after a pass first wrote it, KIP-534,
  // so the active segment rolls and is cleaned first.)
  REQUIRE(log->Roll().ok());
  MustClean(cleaner, *log);
  clock.Advance(kRetention);
  model.Append(*log, {{"sentinel", "last"}}, clock.NowMs());
  REQUIRE(log->Roll().ok());
  CleanStats stats = MustClean(cleaner, *log);
  CHECK(stats.tombstones_dropped > 0);
  CheckFullyCompacted(model, ReadRecords(*log));
  // And it stays so after a reopen (indexes of the replacements included).
  REQUIRE(log->Close().ok());
  log = OpenLog(dir.path(), Compacted(), &clock);
  CheckFullyCompacted(model, ReadRecords(*log));
}

TEST_CASE("a memory budget too small for the dirty keys cleans in several passes", "[compaction]") {
  TempDir dir;
  FakeClock clock;
  std::mt19937_64 rng(7);
  std::unique_ptr<LogImpl> log = OpenLog(dir.path(), Compacted(), &clock);
  // 40 slots hold 30 keys; the log has 200.
  LogCleaner cleaner({.dedupe_buffer_bytes = 40 * OffsetMap::kEntryBytes, .clock = &clock});
  Model model;
  AppendRandom(rng, *log, model, clock, 150, 200);
  REQUIRE(log->Roll().ok());
  const int64_t end = log->log_end_offset();
  int passes = 0, full = 0;
  int64_t next_dirty = 0;
  while (next_dirty < end) {
    CleanStats stats = MustClean(cleaner, *log);
    REQUIRE(stats.next_dirty > next_dirty);  // every pass makes progress
    next_dirty = stats.next_dirty;
    CHECK(stats.map_entries <= 30);
    if (stats.map_full) ++full;
    ++passes;
    CheckCleaned(model, ReadRecords(*log), next_dirty, clock.NowMs(), kRetention);
    REQUIRE(passes < 1000);
  }
  CHECK(full > 1);
  CHECK(cleaner.FirstDirtyOffset(kTp) == end);
  REQUIRE(log->Roll().ok());
  clock.Advance(kRetention + 1);
  model.Append(*log, {{"sentinel", "last"}}, clock.NowMs());
  REQUIRE(log->Roll().ok());
  while (MustClean(cleaner, *log).map_full) {
  }
  CheckFullyCompacted(model, ReadRecords(*log));
}

TEST_CASE("tombstones stay for delete.retention.ms", "[compaction]") {
  TempDir dir;
  FakeClock clock;
  std::unique_ptr<LogImpl> log = OpenLog(dir.path(), Compacted(), &clock);
  LogCleaner cleaner({.clock = &clock});
  Model model;
  model.Append(*log, {{"a", "1"}, {"b", "1"}}, clock.NowMs());
  model.Append(*log, {{"a", std::nullopt}}, clock.NowMs());
  REQUIRE(log->Roll().ok());
  MustClean(cleaner, *log);
  // The older "a" is gone; its tombstone stays for consumers to see.
  std::vector<testing::Rec> seen = ReadRecords(*log);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].key == "b");
  CHECK(seen[1].key == "a");
  CHECK_FALSE(seen[1].value.has_value());

  // The first pass stamped the tombstone's batch with its delete horizon,
  // now + delete.retention.ms; it stays until then (KIP-534).
  clock.Advance(kRetention - 1);
  MustClean(cleaner, *log);
  CHECK(ReadRecords(*log).size() == 2);
  clock.Advance(1);
  CleanStats stats = MustClean(cleaner, *log);
  CHECK(stats.tombstones_dropped == 1);
  seen = ReadRecords(*log);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].key == "b");
  CHECK(seen[0].offset == 1);
}

TEST_CASE("nothing younger than min.compaction.lag.ms is compacted", "[compaction]") {
  TempDir dir;
  FakeClock clock;
  LogOptions o = Compacted();
  o.min_compaction_lag_ms = 10 * 60'000;
  std::unique_ptr<LogImpl> log = OpenLog(dir.path(), o, &clock);
  LogCleaner cleaner({.clock = &clock});
  Model model;
  model.Append(*log, {{"a", "1"}, {"a", "2"}}, clock.NowMs());
  REQUIRE(log->Roll().ok());
  clock.Advance(5 * 60'000);
  model.Append(*log, {{"a", "3"}, {"b", "1"}}, clock.NowMs());
  REQUIRE(log->Roll().ok());
  clock.Advance(6 * 60'000);  // the first segment is 11 minutes old, the second 6

  CleanableRange range = cleaner.Cleanable(kTp, *log);
  CHECK(range.first_dirty == 0);
  CHECK(range.end == 2);  // the second segment is not cleanable yet
  CleanStats stats = MustClean(cleaner, *log);
  CHECK(stats.next_dirty == 2);
  // "a"=1 went (superseded within the cleanable range by "a"=2); "a"=2 stays
  // although "a"=3 is newer: the younger segment must not affect it yet.
  std::vector<testing::Rec> seen = ReadRecords(*log);
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].offset == 1);
  CHECK(seen[1].offset == 2);
  CHECK(seen[2].offset == 3);

  clock.Advance(5 * 60'000);
  stats = MustClean(cleaner, *log);
  CHECK(stats.next_dirty == 4);
  seen = ReadRecords(*log);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].value == "3");
  CHECK(seen[1].value == "1");
}

TEST_CASE("the cleaner picks the dirtiest log, or one past max.compaction.lag.ms", "[compaction]") {
  TempDir dir;
  FakeClock clock;
  LogOptions o = Compacted();
  o.min_cleanable_dirty_ratio = 0.5;
  std::unique_ptr<LogImpl> a = OpenLog(dir.Sub("a-0"), o, &clock);
  std::unique_ptr<LogImpl> b = OpenLog(dir.Sub("b-0"), o, &clock);
  std::shared_ptr<LogImpl> sa(std::move(a)), sb(std::move(b));
  LogCleaner cleaner({.clock = &clock});
  const TopicPartition ta{"a", 0}, tb{"b", 0};
  LogList logs{{ta, sa}, {tb, sb}};
  Model ma, mb;
  CHECK_FALSE(cleaner.CleanOnce(logs)->has_value());  // nothing dirty

  // a: clean then a little dirt; b: all dirty.
  for (int i = 0; i < 20; ++i) ma.Append(*sa, {{"k" + std::to_string(i), "v"}}, clock.NowMs());
  REQUIRE(sa->Roll().ok());
  REQUIRE(cleaner.Clean(ta, *sa).ok());
  ma.Append(*sa, {{"k1", "w"}}, clock.NowMs());
  REQUIRE(sa->Roll().ok());
  for (int i = 0; i < 5; ++i) mb.Append(*sb, {{"x", std::to_string(i)}}, clock.NowMs());
  REQUIRE(sb->Roll().ok());
  CHECK(cleaner.Cleanable(ta, *sa).dirty_ratio() < 0.5);
  CHECK(cleaner.Cleanable(tb, *sb).dirty_ratio() == 1.0);

  absl::StatusOr<std::optional<CleanStats>> round = cleaner.CleanOnce(logs);
  REQUIRE(round.ok());
  REQUIRE(round->has_value());
  CHECK(cleaner.FirstDirtyOffset(tb) == 5);
  CHECK(ReadRecords(*sb).size() == 1);
  // a is below min.cleanable.dirty.ratio: not due...
  CHECK_FALSE(cleaner.CleanOnce(logs)->has_value());
  // ...until its dirty record is older than max.compaction.lag.ms.
  LogOptions lagged = o;
  lagged.max_compaction_lag_ms = 60'000;
  REQUIRE(sa->UpdateOptions(lagged).ok());
  CHECK_FALSE(cleaner.CleanOnce(logs)->has_value());
  clock.Advance(60'001);
  CHECK(cleaner.Cleanable(ta, *sa).max_lag_exceeded);
  round = cleaner.CleanOnce(logs);
  REQUIRE(round.ok());
  REQUIRE(round->has_value());
  CHECK(cleaner.FirstDirtyOffset(ta) == 21);
  CHECK(ReadRecords(*sa).size() == 20);

  // The active segment rolls once its first record passes the max lag, so
  // a quiet log still gets compacted.
  ma.Append(*sa, {{"k2", "w"}}, clock.NowMs());
  const int32_t segments = sa->segment_count();
  clock.Advance(60'001);
  round = cleaner.CleanOnce(logs);
  REQUIRE(round.ok());
  CHECK(round->has_value());
  CHECK(sa->segment_count() >= segments);
  CHECK(cleaner.FirstDirtyOffset(ta) == 22);
  CHECK(ReadRecords(*sa).size() == 20);
}

TEST_CASE("a log truncated below the cleaner checkpoint is deduplicated again", "[compaction]") {
  TempDir dir;
  FakeClock clock;
  std::unique_ptr<LogImpl> log = OpenLog(dir.path(), Compacted(), &clock);
  LogCleaner cleaner({.clock = &clock});
  Model first;
  for (int i = 0; i < 10; ++i) first.Append(*log, {{"k" + std::to_string(i), "v"}}, clock.NowMs());
  REQUIRE(log->Roll().ok());
  MustClean(cleaner, *log);
  CHECK(cleaner.FirstDirtyOffset(kTp) == 10);
  // A replica diverged: everything from 2 goes, and the leader's records
  // (overwrites and a tombstone) take offsets 2.. again, past the checkpoint.
  REQUIRE(log->Truncate(2).ok());
  Model model;
  model.Append(*log, {{"k0", "v"}, {"k1", "v"}}, clock.NowMs());
  for (int i = 0; i < 12; ++i) {
    model.Append(*log, {{"a", std::to_string(i)}}, clock.NowMs());
  }
  model.Append(*log, {{"b", "1"}, {"b", std::nullopt}}, clock.NowMs());
  REQUIRE(log->Roll().ok());
  REQUIRE(log->log_end_offset() > 10);
  CHECK(cleaner.Cleanable(kTp, *log).first_dirty == 0);
  MustClean(cleaner, *log);
  std::vector<testing::Rec> seen = ReadRecords(*log);
  // k0 and k1 as rewritten at 2 and 3, a=11, b's tombstone.
  REQUIRE(seen.size() == 4);
  CHECK(seen[2].value == "11");
  CHECK_FALSE(seen[3].value.has_value());
}

TEST_CASE("an aborted pass leaves the log and no replacement files", "[compaction]") {
  TempDir dir;
  FakeClock clock;
  std::unique_ptr<LogImpl> log = OpenLog(dir.path(), Compacted(), &clock);
  Model model;
  for (int i = 0; i < 40; ++i)
    model.Append(*log, {{"k" + std::to_string(i % 3), "v"}}, clock.NowMs());
  REQUIRE(log->Roll().ok());
  const std::vector<testing::Rec> before = ReadRecords(*log);
  OffsetMap map(1 << 16);
  std::atomic<bool> abort{false};
  CleanPassOptions o;
  o.first_dirty = 0;
  o.end = log->log_end_offset();
  o.now_ms = clock.NowMs();
  o.abort = &abort;
  o.before_swap = [&](int64_t) { abort.store(true); };  // Stop() arriving mid-pass
  absl::StatusOr<CleanStats> stats = RunCleanPass(*log, map, o);
  CHECK(absl::IsCancelled(stats.status()));
  CHECK(ReadRecords(*log) == before);
  const std::vector<std::string> names = *ListDir(dir.path());
  for (const std::string& name : names) {
    INFO(name);
    CHECK(name.find(".cleaned") == std::string::npos);
  }
}

}  // namespace
}  // namespace runnel::storage
