// Compaction's swap of cleaned segments: crash safety at every step of the
// rename sequence, appends and readers running while the cleaner works, and
// the LogManager's cleaner with its checkpoint.
#include <catch2/catch.hpp>
#include <filesystem>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "compaction_util.h"
#include "runnel/log_manager.h"
#include "storage/file_util.h"
#include "storage/log_cleaner.h"
#include "storage/log_format.h"

namespace runnel::storage {
namespace {

namespace fs = std::filesystem;
using testing::FakeClock;
using testing::KV;
using testing::Model;
using testing::OpenLog;
using testing::ReadRecords;
using testing::Rec;
using testing::TempDir;

const TopicPartition kTp{"t", 0};

LogOptions Compacted() {
  LogOptions o;
  o.cleanup_policy = CleanupPolicy::kCompact;
  o.segment_bytes = 2048;
  o.index_interval_bytes = 256;
  o.file_delete_delay_ms = 0;
  return o;
}

void CopyFile(const std::string& from, const std::string& to) {
  REQUIRE(fs::copy_file(from, to, fs::copy_options::overwrite_existing));
}

std::vector<Rec> RecordsOf(const std::string& dir, const Clock* clock) {
  std::unique_ptr<LogImpl> log = OpenLog(dir, Compacted(), clock);
  std::vector<Rec> seen = ReadRecords(*log);
  // The open finished or discarded the swap: no cleaner file is left.
  const std::vector<std::string> names = *ListDir(dir);
  for (const std::string& name : names) {
    INFO(name);
    CHECK_FALSE(absl::EndsWith(name, kCleanedFileSuffix));
    CHECK_FALSE(absl::EndsWith(name, kSwapFileSuffix));
  }
  return seen;
}

TEST_CASE("an interrupted swap is completed or rolled back at open, at every step",
          "[compaction]") {
  TempDir tmp;
  FakeClock clock;
  const std::string before = tmp.Sub("before"), after = tmp.Sub("after");
  std::mt19937_64 rng(11);
  {
    std::unique_ptr<LogImpl> log = OpenLog(before, Compacted(), &clock);
    Model model;
    for (int i = 0; i < 80; ++i) {
      std::vector<KV> batch;
      for (int j = 0; j < 4; ++j) {
        batch.push_back({"k" + std::to_string(rng() % 30), "v" + std::to_string(i * 4 + j)});
      }
      model.Append(*log, batch, clock.NowMs());
    }
    REQUIRE(log->Roll().ok());
    REQUIRE(log->Close().ok());
  }
  fs::copy(before, after);
  CleanStats stats;
  {
    // One group: every segment merges into one replacement.
    LogOptions big = Compacted();
    big.segment_bytes = 1 << 20;
    std::unique_ptr<LogImpl> log = OpenLog(after, big, &clock);
    LogCleaner cleaner({.clock = &clock});
    absl::StatusOr<CleanStats> cleaned = cleaner.Clean(kTp, *log);
    REQUIRE(cleaned.ok());
    stats = *cleaned;
    REQUIRE(log->Close().ok());
  }
  REQUIRE(stats.groups.size() == 1);
  const int64_t base = stats.groups[0].base;
  const std::vector<int64_t>& replaced = stats.groups[0].replaced;
  REQUIRE(replaced.size() > 2);
  const std::vector<Rec> old_records = RecordsOf(before, &clock);
  const std::vector<Rec> new_records = RecordsOf(after, &clock);
  REQUIRE(new_records.size() < old_records.size());
  REQUIRE(new_records.size() == 30);

  const std::vector<absl::string_view> exts = {kLogFileSuffix, kIndexFileSuffix,
                                               kTimeIndexFileSuffix};
  // The replacement's files under `suffix` in `dir`.
  auto add_replacement = [&](const std::string& dir, absl::string_view suffix) {
    for (absl::string_view ext : exts) {
      CopyFile(JoinPath(after, SegmentFileName(base, ext)),
               JoinPath(dir, absl::StrCat(SegmentFileName(base, ext), suffix)));
    }
  };
  // Renames the first `n` replaced segments of `dir` to *.deleted.
  auto delete_old = [&](const std::string& dir, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      for (absl::string_view ext : exts) {
        const std::string path = JoinPath(dir, SegmentFileName(replaced[i], ext));
        if (PathExists(path))
          REQUIRE(RenameFile(path, path + std::string(kDeletedFileSuffix)).ok());
      }
    }
  };
  auto scenario = [&](const std::string& name, const std::string& from) {
    const std::string dir = tmp.Sub(name);
    fs::copy(from, dir);
    return dir;
  };

