// isolation.level against a partition holding transactions: committed and
// aborted ones interleaved, commit and abort markers (control batches).
//
// Neither broker we test against can write that log: runnel-broker has no
// transactions, and librdkafka 2.0.2's mock cluster (checked with a
// transactional librdkafka producer that aborts every other transaction)
// writes no markers and lists no aborted transactions, so its own
// read_committed consumer returns the aborted records. So a RequestHook on
// an in-process runnel-broker answers Fetch for one topic with hand-built
// batches and AbortedTransactions, as Kafka would; everything else (metadata,
// ListOffsets) is the real broker's.
#include <catch2/catch.hpp>

#include <mutex>

#include "runnel/broker.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/protocol/messages/fetch.h"
#include "runnel/protocol/record_batch.h"
#include "runnel/protocol/wire.h"
#include "tests/broker/broker_fixture.h"
#include "tests/client/consumer_util.h"

namespace runnel::client {
namespace {

using protocol::ControlRecordType;
using testing::MakeConsumer;
using testing::ProduceNumbered;
using testing::QuickConsumerOptions;

constexpr int64_t kCommits = 7, kAborts = 8;  // producer ids

struct Batch {
  int64_t offset;
  int64_t producer_id;  // -1: not transactional
  std::string value;    // empty: a control batch
  ControlRecordType marker = ControlRecordType::kUnknown;
};

// The partition "txn"-0: producer 7 commits a transaction around offsets 0
// and 4, producer 8 aborts one at 1 and 3 and then commits one at 7; plain
// records in between.
const std::vector<Batch>& Log() {
  static const auto* log = new std::vector<Batch>{
      {0, kCommits, "c0"},
      {1, kAborts, "a0"},
      {2, -1, "p0"},
      {3, kAborts, "a1"},
      {4, kCommits, "c1"},
      {5, kCommits, "", ControlRecordType::kCommit},
      {6, kAborts, "", ControlRecordType::kAbort},
      {7, kAborts, "c2"},
      {8, kAborts, "", ControlRecordType::kCommit},
      {9, -1, "p1"},
  };
  return *log;
}
constexpr int64_t kEnd = 10;

std::vector<uint8_t> Encode(const Batch& b) {
  protocol::RecordBatchBuilderOptions o;
  o.base_offset = b.offset;
  o.producer_id = b.producer_id;
  o.producer_epoch = b.producer_id >= 0 ? 0 : -1;
  o.base_sequence = b.producer_id >= 0 ? 0 : -1;
  o.transactional = b.producer_id >= 0;
  o.control = b.value.empty();
  protocol::RecordBatchBuilder builder(o);
  if (o.control) {
    const auto key = protocol::EncodeControlRecordKey(b.marker);
    const auto value = protocol::EncodeEndTxnMarkerValue(0);
    REQUIRE(builder.Append(1'700'000'000'000, std::span<const uint8_t>(key),
                           std::span<const uint8_t>(value))
                .ok());
  } else {
    REQUIRE(builder.Append(1'700'000'000'000, "k", b.value).ok());
  }
  auto bytes = builder.Finish();
  REQUIRE(bytes.ok());
  return std::vector<uint8_t>(bytes->begin(), bytes->end());
}

// Answers Fetch for "txn" from Log(), at most three batches a response (so
// the consumer's filtering must carry across responses), listing the
// aborted transaction while the fetch range overlaps it (offsets 1-6), as
// Kafka does. Runs on broker I/O threads: no Catch2 here.
class TransactionLog : public RequestHook {
 public:
  TransactionLog() {
    for (const auto& b : Log()) encoded_.push_back(Encode(b));
  }

