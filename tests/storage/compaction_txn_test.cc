// Compaction of transactional data (Kafka's LogCleaner with
// CleanedTransactionMetadata): aborted records go, committed ones compact
// like any others, markers stay while their transaction has data and go
// delete.retention.ms after the cleaner first found them empty (KIP-534's
// delete horizon, kept in the batch), undecided transactions stop a pass.
// The random case checks every pass against a reference model.
#include <array>
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>

#include "common/record_batch_format.h"
#include "compaction_util.h"
#include "storage/cleaner_txn.h"
#include "storage/log_cleaner.h"

namespace runnel::storage {
namespace {

using protocol::CompressionType;
using protocol::ControlRecordType;
using testing::Compacted;
using testing::FakeClock;
using testing::kRetention;
using testing::kTp;
using testing::KV;
using testing::MustClean;
using testing::OpenLog;
using testing::ReadRecords;
using testing::Rec;
using testing::TempDir;

// What the model knows of each offset.
struct Entry {
  Rec rec;
  int txn = -1;  // index into TxnLog::txns_ (data and markers), -1: plain
  bool control = false;
};

struct Txn {
  int64_t producer = -1;
  bool decided = false;
  bool committed = false;
  int64_t marker_offset = -1;
  int64_t marker_ts = -1;
};

// Appends plain batches, transactional batches and markers to a log and
// remembers every record, which transaction it belongs to and how that
// transaction ended.
class TxnLog {
 public:
  int64_t Plain(Log& log, const std::vector<KV>& records, int64_t ts,
                CompressionType codec = CompressionType::kNone) {
    return Append(log, records, ts, {.compression = codec}, -1, false);
  }

  // Transactional records of `producer`, opening a transaction if none is.
  int64_t Data(Log& log, int64_t producer, const std::vector<KV>& records, int64_t ts,
               CompressionType codec = CompressionType::kNone) {
    auto [it, opened] = open_.emplace(producer, static_cast<int>(txns_.size()));
    if (opened) txns_.push_back({.producer = producer});
    int32_t& seq = sequences_[producer];
    const int64_t base = Append(log, records, ts,
                                {.compression = codec,
                                 .producer_id = producer,
                                 .producer_epoch = 0,
                                 .base_sequence = seq,
                                 .transactional = true},
                                it->second, false);
    seq += static_cast<int32_t>(records.size());
    return base;
  }

  // The producer's commit or abort marker.
  int64_t End(Log& log, int64_t producer, bool commit, int64_t ts) {
    const std::array<uint8_t, 4> key = protocol::EncodeControlRecordKey(
        commit ? ControlRecordType::kCommit : ControlRecordType::kAbort);
    const std::array<uint8_t, 6> value = protocol::EncodeEndTxnMarkerValue(1);
    auto it = open_.find(producer);
    int txn = -1;
    if (it != open_.end()) {
      txn = it->second;
      open_.erase(it);
    }
    const int64_t offset = Append(
        log, {{std::string(key.begin(), key.end()), std::string(value.begin(), value.end())}}, ts,
        {.producer_id = producer, .producer_epoch = 0, .transactional = true, .control = true}, txn,
        true);
    if (txn >= 0) txns_[txn] = {producer, true, commit, offset, ts};
    return offset;
  }

  bool IsOpen(int64_t producer) const { return open_.contains(producer); }
  const std::map<int64_t, Entry>& all() const { return all_; }
  const std::vector<Txn>& txns() const { return txns_; }

  // Data a read_committed consumer may see: plain or committed.
  bool Visible(const Entry& e) const {
    return !e.control && (e.txn < 0 || (txns_[e.txn].decided && txns_[e.txn].committed));
  }
  bool Aborted(const Entry& e) const {
    return !e.control && e.txn >= 0 && txns_[e.txn].decided && !txns_[e.txn].committed;
  }

  // The newest visible record of each key.
  std::map<std::string, const Entry*> Latest() const {
    std::map<std::string, const Entry*> latest;
    for (const auto& [offset, e] : all_) {
      if (Visible(e) && e.rec.key.has_value()) latest[*e.rec.key] = &e;
    }
    return latest;
  }