  SECTION("crash while writing .cleaned: the old segments stay") {
    const std::string dir = scenario("s1", before);
    add_replacement(dir, kCleanedFileSuffix);
    // A torn .cleaned is as harmless as a whole one.
    fs::resize_file(
        JoinPath(dir, absl::StrCat(SegmentFileName(base, kLogFileSuffix), kCleanedFileSuffix)),
        100);
    CHECK(RecordsOf(dir, &clock) == old_records);
  }
  SECTION("crash after .cleaned became .swap: the swap completes") {
    const std::string dir = scenario("s2", before);
    add_replacement(dir, kSwapFileSuffix);
    CHECK(RecordsOf(dir, &clock) == new_records);
  }
  SECTION("crash while renaming the old segments away: the swap completes") {
    const std::string dir = scenario("s3", before);
    add_replacement(dir, kSwapFileSuffix);
    delete_old(dir, replaced.size() / 2);
    CHECK(RecordsOf(dir, &clock) == new_records);
  }
  SECTION("crash after the old segments were renamed away: the swap completes") {
    const std::string dir = scenario("s4", before);
    add_replacement(dir, kSwapFileSuffix);
    delete_old(dir, replaced.size());
    CHECK(RecordsOf(dir, &clock) == new_records);
  }
  SECTION("crash before the *.deleted files were removed: they are") {
    const std::string dir = scenario("s5", after);
    for (int64_t old : replaced) {
      for (absl::string_view ext : exts) {
        const std::string src = JoinPath(before, SegmentFileName(old, ext));
        if (PathExists(src)) {
          CopyFile(src, JoinPath(dir, absl::StrCat(SegmentFileName(old, ext), kDeletedFileSuffix)));
        }
      }
    }
    CHECK(RecordsOf(dir, &clock) == new_records);
    const std::vector<std::string> names = *ListDir(dir);
    for (const std::string& name : names) CHECK_FALSE(absl::EndsWith(name, kDeletedFileSuffix));
  }
}

TEST_CASE("appends and readers never wait for the cleaner", "[compaction]") {
  TempDir tmp;
  FakeClock clock;
  LogOptions options = Compacted();
  options.segment_bytes = 16 * 1024;
  std::unique_ptr<LogImpl> log = OpenLog(tmp.path(), options, &clock);
  Model model;
  for (int i = 0; i < 300; ++i) {
    model.Append(*log, {{"k" + std::to_string(i % 40), "pre-" + std::to_string(i)}}, clock.NowMs());
  }
  REQUIRE(log->Roll().ok());

  // The writer appends while it has budget. Main grants some before each
  // pass (dirt for the next one); each swap grants 20 more and waits for
  // them while the cleaner holds a finished replacement: proof that appends
  // do not queue behind a pass.
  absl::Mutex mu;
  int64_t appended = 0;  // all guarded by mu
  int64_t budget = 0;
  bool stop = false;
  int hooks_satisfied = 0;
  LogCleaner cleaner({.clock = &clock, .before_swap = [&](int64_t) {
                        absl::MutexLock lock(&mu);
                        const int64_t target = appended + budget + 20;
                        budget += 20;
                        auto done = [&] { return appended >= target || stop; };
                        if (mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(60)) &&
                            appended >= target) {
                          ++hooks_satisfied;
                        }
                      }});

  std::vector<Rec> written;
  std::string append_error;
  std::thread writer([&] {
    std::mt19937_64 rng(5);
    for (int i = 0;; ++i) {
      {
        absl::MutexLock lock(&mu);
        auto ready = [&] { return budget > 0 || stop; };
        mu.Await(absl::Condition(&ready));
        if (budget == 0) return;
        --budget;
      }
      const std::string key = "k" + std::to_string(rng() % 40);
      const std::string value = key + "#" + std::to_string(i);
      Record r{.key = key, .value = value};
      absl::StatusOr<AppendResult> a = log->AppendRecords(std::span<const Record>(&r, 1), {});
      absl::MutexLock lock(&mu);
      if (!a.ok()) {
        append_error = a.status().ToString();
        stop = true;
        return;
      }
      written.push_back({a->base_offset, key, value, clock.NowMs()});
      ++appended;
    }
  });
  // Readers check what they can without the model: offsets increase, every
  // batch is intact, every value written meanwhile belongs to its key.
  std::atomic<bool> stop_reading{false};
  std::atomic<int> scans{0};
  std::string read_error;
  std::thread reader([&] {
    while (!stop_reading.load() && read_error.empty()) {
      int64_t offset = log->log_start_offset(), prev = -1;
      while (offset < log->log_end_offset() && read_error.empty()) {
        absl::StatusOr<ReadResult> r = log->Read(offset, {.max_bytes = 4096});
        if (!r.ok()) {
          read_error = r.status().ToString();
          break;
        }
        protocol::RecordBatchReader batches(r->bytes.span());
        while (batches.NextBatch()) {
          while (batches.NextRecord()) {
            const protocol::Record& rec = batches.record();
            if (rec.offset < offset) continue;
            if (rec.offset <= prev)
              read_error = absl::StrCat("offset ", rec.offset, " after ", prev);
            prev = rec.offset;
            std::string_view v = rec.value.str();
            if (v.find('#') != std::string_view::npos &&
                v.substr(0, v.find('#')) != rec.key.str()) {
              read_error = "value " + std::string(v) + " under key " + std::string(rec.key.str());
            }
          }
        }
        if (!batches.status().ok()) read_error = batches.status().ToString();
        if (r->next_offset <= offset) break;
        offset = r->next_offset;
      }
      scans.fetch_add(1);
    }
  });

