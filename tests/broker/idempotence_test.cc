// Idempotent producers against an in-process Broker: InitProducerId, and
// Produce answering retries, gaps and stale epochs as Kafka does, across
// connections and across a restart.
#include <catch2/catch.hpp>

#include <optional>
#include <set>
#include <thread>

#include "absl/time/clock.h"
#include "broker_fixture.h"
#include "raw_client.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/api_versions.h"
#include "runnel/protocol/messages/create_topics.h"
#include "runnel/protocol/messages/fetch.h"
#include "runnel/protocol/messages/init_producer_id.h"
#include "runnel/protocol/messages/produce.h"

namespace runnel::broker::testing {
namespace {

using protocol::ErrorCode;
using PartitionResponse = protocol::ProduceResponse::PartitionProduceResponse;

int16_t Code(ErrorCode c) { return static_cast<int16_t>(c); }

// One batch of `values` from producer `pid` at `epoch`, first sequence
// `seq`, stamped `age_ms` before now (producer state expires by batch
// timestamps).
std::vector<uint8_t> IdempotentBatch(const std::vector<std::string>& values, int64_t pid,
                                     int16_t epoch, int32_t seq, int64_t age_ms = 0) {
  protocol::RecordBatchBuilderOptions o;
  o.producer_id = pid;
  o.producer_epoch = epoch;
  o.base_sequence = seq;
  protocol::RecordBatchBuilder builder(o);
  const int64_t now = absl::ToUnixMillis(absl::Now()) - age_ms;
  for (const auto& v : values) REQUIRE(builder.Append(now, nullptr, v).ok());
  auto bytes = builder.Finish();
  REQUIRE(bytes.ok());
  return std::vector<uint8_t>(bytes->begin(), bytes->end());
}

void CreateTopic(RawClient& c, const std::string& name) {
  protocol::CreateTopicsRequest req;
  protocol::CreateTopicsRequest::CreatableTopic t;
  t.name = name;
  t.num_partitions = 1;
  t.replication_factor = -1;
  req.topics.push_back(t);
  c.Send(req, 7, 11);
  auto resp = c.Receive<protocol::CreateTopicsResponse>(7, 11);
  REQUIRE(resp.topics.size() == 1);
  REQUIRE(resp.topics[0].error_code == 0);
}

protocol::ProduceRequest ProduceRequestFor(const std::string& topic, std::vector<uint8_t> records) {
  protocol::ProduceRequest req;
  req.acks = -1;
  req.timeout_ms = 1000;
  protocol::ProduceRequest::TopicProduceData td;
  td.name = topic;
  td.partition_data.push_back({0, std::move(records), {}});
  req.topic_data.push_back(std::move(td));
  return req;
}

// Produce for a thread other than the test's: no Catch assertions (they
// are not thread-safe); a failed exchange is an error.
absl::StatusOr<PartitionResponse> TryProduce(RawClient& c, const std::string& topic,
                                             std::vector<uint8_t> records) {
  if (absl::Status s = c.TrySend(ProduceRequestFor(topic, std::move(records)), 9, 21); !s.ok()) {
    return s;
  }
  absl::StatusOr<protocol::ProduceResponse> resp = c.TryReceive<protocol::ProduceResponse>(9, 21);
  if (!resp.ok()) return resp.status();
  if (resp->responses.size() != 1 || resp->responses[0].partition_responses.size() != 1) {
    return absl::DataLossError("expected one partition in the produce response");
  }
  return resp->responses[0].partition_responses[0];
}

PartitionResponse Produce(RawClient& c, const std::string& topic, std::vector<uint8_t> records,
                          int16_t version = 9) {
  c.Send(ProduceRequestFor(topic, std::move(records)), version, 21);
  auto resp = c.Receive<protocol::ProduceResponse>(version, 21);
  REQUIRE(resp.responses.size() == 1);
  REQUIRE(resp.responses[0].partition_responses.size() == 1);
  return resp.responses[0].partition_responses[0];
}

protocol::InitProducerIdResponse InitProducerId(RawClient& c, int16_t version,
                                                std::optional<std::string> transactional_id = {},
                                                int64_t pid = -1, int16_t epoch = -1) {
  protocol::InitProducerIdRequest req;
  req.transactional_id = std::move(transactional_id);
  req.transaction_timeout_ms = 60000;
  req.producer_id = pid;
  req.producer_epoch = epoch;
  c.Send(req, version, 5);
  return c.Receive<protocol::InitProducerIdResponse>(version, 5);
}

std::vector<std::string> FetchAll(RawClient& c, const std::string& topic,
                                  std::vector<int64_t>* offsets = nullptr) {
  protocol::FetchRequest req;
  req.max_wait_ms = 0;
  req.min_bytes = 1;
  protocol::FetchRequest::FetchTopic ft;
  ft.topic = topic;
  protocol::FetchRequest::FetchPartition fp;
  fp.partition = 0;
  fp.fetch_offset = 0;
  fp.partition_max_bytes = 8 << 20;
  ft.partitions.push_back(fp);
  req.topics.push_back(ft);
  req.max_bytes = 8 << 20;
  c.Send(req, 12, 31);
  auto resp = c.Receive<protocol::FetchResponse>(12, 31);
  REQUIRE(resp.responses.size() == 1);
  const auto& pd = resp.responses[0].partitions[0];
  REQUIRE(pd.error_code == 0);
  if (!pd.records.has_value()) return {};
  return Values(*pd.records, offsets);
}

TEST_CASE("InitProducerId gives a new id at epoch 0 each time, unique across restarts",
          "[broker][idempotence]") {
  BrokerFixture broker;
  std::set<int64_t> ids;
  {
    RawClient c(broker.port());
    for (int16_t v = 0; v <= 4; ++v) {
      auto r = InitProducerId(c, v);
      CHECK(r.error_code == 0);
      CHECK(r.producer_epoch == 0);
      CHECK(r.producer_id >= 0);
      ids.insert(r.producer_id);
    }
    // v3+ with the current id and epoch (a KIP-360 bump request): for a null
    // transactional id Kafka hands out a new id at epoch 0.
    int64_t last = *ids.rbegin();
    auto bumped = InitProducerId(c, 4, std::nullopt, last, 0);
    CHECK(bumped.error_code == 0);
    CHECK(bumped.producer_epoch == 0);
    CHECK(ids.insert(bumped.producer_id).second);
    // Transactions are not served: a fatal error, no id.
    auto txn = InitProducerId(c, 4, std::string("txn-1"));
    CHECK(txn.error_code == Code(ErrorCode::kInvalidRequest));
    CHECK(txn.producer_id == -1);
    CHECK(ids.size() == 6);

    protocol::ApiVersionsRequest av;
    c.Send(av, 3, 7);
    auto versions = c.Receive<protocol::ApiVersionsResponse>(3, 7);
    bool advertised = false;
    for (const auto& k : versions.api_keys) {
      if (k.api_key == protocol::InitProducerIdRequest::kApiKey) {
        advertised = k.min_version == 0 && k.max_version == 4;
      }
    }
    CHECK(advertised);
  }
  broker.Restart();
  RawClient c(broker.port());
  auto after = InitProducerId(c, 4);
  REQUIRE(after.error_code == 0);
  CHECK(after.producer_id > *ids.rbegin());
}

TEST_CASE("a retried idempotent batch is answered with its first offset and written once",
          "[broker][idempotence]") {
  BrokerFixture broker;
  RawClient c(broker.port());
  auto id = InitProducerId(c, 4);
  REQUIRE(id.error_code == 0);
  const int64_t pid = id.producer_id;
  std::vector<uint8_t> first = IdempotentBatch({"a", "b", "c"}, pid, 0, 0);
  CreateTopic(c, "dedup");
  auto r1 = Produce(c, "dedup", first);
  REQUIRE(r1.error_code == 0);
  CHECK(r1.base_offset == 0);
  auto r2 = Produce(c, "dedup", IdempotentBatch({"d", "e"}, pid, 0, 3));
  REQUIRE(r2.error_code == 0);
  CHECK(r2.base_offset == 3);
  // The retry of the first batch (same bytes) and of the second, also with
  // an older Produce version.
  auto again = Produce(c, "dedup", first);
  CHECK(again.error_code == 0);
  CHECK(again.base_offset == 0);
  CHECK(again.log_append_time_ms == -1);
  auto again2 = Produce(c, "dedup", IdempotentBatch({"d", "e"}, pid, 0, 3), 5);
  CHECK(again2.error_code == 0);
  CHECK(again2.base_offset == 3);
  std::vector<int64_t> offsets;
  CHECK(FetchAll(c, "dedup", &offsets) == std::vector<std::string>{"a", "b", "c", "d", "e"});
  CHECK(offsets == std::vector<int64_t>{0, 1, 2, 3, 4});
  // The producer carries on after the retries.
  auto r3 = Produce(c, "dedup", IdempotentBatch({"f"}, pid, 0, 5));
  CHECK(r3.error_code == 0);
  CHECK(r3.base_offset == 5);
}

TEST_CASE("gaps are OUT_OF_ORDER_SEQUENCE_NUMBER, old epochs INVALID_PRODUCER_EPOCH, and "
          "neither is written",
          "[broker][idempotence]") {
  BrokerFixture broker;
  RawClient c(broker.port());
  const int64_t pid = InitProducerId(c, 4).producer_id;
  CreateTopic(c, "seq");
  REQUIRE(Produce(c, "seq", IdempotentBatch({"a"}, pid, 0, 0)).error_code == 0);
  auto gap = Produce(c, "seq", IdempotentBatch({"x"}, pid, 0, 2));
  CHECK(gap.error_code == Code(ErrorCode::kOutOfOrderSequenceNumber));
  CHECK(gap.base_offset == -1);
  REQUIRE(gap.error_message.has_value());
  CHECK_THAT(*gap.error_message, Catch::Contains("out of order sequence number"));
  REQUIRE(Produce(c, "seq", IdempotentBatch({"b"}, pid, 0, 1)).error_code == 0);
  // The client bumps its epoch (KIP-360): a new epoch restarts at 0.
  CHECK(Produce(c, "seq", IdempotentBatch({"x"}, pid, 1, 2)).error_code ==
        Code(ErrorCode::kOutOfOrderSequenceNumber));
  auto bumped = Produce(c, "seq", IdempotentBatch({"c"}, pid, 1, 0));
  CHECK(bumped.error_code == 0);
  CHECK(bumped.base_offset == 2);
  // A zombie still on epoch 0 is fenced, for every Produce version.
  for (int16_t v : {3, 7, 9}) {
    auto stale = Produce(c, "seq", IdempotentBatch({"x"}, pid, 0, 2), v);
    CHECK(stale.error_code == Code(ErrorCode::kInvalidProducerEpoch));
  }
  CHECK(FetchAll(c, "seq") == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("Produce takes one record batch per partition and no control batch",
          "[broker][idempotence]") {
  BrokerFixture broker;
  RawClient c(broker.port());
  CreateTopic(c, "one");
  std::vector<uint8_t> two = IdempotentBatch({"a"}, 1, 0, 0);
  std::vector<uint8_t> second = IdempotentBatch({"b"}, 1, 0, 1);
  two.insert(two.end(), second.begin(), second.end());
  auto r = Produce(c, "one", two);
  CHECK(r.error_code == Code(ErrorCode::kInvalidRecord));

  protocol::RecordBatchBuilderOptions o;
  o.control = true;
  protocol::RecordBatchBuilder control(o);
  REQUIRE(control.Append(absl::ToUnixMillis(absl::Now()), "k", "").ok());
  auto bytes = control.Finish();
  REQUIRE(bytes.ok());
  auto rc = Produce(c, "one", std::vector<uint8_t>(bytes->begin(), bytes->end()));
  CHECK(rc.error_code == Code(ErrorCode::kInvalidRecord));
  // A batch length that leaves stray bytes behind is a corrupt batch, not a
  // second one.
  std::vector<uint8_t> short_length = IdempotentBatch({"s", "t"}, 2, 0, 0);
  const uint32_t cut = static_cast<uint32_t>(short_length.size() - 12 - 5);
  for (int i = 0; i < 4; ++i) short_length[8 + i] = static_cast<uint8_t>(cut >> (24 - 8 * i));
  CHECK(Produce(c, "one", short_length).error_code == Code(ErrorCode::kCorruptMessage));
  // A corrupt copy of a written batch is CORRUPT_MESSAGE, not a duplicate.
  std::vector<uint8_t> ok = IdempotentBatch({"c"}, 1, 0, 0);
  REQUIRE(Produce(c, "one", ok).error_code == 0);
  ok.back() ^= 0xff;
  CHECK(Produce(c, "one", ok).error_code == Code(ErrorCode::kCorruptMessage));
  CHECK(FetchAll(c, "one") == std::vector<std::string>{"c"});
}

TEST_CASE("a duplicate sent after a restart is still answered with its first offset",
          "[broker][idempotence]") {
  BrokerFixture broker;
  int64_t pid = -1;
  std::vector<uint8_t> second;
  {
    RawClient c(broker.port());
    pid = InitProducerId(c, 4).producer_id;
    CreateTopic(c, "durable");
    REQUIRE(Produce(c, "durable", MakeBatch({"plain"})).error_code == 0);
    REQUIRE(Produce(c, "durable", IdempotentBatch({"a", "b"}, pid, 0, 0)).error_code == 0);
    second = IdempotentBatch({"c"}, pid, 0, 2);
    auto r = Produce(c, "durable", second);
    REQUIRE(r.error_code == 0);
    REQUIRE(r.base_offset == 3);
  }
  broker.Restart();
  RawClient c(broker.port());
  auto dup = Produce(c, "durable", second);
  CHECK(dup.error_code == 0);
  CHECK(dup.base_offset == 3);
  // The sequence carries on from the log, gaps are still refused.
  CHECK(Produce(c, "durable", IdempotentBatch({"x"}, pid, 0, 4)).error_code ==
        Code(ErrorCode::kOutOfOrderSequenceNumber));
  CHECK(Produce(c, "durable", IdempotentBatch({"d"}, pid, 0, 3)).base_offset == 4);
  CHECK(FetchAll(c, "durable") == std::vector<std::string>{"plain", "a", "b", "c", "d"});
}

TEST_CASE("the same batches sent on two connections at once are written once each",
          "[broker][idempotence]") {
  BrokerFixture broker;
  int64_t pid = -1;
  {
    RawClient c(broker.port());
    pid = InitProducerId(c, 4).producer_id;
    CreateTopic(c, "race");
    REQUIRE(Produce(c, "race", IdempotentBatch({"v0"}, pid, 0, 0)).error_code == 0);
  }
  constexpr int kBatches = 200;
  std::vector<std::vector<uint8_t>> batches;
  for (int i = 1; i < kBatches; ++i) {
    batches.push_back(IdempotentBatch({"v" + std::to_string(i)}, pid, 0, i));
  }
  // Each sender sends every batch in order; a batch is either written or
  // answered as a duplicate (same offset), or, when the other sender is
  // more than five batches ahead, refused as out of order. Never twice.
  // The threads assert nothing (Catch2 is not thread-safe); the test's own
  // thread checks what they saw after they finish.
  std::vector<int64_t> offset_of[2];
  std::vector<int16_t> errors[2];
  std::string failure[2];
  RawClient client_a(broker.port()), client_b(broker.port());
  RawClient* clients[2] = {&client_a, &client_b};
  auto send = [&](int who) {
    for (const auto& b : batches) {
      absl::StatusOr<PartitionResponse> r = TryProduce(*clients[who], "race", b);
      if (!r.ok()) {
        failure[who] = r.status().ToString();
        return;
      }
      offset_of[who].push_back(r->error_code == 0 ? r->base_offset : -1);
      errors[who].push_back(r->error_code);
    }
  };
  std::thread a(send, 0), b(send, 1);
  a.join();
  b.join();
  for (int who = 0; who < 2; ++who) {
    INFO("sender " << who << ": " << failure[who]);
    REQUIRE(failure[who].empty());
    REQUIRE(offset_of[who].size() == batches.size());
    for (size_t i = 0; i < batches.size(); ++i) {
      INFO("sender " << who << " batch " << i + 1);
      if (errors[who][i] == 0) {
        CHECK(offset_of[who][i] == static_cast<int64_t>(i + 1));
      } else {
        CHECK(errors[who][i] == Code(ErrorCode::kOutOfOrderSequenceNumber));
      }
    }
  }
  RawClient c(broker.port());
  std::vector<int64_t> offsets;
  std::vector<std::string> values = FetchAll(c, "race", &offsets);
  REQUIRE(values.size() == static_cast<size_t>(kBatches));
  for (int i = 0; i < kBatches; ++i) {
    CHECK(values[i] == "v" + std::to_string(i));
    CHECK(offsets[i] == i);
  }
}

TEST_CASE("producer.id.expiration.ms from the server properties decides which producers a "
          "restart remembers",
          "[broker][idempotence]") {
  const std::map<std::string, std::string> props = {{"producer.id.expiration.ms", "60000"}};
  BrokerFixture broker(props);
  {
    RawClient c(broker.port());
    CreateTopic(c, "stale");
    CreateTopic(c, "fresh");
    // Ten minutes old: past this broker's one minute, well inside Kafka's
    // default day.
    REQUIRE(Produce(c, "stale", IdempotentBatch({"a"}, 7001, 0, 0, 10 * 60 * 1000)).error_code ==
            0);
    REQUIRE(Produce(c, "fresh", IdempotentBatch({"a"}, 7002, 0, 0)).error_code == 0);
  }
  REQUIRE(broker.broker().Stop(absl::Seconds(5)).ok());
  broker.Start(props);
  RawClient c(broker.port());
  // The fresh producer is rebuilt from the log: a gap is still refused.
  CHECK(Produce(c, "fresh", IdempotentBatch({"b"}, 7002, 0, 5)).error_code ==
        Code(ErrorCode::kOutOfOrderSequenceNumber));
  // The stale one expired: unknown again, so any sequence starts it afresh.
  CHECK(Produce(c, "stale", IdempotentBatch({"b"}, 7001, 0, 5)).error_code == 0);
  CHECK(FetchAll(c, "stale") == std::vector<std::string>{"a", "b"});
}

TEST_CASE("producer.id.expiration.ms and transactional.id.expiration.ms are checked",
          "[broker][idempotence]") {
  char tmpl[] = "/tmp/runnel-broker-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  for (const char* key : {"producer.id.expiration.ms", "transactional.id.expiration.ms"}) {
    for (const char* value : {"0", "soon", "4294967296"}) {
      BrokerOptions options;
      options.port = 0;
      options.data_dir = tmpl;
      options.properties[key] = value;
      auto b = Broker::Start(options);
      INFO(key << "=" << value);
      REQUIRE(!b.ok());
      CHECK(b.status().message().find(key) != std::string::npos);
    }
    BrokerOptions options;
    options.port = 0;
    options.data_dir = tmpl;
    options.properties[key] = "3600000";
    auto b = Broker::Start(options);
    INFO(b.status().ToString());
    REQUIRE(b.ok());
    REQUIRE((*b)->Stop(absl::Seconds(5)).ok());
  }
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
}

}  // namespace
}  // namespace runnel::broker::testing
