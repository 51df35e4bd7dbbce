#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <random>

#include "common/record_batch_format.h"
#include "runnel/log.h"
#include "storage/batch_scanner.h"
#include "storage/file_util.h"
#include "storage/log_format.h"
#include "test_util.h"

namespace runnel::storage {
namespace {

using testing::MakeBatch;
using testing::ReadAll;
using testing::Span;
using testing::TempDir;

struct Written {
  std::vector<BatchInfo> batches;  // of the first segment file
  int64_t file_size = 0;
};

// Writes `n` batches of 3 records into one segment, closes the log and
// returns the batch layout of 00000000000000000000.log.
Written WriteLog(const std::string& dir, int n) {
  {
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir});
    REQUIRE(log.ok());
    for (int i = 0; i < n; ++i) {
      ByteBuffer b = MakeBatch(3, 1000 + i, 10 + (i * 7) % 40);
      REQUIRE((*log)->Append(Span(b)).ok());
    }
    REQUIRE((*log)->Close().ok());
  }
  Written w;
  const std::string path = dir + "/00000000000000000000.log";
  absl::StatusOr<FileHandle> fh = OpenFile(path, O_RDONLY);
  REQUIRE(fh.ok());
  w.file_size = *FileSize(fh->get(), path);
  BatchScanner scan(fh->get(), path, 0, w.file_size);
  while (true) {
    absl::StatusOr<std::optional<BatchInfo>> b = scan.Next();
    REQUIRE(b.ok());
    if (!b->has_value()) break;
    w.batches.push_back(**b);
  }
  return w;
}

std::unique_ptr<Log> Reopen(const std::string& dir, int64_t recovery_point = 0) {
  absl::StatusOr<std::unique_ptr<Log>> log =
      Log::Open({.dir = dir, .recovery_point = recovery_point});
  REQUIRE(log.ok());
  return *std::move(log);
}

// How many whole batches lie before byte `pos`.
int WholeBatchesBefore(const Written& w, int64_t pos) {
  int n = 0;
  for (const BatchInfo& b : w.batches) {
    if (b.next_position() <= pos) ++n;
  }
  return n;
}

TEST_CASE("a file cut at any byte recovers exactly its whole batches", "[recovery]") {
  std::mt19937_64 rng(12345);
  for (int trial = 0; trial < 25; ++trial) {
    TempDir dir;
    Written w = WriteLog(dir.path(), 20);
    const int64_t cut = static_cast<int64_t>(rng() % static_cast<uint64_t>(w.file_size));
    REQUIRE(truncate((dir.path() + "/00000000000000000000.log").c_str(), cut) == 0);

    auto log = Reopen(dir.path());
    const int whole = WholeBatchesBefore(w, cut);
    INFO("cut at " << cut << " of " << w.file_size << ", whole batches " << whole);
    CHECK(log->log_end_offset() == whole * 3);
    std::vector<testing::SeenRecord> seen = ReadAll(*log);
    REQUIRE(seen.size() == static_cast<size_t>(whole * 3));
    for (size_t i = 0; i < seen.size(); ++i) CHECK(seen[i].offset == static_cast<int64_t>(i));
    const int64_t boundary = whole == 0 ? 0 : w.batches[whole - 1].next_position();
    if (boundary == cut) {
      CHECK(log->recovery_report().truncations.empty());
    } else {
      REQUIRE(log->recovery_report().truncations.size() == 1);
      const RecoveryTruncation& t = log->recovery_report().truncations[0];
      CHECK(t.position == boundary);
      CHECK(t.bytes_dropped == cut - boundary);
      CHECK(t.file.find("00000000000000000000.log") != std::string::npos);
    }
    // Appends continue right after the valid prefix.
    ByteBuffer b = MakeBatch(1, 1);
    absl::StatusOr<AppendResult> r = log->Append(Span(b));
    REQUIRE(r.ok());
    CHECK(r->base_offset == whole * 3);
  }
}

