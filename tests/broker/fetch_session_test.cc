// Fetch sessions (KIP-227): the cache's rules alone, then a full fetch and
// its incremental successors over a socket, as the Java consumer sends them.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "broker/fetch_session.h"
#include "broker_fixture.h"
#include "raw_client.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/fetch.h"
#include "runnel/protocol/messages/metadata.h"
#include "runnel/protocol/messages/produce.h"

namespace runnel::broker::testing {
namespace {

using protocol::ErrorCode;
using protocol::FetchRequest;
using protocol::FetchResponse;

int16_t Code(ErrorCode c) { return static_cast<int16_t>(c); }

FetchRequest::FetchPartition Part(int32_t partition, int64_t offset) {
  FetchRequest::FetchPartition p;
  p.partition = partition;
  p.fetch_offset = offset;
  p.partition_max_bytes = 1 << 20;
  return p;
}

FetchRequest MakeFetch(int32_t session_id, int32_t epoch,
                     std::vector<std::pair<std::string, FetchRequest::FetchPartition>> parts,
                     std::vector<std::pair<std::string, int32_t>> forget = {}) {
  FetchRequest r;
  r.session_id = session_id;
  r.session_epoch = epoch;
  for (auto& [topic, p] : parts) {
    if (r.topics.empty() || r.topics.back().topic != topic) {
      r.topics.emplace_back();
      r.topics.back().topic = topic;
    }
    r.topics.back().partitions.push_back(p);
  }
  for (auto& [topic, p] : forget) r.forgotten_topics_data.push_back({topic, {p}, {}});
  return r;
}

// What the broker would read for `ctx`: every partition, with `hw` as high
// watermark, log start 0, and records for those listed in `with_records`.
FetchResponse Read(const FetchContext& ctx, const std::map<std::string, int64_t>& hw,
                   const std::vector<std::string>& with_records = {},
                   const std::vector<std::string>& with_error = {}) {
  FetchResponse resp;
  for (const auto& t : ctx.topics) {
    FetchResponse::FetchableTopicResponse tr;
    tr.topic = t.topic;
    for (const auto& p : t.partitions) {
      std::string name = t.topic + "-" + std::to_string(p.partition);
      FetchResponse::PartitionData pd;
      pd.partition_index = p.partition;
      pd.high_watermark = hw.count(name) ? hw.at(name) : 0;
      pd.last_stable_offset = pd.high_watermark;
      pd.log_start_offset = 0;
      for (const auto& r : with_records) {
        if (r == name) pd.records = std::vector<uint8_t>{1, 2, 3};
      }
      for (const auto& e : with_error) {
        if (e == name) pd.error_code = Code(ErrorCode::kUnknownTopicOrPartition);
      }
      tr.partitions.push_back(pd);
    }
    resp.responses.push_back(tr);
  }
  return resp;
}

// "topic-partition" of every partition in `resp`, in order.
std::vector<std::string> Names(const FetchResponse& resp) {
  std::vector<std::string> out;
  for (const auto& t : resp.responses) {
    for (const auto& p : t.partitions) out.push_back(t.topic + "-" + std::to_string(p.partition_index));
  }
  return out;
}

std::vector<std::string> Names(const FetchContext& ctx) {
  std::vector<std::string> out;
  for (const auto& t : ctx.topics) {
    for (const auto& p : t.partitions) out.push_back(t.topic + "-" + std::to_string(p.partition));
  }
  return out;
}

TEST_CASE("fetch session cache: full, incremental, forgotten, wrong epoch, close",
          "[broker][fetch_session]") {
  FetchSessionCache cache(10);
  int64_t now = 1000;

  // Sessionless (librdkafka 2.0.2, kafkajs): read as asked, no session.
  FetchContext sessionless = cache.NewContext(MakeFetch(0, -1, {{"a", Part(0, 0)}}), now);
  CHECK(sessionless.kind == FetchContext::Kind::kSessionless);
  FetchResponse r0 = Read(sessionless, {});
  r0.session_id = 77;
  cache.Finish(sessionless, &r0, now);
  CHECK(r0.session_id == 0);
  CHECK(Names(r0) == std::vector<std::string>{"a-0"});
  CHECK(cache.size() == 0);

  // Full fetch at epoch 0: every partition answered, a session created.
  FetchContext full = cache.NewContext(
      MakeFetch(0, 0, {{"a", Part(0, 0)}, {"a", Part(1, 0)}, {"b", Part(0, 0)}}), now);
  CHECK(full.kind == FetchContext::Kind::kFull);
  FetchResponse r1 = Read(full, {{"a-0", 5}}, {"a-0"});
  cache.Finish(full, &r1, now);
  const int32_t id = r1.session_id;
  REQUIRE(id > 0);
  CHECK(Names(r1) == std::vector<std::string>{"a-0", "a-1", "b-0"});
  CHECK(cache.size() == 1);
  CHECK(cache.ExpectedEpoch(id) == 1);

  // Epoch 1 with no partitions reads the whole session, in its order, and
  // answers only what changed: records on b-0, a new high watermark on a-1.
  FetchContext inc = cache.NewContext(MakeFetch(id, 1, {}), now);
  REQUIRE(inc.error == ErrorCode::kNone);
  CHECK(inc.kind == FetchContext::Kind::kIncremental);
  CHECK(Names(inc) == std::vector<std::string>{"a-0", "a-1", "b-0"});
  FetchResponse r2 = Read(inc, {{"a-0", 5}, {"a-1", 3}, {"b-0", 2}}, {"b-0"});
  cache.Finish(inc, &r2, now);
  CHECK(r2.session_id == id);
  CHECK(Names(r2) == std::vector<std::string>{"a-1", "b-0"});
  CHECK(cache.ExpectedEpoch(id) == 2);

  // Nothing changed: an empty answer.
  FetchContext quiet = cache.NewContext(MakeFetch(id, 2, {}), now);
  FetchResponse r3 = Read(quiet, {{"a-0", 5}, {"a-1", 3}, {"b-0", 2}});
  cache.Finish(quiet, &r3, now);
  CHECK(r3.responses.empty());
  CHECK(r3.session_id == id);

  // The same epoch again, an old one, a future one: INVALID_FETCH_SESSION_EPOCH,
  // and the session still expects 3.
  for (int32_t epoch : {2, 1, 4}) {
    CHECK(cache.NewContext(MakeFetch(id, epoch, {}), now).error ==
          ErrorCode::kInvalidFetchSessionEpoch);
  }
  CHECK(cache.ExpectedEpoch(id) == 3);
  CHECK(cache.NewContext(MakeFetch(id + 1, 3, {}), now).error == ErrorCode::kFetchSessionIdNotFound);

  // A changed offset (a-0 moved on), a new partition, a forgotten one: the
  // new partition is answered the first time even without records; an
  // error is answered every time.
  FetchContext changed = cache.NewContext(
      MakeFetch(id, 3, {{"a", Part(0, 5)}, {"c", Part(0, 0)}}, {{"b", 0}}), now);
  REQUIRE(changed.error == ErrorCode::kNone);
  CHECK(Names(changed) == std::vector<std::string>{"a-0", "a-1", "c-0"});
  CHECK(changed.topics[0].partitions[0].fetch_offset == 5);
  FetchResponse r4 = Read(changed, {{"a-0", 5}, {"a-1", 3}}, {}, {"a-1"});
  cache.Finish(changed, &r4, now);
  CHECK(Names(r4) == std::vector<std::string>{"a-1", "c-0"});

  // Epoch -1 with the id closes the session and is a sessionless fetch.
  FetchContext close = cache.NewContext(MakeFetch(id, -1, {{"a", Part(0, 5)}}), now);
  CHECK(close.kind == FetchContext::Kind::kSessionless);
  CHECK(cache.size() == 0);
  CHECK(cache.NewContext(MakeFetch(id, 4, {}), now).error == ErrorCode::kFetchSessionIdNotFound);
}

TEST_CASE("fetch session cache: a new full fetch replaces its session; a full cache evicts "
          "stale, then smaller sessions",
          "[broker][fetch_session]") {
  FetchSessionCache cache(2, /*eviction_ms=*/1000);
  auto create = [&](std::vector<std::pair<std::string, FetchRequest::FetchPartition>> parts,
                    int64_t now, int32_t old_id = 0) {
    FetchContext ctx = cache.NewContext(MakeFetch(old_id, 0, std::move(parts)), now);
    FetchResponse r = Read(ctx, {});
    cache.Finish(ctx, &r, now);
    return r.session_id;
  };
  int32_t one = create({{"a", Part(0, 0)}}, 0);
  REQUIRE(one != 0);
  // Epoch 0 naming a session ends it and starts another.
  int32_t replaced = create({{"a", Part(0, 0)}}, 0, one);
  REQUIRE(replaced != 0);
  CHECK(replaced != one);
  CHECK(cache.ExpectedEpoch(one) == -1);
  CHECK(cache.size() == 1);

  int32_t two = create({{"a", Part(0, 0)}, {"a", Part(1, 0)}}, 10);
  REQUIRE(two != 0);
  CHECK(cache.size() == 2);
  // Full, nothing stale, the newcomer not larger than the smallest: no session.
  CHECK(create({{"x", Part(0, 0)}}, 20) == 0);
  // Larger than the smallest (`replaced`, one partition): it goes.
  int32_t three = create({{"x", Part(0, 0)}, {"x", Part(1, 0)}, {"x", Part(2, 0)}}, 30);
  REQUIRE(three != 0);
  CHECK(cache.ExpectedEpoch(replaced) == -1);
  CHECK(cache.ExpectedEpoch(two) == 1);
  // Once `two` went unused for the eviction time, even a small one gets in.
  FetchContext keep = cache.NewContext(MakeFetch(three, 1, {}), 1500);
  FetchResponse kr = Read(keep, {});
  cache.Finish(keep, &kr, 1500);
  int32_t four = create({{"y", Part(0, 0)}}, 1500);
  REQUIRE(four != 0);
  CHECK(cache.ExpectedEpoch(two) == -1);
  CHECK(cache.ExpectedEpoch(three) == 2);

  FetchSessionCache off(0);
  FetchContext ctx = off.NewContext(MakeFetch(0, 0, {{"a", Part(0, 0)}}), 0);
  FetchResponse r = Read(ctx, {});
  off.Finish(ctx, &r, 0);
  CHECK(r.session_id == 0);
  CHECK(Names(r) == std::vector<std::string>{"a-0"});
}

// Over a socket: Fetch v12 as the Java consumer uses it.

// Metadata for an unknown topic creates it (auto.create.topics.enable).
void CreateTopic(RawClient& c, const std::string& topic) {
  protocol::MetadataRequest req;
  req.topics = std::vector<protocol::MetadataRequest::MetadataRequestTopic>(1);
  (*req.topics)[0].name.emplace(topic);
  c.Send(req, 12, 40);
  auto resp = c.Receive<protocol::MetadataResponse>(12, 40);
  REQUIRE(resp.topics.size() == 1);
  REQUIRE(resp.topics[0].error_code == 0);
}

void ProduceOne(RawClient& c, const std::string& topic, int32_t partition, const std::string& v) {
  protocol::ProduceRequest req;
  req.acks = 1;
  req.timeout_ms = 1000;
  protocol::ProduceRequest::TopicProduceData td;
  td.name = topic;
  td.partition_data.push_back({partition, MakeBatch({v}), {}});
  req.topic_data.push_back(std::move(td));
  c.Send(req, 9, 50);
  auto resp = c.Receive<protocol::ProduceResponse>(9, 50);
  REQUIRE(resp.responses.size() == 1);
  REQUIRE(resp.responses[0].partition_responses[0].error_code == 0);
}

FetchResponse Fetch(RawClient& c, FetchRequest req, int32_t max_wait_ms = 0) {
  req.max_wait_ms = max_wait_ms;
  req.min_bytes = 1;
  c.Send(req, 12, 60);
  return c.Receive<FetchResponse>(12, 60);
}

// The values in `resp` for topic-partition `name`.
std::vector<std::string> ValuesOf(const FetchResponse& resp, const std::string& name) {
  for (const auto& t : resp.responses) {
    for (const auto& p : t.partitions) {
      if (t.topic + "-" + std::to_string(p.partition_index) != name) continue;
      REQUIRE(p.error_code == 0);
      return p.records.has_value() ? Values(*p.records) : std::vector<std::string>{};
    }
  }
  return {};
}

TEST_CASE("broker: a full fetch opens a session, incremental fetches carry only what changed",
          "[broker][fetch_session]") {
  BrokerFixture f(std::map<std::string, std::string>{{"num.partitions", "2"}});
  RawClient c(f.port());
  CreateTopic(c, "sess");
  ProduceOne(c, "sess", 0, "p0-first");

  FetchResponse full = Fetch(c, MakeFetch(0, 0, {{"sess", Part(0, 0)}, {"sess", Part(1, 0)}}));
  CHECK(full.error_code == 0);
  const int32_t id = full.session_id;
  REQUIRE(id != 0);
  CHECK(Names(full) == std::vector<std::string>{"sess-0", "sess-1"});
  CHECK(ValuesOf(full, "sess-0") == std::vector<std::string>{"p0-first"});

  // The consumer moved on in partition 0 and says so; nothing is new.
  FetchResponse quiet = Fetch(c, MakeFetch(id, 1, {{"sess", Part(0, 1)}}));
  CHECK(quiet.error_code == 0);
  CHECK(quiet.session_id == id);
  CHECK(quiet.responses.empty());

  // New data in partition 1 only: the answer names partition 1 only, though
  // the request names no partition at all.
  ProduceOne(c, "sess", 1, "p1-first");
  FetchResponse news = Fetch(c, MakeFetch(id, 2, {}));
  CHECK(Names(news) == std::vector<std::string>{"sess-1"});
  CHECK(ValuesOf(news, "sess-1") == std::vector<std::string>{"p1-first"});

  // Wrong epoch and unknown session: the error alone, session id 0.
  FetchResponse stale = Fetch(c, MakeFetch(id, 2, {}));
  CHECK(stale.error_code == Code(ErrorCode::kInvalidFetchSessionEpoch));
  CHECK(stale.session_id == 0);
  CHECK(stale.responses.empty());
  FetchResponse unknown = Fetch(c, MakeFetch(id ^ 0x5a5a, 1, {}));
  CHECK(unknown.error_code == Code(ErrorCode::kFetchSessionIdNotFound));

  // A parked incremental fetch wakes for data in the session's partitions
  // (partition 0 at its remembered offset 1) and answers just that one.
  FetchRequest parked = MakeFetch(id, 3, {{"sess", Part(1, 1)}});
  parked.max_wait_ms = 5000;
  parked.min_bytes = 1;
  c.Send(parked, 12, 61);
  RawClient producer(f.port());
  ProduceOne(producer, "sess", 0, "p0-second");
  FetchResponse woke = c.Receive<FetchResponse>(12, 61);
  CHECK(woke.session_id == id);
  CHECK(Names(woke) == std::vector<std::string>{"sess-0"});
  CHECK(ValuesOf(woke, "sess-0") == std::vector<std::string>{"p0-second"});

  // Forgotten partitions are no longer read.
  FetchResponse forgot = Fetch(c, MakeFetch(id, 4, {{"sess", Part(0, 2)}}, {{"sess", 1}}));
  CHECK(forgot.responses.empty());
  ProduceOne(c, "sess", 1, "p1-unseen");
  CHECK(Fetch(c, MakeFetch(id, 5, {})).responses.empty());

  // Epoch -1 closes the session; the fetch itself is answered in full.
  FetchResponse closed = Fetch(c, MakeFetch(id, -1, {{"sess", Part(0, 2)}, {"sess", Part(1, 1)}}));
  CHECK(closed.session_id == 0);
  CHECK(Names(closed) == std::vector<std::string>{"sess-0", "sess-1"});
  CHECK(ValuesOf(closed, "sess-1") == std::vector<std::string>{"p1-unseen"});
  CHECK(Fetch(c, MakeFetch(id, 6, {})).error_code == Code(ErrorCode::kFetchSessionIdNotFound));
}

TEST_CASE("broker: max.incremental.fetch.session.cache.slots=0 turns sessions off",
          "[broker][fetch_session]") {
  BrokerFixture f(
      std::map<std::string, std::string>{{"max.incremental.fetch.session.cache.slots", "0"}});
  RawClient c(f.port());
  CreateTopic(c, "nosess");
  ProduceOne(c, "nosess", 0, "v");
  FetchResponse full = Fetch(c, MakeFetch(0, 0, {{"nosess", Part(0, 0)}}));
  CHECK(full.error_code == 0);
  CHECK(full.session_id == 0);
  CHECK(ValuesOf(full, "nosess-0") == std::vector<std::string>{"v"});
}

}  // namespace
}  // namespace runnel::broker::testing
