#include <catch2/catch.hpp>

#include "runnel/log_options.h"
#include "storage/checkpoint_file.h"
#include "storage/file_util.h"
#include "storage/leader_epoch_cache.h"
#include "test_util.h"

namespace runnel::storage {
namespace {

using testing::TempDir;

TEST_CASE("offset checkpoints round-trip in Kafka's text format", "[checkpoint]") {
  TempDir dir;
  const std::string path = dir.Sub("recovery-point-offset-checkpoint");
  std::map<TopicPartition, int64_t> offsets{{{"events", 0}, 42}, {{"events", 1}, 7}};
  REQUIRE(WriteOffsetCheckpoint(path, offsets).ok());
  CHECK(*ReadWholeFile(path) == "0\n2\nevents 0 42\nevents 1 7\n");
  absl::StatusOr<std::map<TopicPartition, int64_t>> back = ReadOffsetCheckpoint(path);
  REQUIRE(back.ok());
  CHECK(*back == offsets);
}

TEST_CASE("a missing checkpoint reads as empty; a malformed one is DataLoss", "[checkpoint]") {
  TempDir dir;
  const std::string path = dir.Sub("cp");
  REQUIRE(ReadOffsetCheckpoint(path).ok());
  CHECK(ReadOffsetCheckpoint(path)->empty());
  for (const char* text : {"1\n0\n", "0\n2\nevents 0 1\n", "0\n1\nevents x 1\n", "garbage"}) {
    REQUIRE(WriteFileAtomically(path, text).ok());
    absl::StatusOr<std::map<TopicPartition, int64_t>> r = ReadOffsetCheckpoint(path);
    CHECK(absl::IsDataLoss(r.status()));
    CHECK(r.status().message().find(path) != std::string::npos);
  }
}

TEST_CASE("leader epoch checkpoint round-trips", "[checkpoint]") {
  TempDir dir;
  const std::string path = dir.Sub("leader-epoch-checkpoint");
  std::vector<EpochEntry> entries{{0, 0}, {3, 100}, {5, 250}};
  REQUIRE(WriteEpochCheckpoint(path, entries).ok());
  CHECK(*ReadWholeFile(path) == "0\n3\n0 0\n3 100\n5 250\n");
  absl::StatusOr<std::vector<EpochEntry>> back = ReadEpochCheckpoint(path);
  REQUIRE(back.ok());
  REQUIRE(back->size() == 3);
  CHECK((*back)[1].epoch == 3);
  CHECK((*back)[1].start_offset == 100);
}

TEST_CASE("leader epoch cache follows Kafka's rules", "[epoch]") {
  TempDir dir;
  const std::string path = dir.Sub("leader-epoch-checkpoint");
  auto cache = LeaderEpochCache::Load(path);
  REQUIRE(cache.ok());
  LeaderEpochCache& c = **cache;
  REQUIRE(c.Assign(1, 0).ok());
  REQUIRE(c.Assign(1, 5).ok());  // same epoch, later offset: no change
  REQUIRE(c.Assign(2, 10).ok());
  REQUIRE(c.Assign(4, 20).ok());
  CHECK(c.Entries().size() == 3);
  CHECK(c.LatestEpoch() == 4);

  // OffsetsForLeaderEpoch.
  CHECK(c.EndOffsetFor(4, 30).start_offset == 30);  // latest epoch: log end
  CHECK(c.EndOffsetFor(2, 30).start_offset == 20);
  CHECK(c.EndOffsetFor(3, 30).epoch == 2);  // unknown epoch: the one below
  CHECK(c.EndOffsetFor(3, 30).start_offset == 20);
  CHECK(c.EndOffsetFor(0, 30).epoch == 0);
  CHECK(c.EndOffsetFor(0, 30).start_offset == 0);
  CHECK(c.EndOffsetFor(7, 30).epoch == -1);

  // A new epoch at a lower offset replaces conflicting entries.
  REQUIRE(c.Assign(5, 15).ok());
  CHECK(c.Entries().size() == 3);
  CHECK(c.Entries().back().start_offset == 15);

  REQUIRE(c.TruncateFromEnd(12).ok());
  CHECK(c.LatestEpoch() == 2);
  REQUIRE(c.TruncateFromStart(11).ok());
  REQUIRE(c.Entries().size() == 1);
  CHECK(c.Entries()[0].epoch == 2);
  CHECK(c.Entries()[0].start_offset == 11);

  // Persisted.
  auto again = LeaderEpochCache::Load(path);
  REQUIRE(again.ok());
  REQUIRE((*again)->Entries().size() == 1);
  CHECK((*again)->Entries()[0].start_offset == 11);
}

TEST_CASE("log options parse Kafka properties and name bad ones", "[options]") {
  absl::StatusOr<LogOptions> o = LogOptions::FromProperties({
      {"segment.bytes", "1048576"},
      {"retention.ms", "-1"},
      {"cleanup.policy", "compact,delete"},
      {"message.timestamp.type", "LogAppendTime"},
      {"min.cleanable.dirty.ratio", "0.25"},
  });
  REQUIRE(o.ok());
  CHECK(o->segment_bytes == 1048576);
  CHECK(o->retention_ms == -1);
  CHECK(o->cleanup_policy == CleanupPolicy::kCompactAndDelete);
  CHECK(o->message_timestamp_type == TimestampType::kLogAppendTime);
  CHECK(o->min_cleanable_dirty_ratio == 0.25);
  CHECK(o->index_interval_bytes == 4096);  // untouched default

  absl::StatusOr<LogOptions> unknown = LogOptions::FromProperties({{"segment.byte", "1"}});
  CHECK(absl::IsInvalidArgument(unknown.status()));
  CHECK(unknown.status().message().find("segment.byte") != std::string::npos);

  absl::StatusOr<LogOptions> bad = LogOptions::FromProperties({{"flush.ms", "soon"}});
  CHECK(absl::IsInvalidArgument(bad.status()));
  CHECK(bad.status().message().find("flush.ms") != std::string::npos);
  CHECK(bad.status().message().find("soon") != std::string::npos);

  CHECK_FALSE(LogOptions::FromProperties({{"segment.bytes", "10"}}).ok());
  CHECK_FALSE(LogOptions::FromProperties({{"cleanup.policy", "keep"}}).ok());

  // ToProperties is FromProperties' inverse.
  absl::StatusOr<LogOptions> round = LogOptions::FromProperties(o->ToProperties());
  REQUIRE(round.ok());
  CHECK(round->ToProperties() == o->ToProperties());
}

}  // namespace
}  // namespace runnel::storage