TEST_CASE("a flipped bit cuts the log at the batch holding it", "[recovery]") {
  std::mt19937_64 rng(777);
  namespace rb = runnel::record_batch;
  for (int trial = 0; trial < 40; ++trial) {
    TempDir dir;
    Written w = WriteLog(dir.path(), 15);
    // Pick a byte the checks cover: baseOffset and partitionLeaderEpoch are
    // outside the CRC by design (the broker rewrites them), in Kafka too.
    int64_t pos;
    size_t victim;
    do {
      pos = static_cast<int64_t>(rng() % static_cast<uint64_t>(w.file_size));
      victim = 0;
      while (w.batches[victim].next_position() <= pos) ++victim;
      const int64_t in = pos - w.batches[victim].position;
      if (in < static_cast<int64_t>(rb::kBatchLengthOffset) ||
          (in >= static_cast<int64_t>(rb::kPartitionLeaderEpochOffset) &&
           in < static_cast<int64_t>(rb::kMagicOffset))) {
        continue;
      }
      break;
    } while (true);
    const std::string path = dir.path() + "/00000000000000000000.log";
    int fd = open(path.c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    uint8_t byte;
    REQUIRE(pread(fd, &byte, 1, pos) == 1);
    byte ^= static_cast<uint8_t>(1u << (rng() % 8));
    REQUIRE(pwrite(fd, &byte, 1, pos) == 1);
    close(fd);

    auto log = Reopen(dir.path());
    INFO("bit flipped at byte " << pos << " in batch " << victim);
    CHECK(log->log_end_offset() == static_cast<int64_t>(victim) * 3);
    CHECK(ReadAll(*log).size() == victim * 3);
    REQUIRE(log->recovery_report().truncations.size() == 1);
    CHECK(log->recovery_report().truncations[0].position == w.batches[victim].position);
    CHECK(log->recovery_report().truncations[0].bytes_dropped ==
          w.file_size - w.batches[victim].position);
  }
}

TEST_CASE("a torn segment drops the segments after it", "[recovery]") {
  TempDir dir;
  LogOptions o;
  o.segment_bytes = 1024;
  {
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir.path(), .log = o});
    REQUIRE(log.ok());
    for (int i = 0; i < 30; ++i) {
      ByteBuffer b = MakeBatch(2, i, 60);
      REQUIRE((*log)->Append(Span(b)).ok());
    }
    REQUIRE((*log)->segment_count() >= 4);
  }
  // A torn write can only hit data not yet flushed: forget the recovery
  // point the log saved on close (rolls had fsynced the segments before the
  // active one), as if the process had died before writing it.
  REQUIRE(std::filesystem::remove(dir.Sub(std::string(kStandaloneCheckpointFile))));
  // Cut the second segment in half.
  std::vector<std::string> logs;
  const std::vector<std::string> names = *ListDir(dir.path());
  for (const std::string& n : names) {
    if (ParseSegmentFileName(n, kLogFileSuffix)) logs.push_back(n);
  }
  std::sort(logs.begin(), logs.end());
  const std::string second = dir.Sub(logs[1]);
  const int64_t second_base = *ParseSegmentFileName(logs[1], kLogFileSuffix);
  struct stat st;
  REQUIRE(stat(second.c_str(), &st) == 0);
  REQUIRE(truncate(second.c_str(), st.st_size / 2) == 0);

  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir.path(), .log = o});
  REQUIRE(log.ok());
  CHECK((*log)->segment_count() == 2);
  CHECK((*log)->recovery_report().segments_deleted == static_cast<int32_t>(logs.size()) - 2);
  CHECK((*log)->log_end_offset() > second_base);
  CHECK(ReadAll(**log).size() == static_cast<size_t>((*log)->log_end_offset()));
}

