// Structured logs (format, levels, sink) and the metrics: Broker::MetricsText
// after real traffic, and the Prometheus endpoint answered over plain HTTP.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <mutex>
#include <regex>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "broker_fixture.h"
#include "common/logging.h"
#include "raw_client.h"
#include "runnel/broker.h"
#include "runnel/protocol/messages/join_group.h"
#include "runnel/protocol/messages/metadata.h"
#include "runnel/protocol/messages/offset_commit.h"
#include "runnel/protocol/messages/produce.h"

namespace runnel::broker::testing {
namespace {

// The whole answer to one HTTP request, or "" when the connection failed.
std::string HttpRequest(const std::string& address, const std::string& request) {
  size_t colon = address.rfind(':');
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// The value of the sample line `series` (exact labels) in `text`, or -1.
double Sample(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

class CapturedLog {
 public:
  CapturedLog() {
    logging::SetSink([this](std::string_view line) {
      std::lock_guard<std::mutex> l(mu_);
      lines_.emplace_back(line);
    });
  }
  ~CapturedLog() {
    logging::SetSink(nullptr);
    logging::SetLevel(logging::Level::kInfo);
  }
  bool Has(const std::string& needle) {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& line : lines_) {
      if (line.find(needle) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

TEST_CASE("log lines are logfmt with quoting, and levels filter them", "[broker][logging]") {
  CHECK(logging::FormatLine(logging::Level::kWarn, "bad frame",
                            {{"peer", "127.0.0.1:5000"}, {"why", "size -1 \"neg\""}, {"e", ""}}) ==
        "level=warn msg=\"bad frame\" peer=127.0.0.1:5000 why=\"size -1 \\\"neg\\\"\" e=\"\"");
  CHECK(logging::FormatLine(logging::Level::kInfo, "x\ny", {}) == "level=info msg=\"x\\ny\"");
  CHECK(*logging::ParseLevel("WARNING") == logging::Level::kWarn);
  CHECK(*logging::ParseLevel("debug") == logging::Level::kDebug);
  CHECK(!logging::ParseLevel("loud").ok());

  CapturedLog log;
  logging::SetLevel(logging::Level::kWarn);
  RUNNEL_LOG(kInfo, "hidden");
  RUNNEL_LOG(kError, "shown", {{"k", "v"}});
  CHECK(!log.Has("hidden"));
  CHECK(log.Has("level=error msg=shown k=v"));
  CHECK(std::regex_search(std::string("ts=2026-12-01T23:50:00.123Z"),
                          std::regex(R"(ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
}

TEST_CASE("the broker logs start-up, topic creation and shutdown", "[broker][logging]") {
  CapturedLog log;
  {
    BrokerFixture f;
    RawClient c(f.port());
    protocol::MetadataRequest req;
    req.topics = std::vector<protocol::MetadataRequest::MetadataRequestTopic>(1);
    (*req.topics)[0].name.emplace("logged");
    c.Send(req, 12, 1);
    c.Receive<protocol::MetadataResponse>(12, 1);
    CHECK(log.Has("msg=\"broker started\" bootstrap=" + f.broker().bootstrap_address()));
    CHECK(log.Has("msg=\"topic created\" topic=logged partitions=1"));
  }
  CHECK(log.Has("msg=\"broker stopped\""));
}

TEST_CASE("runnel.log.level is checked and applied", "[broker][logging]") {
  CapturedLog log;
  BrokerOptions options;
  options.port = 0;
  char tmpl[] = "/tmp/runnel-obs-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  options.data_dir = tmpl;
  options.properties["runnel.log.level"] = "shouty";
  auto bad = Broker::Start(options);
  REQUIRE(!bad.ok());
  CHECK(bad.status().message().find("runnel.log.level") != std::string::npos);

  options.properties["runnel.log.level"] = "warn";
  auto b = Broker::Start(options);
  REQUIRE(b.ok());
  CHECK(logging::GetLevel() == logging::Level::kWarn);
  CHECK(!log.Has("broker started"));
  REQUIRE((*b)->Stop(absl::Seconds(5)).ok());
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
}

TEST_CASE("metrics count requests, bytes and partitions; GET /metrics serves them",
          "[broker][metrics]") {
  char tmpl[] = "/tmp/runnel-obs-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  BrokerOptions options;
  options.port = 0;
  options.data_dir = tmpl;
  options.io_threads = 2;
  options.metrics_listen = "127.0.0.1:0";
  options.properties["num.partitions"] = "3";
  auto started = Broker::Start(options);
  REQUIRE(started.ok());
  Broker& broker = **started;
  REQUIRE(!broker.metrics_address().empty());

  {
    RawClient c(static_cast<uint16_t>(
        std::stoi(broker.bootstrap_address().substr(broker.bootstrap_address().rfind(':') + 1))));
    protocol::MetadataRequest meta;
    meta.topics = std::vector<protocol::MetadataRequest::MetadataRequestTopic>(1);
    (*meta.topics)[0].name.emplace("measured");
    c.Send(meta, 12, 1);
    c.Receive<protocol::MetadataResponse>(12, 1);
    for (int i = 0; i < 5; ++i) {
      protocol::ProduceRequest req;
      req.acks = 1;
      req.timeout_ms = 1000;
      protocol::ProduceRequest::TopicProduceData td;
      td.name = "measured";
      td.partition_data.push_back({i % 3, MakeBatch({std::string(100, 'x')}), {}});
      req.topic_data.push_back(std::move(td));
      c.Send(req, 9, 10 + i);
      c.Receive<protocol::ProduceResponse>(9, 10 + i);
    }
  }

  std::string text = broker.MetricsText();
  INFO(text);
  CHECK(Sample(text, "runnel_requests_total{api=\"Produce\"}") == 5);
  CHECK(Sample(text, "runnel_requests_total{api=\"Metadata\"}") == 1);
  CHECK(Sample(text, "runnel_request_duration_seconds_count{api=\"Produce\"}") == 5);
  CHECK(Sample(text, "runnel_request_duration_seconds_bucket{api=\"Produce\",le=\"+Inf\"}") == 5);
  CHECK(Sample(text, "runnel_request_errors_total{api=\"Produce\"}") == 0);
  // Internal topics (__consumer_offsets) count too.
  CHECK(Sample(text, "runnel_partitions") >= 3);
  CHECK(Sample(text, "runnel_topics") >= 1);
  CHECK(text.find("runnel_log_end_offset{topic=\"measured\",partition=\"2\"} 1\n") !=
        std::string::npos);
  CHECK(Sample(text, "runnel_connections_accepted_total") == 1);
  CHECK(Sample(text, "runnel_bytes_in_total") > 5 * 100);
  CHECK(Sample(text, "runnel_bytes_out_total") > 0);
  CHECK(Sample(text, "runnel_log_end_offset{topic=\"measured\",partition=\"0\"}") == 2);
  CHECK(Sample(text, "runnel_log_size_bytes{topic=\"measured\",partition=\"1\"}") > 100);

  std::string reply = HttpRequest(broker.metrics_address(),
                                  "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
  INFO(reply);
  REQUIRE(reply.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(reply.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  std::string body = reply.substr(reply.find("\r\n\r\n") + 4);
  size_t length = std::stoul(reply.substr(reply.find("Content-Length: ") + 16));
  CHECK(body.size() == length);
  CHECK(Sample(body, "runnel_requests_total{api=\"Produce\"}") == 5);
  CHECK(body.find("# TYPE runnel_request_duration_seconds histogram") != std::string::npos);

  CHECK(HttpRequest(broker.metrics_address(), "GET /nope HTTP/1.1\r\n\r\n")
            .rfind("HTTP/1.1 404", 0) == 0);
  CHECK(HttpRequest(broker.metrics_address(), "POST /metrics HTTP/1.1\r\n\r\n")
            .rfind("HTTP/1.1 405", 0) == 0);

  std::string address = broker.metrics_address();
  REQUIRE(broker.Stop(absl::Seconds(5)).ok());
  CHECK(HttpRequest(address, "GET /metrics HTTP/1.1\r\n\r\n").empty());
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
}

TEST_CASE("runnel_groups counts the coordinator's groups by state", "[broker][metrics]") {
  BrokerFixture f(std::map<std::string, std::string>{{"group.initial.rebalance.delay.ms", "0"}});
  std::string before = f.broker().MetricsText();
  INFO(before);
  // Registered, but no group yet: the header and no sample.
  CHECK(before.find("# TYPE runnel_groups gauge") != std::string::npos);
  CHECK(before.find("runnel_groups{") == std::string::npos);

  RawClient c(f.port());
  // A commit without a generation (a simple consumer) creates an Empty group.
  for (const std::string group : {"simple-a", "simple-b"}) {
    protocol::OffsetCommitRequest commit;
    commit.group_id = group;
    commit.generation_id_or_member_epoch = -1;
    protocol::OffsetCommitRequest::OffsetCommitRequestTopic ct;
    ct.name = "orders";
    ct.partitions.push_back({0, 7, -1, "", {}});
    commit.topics.push_back(ct);
    c.Send(commit, 8, 1);
    auto committed = c.Receive<protocol::OffsetCommitResponse>(8, 1);
    REQUIRE(committed.topics.size() == 1);
    REQUIRE(committed.topics[0].partitions[0].error_code == 0);
  }
  // A joined member that has not synced leaves its group CompletingRebalance.
  protocol::JoinGroupRequest join;
  join.group_id = "joining";
  join.session_timeout_ms = 10000;
  join.rebalance_timeout_ms = 10000;
  join.protocol_type = "consumer";
  join.protocols.push_back({"range", {0, 1}, {}});
  c.Send(join, 5, 2);
  auto first = c.Receive<protocol::JoinGroupResponse>(5, 2);
  join.member_id = first.member_id;
  c.Send(join, 5, 3);
  REQUIRE(c.Receive<protocol::JoinGroupResponse>(5, 3).error_code == 0);

  std::string text = f.broker().MetricsText();
  INFO(text);
  CHECK(Sample(text, "runnel_groups{state=\"Empty\"}") == 2);
  CHECK(Sample(text, "runnel_groups{state=\"CompletingRebalance\"}") == 1);
  CHECK(Sample(text, "runnel_groups{state=\"Stable\"}") == -1);
}

TEST_CASE("MetricsText may run while Stop tears the broker down", "[broker][metrics]") {
  // Stop frees what MetricsText reads (the net server's counters, the group
  // coordinator): a render racing it must finish first or see neither.
  // Under ASan/TSan the old race is a use-after-free / data race report;
  // without them the render after Stop shows which sources it still read.
  for (int round = 0; round < 5; ++round) {
    BrokerFixture f(std::map<std::string, std::string>{{"group.initial.rebalance.delay.ms", "0"}});
    {
      RawClient c(f.port());
      protocol::OffsetCommitRequest commit;
      commit.group_id = "g";
      commit.generation_id_or_member_epoch = -1;
      protocol::OffsetCommitRequest::OffsetCommitRequestTopic ct;
      ct.name = "orders";
      ct.partitions.push_back({0, 7, -1, "", {}});
      commit.topics.push_back(ct);
      c.Send(commit, 8, 1);
      REQUIRE(c.Receive<protocol::OffsetCommitResponse>(8, 1).topics.size() == 1);
    }
    // The reader asserts nothing (Catch2 is not thread-safe); it counts.
    std::atomic<bool> stop{false};
    std::atomic<int> renders{0};
    std::atomic<int> with_groups{0};
    std::thread reader([&] {
      while (!stop.load()) {
        std::string text = f.broker().MetricsText();
        if (text.find("runnel_groups{state=\"Empty\"} 1") != std::string::npos) ++with_groups;
        ++renders;
      }
    });
    while (renders.load() < 3) std::this_thread::yield();
    const int before_stop = renders.load();
    REQUIRE(f.broker().Stop(absl::Seconds(5)).ok());
    const int at_stop = renders.load();
    while (renders.load() < at_stop + 3) std::this_thread::yield();
    stop = true;
    reader.join();
    CHECK(with_groups.load() >= before_stop);

    std::string after = f.broker().MetricsText();
    INFO(after);
    // Request figures are the broker's own and stay; the stopped server's
    // and coordinator's are gone.
    CHECK(Sample(after, "runnel_requests_total{api=\"OffsetCommit\"}") == 1);
    CHECK(after.find("runnel_connections_active") == std::string::npos);
    CHECK(after.find("runnel_groups{") == std::string::npos);
  }
}

}  // namespace
}  // namespace runnel::broker::testing
