// The clients' log sink: a sink set in the options sees the connect, the
// metadata and a failed broker at their levels with the client id and
// fields; the level filters; the Kafka property names set it; librdkafka's
// debug contexts turn on one subsystem's debug lines; a consumer group's
// protocol is logged; without a sink the lines reach Runnel's process-wide
// log.
#include "runnel/client_log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "client/client_core.h"
#include "common/logging.h"
#include "runnel/consumer.h"
#include "runnel/producer.h"
#include "runnel/protocol/messages/metadata.h"
#include "tests/broker/broker_fixture.h"

namespace runnel::client {
namespace {

using broker::testing::BrokerFixture;

struct Line {
  ClientLogLevel level;
  std::string client_id;
  std::string message;
  std::map<std::string, std::string> fields;
  std::string context;
};

// Records every line; the sink runs on the client's I/O thread, the test
// reads after the client is shut down (or under the mutex).
class Recorder {
 public:
  ClientLogSink Sink() {
    return [this](const ClientLogLine& l) {
      Line line{
          l.level, std::string(l.client_id), std::string(l.message), {}, std::string(l.context)};
      for (const ClientLogField& f : l.fields) line.fields[f.key] = f.value;
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back(std::move(line));
    };
  }
  std::vector<Line> lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }
  std::vector<Line> With(const std::string& message) {
    std::vector<Line> out;
    for (auto& l : lines()) {
      if (l.message == message) out.push_back(l);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<Line> lines_;
};

absl::Status MetadataCall(ClientCore& core) {
  protocol::MetadataRequest req;
  req.topics.emplace();
  return core.Call<protocol::MetadataResponse>(Target::AnyBroker(), req).get().status();
}

// A loopback port nothing listens on: bound, never listened, then closed.
uint16_t DeadPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), len) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST_CASE("client log: a producer's sink sees connect and metadata at debug and info") {
  BrokerFixture b;
  Recorder rec;
  ProducerOptions o;
  o.client.bootstrap_servers = "127.0.0.1:" + std::to_string(b.port());
  o.client.client_id = "log-test";
  o.client.log_level = ClientLogLevel::kDebug;
  o.client.log_sink = rec.Sink();
  auto p = Producer::Create(o);
  REQUIRE(p.ok());
  ProducerRecord r{.topic = "logged", .value = "v"};
  auto sent = (*p)->Send(r).get();
  INFO(sent.status().ToString());
  REQUIRE(sent.ok());
  REQUIRE((*p)->Close(absl::Seconds(5)).ok());

  auto connecting = rec.With("connecting to broker");
  REQUIRE(!connecting.empty());
  CHECK(connecting[0].level == ClientLogLevel::kDebug);
  CHECK(connecting[0].fields["address"] == o.client.bootstrap_servers);
  auto connected = rec.With("connected to broker");
  REQUIRE(!connected.empty());
  CHECK(connected[0].level == ClientLogLevel::kInfo);
  CHECK(connected[0].client_id == "log-test");
  CHECK(connected[0].fields["broker"] == "-1");  // the bootstrap connection
  CHECK(std::stoi(connected[0].fields["apis"]) > 10);
  auto metadata = rec.With("metadata");
  REQUIRE(!metadata.empty());
  CHECK(metadata[0].level == ClientLogLevel::kDebug);
  CHECK(metadata[0].fields["brokers"] == "1");
  for (const auto& l : rec.lines()) CHECK(l.level < ClientLogLevel::kWarn);
}

TEST_CASE("client log: a broker that is not there is one warning, then debug") {
  Recorder rec;
  ClientOptions o;
  o.bootstrap_servers = "127.0.0.1:" + std::to_string(DeadPort());
  o.client_id = "dead-test";
  o.request_timeout = absl::Seconds(1);
  o.reconnect_backoff = absl::Milliseconds(10);
  o.reconnect_backoff_max = absl::Milliseconds(50);
  o.log_level = ClientLogLevel::kDebug;
  o.log_sink = rec.Sink();
  auto core = ClientCore::Create(o);
  REQUIRE(core.ok());
  absl::Status s = MetadataCall(**core);
  CHECK(s.code() == absl::StatusCode::kDeadlineExceeded);
  (*core)->Shutdown(absl::Now() + absl::Seconds(5));

  auto failed = rec.With("broker connection failed");
  REQUIRE(failed.size() >= 2);  // reconnected several times within the second
  CHECK(failed[0].level == ClientLogLevel::kWarn);
  CHECK(failed[0].client_id == "dead-test");
  CHECK(failed[0].fields["address"] == o.bootstrap_servers);
  CHECK(failed[0].fields["error"].find("Connection refused") != std::string::npos);
  for (size_t i = 1; i < failed.size(); ++i) CHECK(failed[i].level == ClientLogLevel::kDebug);
}

TEST_CASE("client log: the level threshold drops lower lines") {
  BrokerFixture b;
  Recorder rec;
  ClientOptions o;
  o.bootstrap_servers = "127.0.0.1:" + std::to_string(b.port());
  o.log_sink = rec.Sink();
  REQUIRE(o.Set("log_level", "warn").ok());
  CHECK(o.log_level == ClientLogLevel::kWarn);
  {
    auto core = ClientCore::Create(o);
    REQUIRE(core.ok());
    REQUIRE(MetadataCall(**core).ok());
  }
  CHECK(rec.lines().empty());  // connect (info) and metadata (debug) filtered

  REQUIRE(o.Set("log_level", "info").ok());
  {
    auto core = ClientCore::Create(o);
    REQUIRE(core.ok());
    REQUIRE(MetadataCall(**core).ok());
  }
  CHECK(rec.With("connected to broker").size() == 1);
  CHECK(rec.With("metadata").empty());
}

TEST_CASE("client log: levels from Kafka properties") {
  ClientOptions o;
  CHECK(o.log_level == ClientLogLevel::kWarn);  // the default
  REQUIRE(o.Set("log_level", "7").ok());        // librdkafka's syslog levels
  CHECK(o.log_level == ClientLogLevel::kDebug);
  REQUIRE(o.Set("log_level", "3").ok());
  CHECK(o.log_level == ClientLogLevel::kError);
  REQUIRE(o.Set("log_level", "Info").ok());
  CHECK(o.log_level == ClientLogLevel::kInfo);
  REQUIRE(o.Set("debug", "broker,metadata").ok());  // librdkafka's debug contexts
  CHECK(o.log_level == ClientLogLevel::kInfo);      // the contexts, not the level
  CHECK(o.debug_contexts == (static_cast<uint32_t>(ClientDebugContext::kBroker) |
                             static_cast<uint32_t>(ClientDebugContext::kMetadata)));
  absl::Status bad = o.Set("log_level", "loud");
  CHECK(bad.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.message()).find("'log_level'") != std::string::npos);
  ProducerOptions p;
  REQUIRE(p.Set("log_level", "error").ok());  // through the producer's Set too
  CHECK(p.client.log_level == ClientLogLevel::kError);
}