TEST_CASE("missing or corrupt indexes are rebuilt", "[recovery]") {
  TempDir dir;
  LogOptions o;
  o.segment_bytes = 2048;
  o.index_interval_bytes = 128;
  int64_t end;
  {
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir.path(), .log = o});
    REQUIRE(log.ok());
    for (int i = 0; i < 40; ++i) {
      ByteBuffer b = MakeBatch(2, 100 * i, 40);
      REQUIRE((*log)->Append(Span(b)).ok());
    }
    REQUIRE((*log)->Flush().ok());
    end = (*log)->log_end_offset();
  }
  REQUIRE(RemoveFile(dir.Sub("00000000000000000000.index")).ok());
  {
    // Garbage: an entry pointing far past the end of its .log.
    std::vector<std::string> names = *ListDir(dir.path());
    std::sort(names.begin(), names.end());
    std::string second_index;
    for (const std::string& n : names) {
      if (n != "00000000000000000000.index" && ParseSegmentFileName(n, kIndexFileSuffix)) {
        second_index = dir.Sub(n);
        break;
      }
    }
    REQUIRE_FALSE(second_index.empty());
    REQUIRE(
        WriteFileAtomically(second_index, std::string("\x00\x00\x00\x05\x7f\x00\x00\x00", 8)).ok());
  }
  absl::StatusOr<std::unique_ptr<Log>> log =
      Log::Open({.dir = dir.path(), .log = o, .recovery_point = end});
  REQUIRE(log.ok());
  CHECK((*log)->recovery_report().rebuilt_indexes.size() == 2);
  CHECK((*log)->recovery_report().truncations.empty());
  CHECK((*log)->log_end_offset() == end);
  std::vector<testing::SeenRecord> seen = ReadAll(**log);
  REQUIRE(seen.size() == static_cast<size_t>(end));
  // Index-guided lookups land on the right batches.
  for (int64_t off : std::vector<int64_t>{0, 7, 33, 61, end - 1}) {
    absl::StatusOr<ReadResult> r = (*log)->Read(off, {.max_bytes = 1});
    REQUIRE(r.ok());
    CHECK(r->next_offset > off);
    CHECK(r->next_offset - 2 <= off);
  }
  absl::StatusOr<std::optional<TimestampAndOffset>> t = (*log)->ReadByTimestamp(2000);
  REQUIRE(t.ok());
  REQUIRE(t->has_value());
  CHECK((*t)->offset == 40);
}

TEST_CASE("segments below the recovery point are not rescanned", "[recovery]") {
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
    CHECK((*log)->recovery_point() == (*log)->log_end_offset());
    end = (*log)->log_end_offset();
    segments = (*log)->segment_count();
  }
  absl::StatusOr<std::unique_ptr<Log>> log =
      Log::Open({.dir = dir.path(), .log = o, .recovery_point = end});
  REQUIRE(log.ok());
  CHECK((*log)->recovery_report().segments_recovered == 1);  // the last one only
  CHECK((*log)->segment_count() == segments);
  CHECK((*log)->log_end_offset() == end);
  CHECK(ReadAll(**log).size() == static_cast<size_t>(end));
}

TEST_CASE("a partial write left by a crash is invisible after reopen", "[recovery]") {
  TempDir dir;
  int64_t end;
  {
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir.path()});
    REQUIRE(log.ok());
    for (int i = 0; i < 5; ++i) {
      ByteBuffer b = MakeBatch(4, i);
      REQUIRE((*log)->Append(Span(b)).ok());
    }
    end = (*log)->log_end_offset();
  }
  // Half of one more batch, as a crash in the middle of a write leaves it.
  ByteBuffer extra = MakeBatch(4, 9);
  const std::string path = dir.Sub("00000000000000000000.log");
  int fd = open(path.c_str(), O_WRONLY | O_APPEND);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, extra.data(), extra.size() / 2) == static_cast<ssize_t>(extra.size() / 2));
  close(fd);
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir.path()});
  REQUIRE(log.ok());
  CHECK((*log)->log_end_offset() == end);
  REQUIRE((*log)->recovery_report().truncations.size() == 1);
  CHECK((*log)->recovery_report().truncations[0].bytes_dropped ==
        static_cast<int64_t>(extra.size() / 2));
}

}  // namespace
}  // namespace runnel::storage

