// Producer-state snapshots (producer_state_snapshot.h): Kafka's file format,
// written at segment rolls and clean shutdown, read back at the first
// produce after a restart, skipped when corrupt, and removed by storage when
// the log is truncated below them. Driven through AppendProduced on a
// partition over a standalone Log, as the broker drives it.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "broker/producer_state.h"
#include "broker/producer_state_append.h"
#include "broker/producer_state_snapshot.h"
#include "common/crc32c.h"
#include "runnel/common/endian.h"
#include "runnel/log.h"
#include "runnel/protocol/record_batch.h"
#include "tests/temp_dir.h"

namespace runnel::broker {
namespace {

using protocol::ErrorCode;
using ProducerMap = absl::flat_hash_map<int64_t, ProducerEntry>;

using runnel::testing::TempDir;

// A partition over a standalone log in `dir`; small segments roll often.
std::shared_ptr<Partition> OpenPartition(const std::string& dir, int64_t segment_bytes = 1024) {
  storage::LogOpenOptions o;
  o.dir = dir;
  o.log.segment_bytes = segment_bytes;
  auto log = storage::Log::Open(o);
  INFO(log.status().ToString());
  REQUIRE(log.ok());
  auto p = std::make_shared<Partition>();
  p->topic = "t";
  p->index = 0;
  p->log = std::shared_ptr<storage::Log>(std::move(*log));
  return p;
}

void ClosePartition(std::shared_ptr<Partition>& p) {
  REQUIRE(p->log->Flush().ok());
  REQUIRE(p->log->Close().ok());
  p.reset();
}

// `records` one-record values from producer `pid` (pid -1: no idempotence).
std::vector<uint8_t> Batch(int64_t pid, int16_t epoch, int32_t seq, int records) {
  protocol::RecordBatchBuilderOptions o;
  o.producer_id = pid;
  o.producer_epoch = pid < 0 ? -1 : epoch;
  o.base_sequence = pid < 0 ? -1 : seq;
  protocol::RecordBatchBuilder builder(o);
  const int64_t now = absl::ToUnixMillis(absl::Now());
  for (int i = 0; i < records; ++i) {
    std::string value = "value-" + std::to_string(seq + i) + std::string(40, 'x');
    REQUIRE(builder.Append(now, nullptr, value).ok());
  }
  auto bytes = builder.Finish();
  REQUIRE(bytes.ok());
  return std::vector<uint8_t>(bytes->begin(), bytes->end());
}

ProducedAppend Produce(Partition& p, std::vector<uint8_t> batch) {
  return AppendProduced(p, batch, kDefaultProducerIdExpirationMs);
}

// Three producers (one bumps its epoch) and plain batches, interleaved,
// over many 1 KiB segments. Returns the live producer table at the end.
ProducerMap WriteMixedLog(Partition& p) {
  int32_t seq[3] = {0, 0, 0};
  for (int round = 0; round < 40; ++round) {
    for (int pid = 0; pid < 3; ++pid) {
      const int records = 1 + (round + pid) % 3;
      const int16_t epoch = (pid == 2 && round >= 20) ? 1 : 0;
      if (pid == 2 && round == 20) seq[2] = 0;  // KIP-360: a new epoch starts at 0
      ProducedAppend a = Produce(p, Batch(100 + pid, epoch, seq[pid], records));
      INFO(a.message);
      REQUIRE(a.error == ErrorCode::kNone);
      seq[pid] += records;
    }
    if (round % 7 == 0) REQUIRE(Produce(p, Batch(-1, -1, round, 2)).error == ErrorCode::kNone);
  }
  absl::MutexLock l(&p.append_mu);
  REQUIRE(p.producers != nullptr);
  return p.producers->producers();
}

LoadedProducerState Load(const Partition& p) {
  auto loaded =
      LoadProducerState(*p.log, absl::ToUnixMillis(absl::Now()), kDefaultProducerIdExpirationMs);
  INFO(loaded.status().ToString());
  REQUIRE(loaded.ok());
  return *std::move(loaded);
}

std::vector<int64_t> Snapshots(const std::string& dir) {
  auto offsets = ListProducerSnapshots(dir);
  REQUIRE(offsets.ok());
  return *offsets;
}

std::string SnapshotPath(const std::string& dir, int64_t offset) {
  char name[40];
  snprintf(name, sizeof(name), "%020lld.snapshot", static_cast<long long>(offset));
  return dir + "/" + name;
}

void PutBE64(std::vector<uint8_t>& out, int64_t v) {
  out.resize(out.size() + 8);
  StoreBigEndian<int64_t>(out.data() + out.size() - 8, v);
}
void PutBE32(std::vector<uint8_t>& out, int32_t v) {
  out.resize(out.size() + 4);
  StoreBigEndian<int32_t>(out.data() + out.size() - 4, v);
}
void PutBE16(std::vector<uint8_t>& out, int16_t v) {
  out.resize(out.size() + 2);
  StoreBigEndian<int16_t>(out.data() + out.size() - 2, v);
}

TEST_CASE("a producer snapshot is Kafka's version 1 file with an entry per remembered batch",
          "[producer_state][snapshot]") {
  ProducerStateTable t;
  ProducerBatch b;
  b.producer_id = 42;
  b.producer_epoch = 3;
  b.base_sequence = 10;
  b.last_offset_delta = 2;
  t.Update(b, /*first_offset=*/100, /*timestamp_ms=*/1'700'000'000'123);
  b.base_sequence = 13;
  b.last_offset_delta = 0;
  t.Update(b, 103, 1'700'000'000'456);

  // Kafka's PID_SNAPSHOT_MAP_SCHEMA by hand: version, crc, entries (array).
  std::vector<uint8_t> want;
  PutBE16(want, 1);
  PutBE32(want, 0);  // the CRC, filled in below
  PutBE32(want, 2);
  for (auto [last_seq, last_offset, delta, ts] :
       {std::tuple<int32_t, int64_t, int32_t, int64_t>{12, 102, 2, 1'700'000'000'123},
        {13, 103, 0, 1'700'000'000'456}}) {
    PutBE64(want, 42);
    PutBE16(want, 3);
    PutBE32(want, last_seq);
    PutBE64(want, last_offset);
    PutBE32(want, delta);
    PutBE64(want, ts);
    PutBE32(want, -1);
    PutBE64(want, -1);
  }
  StoreBigEndian<uint32_t>(want.data() + 2, Crc32c(want.data() + 6, want.size() - 6));
  CHECK(EncodeProducerSnapshot(t) == want);

  auto back = DecodeProducerSnapshot(want, "x.snapshot");
  REQUIRE(back.ok());
  CHECK((*back)->producers() == t.producers());

  // A file as Kafka writes it (the last batch only) reads as that batch.
  std::vector<uint8_t> kafka(want.begin(), want.begin() + kProducerSnapshotHeaderSize);
  StoreBigEndian<int32_t>(kafka.data() + 6, 1);
  kafka.insert(kafka.end(), want.begin() + kProducerSnapshotHeaderSize,
               want.begin() + kProducerSnapshotHeaderSize + kProducerSnapshotEntrySize);
  StoreBigEndian<uint32_t>(kafka.data() + 2, Crc32c(kafka.data() + 6, kafka.size() - 6));
  auto one = DecodeProducerSnapshot(kafka, "k.snapshot");
  REQUIRE(one.ok());
  const ProducerEntry* e = (*one)->Find(42);
  REQUIRE(e != nullptr);
  REQUIRE(e->batches.size() == 1);
  CHECK(e->batches[0] == ProducerBatchMetadata{10, 12, 100, 102, 1'700'000'000'123});

  // Damage anywhere is DataLoss naming the file.
  std::vector<uint8_t> bad = want;
  bad[20] ^= 1;
  auto crc = DecodeProducerSnapshot(bad, "bad.snapshot");
  CHECK(absl::IsDataLoss(crc.status()));
  CHECK(crc.status().message().find("bad.snapshot") != std::string::npos);
  bad = want;
  bad[1] = 2;  // version 2
  CHECK(absl::IsDataLoss(DecodeProducerSnapshot(bad, "v.snapshot").status()));
  CHECK(absl::IsDataLoss(
      DecodeProducerSnapshot(std::span(want).first(want.size() - 1), "short.snapshot").status()));
}

TEST_CASE("restarting from a snapshot rebuilds the state a full replay of the log does",
          "[producer_state][snapshot]") {
  TempDir dir;
  auto p = OpenPartition(dir.path());
  const ProducerMap live = WriteMixedLog(*p);
  REQUIRE(p->log->segment_count() > 5);
  // A snapshot at every roll; the newest two kept, the last at the active
  // segment's base.
  std::vector<int64_t> snaps = Snapshots(dir.path());
  REQUIRE(snaps.size() == kProducerSnapshotsKept);
  const int64_t end = p->log->log_end_offset();
  CHECK(snaps[1] < end);
  ClosePartition(p);

  SECTION("from the last roll's snapshot, replaying the active segment") {
    p = OpenPartition(dir.path());
    LoadedProducerState loaded = Load(*p);
    CHECK(loaded.snapshot_offset == snaps[1]);
    CHECK(loaded.replayed_from == snaps[1]);
    CHECK(loaded.table->producers() == live);
    // And the same as a replay of the whole log.
    for (int64_t s : snaps) std::filesystem::remove(SnapshotPath(dir.path(), s));
    LoadedProducerState replayed = Load(*p);
    CHECK(replayed.snapshot_offset == -1);
    CHECK(replayed.replayed_from == 0);
    CHECK(replayed.table->producers() == live);
  }
  SECTION("from the clean shutdown's snapshot, replaying nothing") {
    p = OpenPartition(dir.path());
    // The first produce after a start loads the state; shutdown writes it.
    REQUIRE(Produce(*p, Batch(100, 0, 1000, 1)).error == ErrorCode::kOutOfOrderSequenceNumber);
    REQUIRE(SnapshotProducerState(*p).ok());
    CHECK(Snapshots(dir.path()) == std::vector<int64_t>{snaps[1], end});
    ClosePartition(p);
    p = OpenPartition(dir.path());
    LoadedProducerState loaded = Load(*p);
    CHECK(loaded.snapshot_offset == end);
    CHECK(loaded.replayed_from == end);
    CHECK(loaded.table->producers() == live);
  }
}

TEST_CASE("a retried batch older than the newest is still a duplicate after a restart",
          "[producer_state][snapshot]") {
  TempDir dir;
  auto p = OpenPartition(dir.path(), 1 << 20);
  std::vector<int64_t> offsets;
  for (int32_t seq = 0; seq < 5; ++seq) {
    ProducedAppend a = Produce(*p, Batch(7, 0, seq, 1));
    REQUIRE(a.error == ErrorCode::kNone);
    offsets.push_back(a.base_offset);
  }
  REQUIRE(SnapshotProducerState(*p).ok());
  ClosePartition(p);
  // The log is not read: producer 7 is known from the snapshot alone.
  p = OpenPartition(dir.path(), 1 << 20);
  const int64_t end = p->log->log_end_offset();
  for (int32_t seq : {1, 3, 4}) {
    ProducedAppend dup = Produce(*p, Batch(7, 0, seq, 1));
    INFO("sequence " << seq << ": " << dup.message);
    CHECK(dup.error == ErrorCode::kNone);
    CHECK(dup.base_offset == offsets[seq]);
  }
  CHECK(p->log->log_end_offset() == end);
  CHECK(Produce(*p, Batch(7, 0, 6, 1)).error == ErrorCode::kOutOfOrderSequenceNumber);
  CHECK(Produce(*p, Batch(7, 0, 5, 1)).base_offset == end);
}

TEST_CASE("a corrupt snapshot is deleted and the state comes from an older one or the log",
          "[producer_state][snapshot]") {
  TempDir dir;
  auto p = OpenPartition(dir.path());
  const ProducerMap live = WriteMixedLog(*p);
  const std::vector<int64_t> snaps = Snapshots(dir.path());
  REQUIRE(snaps.size() == 2);
  const int64_t end = p->log->log_end_offset();
  // A snapshot at the end that knows one producer more than the log: seeing
  // it after a load shows the snapshot was used.
  ProducerStateTable extra;
  for (const auto& [pid, entry] : live) {
    for (const ProducerBatchMetadata& m : entry.batches) {
      ProducerBatch b;
      b.producer_id = pid;
      b.producer_epoch = entry.epoch;
      b.base_sequence = m.first_sequence;
      b.last_offset_delta = static_cast<int32_t>(m.last_offset - m.first_offset);
      extra.Update(b, m.first_offset, m.timestamp_ms);
    }
  }
  CHECK(extra.producers() == live);
  ProducerBatch ghost;
  ghost.producer_id = 999;
  ghost.producer_epoch = 0;
  ghost.base_sequence = 0;
  extra.Update(ghost, 0, absl::ToUnixMillis(absl::Now()));
  REQUIRE(WriteProducerSnapshot(dir.path(), end, extra).ok());
  ClosePartition(p);
  p = OpenPartition(dir.path());
  REQUIRE(Load(*p).table->Find(999) != nullptr);

  // One flipped byte in an entry: the CRC catches it.
  const std::string newest = SnapshotPath(dir.path(), end);
  {
    std::fstream f(newest, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(kProducerSnapshotHeaderSize + 3);
    f.put('\x7f');
  }
  LoadedProducerState loaded = Load(*p);
  CHECK(loaded.snapshot_offset == snaps[1]);
  CHECK(loaded.table->Find(999) == nullptr);
  CHECK(loaded.table->producers() == live);
  CHECK_FALSE(std::filesystem::exists(newest));

  // The older one torn too: a full replay.
  std::filesystem::resize_file(SnapshotPath(dir.path(), snaps[1]), 7);
  loaded = Load(*p);
  CHECK(loaded.snapshot_offset == -1);
  CHECK(loaded.replayed_from == 0);
  CHECK(loaded.table->producers() == live);
  CHECK(Snapshots(dir.path()).empty());
}

TEST_CASE("truncating the log removes the snapshots above its new end",
          "[producer_state][snapshot]") {
  TempDir dir;
  auto p = OpenPartition(dir.path());
  WriteMixedLog(*p);
  const int64_t end = p->log->log_end_offset();
  REQUIRE(SnapshotProducerState(*p).ok());
  const std::vector<int64_t> snaps = Snapshots(dir.path());
  REQUIRE(snaps.size() == 2);
  REQUIRE(snaps[1] == end);

  // Between the two: the newer goes, the older (still within the log) stays.
  REQUIRE(p->log->Truncate(snaps[0] + 1).ok());
  CHECK(Snapshots(dir.path()) == std::vector<int64_t>{snaps[0]});
  // At a snapshot's own offset it describes exactly what is left: kept.
  REQUIRE(p->log->Truncate(snaps[0]).ok());
  CHECK(Snapshots(dir.path()) == std::vector<int64_t>{snaps[0]});
  REQUIRE(p->log->Truncate(snaps[0] - 1).ok());
  CHECK(Snapshots(dir.path()).empty());

  // TruncateFully drops every one.
  ProducerStateTable any;
  REQUIRE(WriteProducerSnapshot(dir.path(), 5, any).ok());
  REQUIRE(p->log->TruncateFully(1000).ok());
  CHECK(Snapshots(dir.path()).empty());

  // A snapshot above the end found at Open (the log lost its tail in a
  // crash) is removed too.
  const int64_t now_end = p->log->log_end_offset();
  REQUIRE(WriteProducerSnapshot(dir.path(), now_end, any).ok());
  REQUIRE(WriteProducerSnapshot(dir.path(), now_end + 10, any).ok());
  ClosePartition(p);
  p = OpenPartition(dir.path());
  CHECK(Snapshots(dir.path()) == std::vector<int64_t>{now_end});
}

}  // namespace
}  // namespace runnel::broker