 private:
  int64_t Append(Log& log, const std::vector<KV>& records, int64_t ts,
                 const protocol::RecordBatchBuilderOptions& options, int txn, bool control) {
    protocol::RecordBatchBuilder builder(options);
    for (const KV& kv : records) {
      REQUIRE(builder.Append(ts, testing::Bytes(kv.key), testing::Bytes(kv.value)).ok());
    }
    REQUIRE(builder.Finish().ok());
    ByteBuffer batch = builder.TakeBuffer();
    absl::StatusOr<AppendResult> r = log.Append(testing::Span(batch));
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    for (size_t i = 0; i < records.size(); ++i) {
      const int64_t offset = r->base_offset + static_cast<int64_t>(i);
      all_[offset] = Entry{Rec{offset, records[i].key, records[i].value, ts}, txn, control};
    }
    return r->base_offset;
  }

  std::map<int64_t, Entry> all_;
  std::vector<Txn> txns_;
  std::map<int64_t, int> open_;  // producer -> its open transaction
  std::map<int64_t, int32_t> sequences_;
};

// The log's records with the headers of their batches.
struct Seen {
  std::vector<Rec> records;
  std::map<int64_t, protocol::RecordBatchHeader> batch_of;  // by record offset
  std::vector<protocol::RecordBatchHeader> batches;
};

Seen ReadAll(const Log& log) {
  Seen s;
  s.records = ReadRecords(log, &s.batches);
  size_t b = 0;
  for (const Rec& r : s.records) {
    while (b < s.batches.size() && s.batches[b].last_offset() < r.offset) ++b;
    REQUIRE(b < s.batches.size());
    REQUIRE(s.batches[b].base_offset <= r.offset);
    s.batch_of[r.offset] = s.batches[b];
  }
  return s;
}

// What every pass that cleaned below `next_dirty` at `now` guarantees.
void CheckPass(const TxnLog& model, const Seen& seen, int64_t next_dirty, int64_t now) {
  std::map<int64_t, const Rec*> present;
  int64_t prev = -1;
  for (const Rec& r : seen.records) {
    // Offsets preserved, bytes and timestamps unchanged (a delete horizon
    // in baseTimestamp must not move record timestamps).
    REQUIRE(r.offset > prev);
    prev = r.offset;
    auto it = model.all().find(r.offset);
    REQUIRE(it != model.all().end());
    INFO("offset " << r.offset);
    REQUIRE(it->second.rec == r);
    const protocol::RecordBatchHeader& h = seen.batch_of.at(r.offset);
    REQUIRE(h.is_control() == it->second.control);
    REQUIRE(h.is_transactional() == (it->second.txn >= 0 || it->second.control));
    present[r.offset] = &r;
  }
  // The newest visible offset of each key below next_dirty.
  std::map<std::string, int64_t> newest_below;
  for (const auto& [offset, e] : model.all()) {
    if (offset < next_dirty && model.Visible(e) && e.rec.key.has_value()) {
      newest_below[*e.rec.key] = offset;
    }
  }
  std::vector<bool> txn_has_data(model.txns().size(), false);
  for (const auto& [offset, r] : present) {
    const Entry& e = model.all().at(offset);
    INFO("offset " << offset);
    if (e.control) continue;
    if (e.txn >= 0) txn_has_data[e.txn] = true;
    if (offset >= next_dirty) continue;
    // Below the cleaning point: no aborted record, and only the newest
    // visible record of a key.
    REQUIRE_FALSE(model.Aborted(e));
    REQUIRE(e.rec.key.has_value());
    REQUIRE(newest_below.at(*e.rec.key) == offset);
  }
  // The newest visible record of each key stays; a tombstone at least until
  // delete.retention.ms after it was written.
  for (const auto& [key, e] : model.Latest()) {
    if (!e->rec.value.has_value() && now - e->rec.timestamp >= kRetention) continue;
    INFO("newest record of " << key << " at " << e->rec.offset);
    REQUIRE(present.contains(e->rec.offset));
  }
  // Above the cleaning point nothing with a value was touched.
  for (auto it = model.all().lower_bound(next_dirty); it != model.all().end(); ++it) {
    if (it->second.control || !it->second.rec.value.has_value() || !it->second.rec.key) continue;
    INFO("dirty record at " << it->first);
    REQUIRE(present.contains(it->first));
  }
  // A marker stays while its transaction has data, and goes no sooner than
  // delete.retention.ms after it was written. Transactional data left is
  // followed by its producer's commit marker (what read_committed needs).
  for (size_t t = 0; t < model.txns().size(); ++t) {
    const Txn& txn = model.txns()[t];
    INFO("transaction " << t << " of producer " << txn.producer << ", marker at "
                        << txn.marker_offset);
    if (txn_has_data[t] && txn.decided) {
      REQUIRE(present.contains(txn.marker_offset));
      if (txn.marker_offset < next_dirty) REQUIRE(txn.committed);
    }
    if (txn.decided && !present.contains(txn.marker_offset)) {
      REQUIRE(now - txn.marker_ts >= kRetention);
    }
  }
}

// After every transaction ended and every horizon passed: the newest
// visible value of each live key, and commit markers of the transactions
// that still hold one of them.
void CheckFullyCompacted(const TxnLog& model, const Seen& seen) {
  std::map<std::string, std::string> expected;
  for (const auto& [key, e] : model.Latest()) {
    if (e->rec.value.has_value()) expected[key] = *e->rec.value;
  }
  std::map<std::string, std::string> got;
  std::set<int> txns_with_data;
  for (const Rec& r : seen.records) {
    const Entry& e = model.all().at(r.offset);
    if (e.control) continue;
    REQUIRE(r.key.has_value());
    REQUIRE(r.value.has_value());
    REQUIRE(got.emplace(*r.key, *r.value).second);
    if (e.txn >= 0) txns_with_data.insert(e.txn);
  }
  REQUIRE(got == expected);
  for (const Rec& r : seen.records) {
    const Entry& e = model.all().at(r.offset);
    if (!e.control) continue;
    INFO("marker at " << r.offset);
    REQUIRE(e.txn >= 0);
    CHECK(txns_with_data.contains(e.txn));
  }
}

TEST_CASE("transactional compaction against a reference model, with clocks and restarts",
          "[compaction][txn]") {
  static const CompressionType kCodecs[] = {CompressionType::kNone, CompressionType::kZstd,
                                            CompressionType::kLz4};
  for (uint64_t seed : {1u, 2u}) {
    INFO("seed " << seed);
    TempDir dir;
    FakeClock clock;
    std::mt19937_64 rng(seed);
    std::unique_ptr<LogImpl> log = OpenLog(dir.path(), Compacted(), &clock);
    auto cleaner = std::make_unique<LogCleaner>(CleanerOptions{.clock = &clock});
    TxnLog model;
    int64_t serial = 0;
    const auto random_records = [&] {
      std::vector<KV> records;
      const int n = 1 + static_cast<int>(rng() % 5);
      for (int i = 0; i < n; ++i) {
        KV kv;
        kv.key = "k" + std::to_string(rng() % 40);
        if (rng() % 8 != 0)
          kv.value = "v" + std::to_string(serial++) + std::string(rng() % 30, 'x');
        records.push_back(std::move(kv));
      }
      return records;
    };
    int64_t undecided_passes = 0;
    for (int round = 0; round < 14; ++round) {
      for (int b = 0; b < 30; ++b) {
        const int64_t producer = 100 + static_cast<int64_t>(rng() % 3);
        const CompressionType codec = kCodecs[rng() % 3];
        switch (rng() % 4) {
          case 0:
            model.Plain(*log, random_records(), clock.NowMs(), codec);
            break;
          case 1:
          case 2:
            model.Data(*log, producer, random_records(), clock.NowMs(), codec);
            break;
          default:
            if (model.IsOpen(producer)) model.End(*log, producer, rng() % 2 == 0, clock.NowMs());
            break;
        }
        clock.Advance(static_cast<int64_t>(rng() % 2000));
      }
      REQUIRE(log->Roll().ok());
      CleanStats stats = MustClean(*cleaner, *log);
      if (stats.first_unstable_offset >= 0) {
        ++undecided_passes;
        CHECK(stats.next_dirty <= stats.first_unstable_offset);
      }
      CheckPass(model, ReadAll(*log), stats.next_dirty, clock.NowMs());
      // Clocks: mostly small steps, now and then past delete.retention.ms.
      clock.Advance(rng() % 4 == 0 ? kRetention + static_cast<int64_t>(rng() % 5000)
                                   : static_cast<int64_t>(rng() % 20'000));
      if (round % 5 == 4) {  // a restart: horizons live in the batches
        REQUIRE(log->Close().ok());
        log = OpenLog(dir.path(), Compacted(), &clock);
        cleaner = std::make_unique<LogCleaner>(CleanerOptions{.clock = &clock});
        CheckPass(model, ReadAll(*log), stats.next_dirty, clock.NowMs());
      }
    }
    CHECK(undecided_passes > 0);
    // End every transaction; two passes find every marker and tombstone
    // (the first removes the data they describe, the second stamps their
    // horizon), one after delete.retention.ms removes them.
    for (int64_t p = 100; p < 103; ++p) {
      if (model.IsOpen(p)) model.End(*log, p, rng() % 2 == 0, clock.NowMs());
    }
    REQUIRE(log->Roll().ok());
    MustClean(*cleaner, *log);
    CleanStats stats = MustClean(*cleaner, *log);
    CHECK(stats.first_unstable_offset == -1);
    CheckPass(model, ReadAll(*log), stats.next_dirty, clock.NowMs());
    clock.Advance(kRetention);
    stats = MustClean(*cleaner, *log);
    CheckFullyCompacted(model, ReadAll(*log));
    REQUIRE(log->Close().ok());
    log = OpenLog(dir.path(), Compacted(), &clock);
    CheckFullyCompacted(model, ReadAll(*log));
  }
}

TEST_CASE("aborted records go; markers go delete.retention.ms after they are found empty",
          "[compaction][txn]") {
  TempDir dir;
  FakeClock clock;
  std::unique_ptr<LogImpl> log = OpenLog(dir.path(), Compacted(), &clock);
  LogCleaner cleaner({.clock = &clock});
  TxnLog model;
  const int64_t t0 = clock.NowMs();
  model.Plain(*log, {{"k", "committed"}}, clock.NowMs());                        // 0
  model.Data(*log, 9, {{"k", "aborted"}, {"k", "aborted too"}}, clock.NowMs());  // 1-2
  model.End(*log, 9, /*commit=*/false, clock.NowMs());                           // 3
  model.Plain(*log, {{"j", "1"}, {"j", "2"}}, clock.NowMs());                    // 4-5
  REQUIRE(log->Roll().ok());

  // Pass 1: the aborted pair goes and does not hide "committed"; the marker
  // still had data to describe in this pass, so it stays, with no horizon.
  CleanStats stats = MustClean(cleaner, *log);
  CHECK(stats.aborted_records_dropped == 2);
  Seen seen = ReadAll(*log);
  REQUIRE(seen.records.size() == 3);
  CHECK(seen.records[0].value == "committed");
  CHECK(seen.records[1].offset == 3);
  CHECK(seen.records[2].value == "2");
  CHECK((seen.batch_of.at(3).attributes & record_batch::kDeleteHorizonBit) == 0);

  // Pass 2 finds the marker empty and stamps its horizon, which survives a
  // restart.
  const int64_t first_seen = clock.NowMs();
  MustClean(cleaner, *log);
  REQUIRE(log->Close().ok());
  log = OpenLog(dir.path(), Compacted(), &clock);
  seen = ReadAll(*log);
  REQUIRE(seen.records.size() == 3);
  const protocol::RecordBatchHeader marker = seen.batch_of.at(3);
  CHECK(marker.is_control());
  CHECK((marker.attributes & record_batch::kDeleteHorizonBit) != 0);
  CHECK(marker.base_timestamp == first_seen + kRetention);
  CHECK(seen.records[1].timestamp == t0);  // the record's own time is unchanged

  clock.Advance(kRetention - 1);
  LogCleaner restarted({.clock = &clock});
  CHECK(MustClean(restarted, *log).markers_dropped == 0);
  CHECK(ReadAll(*log).records.size() == 3);
  clock.Advance(1);
  stats = MustClean(restarted, *log);
  CHECK(stats.markers_dropped == 1);
  seen = ReadAll(*log);
  REQUIRE(seen.records.size() == 2);
  // The marker was producer 9's last batch: an empty control batch keeps
  // its producer state and offset.
  bool found = false;
  for (const protocol::RecordBatchHeader& h : seen.batches) {
    if (h.producer_id != 9) continue;
    found = true;
    CHECK(h.is_control());
    CHECK(h.record_count == 0);
    CHECK(h.base_offset == 3);
  }
  CHECK(found);
}

TEST_CASE("committed transactional records compact like any others", "[compaction][txn]") {
  TempDir dir;
  FakeClock clock;
  std::unique_ptr<LogImpl> log = OpenLog(dir.path(), Compacted(), &clock);
  LogCleaner cleaner({.clock = &clock});
  TxnLog model;
  model.Plain(*log, {{"a", "old"}, {"b", "old"}}, clock.NowMs());           // 0-1
  model.Data(*log, 5, {{"a", "txn"}}, clock.NowMs());                       // 2
  model.End(*log, 5, /*commit=*/true, clock.NowMs());                       // 3
  model.Data(*log, 6, {{"b", "txn"}, {"c", std::nullopt}}, clock.NowMs());  // 4-5
  model.End(*log, 6, /*commit=*/true, clock.NowMs());                       // 6
  REQUIRE(log->Roll().ok());
  MustClean(cleaner, *log);
  Seen seen = ReadAll(*log);
  // The committed values superseded the old ones; both markers describe
  // data still there.
  REQUIRE(seen.records.size() == 5);
  CHECK(seen.records[0].offset == 2);
  CHECK(seen.records[1].offset == 3);
  CHECK(seen.records[2].offset == 4);
  CHECK(seen.records[3].offset == 5);  // c's tombstone, now with a horizon
  CHECK(seen.records[4].offset == 6);
  CHECK((seen.batch_of.at(5).attributes & record_batch::kDeleteHorizonBit) != 0);
  CHECK(seen.batch_of.at(5).is_transactional());

  // A plain write supersedes producer 5's value: its marker goes after its
  // horizon. The tombstone goes at its own horizon, leaving producer 6's
  // transaction with "b" alone, so its marker stays.
  model.Plain(*log, {{"a", "plain"}}, clock.NowMs());  // 7
  REQUIRE(log->Roll().ok());
  MustClean(cleaner, *log);  // removes a=txn
  MustClean(cleaner, *log);  // finds producer 5's marker empty
  clock.Advance(kRetention);
  CleanStats stats = MustClean(cleaner, *log);
  CHECK(stats.markers_dropped == 1);
  CHECK(stats.tombstones_dropped == 1);
  seen = ReadAll(*log);
  REQUIRE(seen.records.size() == 3);
  CHECK(seen.records[0].value == "txn");  // b
  CHECK(seen.records[1].offset == 6);     // producer 6's commit
  CHECK(seen.records[2].value == "plain");
}

TEST_CASE("a transaction with no marker yet stops the pass before it", "[compaction][txn]") {
  TempDir dir;
  FakeClock clock;
  std::unique_ptr<LogImpl> log = OpenLog(dir.path(), Compacted(), &clock);
  LogCleaner cleaner({.clock = &clock});
  TxnLog model;
  model.Plain(*log, {{"a", "1"}, {"a", "2"}}, clock.NowMs());  // 0-1
  REQUIRE(log->Roll().ok());
  model.Data(*log, 4, {{"a", "3"}}, clock.NowMs());            // 2
  model.Plain(*log, {{"b", "1"}, {"b", "2"}}, clock.NowMs());  // 3-4
  REQUIRE(log->Roll().ok());
  CleanStats stats = MustClean(cleaner, *log);
  CHECK(stats.first_unstable_offset == 2);
  CHECK(stats.next_dirty == 2);
  Seen seen = ReadAll(*log);
  // Below: cleaned without the undecided "a"=3; above: untouched.
  REQUIRE(seen.records.size() == 4);
  CHECK(seen.records[0].offset == 1);
  CHECK(seen.records[1].offset == 2);
  CHECK(seen.records[2].offset == 3);
  // The cleaner does not pick the log again until it rolls.
  CHECK(cleaner.Cleanable(kTp, *log).dirty_bytes == 0);

  model.End(*log, 4, /*commit=*/false, clock.NowMs());  // 5
  REQUIRE(log->Roll().ok());
  CHECK(cleaner.Cleanable(kTp, *log).dirty_bytes > 0);
  stats = MustClean(cleaner, *log);
  CHECK(stats.first_unstable_offset == -1);
  CHECK(stats.aborted_records_dropped == 1);
  seen = ReadAll(*log);
  REQUIRE(seen.records.size() == 3);
  CHECK(seen.records[0].value == "2");  // a: the aborted 3 never hid it
  CHECK(seen.records[1].value == "2");  // b
  CHECK(seen.records[2].offset == 5);   // the marker, until a later pass
}

}  // namespace
}  // namespace runnel::storage
