// Compaction at the level of batches: the last batch of each producer and
// rebuilt LogAppendTime batches (transactional and control batches:
// compaction_txn_test.cc).
#include <catch2/catch.hpp>

#include "compaction_util.h"
#include "storage/file_util.h"
#include "storage/log_cleaner.h"

namespace runnel::storage {
namespace {

using protocol::CompressionType;
using testing::CheckFullyCompacted;
using testing::Compacted;
using testing::FakeClock;
using testing::kTp;
using testing::Model;
using testing::MustClean;
using testing::OpenLog;
using testing::ReadRecords;
using testing::TempDir;

TEST_CASE("the last batch of each producer survives compaction, empty if need be", "[compaction]") {
  TempDir dir;
  FakeClock clock;
  std::unique_ptr<LogImpl> log = OpenLog(dir.path(), Compacted(), &clock);
  LogCleaner cleaner({.clock = &clock});
  Model model;
  // Producer 7 writes three batches, sequences 0-1, 2-4, 5-6; every key is
  // overwritten later by a non-idempotent writer.
  model.Append(*log, {{"a", "1"}, {"b", "1"}}, clock.NowMs(),
               {.producer_id = 7, .producer_epoch = 3, .base_sequence = 0});
  model.Append(*log, {{"c", "1"}, {"d", "1"}, {"e", "1"}}, clock.NowMs(),
               {.compression = CompressionType::kZstd,
                .producer_id = 7,
                .producer_epoch = 3,
                .base_sequence = 2});
  model.Append(*log, {{"f", "1"}, {"g", "1"}}, clock.NowMs(),
               {.producer_id = 7, .producer_epoch = 3, .base_sequence = 5});
  // Producer 8's last batch loses only its first record.
  model.Append(*log, {{"h", "1"}, {"i", "1"}, {"j", "1"}}, clock.NowMs(),
               {.compression = CompressionType::kLz4,
                .producer_id = 8,
                .producer_epoch = 0,
                .base_sequence = 40});
  model.Append(*log,
               {{"a", "2"},
                {"b", "2"},
                {"c", "2"},
                {"d", "2"},
                {"e", "2"},
                {"f", "2"},
                {"g", "2"},
                {"h", "2"}},
               clock.NowMs());
  REQUIRE(log->Roll().ok());
  CleanStats stats = MustClean(cleaner, *log);
  CHECK(stats.empty_batches_kept >= 1);

  std::vector<protocol::RecordBatchHeader> batches;
  std::vector<testing::Rec> seen = ReadRecords(*log, &batches);
  REQUIRE(batches.size() == 3);
  // Producer 7: only its last batch, empty, with its offsets and sequence.
  CHECK(batches[0].producer_id == 7);
  CHECK(batches[0].producer_epoch == 3);
  CHECK(batches[0].base_sequence == 5);
  CHECK(batches[0].base_offset == 5);
  CHECK(batches[0].last_offset() == 6);
  CHECK(batches[0].record_count == 0);
  // Producer 8: rebuilt with its codec, offsets, sequence and last offset.
  CHECK(batches[1].producer_id == 8);
  CHECK(batches[1].base_sequence == 40);
  CHECK(batches[1].compression() == CompressionType::kLz4);
  CHECK(batches[1].base_offset == 7);
  CHECK(batches[1].last_offset() == 9);
  CHECK(batches[1].record_count == 2);
  CHECK(batches[2].producer_id == -1);
  REQUIRE(seen.size() == 10);
  CHECK(seen[0].offset == 8);
  CHECK(seen[1].offset == 9);
  CHECK(seen[2].offset == 10);
  CheckFullyCompacted(model, seen);
  CHECK(log->log_end_offset() == 18);
}

TEST_CASE("rebuilt LogAppendTime batches keep their timestamp type and time", "[compaction]") {
  TempDir dir;
  FakeClock clock;
  LogOptions o = Compacted();
  o.message_timestamp_type = TimestampType::kLogAppendTime;
  std::unique_ptr<LogImpl> log = OpenLog(dir.path(), o, &clock);
  LogCleaner cleaner({.clock = &clock});
  Model model;
  model.Append(*log, {{"a", "1"}, {"b", "1"}, {"a", "2"}}, 5);  // stamped with the clock
  REQUIRE(log->Roll().ok());
  MustClean(cleaner, *log);
  std::vector<protocol::RecordBatchHeader> batches;
  std::vector<testing::Rec> seen = ReadRecords(*log, &batches);
  REQUIRE(batches.size() == 1);
  CHECK(batches[0].timestamp_type() == protocol::TimestampType::kLogAppendTime);
  CHECK(batches[0].max_timestamp == clock.NowMs());
  CHECK(batches[0].last_offset() == 2);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].offset == 1);
  CHECK(seen[0].timestamp == clock.NowMs());
  CHECK(seen[1].value == "2");
}

}  // namespace
}  // namespace runnel::storage