  std::vector<absl::Status> passes;
  for (int pass = 0; pass < 4; ++pass) {
    {
      absl::MutexLock lock(&mu);
      budget += 100;
    }
    passes.push_back(cleaner.Clean(kTp, *log).status());
    if (!passes.back().ok()) break;
    passes.push_back(log->Roll());
  }
  {
    absl::MutexLock lock(&mu);
    auto drained = [&] { return budget == 0 || stop; };
    mu.Await(absl::Condition(&drained));
    stop = true;
  }
  writer.join();
  stop_reading.store(true);
  reader.join();
  for (const absl::Status& s : passes) CHECK(s.ok());
  INFO(append_error);
  CHECK(append_error.empty());
  INFO(read_error);
  CHECK(read_error.empty());
  CHECK(scans.load() > 0);
  CHECK(hooks_satisfied >= 4);

  for (const Rec& r : written) model.Add(r);
  REQUIRE(log->Roll().ok());
  absl::StatusOr<CleanStats> last = cleaner.Clean(kTp, *log);
  REQUIRE(last.ok());
  std::vector<Rec> seen = ReadRecords(*log);
  testing::CheckCleaned(model, seen, last->next_dirty, clock.NowMs(),
                        log->options().delete_retention_ms);
  testing::CheckFullyCompacted(model, seen);
}

TEST_CASE("the log manager cleans compacted logs and checkpoints where it stopped",
          "[compaction]") {
  TempDir tmp;
  FakeClock clock;
  LogManagerOptions options{.data_dir = tmp.path(),
                            .default_log_options = Compacted(),
                            .clock = &clock,
                            .background_thread = false};
  const std::string checkpoint = tmp.Sub(std::string(kCleanerOffsetCheckpointFile));
  {
    absl::StatusOr<std::unique_ptr<LogManager>> mgr = LogManager::Open(options);
    REQUIRE(mgr.ok());
    absl::StatusOr<std::shared_ptr<Log>> log = (*mgr)->GetOrCreateLog(kTp);
    REQUIRE(log.ok());
    Model model;
    for (int i = 0; i < 50; ++i) model.Append(**log, {{"k" + std::to_string(i % 5), "v"}}, 0);
    REQUIRE((*log)->Roll().ok());
    REQUIRE((*mgr)->RunCleanerOnce().ok());
    testing::CheckFullyCompacted(model, ReadRecords(**log));
    absl::StatusOr<std::string> text = ReadWholeFile(checkpoint);
    REQUIRE(text.ok());
    CHECK(*text == "0\n1\nt 0 50\n");
    REQUIRE((*mgr)->Close().ok());
  }
  {
    // The checkpoint survives a restart: nothing is dirty, nothing happens.
    absl::StatusOr<std::unique_ptr<LogManager>> mgr = LogManager::Open(options);
    REQUIRE(mgr.ok());
    const int64_t size = (*mgr)->GetLog(kTp)->size_bytes();
    REQUIRE((*mgr)->RunCleanerOnce().ok());
    CHECK((*mgr)->GetLog(kTp)->size_bytes() == size);
    REQUIRE((*mgr)->Close().ok());
  }
  {
    // The manager's own cleaner thread does the same unasked.
    options.background_thread = true;
    options.cleaner_backoff_ms = 10;
    // Any dirt is due, so the last segment rolled is cleaned however small.
    options.default_log_options.min_cleanable_dirty_ratio = 0;
    absl::StatusOr<std::unique_ptr<LogManager>> mgr = LogManager::Open(options);
    REQUIRE(mgr.ok());
    std::shared_ptr<Log> log = (*mgr)->GetLog(kTp);
    for (int i = 0; i < 50; ++i) {
      const std::string key = "k" + std::to_string(i % 5);
      Record r{.key = key, .value = "w"};
      REQUIRE(log->AppendRecords(std::span(&r, 1)).ok());
    }
    REQUIRE(log->Roll().ok());
    for (int i = 0; i < 3000 && ReadRecords(*log).size() != 5; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::vector<Rec> seen = ReadRecords(*log);
    REQUIRE(seen.size() == 5);
    for (const Rec& r : seen) CHECK(r.value == "w");
    REQUIRE((*mgr)->Close().ok());
  }
}

}  // namespace
}  // namespace runnel::storage