TEST_CASE("client log: debug contexts from the debug property") {
  ClientOptions o;
  CHECK(o.debug_contexts == 0);
  REQUIRE(o.Set("debug", " cgrp , Fetch").ok());
  CHECK(o.debug_contexts == (static_cast<uint32_t>(ClientDebugContext::kCgrp) |
                             static_cast<uint32_t>(ClientDebugContext::kFetch)));
  REQUIRE(o.Set("debug", "all").ok());
  CHECK(o.debug_contexts == kAllClientDebugContexts);
  REQUIRE(o.Set("debug", "").ok());
  CHECK(o.debug_contexts == 0);
  absl::Status bad = o.Set("debug", "cgrp,nope");
  CHECK(bad.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.message()).find("'debug'") != std::string::npos);
  CHECK(std::string(bad.message()).find("'nope'") != std::string::npos);
  CHECK(o.debug_contexts == 0);  // unchanged by the bad value
  CHECK(ClientDebugContextName(ClientDebugContext::kCgrp) == "cgrp");
}

TEST_CASE("client log: a debug context logs its own debug lines at any level") {
  BrokerFixture b;
  Recorder rec;
  ClientOptions o;
  o.bootstrap_servers = "127.0.0.1:" + std::to_string(b.port());
  o.log_sink = rec.Sink();
  REQUIRE(o.Set("log_level", "warn").ok());
  REQUIRE(o.Set("debug", "metadata").ok());
  {
    auto core = ClientCore::Create(o);
    REQUIRE(core.ok());
    REQUIRE(MetadataCall(**core).ok());
    // The line comes from the core's own refresh, which can be answered
    // after the call above (slow under ASan): its snapshot, the first with
    // brokers (the core starts from an empty one), is published right after
    // the line is logged.
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while ((*core)->metadata()->brokers.empty() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    REQUIRE(!(*core)->metadata()->brokers.empty());
  }
  auto metadata = rec.With("metadata");
  REQUIRE(!metadata.empty());
  CHECK(metadata[0].level == ClientLogLevel::kDebug);
  CHECK(metadata[0].context == "metadata");
  CHECK(rec.With("connecting to broker").empty());  // broker's debug lines stay off
  CHECK(rec.With("connected to broker").empty());   // info, below warn
}

TEST_CASE("client log: the protocol context logs each request and response") {
  BrokerFixture b;
  Recorder rec;
  ClientOptions o;
  o.bootstrap_servers = "127.0.0.1:" + std::to_string(b.port());
  o.log_sink = rec.Sink();
  REQUIRE(o.Set("log_level", "error").ok());
  REQUIRE(o.Set("debug", "protocol").ok());
  {
    auto core = ClientCore::Create(o);
    REQUIRE(core.ok());
    REQUIRE(MetadataCall(**core).ok());
  }
  std::vector<Line> sent, received;
  for (const auto& l : rec.With("request sent")) {
    if (l.fields.at("api") == "Metadata") sent.push_back(l);
  }
  for (const auto& l : rec.With("response received")) {
    if (l.fields.at("api") == "Metadata") received.push_back(l);
  }
  REQUIRE(!sent.empty());
  REQUIRE(!received.empty());
  CHECK(sent[0].context == "protocol");
  CHECK(received[0].fields["correlation_id"] == sent[0].fields["correlation_id"]);
  CHECK(received[0].fields["version"] == sent[0].fields["version"]);
  CHECK(std::stoll(received[0].fields["bytes"]) > 0);
  CHECK(rec.With("metadata").empty());  // the metadata context stays off
}

TEST_CASE("client log: a consumer group's protocol at info and in the cgrp context") {
  BrokerFixture b(std::map<std::string, std::string>{{"group.initial.rebalance.delay.ms", "0"}});
  Recorder rec;
  ConsumerOptions o;
  o.client.bootstrap_servers = "127.0.0.1:" + std::to_string(b.port());
  o.client.client_id = "group-log";
  o.client.log_sink = rec.Sink();
  REQUIRE(o.client.Set("log_level", "info").ok());
  REQUIRE(o.client.Set("debug", "cgrp").ok());
  o.group_id = "logged-group";
  o.heartbeat_interval = absl::Milliseconds(100);
  {
    auto c = Consumer::Create(o);
    REQUIRE(c.ok());
    REQUIRE((*c)->Subscribe({"logged-topic"}).ok());
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while ((*c)->Assignment().empty() && absl::Now() < deadline) {
      REQUIRE((*c)->Poll(absl::Milliseconds(50)).ok());
    }
    REQUIRE(!(*c)->Assignment().empty());
    REQUIRE((*c)->Close(absl::Seconds(5)).ok());
  }
  auto join = rec.With("JoinGroup");
  REQUIRE(!join.empty());
  CHECK(join[0].level == ClientLogLevel::kDebug);
  CHECK(join[0].context == "cgrp");
  CHECK(join[0].fields["group"] == "logged-group");
  auto joined = rec.With("joined group");
  REQUIRE(!joined.empty());
  CHECK(joined.back().level == ClientLogLevel::kInfo);
  CHECK(joined.back().fields["leader"] == joined.back().fields["member"]);  // alone: the leader
  auto computed = rec.With("group assignment computed");
  REQUIRE(!computed.empty());
  CHECK(computed.back().fields["assigned"].rfind("logged-topic[", 0) == 0);
  auto assignment = rec.With("group assignment");
  REQUIRE(!assignment.empty());
  CHECK(assignment.back().fields["assigned"] == computed.back().fields["assigned"]);
  CHECK(assignment.back().fields["added"] == computed.back().fields["assigned"]);
  CHECK(!rec.With("leaving group").empty());
  CHECK(rec.With("metadata").empty());  // the metadata context stays off
}

// Assigns partition 0 of a topic holding three records, reads them, then
// seeks past the end so the next fetch is OFFSET_OUT_OF_RANGE and resets to
// the earliest offset; once the three records came again (or 20 s passed),
// restarts `broker` (when set) on another port, so the next fetch fails
// (request timeout) and backs off.
std::vector<ConsumerRecord> ReadWithReset(const std::string& bootstrap, const std::string& debug,
                                          Recorder& rec, BrokerFixture* broker = nullptr) {
  ConsumerOptions o;
  o.client.bootstrap_servers = bootstrap;
  o.client.log_sink = rec.Sink();
  o.client.retry_backoff = absl::Milliseconds(20);
  o.client.request_timeout = absl::Milliseconds(500);  // a fetch to the gone broker fails soon
  REQUIRE(o.client.Set("debug", debug).ok());
  o.auto_offset_reset = OffsetReset::kEarliest;
  o.enable_auto_commit = false;
  o.fetch_max_wait = absl::Milliseconds(50);
  auto c = Consumer::Create(o);
  REQUIRE(c.ok());
  const TopicPartition tp{"fetched-topic", 0};
  REQUIRE((*c)->Assign({tp}).ok());
  std::vector<ConsumerRecord> got;
  bool sought = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (got.size() < 6 && absl::Now() < deadline) {
    auto polled = (*c)->Poll(absl::Milliseconds(50));
    REQUIRE(polled.ok());
    for (auto& r : *polled) got.push_back(std::move(r));
    if (got.size() >= 3 && !sought) {
      REQUIRE((*c)->Seek(tp, 1000).ok());
      sought = true;
    }
  }
  if (broker != nullptr) {
    broker->Restart();
    const absl::Time until = absl::Now() + absl::Seconds(10);
    while (rec.With("fetch backoff").empty() && absl::Now() < until) {
      REQUIRE((*c)->Poll(absl::Milliseconds(50)).ok());
    }
  }
  REQUIRE((*c)->Close(absl::Seconds(5)).ok());
  return got;
}

TEST_CASE("client log: the fetch context logs fetches and answers and resets and backoffs") {
  BrokerFixture b(std::map<std::string, std::string>{{"num.partitions", "1"}});
  const std::string bootstrap = "127.0.0.1:" + std::to_string(b.port());
  {
    ProducerOptions po;
    po.client.bootstrap_servers = bootstrap;
    auto p = Producer::Create(po);
    REQUIRE(p.ok());
    for (int i = 0; i < 3; ++i) {
      ProducerRecord r{.topic = "fetched-topic", .partition = 0, .value = "v"};
      REQUIRE((*p)->Send(r).get().ok());
    }
    REQUIRE((*p)->Close(absl::Seconds(5)).ok());
  }

  // The cgrp context leaves the fetch path silent.
  Recorder quiet;
  CHECK(ReadWithReset(bootstrap, "cgrp", quiet).size() == 6);
  for (const auto& l : quiet.lines()) {
    CHECK(l.context != "fetch");
    CHECK(l.message.rfind("fetch ", 0) != 0);
    CHECK(l.message.rfind("offset reset", 0) != 0);
  }

  Recorder rec;
  auto got = ReadWithReset(bootstrap, "fetch", rec, &b);
  REQUIRE(got.size() == 6);
  CHECK(got[3].offset == 0);  // read again from the earliest offset

  auto sent = rec.With("fetch sent");
  REQUIRE(!sent.empty());
  CHECK(sent[0].level == ClientLogLevel::kDebug);
  CHECK(sent[0].context == "fetch");
  CHECK(!sent[0].fields["leader"].empty());
  CHECK(sent[0].fields["partitions"] == "1");
  CHECK(sent[0].fields["offsets"] == "fetched-topic[0]@0");
  bool sought = false;
  for (auto& l : sent) sought = sought || l.fields["offsets"] == "fetched-topic[0]@1000";
  CHECK(sought);

  bool answered = false, out_of_range = false;
  for (auto& l : rec.With("fetch answer")) {
    CHECK(l.context == "fetch");
    if (l.fields["records"] == "3") {
      answered = true;
      CHECK(l.fields["error"] == "NONE");
      CHECK(l.fields["high_watermark"] == "3");
      CHECK(std::stoll(l.fields["bytes"]) > 0);
    }
    out_of_range = out_of_range || l.fields["error"] == "OFFSET_OUT_OF_RANGE";
  }
  CHECK(answered);
  CHECK(out_of_range);

  auto reset = rec.With("offset reset");
  REQUIRE(!reset.empty());
  CHECK(reset[0].fields["offset"] == "1000");
  CHECK(reset[0].fields["reset_to"] == "earliest");
  bool reset_done = false;
  for (auto& l : rec.With("offset reset done")) {
    reset_done = reset_done || (l.fields["partition"] == "0" && l.fields["offset"] == "0");
  }
  CHECK(reset_done);
  // The broker went away: the fetch fails and backs off.
  auto failed = rec.With("fetch failed");
  REQUIRE(!failed.empty());
  CHECK(!failed[0].fields["error"].empty());
  auto backoff = rec.With("fetch backoff");
  REQUIRE(!backoff.empty());
  CHECK(backoff[0].context == "fetch");
  CHECK(backoff[0].fields["backoff_ms"] == "20");
  CHECK(!backoff[0].fields["error"].empty());
}

TEST_CASE("client log: without a sink, lines go to the process-wide log with the client id") {
  std::mutex mu;
  std::vector<std::string> lines;
  logging::SetSink([&](std::string_view line) {
    std::lock_guard<std::mutex> lock(mu);
    lines.emplace_back(line);
  });
  ClientOptions o;
  o.bootstrap_servers = "127.0.0.1:" + std::to_string(DeadPort());
  o.client_id = "stderr-test";
  o.request_timeout = absl::Milliseconds(300);
  {
    auto core = ClientCore::Create(o);
    REQUIRE(core.ok());
    CHECK(!MetadataCall(**core).ok());
  }
  logging::SetSink(nullptr);
  bool found = false;
  for (const auto& l : lines) {
    if (l.find("level=warn") != std::string::npos &&
        l.find("msg=\"broker connection failed\"") != std::string::npos &&
        l.find("client_id=stderr-test") != std::string::npos) {
      found = true;
    }
  }
  INFO(lines.size() << " lines");
  CHECK(found);
}

}  // namespace
}  // namespace runnel::client