  HookDecision BeforeRequest(const RequestInfo& info, std::span<const uint8_t> body) override {
    if (info.api_key != protocol::FetchRequest::kApiKey) return HookDecision::Continue();
    auto req = protocol::FetchRequest::Decode(body, info.api_version);
    if (!req.ok()) return HookDecision::Continue();
    if (req->topics.size() != 1 || req->topics[0].topic != "txn") return HookDecision::Continue();
    protocol::FetchResponse resp;
    auto& t = resp.responses.emplace_back();
    t.topic = "txn";
    for (const auto& fp : req->topics[0].partitions) {
      auto& p = t.partitions.emplace_back();
      p.partition_index = fp.partition;
      p.high_watermark = kEnd;
      p.last_stable_offset = kEnd;
      p.log_start_offset = 0;
      if (fp.fetch_offset <= 6) p.aborted_transactions->push_back({kAborts, 1, {}});
      std::vector<uint8_t> records;
      int n = 0;
      for (size_t i = 0; i < Log().size() && n < 3; ++i) {
        if (Log()[i].offset < fp.fetch_offset) continue;
        records.insert(records.end(), encoded_[i].begin(), encoded_[i].end());
        ++n;
      }
      p.records = std::move(records);
      std::lock_guard<std::mutex> l(mu_);
      isolation_levels_.insert(req->isolation_level);
    }
    ByteBuffer buf;
    protocol::Writer w(&buf);
    resp.Encode(w, info.api_version);
    return HookDecision::Respond(std::vector<uint8_t>(buf.data(), buf.data() + buf.size()));
  }

  std::set<int8_t> isolation_levels() {
    std::lock_guard<std::mutex> l(mu_);
    return isolation_levels_;
  }

 private:
  std::vector<std::vector<uint8_t>> encoded_;
  std::mutex mu_;
  std::set<int8_t> isolation_levels_;
};

std::vector<std::pair<int64_t, std::string>> ReadAll(const std::string& bootstrap,
                                                     IsolationLevel level) {
  ConsumerOptions o = QuickConsumerOptions(bootstrap, "");
  o.enable_auto_commit = false;
  o.isolation_level = level;
  auto c = MakeConsumer(o);
  REQUIRE(c->Assign({{"txn", 0}}).ok());
  std::vector<std::pair<int64_t, std::string>> out;
  // Until the position passes the last offset (control batches move it
  // without returning records), then a little longer for strays.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  absl::Time settle = absl::InfiniteFuture();
  while (absl::Now() < std::min(deadline, settle)) {
    auto batch = c->Poll(absl::Milliseconds(50));
    INFO(batch.status().ToString());
    REQUIRE(batch.ok());
    for (const auto& r : *batch) out.emplace_back(r.offset, r.value.value_or("<null>"));
    if (settle == absl::InfiniteFuture() && !out.empty() && out.back().first == kEnd - 1) {
      settle = absl::Now() + absl::Milliseconds(300);
    }
  }
  auto pos = c->Position({"txn", 0}, absl::Seconds(1));
  REQUIRE(pos.ok());
  CHECK(*pos == kEnd);
  return out;
}

TEST_CASE("read_committed skips aborted transactions; no control record reaches Poll",
          "[consumer]") {
  auto hook = std::make_shared<TransactionLog>();
  BrokerOptions options;
  options.port = 0;
  char dir[] = "/tmp/runnel-isolation-test-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  options.data_dir = dir;
  options.hooks.push_back(hook);
  auto broker = Broker::Start(options);
  REQUIRE(broker.ok());
  const std::string bootstrap = (*broker)->bootstrap_address();
  ProduceNumbered(bootstrap, "txn", 1, 1);  // creates the topic; its Fetch is the hook's

  using Got = std::vector<std::pair<int64_t, std::string>>;
  SECTION("read_committed") {
    CHECK(ReadAll(bootstrap, IsolationLevel::kReadCommitted) ==
          Got{{0, "c0"}, {2, "p0"}, {4, "c1"}, {7, "c2"}, {9, "p1"}});
    CHECK(hook->isolation_levels() == std::set<int8_t>{1});
  }
  SECTION("read_uncommitted") {
    CHECK(ReadAll(bootstrap, IsolationLevel::kReadUncommitted) ==
          Got{{0, "c0"}, {1, "a0"}, {2, "p0"}, {3, "a1"}, {4, "c1"}, {7, "c2"}, {9, "p1"}});
    CHECK(hook->isolation_levels() == std::set<int8_t>{0});
  }
  REQUIRE((*broker)->Stop(absl::Seconds(5)).ok());
  broker->reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace runnel::client
