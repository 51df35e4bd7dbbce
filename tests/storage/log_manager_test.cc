#include "runnel/log_manager.h"

#include <catch2/catch.hpp>

#include "storage/file_util.h"
#include "storage/log_manager_impl.h"
#include "test_util.h"

namespace runnel::storage {
namespace {

using testing::FakeClock;
using testing::MakeBatch;
using testing::ReadAll;
using testing::Span;
using testing::TempDir;

std::unique_ptr<LogManager> OpenManager(const std::string& dir, const Clock* clock) {
  absl::StatusOr<std::unique_ptr<LogManager>> mgr =
      LogManager::Open({.data_dir = dir, .clock = clock, .background_thread = false});
  REQUIRE(mgr.ok());
  return *std::move(mgr);
}

TEST_CASE("log directory names parse as <topic>-<partition>", "[manager]") {
  CHECK(ParseLogDirName("events-0") == TopicPartition{"events", 0});
  CHECK(ParseLogDirName("my-topic-12") == TopicPartition{"my-topic", 12});
  CHECK_FALSE(ParseLogDirName("events").has_value());
  CHECK_FALSE(ParseLogDirName("events-").has_value());
  CHECK_FALSE(ParseLogDirName("events-x").has_value());
  CHECK(TopicPartition{"a-b", 3}.DirName() == "a-b-3");
}

TEST_CASE("the manager creates, lists, reopens and deletes partitions", "[manager]") {
  TempDir dir;
  FakeClock clock;
  {
    auto mgr = OpenManager(dir.path(), &clock);
    for (int p = 0; p < 3; ++p) {
      absl::StatusOr<std::shared_ptr<Log>> log = mgr->GetOrCreateLog({"events", p});
      REQUIRE(log.ok());
      for (int i = 0; i <= p; ++i) {
        ByteBuffer b = MakeBatch(4, 1000);
        REQUIRE((*log)->Append(Span(b)).ok());
      }
    }
    CHECK(mgr->ListLogs().size() == 3);
    CHECK(mgr->GetLog({"events", 1}) != nullptr);
    CHECK(mgr->GetLog({"other", 0}) == nullptr);
    CHECK_FALSE(mgr->GetOrCreateLog({"../x", 0}).ok());
    REQUIRE(mgr->GetLog({"events", 2})->DeleteRecordsBefore(5).ok());
    REQUIRE(mgr->Close().ok());
  }
  CHECK(PathExists(dir.Sub("recovery-point-offset-checkpoint")));
  CHECK(*ReadWholeFile(dir.Sub("log-start-offset-checkpoint")) ==
        "0\n3\nevents 0 0\nevents 1 0\nevents 2 5\n");
  {
    auto mgr = OpenManager(dir.path(), &clock);
    REQUIRE(mgr->ListLogs().size() == 3);
    std::shared_ptr<Log> p1 = mgr->GetLog({"events", 1});
    REQUIRE(p1 != nullptr);
    CHECK(p1->log_end_offset() == 8);
    // Closed cleanly with a flush: only the active segment is re-checked.
    CHECK(p1->recovery_point() == 8);
    CHECK(mgr->GetLog({"events", 2})->log_start_offset() == 5);

    std::shared_ptr<Log> held = mgr->GetLog({"events", 0});
    REQUIRE(mgr->DeleteLog({"events", 0}).ok());
    CHECK_FALSE(PathExists(dir.Sub("events-0")));
    CHECK(mgr->GetLog({"events", 0}) == nullptr);
    CHECK(absl::IsNotFound(mgr->DeleteLog({"events", 0})));
    CHECK(absl::IsFailedPrecondition(held->Flush()));  // closed, but safe to hold
    REQUIRE(mgr->Checkpoint().ok());
  }
  auto mgr = OpenManager(dir.path(), &clock);
  CHECK(mgr->ListLogs().size() == 2);
}

TEST_CASE("partitions created but never written hold one descriptor each", "[manager]") {
  TempDir dir;
  auto mgr = OpenManager(dir.path(), nullptr);
  auto count_fds = [] { return static_cast<int>(ListDir("/proc/self/fd")->size()); };
  const int before = count_fds();
  for (int p = 0; p < 50; ++p) REQUIRE(mgr->GetOrCreateLog({"idle", p}).ok());
  CHECK(count_fds() - before == 50);
  REQUIRE(mgr->Close().ok());
}

TEST_CASE("the manager runs retention and flush.ms on demand", "[manager]") {
  TempDir dir;
  FakeClock clock(1'000'000);
  auto mgr = OpenManager(dir.path(), &clock);
  LogOptions o;
  o.retention_ms = 10'000;
  o.flush_ms = 5'000;
  o.file_delete_delay_ms = 0;
  absl::StatusOr<std::shared_ptr<Log>> log = mgr->GetOrCreateLog({"t", 0}, o);
  REQUIRE(log.ok());
  for (int i = 0; i < 3; ++i) {
    ByteBuffer b = MakeBatch(2, clock.NowMs());
    REQUIRE((*log)->Append(Span(b)).ok());
    REQUIRE((*log)->Roll().ok());  // a roll flushes what it closes
  }
  CHECK((*log)->recovery_point() == 6);
  ByteBuffer more = MakeBatch(2, clock.NowMs());
  REQUIRE((*log)->Append(Span(more)).ok());
  REQUIRE(mgr->RunFlushOnce().ok());
  CHECK((*log)->recovery_point() == 6);  // not yet flush.ms old
  clock.Advance(5'000);
  REQUIRE(mgr->RunFlushOnce().ok());
  CHECK((*log)->recovery_point() == 8);

  clock.Advance(10'001);
  REQUIRE(mgr->RunRetentionOnce().ok());
  CHECK((*log)->log_start_offset() == 6);
  CHECK((*log)->segment_count() == 1);  // the active one, holding offsets 6 and 7
  REQUIRE(mgr->Close().ok());
}

TEST_CASE("flush.messages flushes after that many records", "[manager]") {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<Log>> log =
      Log::Open({.dir = dir.path(), .log = {.flush_messages = 5}});
  REQUIRE(log.ok());
  ByteBuffer b = MakeBatch(3, 1);
  REQUIRE((*log)->Append(Span(b)).ok());
  CHECK((*log)->recovery_point() == 0);
  ByteBuffer c = MakeBatch(3, 1);
  REQUIRE((*log)->Append(Span(c)).ok());
  CHECK((*log)->recovery_point() == 6);
}

}  // namespace
}  // namespace runnel::storage

namespace runnel::storage {
namespace {

TEST_CASE("a roll flushes the segments before it, as in Kafka", "[manager]") {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<Log>> log =
      Log::Open({.dir = dir.path(), .log = {.segment_bytes = 1024}});
  REQUIRE(log.ok());
  for (int i = 0; i < 20; ++i) {
    ByteBuffer b = MakeBatch(2, i, 60);
    REQUIRE((*log)->Append(Span(b)).ok());
  }
  REQUIRE((*log)->segment_count() > 2);
  // Everything below the active segment is durable; the active one is not.
  CHECK((*log)->recovery_point() > 0);
  CHECK((*log)->recovery_point() < (*log)->log_end_offset());
  absl::StatusOr<ReadResult> tail = (*log)->Read((*log)->recovery_point(), {.max_bytes = 1});
  REQUIRE(tail.ok());
  REQUIRE(tail->slices.size() == 1);
  CHECK(tail->slices[0].position == 0);  // the recovery point is the active segment's base
}

}  // namespace
}  // namespace runnel::storage
