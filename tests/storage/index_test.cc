#include <sys/stat.h>

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

  index.TruncateTo(120);
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
  index.TruncateTo(9);
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
    // No Trim: the file keeps its zero-filled tail, as after a crash.
  }
  OffsetIndex reopened(path, 0);
  CHECK(reopened.Lookup(1'000).position == 200);
  CHECK(reopened.file().entries() == 2);
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