namespace runnel::storage {
namespace {

TEST_CASE("an index entry off a batch boundary only slows reads down", "[recovery]") {
  TempDir dir;
  LogOptions o;
  o.segment_bytes = 2048;
  int64_t end;
  {
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir.path(), .log = o});
    REQUIRE(log.ok());
    for (int i = 0; i < 20; ++i) {
      ByteBuffer b = MakeBatch(2, 100 * i, 40);
      REQUIRE((*log)->Append(Span(b)).ok());
    }
    REQUIRE((*log)->Roll().ok());
    REQUIRE((*log)->Flush().ok());
    end = (*log)->log_end_offset();
  }
  // Relative offset 1 at byte 3: inside the first batch, so it passes the
  // open-time check, but a scan from there reads garbage.
  REQUIRE(WriteFileAtomically(dir.Sub("00000000000000000000.index"),
                              std::string("\x00\x00\x00\x01\x00\x00\x00\x03", 8))
              .ok());
  absl::StatusOr<std::unique_ptr<Log>> log =
      Log::Open({.dir = dir.path(), .log = o, .recovery_point = end});
  REQUIRE(log.ok());
  CHECK(ReadAll(**log, 100).size() == static_cast<size_t>(end));
  absl::StatusOr<ReadResult> r = (*log)->Read(5, {.max_bytes = 1});
  REQUIRE(r.ok());
  CHECK(r->next_offset == 6);
}

}  // namespace
}  // namespace runnel::storage

namespace runnel::storage {
namespace {

TEST_CASE("random garbage in index files never breaks reads", "[recovery]") {
  std::mt19937_64 rng(4242);
  for (int trial = 0; trial < 10; ++trial) {
    TempDir dir;
    LogOptions o;
    o.segment_bytes = 2048;
    o.index_interval_bytes = 200;
    int64_t end;
    std::vector<std::string> indexes;
    {
      absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir.path(), .log = o});
      REQUIRE(log.ok());
      for (int i = 0; i < 30; ++i) {
        ByteBuffer b = MakeBatch(2, 100 * i, 40);
        REQUIRE((*log)->Append(Span(b)).ok());
      }
      REQUIRE((*log)->Roll().ok());
      REQUIRE((*log)->Flush().ok());
      end = (*log)->log_end_offset();
    }
    const std::vector<std::string> names = *ListDir(dir.path());
    for (const std::string& n : names) {
      if (ParseSegmentFileName(n, kIndexFileSuffix) ||
          ParseSegmentFileName(n, kTimeIndexFileSuffix)) {
        std::string garbage(static_cast<size_t>(rng() % 5) * 24, '\0');
        for (char& c : garbage) c = static_cast<char>(rng());
        absl::Status w = WriteFileAtomically(dir.Sub(n), garbage);
        INFO(w.ToString());
        REQUIRE(w.ok());
      }
    }
    absl::StatusOr<std::unique_ptr<Log>> log =
        Log::Open({.dir = dir.path(), .log = o, .recovery_point = end});
    REQUIRE(log.ok());
    std::vector<testing::SeenRecord> seen = ReadAll(**log, 150);
    REQUIRE(seen.size() == static_cast<size_t>(end));
    for (int64_t off = 0; off < end; off += 7) {
      absl::StatusOr<ReadResult> r = (*log)->Read(off, {.max_bytes = 1});
      REQUIRE(r.ok());
      CHECK(r->next_offset == off - off % 2 + 2);
    }
    absl::StatusOr<std::optional<TimestampAndOffset>> t = (*log)->ReadByTimestamp(1500);
    REQUIRE(t.ok());
    REQUIRE(t->has_value());
    CHECK((*t)->offset == 30);
  }
}

}  // namespace
}  // namespace runnel::storage
