// The segment API a cleaner (compaction) builds on: list segments, read
// their batches, write a replacement and swap it in atomically; and the
// write path's behaviour when the file system refuses a write.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "storage/file_util.h"
#include "storage/log_format.h"
#include "storage/log_impl.h"
#include "test_util.h"

namespace runnel::storage {
namespace {

using testing::MakeBatch;
using testing::ReadAll;
using testing::Span;
using testing::TempDir;

std::unique_ptr<LogImpl> OpenImpl(const std::string& dir, const LogOptions& o) {
  absl::StatusOr<std::unique_ptr<LogImpl>> log = LogImpl::OpenImpl({.dir = dir, .log = o});
  REQUIRE(log.ok());
  return *std::move(log);
}

LogOptions SmallSegments() {
  LogOptions o;
  o.segment_bytes = 1024;
  o.index_interval_bytes = 100;
  o.file_delete_delay_ms = 0;
  return o;
}

// Copies every other batch of `old` into a new .cleaned segment, as a
// cleaner that dropped half the batches would.
std::shared_ptr<Segment> HalfOf(const std::string& dir,
                                const std::vector<std::shared_ptr<Segment>>& old) {
  absl::StatusOr<std::shared_ptr<Segment>> out =
      Segment::Create(dir, old.front()->base_offset(), 4096, 0, kCleanedFileSuffix);
  REQUIRE(out.ok());
  int n = 0;
  for (const auto& seg : old) {
    BatchScanner scan(seg->fd(), seg->log_path(), 0, seg->size());
    while (true) {
      absl::StatusOr<std::optional<BatchInfo>> b = scan.Next();
      REQUIRE(b.ok());
      if (!b->has_value()) break;
      if (n++ % 2 == 1) continue;
      ByteBuffer bytes;
      REQUIRE(seg->ReadBytes((*b)->position, (*b)->size, bytes).ok());
      iovec iov{bytes.data(), bytes.size()};
      AppendedBatch meta{(*b)->last_offset, (*b)->max_timestamp, (*b)->size};
      REQUIRE((*out)->Append({&iov, 1}, {&meta, 1}, 100).ok());
    }
  }
  return *out;
}

// Batches 0, 2, 4, ... below `old_end` survive with their offsets (two
// records each); everything after is intact, up to offset 59.
void CheckHalved(const Log& log, int64_t old_end) {
  std::vector<int64_t> offsets;
  for (const auto& r : ReadAll(log)) offsets.push_back(r.offset);
  for (int64_t off = 0; off < 60; ++off) {
    const bool kept = off >= old_end || (off / 2) % 2 == 0;
    CHECK(std::count(offsets.begin(), offsets.end(), off) == (kept ? 1 : 0));
  }
}

int CountWithSuffix(const std::string& dir, absl::string_view suffix) {
  int n = 0;
  const std::vector<std::string> names = *ListDir(dir);
  for (const std::string& name : names) n += absl::EndsWith(name, suffix) ? 1 : 0;
  return n;
}

TEST_CASE("a cleaner can replace segments atomically, keeping offsets", "[segment]") {
  TempDir dir;
  auto log = OpenImpl(dir.path(), SmallSegments());
  for (int i = 0; i < 30; ++i) {
    ByteBuffer b = MakeBatch(2, i, 60);
    REQUIRE(log->Append(Span(b), {}).ok());
  }
  std::shared_ptr<const LogImpl::SegmentMap> segments = log->SegmentsSnapshot();
  REQUIRE(segments->size() >= 4);
  std::vector<std::shared_ptr<Segment>> old;
  for (auto it = segments->begin(); old.size() < 2; ++it) old.push_back(it->second);
  const int64_t old_end = std::next(segments->begin(), 2)->first;  // third segment's base

  // A reader holding the old segments keeps its file ranges.
  absl::StatusOr<ReadResult> before = log->Read(0, {.max_bytes = 1 << 20, .copy_bytes = false});
  REQUIRE(before.ok());

  std::shared_ptr<Segment> replacement = HalfOf(dir.path(), old);
  REQUIRE(log->ReplaceSegments(old, replacement).ok());
  CHECK(log->segment_count() == static_cast<int32_t>(segments->size()) - 1);
  CHECK(CountWithSuffix(dir.path(), ".cleaned") == 0);
  CHECK(CountWithSuffix(dir.path(), ".swap") == 0);

  CheckHalved(*log, old_end);
  // Offset lookups into a dropped batch land on the next surviving one.
  absl::StatusOr<ReadResult> gap = log->Read(2, {.max_bytes = 1});
  REQUIRE(gap.ok());
  CHECK(gap->next_offset == 6);

  // The old reader still reads through its descriptors.
  uint8_t probe[8];
  CHECK(pread(before->slices[0].fd, probe, 8, 0) == 8);

  // Replacing the active segment, or a non-member, is refused.
  CHECK_FALSE(log->ReplaceSegments({&old[0], 1}, HalfOf(dir.path(), {old[0]})).ok());
  REQUIRE(log->Close().ok());
  log.reset();
  CHECK(CountWithSuffix(dir.path(), ".cleaned") == 3);  // the refused one's three files
  auto again = OpenImpl(dir.path(), SmallSegments());
  CHECK(CountWithSuffix(dir.path(), ".cleaned") == 0);
  CheckHalved(*again, old_end);
}

TEST_CASE("an interrupted swap is completed at open", "[segment]") {
  TempDir dir;
  int64_t old_end;
  {
    auto log = OpenImpl(dir.path(), SmallSegments());
    for (int i = 0; i < 30; ++i) {
      ByteBuffer b = MakeBatch(2, i, 60);
      REQUIRE(log->Append(Span(b), {}).ok());
    }
    std::shared_ptr<const LogImpl::SegmentMap> segments = log->SegmentsSnapshot();
    std::vector<std::shared_ptr<Segment>> old{segments->begin()->second,
                                              std::next(segments->begin())->second};
    old_end = std::next(segments->begin(), 2)->first;
    // The crash: the replacement is complete (.swap) but the old segments
    // are still live.
    std::shared_ptr<Segment> replacement = HalfOf(dir.path(), old);
    REQUIRE(replacement->Flush().ok());
    REQUIRE(replacement->CloseForAppends().ok());
    REQUIRE(replacement->RenameSuffix(kSwapFileSuffix).ok());
  }
  CHECK(CountWithSuffix(dir.path(), ".swap") == 3);
  auto again = OpenImpl(dir.path(), SmallSegments());
  CHECK(CountWithSuffix(dir.path(), ".swap") == 0);
  CheckHalved(*again, old_end);
  CHECK(again->log_end_offset() == 60);
}

TEST_CASE("a refused write leaves the log as it was", "[segment]") {
  TempDir dir;
  LogOptions o;
  o.segment_index_bytes = 4096;
  auto log = OpenImpl(dir.path(), o);
  for (int i = 0; i < 20; ++i) {
    ByteBuffer b = MakeBatch(10, i, 200);
    REQUIRE(log->Append(Span(b), {}).ok());
  }
  const int64_t size = log->size_bytes();
  const int64_t end = log->log_end_offset();

  // RLIMIT_FSIZE makes the kernel write part of the batch and then refuse
  // (EFBIG), like a disk filling up mid-write.
  struct rlimit old_limit;
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = old_limit;
  limit.rlim_cur = static_cast<rlim_t>(size + 1000);
  REQUIRE(setrlimit(RLIMIT_FSIZE, &limit) == 0);
  ByteBuffer big = MakeBatch(10, 99, 400);
  REQUIRE(big.size() > 1000);
  absl::StatusOr<AppendResult> refused = log->Append(Span(big), {});
  REQUIRE(setrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  signal(SIGXFSZ, SIG_DFL);

  CHECK_FALSE(refused.ok());
  CHECK(log->size_bytes() == size);
  CHECK(log->log_end_offset() == end);
  struct stat st;
  REQUIRE(stat(dir.Sub("00000000000000000000.log").c_str(), &st) == 0);
  CHECK(st.st_size == size);  // the partial bytes are gone from the file too

  // The log keeps working, and a reopen sees exactly what was acknowledged.
  ByteBuffer next = MakeBatch(1, 5);
  absl::StatusOr<AppendResult> r = log->Append(Span(next), {});
  REQUIRE(r.ok());
  CHECK(r->base_offset == end);
  REQUIRE(log->Close().ok());
  log.reset();
  auto again = OpenImpl(dir.path(), o);
  CHECK(again->recovery_report().truncations.empty());
  CHECK(again->log_end_offset() == end + 1);
  CHECK(ReadAll(*again).size() == static_cast<size_t>(end + 1));
}

TEST_CASE("indexes of inactive segments hold no file descriptors", "[segment]") {
  TempDir dir;
  auto log = OpenImpl(dir.path(), SmallSegments());
  for (int i = 0; i < 30; ++i) {
    ByteBuffer b = MakeBatch(2, i, 60);
    REQUIRE(log->Append(Span(b), {}).ok());
  }
  REQUIRE(log->Close().ok());
  log.reset();
  auto count_fds = [] {
    const std::vector<std::string> fds = *ListDir("/proc/self/fd");
    return static_cast<int>(fds.size());
  };
  const int before = count_fds();
  auto again = OpenImpl(dir.path(), SmallSegments());
  const int32_t segments = again->segment_count();
  // Look up in every segment: maps their indexes.
  CHECK(ReadAll(*again, 100).size() == 60);
  // One .log each: the active segment opens its indexes for appends only
  // when an append comes.
  CHECK(count_fds() - before == segments);
  ByteBuffer b = MakeBatch(1, 1);
  REQUIRE(again->Append(Span(b), {}).ok());
  // Index files are opened only within an append: still one a segment.
  CHECK(count_fds() - before == again->segment_count());  // it may have rolled
  // Idle again: the manager's periodic task parks it.
  absl::StatusOr<bool> parked = again->CloseIdleFiles(/*idle_ms=*/0);
  REQUIRE(parked.ok());
  CHECK(*parked);
  CHECK(count_fds() - before == again->segment_count());
  REQUIRE(again->Append(Span(b), {}).ok());
  CHECK(ReadAll(*again).size() == 62);
}

}  // namespace
}  // namespace runnel::storage
