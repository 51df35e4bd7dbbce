#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/index_file.h"
#include "storage/log_format.h"
#include "test_util.h"

namespace runnel::storage {
namespace {

using testing::TempDir;

TEST_CASE("offset index finds the last entry at or below the target", "[index]") {
  TempDir dir;
  OffsetIndex index(dir.Sub("00000000000000000100.index"), 100);
  REQUIRE(index.file().EnsureOpen(true, 1024).ok());
  CHECK(index.file().max_entries() == 128);
  REQUIRE(index.Append(110, 4096).ok());
  REQUIRE(index.Append(120, 8192).ok());
  REQUIRE(index.Append(130, 12288).ok());
  // Not increasing: ignored.
  REQUIRE(index.Append(125, 20000).ok());
  CHECK(index.file().entries() == 3);

  CHECK(index.Lookup(99).offset == 100);
  CHECK(index.Lookup(99).position == 0);
  CHECK(index.Lookup(109).position == 0);
  CHECK(index.Lookup(110).position == 4096);
  CHECK(index.Lookup(119).position == 4096);
  CHECK(index.Lookup(120).position == 8192);
  CHECK(index.Lookup(1'000'000).position == 12288);
  CHECK(index.LastEntry().offset == 130);

  REQUIRE(index.TruncateTo(120).ok());
  CHECK(index.file().entries() == 1);
  CHECK(index.Lookup(1'000'000).position == 4096);
}

TEST_CASE("time index finds the last entry at or below the timestamp", "[index]") {
  TempDir dir;
  TimeIndex index(dir.Sub("00000000000000000000.timeindex"), 0);
  REQUIRE(index.file().EnsureOpen(true, 120).ok());
  CHECK(index.file().max_entries() == 10);
  REQUIRE(index.Append(1000, 5).ok());
  REQUIRE(index.Append(1000, 6).ok());  // same timestamp: ignored
  REQUIRE(index.Append(2000, 9).ok());
  CHECK(index.file().entries() == 2);
  CHECK(index.Lookup(999).timestamp == -1);
  CHECK(index.Lookup(999).offset == 0);
  CHECK(index.Lookup(1500).offset == 5);
  CHECK(index.Lookup(2000).offset == 9);
  REQUIRE(index.TruncateTo(9).ok());
  CHECK(index.LastEntry().offset == 5);
}

TEST_CASE("a full index says so; trim shrinks the file to its entries", "[index]") {
  TempDir dir;
  const std::string path = dir.Sub("00000000000000000000.index");
  {
    OffsetIndex index(path, 0);
    REQUIRE(index.file().EnsureOpen(true, 3 * kOffsetIndexEntrySize).ok());
    for (int i = 1; i <= 3; ++i) REQUIRE(index.Append(i * 10, i * 100).ok());
    CHECK(index.file().full());
    CHECK_FALSE(index.Append(40, 400).ok());
    REQUIRE(index.file().Trim().ok());
  }
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK(st.st_size == 3 * static_cast<off_t>(kOffsetIndexEntrySize));

  // Reopened read-only and lazily: the same entries.
  OffsetIndex again(path, 0);
  CHECK(again.Lookup(25).position == 200);
  CHECK(again.file().entries() == 3);
  CHECK(again.Check(1000).ok());
  CHECK_FALSE(again.Check(250).ok());  // an entry past the end of the .log
}

TEST_CASE("a preallocated index left by a crash keeps only its valid prefix", "[index]") {
  TempDir dir;
  const std::string path = dir.Sub("00000000000000000000.index");
  {
    OffsetIndex index(path, 0);
    REQUIRE(index.file().EnsureOpen(true, 4096).ok());
    REQUIRE(index.Append(5, 100).ok());
    REQUIRE(index.Append(9, 200).ok());
    REQUIRE(index.file().WritePending().ok());
  }
  // A zero-filled tail, as an older version's preallocation leaves after a
  // crash.
  REQUIRE(truncate(path.c_str(), 4096) == 0);
  {
    OffsetIndex reopened(path, 0);
    CHECK(reopened.Lookup(1'000).position == 200);
    CHECK(reopened.file().entries() == 2);
    // Appending again first cuts the tail, so no stale bytes follow.
    REQUIRE(reopened.file().EnsureOpen(true, 4096).ok());
    REQUIRE(reopened.Append(12, 300).ok());
    REQUIRE(reopened.file().WritePending().ok());
  }
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK(st.st_size == 3 * static_cast<off_t>(kOffsetIndexEntrySize));
  OffsetIndex again(path, 0);
  CHECK(again.LastEntry().offset == 12);  // loads the count
  CHECK(again.file().entries() == 3);
}

TEST_CASE("a rebuild overwrites entries in place and cuts what is left", "[index]") {
  TempDir dir;
  const std::string path = dir.Sub("00000000000000000000.index");
  OffsetIndex index(path, 0);
  REQUIRE(index.file().EnsureOpen(true, 4096).ok());
  for (int i = 1; i <= 5; ++i) REQUIRE(index.Append(i * 10, i * 100).ok());
  REQUIRE(index.file().WritePending().ok());
  index.file().ForgetEntries();
  CHECK(index.file().entries() == 0);
  CHECK(index.Lookup(50).position == 0);
  REQUIRE(index.Append(7, 70).ok());
  REQUIRE(index.Append(15, 150).ok());
  REQUIRE(index.file().CutToEntries().ok());
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK(st.st_size == 2 * static_cast<off_t>(kOffsetIndexEntrySize));
  CHECK(index.Lookup(1'000).offset == 15);
  OffsetIndex reopened(path, 0);
  CHECK(reopened.LastEntry().offset == 15);
  CHECK(reopened.Lookup(10).position == 70);
}

// The descriptors this process has open on files whose name ends in `suffix`.
int OpenFilesEndingIn(const std::string& suffix) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = std::filesystem::read_symlink(e.path(), ec).string();
    if (!ec && target.size() >= suffix.size() &&
        target.compare(target.size() - suffix.size(), suffix.size(), suffix) == 0) {
      ++n;
    }
  }
  return n;
}

TEST_CASE("an index holds no descriptor between appends", "[index]") {
  TempDir dir;
  OffsetIndex index(dir.Sub("00000000000000000000.index"), 0);
  REQUIRE(index.file().EnsureOpen(true, 4096).ok());
  REQUIRE(index.Append(5, 100).ok());
  CHECK(OpenFilesEndingIn(".index") == 0);
  CHECK(index.Lookup(7).position == 100);  // buffered, found in memory
  REQUIRE(index.file().WritePending().ok());
  CHECK(OpenFilesEndingIn(".index") == 0);
  CHECK(index.Lookup(7).position == 100);  // mapped, descriptor closed
  CHECK(OpenFilesEndingIn(".index") == 0);
  REQUIRE(index.Append(9, 200).ok());
  REQUIRE(index.file().WritePending().ok());
  CHECK(index.Lookup(9).position == 200);  // the mapping sees the new entry
}

off_t FileBytes(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

TEST_CASE("index entries are buffered and written a bufferful at a time", "[index]") {
  TempDir dir;
  const std::string path = dir.Sub("00000000000000001000.index");
  OffsetIndex index(path, 1000);
  REQUIRE(index.file().EnsureOpen(true, 4096).ok());
  const int total = kPendingIndexEntries * 2 + 3;
  for (int i = 1; i <= total; ++i) REQUIRE(index.Append(1000 + i * 10, i * 100).ok());
  CHECK(index.file().entries() == total);
  // Two full buffers reached the file; the last 3 entries are in memory.
  CHECK(FileBytes(path) == 2 * kPendingIndexEntries * static_cast<off_t>(kOffsetIndexEntrySize));
  {
    OffsetIndex other(path, 1000);  // what a reader of the file alone sees
    CHECK(other.LastEntry().offset == 1000 + 2 * kPendingIndexEntries * 10);  // loads the count
    CHECK(other.file().entries() == 2 * kPendingIndexEntries);
  }
  // Every lookup is right, whether its entry is in the file or in memory.
  for (int i = 1; i <= total; ++i) {
    CHECK(index.Lookup(1000 + i * 10 + 5).position == i * 100);
  }
  CHECK(index.Lookup(1005).position == 0);
  CHECK(index.LastEntry().offset == 1000 + total * 10);

  // A truncation among the buffered entries leaves the file alone; one into
  // the file's entries drops the buffer and cuts the file.
  REQUIRE(index.file().TruncateEntries(total - 1).ok());
  CHECK(index.LastEntry().offset == 1000 + (total - 1) * 10);
  CHECK(FileBytes(path) == 2 * kPendingIndexEntries * static_cast<off_t>(kOffsetIndexEntrySize));
  REQUIRE(index.file().TruncateEntries(2 * kPendingIndexEntries).ok());
  CHECK(index.LastEntry().offset == 1000 + 2 * kPendingIndexEntries * 10);
  CHECK(index.Lookup(INT64_MAX).position == 2 * kPendingIndexEntries * 100);
  REQUIRE(index.file().TruncateEntries(5).ok());
  CHECK(index.LastEntry().offset == 1050);
  CHECK(index.Lookup(INT64_MAX).position == 500);
  CHECK(FileBytes(path) == 5 * static_cast<off_t>(kOffsetIndexEntrySize));

  // Flush writes what is buffered; Trim too, and the index takes no more.
  REQUIRE(index.Append(2000, 9000).ok());
  CHECK(FileBytes(path) == 5 * static_cast<off_t>(kOffsetIndexEntrySize));
  REQUIRE(index.file().Flush().ok());
  CHECK(FileBytes(path) == 6 * static_cast<off_t>(kOffsetIndexEntrySize));
  REQUIRE(index.Append(2010, 9100).ok());
  REQUIRE(index.file().Trim().ok());
  CHECK(FileBytes(path) == 7 * static_cast<off_t>(kOffsetIndexEntrySize));
  CHECK(index.file().full());
  OffsetIndex reopened(path, 1000);
  CHECK(reopened.Lookup(2015).position == 9100);
  CHECK(reopened.file().entries() == 7);
}

TEST_CASE("a truncation finds buffered time index entries", "[index]") {
  TempDir dir;
  const std::string path = dir.Sub("00000000000000000000.timeindex");
  TimeIndex index(path, 0);
  REQUIRE(index.file().EnsureOpen(true, 4096).ok());
  for (int i = 1; i <= 20; ++i) REQUIRE(index.Append(1000 * i, i * 10).ok());
  CHECK(index.Lookup(5500).offset == 50);
  CHECK(index.Lookup(20000).offset == 200);
  // TruncateTo searches every entry: the buffered ones are written first.
  REQUIRE(index.TruncateTo(185).ok());
  CHECK(index.file().entries() == 18);
  CHECK(index.LastEntry().timestamp == 18000);
  CHECK(index.Lookup(20000).offset == 180);
  CHECK(FileBytes(path) == 18 * static_cast<off_t>(kTimeIndexEntrySize));
}

// Lines of /proc/self/maps naming a file under `dir`.
int MappingsOf(const std::string& dir) {
  std::ifstream maps("/proc/self/maps");
  int n = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find(dir + "/") != std::string::npos) ++n;
  }
  return n;
}

TEST_CASE("mapped indexes beyond the cap are unmapped, least recently searched first",
          "[index]") {
  TempDir dir;
  SetMaxMappedIndexes(3);
  {
    std::vector<std::unique_ptr<OffsetIndex>> indexes;
    for (int i = 0; i < 8; ++i) {
      auto index = std::make_unique<OffsetIndex>(
          dir.Sub(SegmentFileName(i * 1000, kIndexFileSuffix)), i * 1000);
      REQUIRE(index->file().EnsureOpen(true, 4096).ok());
      for (int j = 1; j <= 20; ++j) REQUIRE(index->Append(i * 1000 + j * 10, j * 4096).ok());
      REQUIRE(index->file().Trim().ok());  // every entry in the file: lookups map it
      indexes.push_back(std::move(index));
    }
    const size_t before = MappedIndexCount();
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 8; ++i) {
        // Every lookup is right whether its index was still mapped or not.
        CHECK(indexes[i]->Lookup(i * 1000 + 55).position == 5 * 4096);
        CHECK(MappedIndexCount() <= std::max<size_t>(before, 3));
      }
    }
    CHECK(MappedIndexCount() == 3);
    CHECK(MappingsOf(dir.path()) == 3);
    // A lookup below the first entry (it finds none) maps the index too,
    // and the cap holds for it as well.
    for (int i = 0; i < 8; ++i) {
      CHECK(indexes[i]->Lookup(i * 1000 + 5).position == 0);
      CHECK(MappingsOf(dir.path()) <= 3);
    }
    CHECK(MappedIndexCount() == 3);
    // Destroying an index takes it off the list.
    indexes.erase(indexes.begin() + 7);
    CHECK(MappedIndexCount() == 2);
  }
  CHECK(MappedIndexCount() == 0);
  CHECK(MappingsOf(dir.path()) == 0);
  SetMaxMappedIndexes(1024);
}

TEST_CASE("segment file names are Kafka's 20-digit names", "[index]") {
  CHECK(SegmentFileName(0, ".log") == "00000000000000000000.log");
  CHECK(SegmentFileName(1234, ".index") == "00000000000000001234.index");
  CHECK(ParseSegmentFileName("00000000000000001234.log", ".log") == 1234);
  CHECK_FALSE(ParseSegmentFileName("00000000000000001234.index", ".log").has_value());
  CHECK_FALSE(ParseSegmentFileName("0000000000000000123x.log", ".log").has_value());
  CHECK_FALSE(ParseSegmentFileName("1234.log", ".log").has_value());
}

}  // namespace
}  // namespace runnel::storage
