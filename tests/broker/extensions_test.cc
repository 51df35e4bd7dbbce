// The extension points of runnel/broker.h on an in-process Broker driven by
// raw requests: request hooks (observe, rewrite, answer, reject), a
// TopicPolicy consulted on create, produce, fetch and auto-creation, and a
// handler for an API key the broker does not serve.
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "broker_fixture.h"
#include "raw_client.h"
#include "runnel/broker.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/api_versions.h"
#include "runnel/protocol/messages/create_topics.h"
#include "runnel/protocol/messages/delete_topics.h"
#include "runnel/protocol/messages/fetch.h"
#include "runnel/protocol/messages/list_offsets.h"
#include "runnel/protocol/messages/metadata.h"
#include "runnel/protocol/messages/produce.h"

namespace runnel::broker::testing {
namespace {

using protocol::ErrorCode;

int16_t Code(ErrorCode c) { return static_cast<int16_t>(c); }

// A Broker with the given options on a free port in a fresh directory.
class CustomBroker {
 public:
  explicit CustomBroker(BrokerOptions options) {
    char tmpl[] = "/tmp/runnel-ext-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    options.port = 0;
    options.data_dir = dir_;
    options.io_threads = 2;
    auto b = Broker::Start(std::move(options));
    INFO(b.status().ToString());
    REQUIRE(b.ok());
    broker_ = *std::move(b);
    std::string addr = broker_->bootstrap_address();
    port_ = static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
  }
  ~CustomBroker() {
    (void)broker_->Stop(absl::Seconds(5));
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  uint16_t port() const { return port_; }
  Broker& broker() { return *broker_; }

 private:
  std::string dir_;
  std::unique_ptr<Broker> broker_;
  uint16_t port_ = 0;
};

protocol::CreateTopicsResponse CreateTopic(RawClient& c, const std::string& name,
                                           int32_t partitions) {
  protocol::CreateTopicsRequest req;
  protocol::CreateTopicsRequest::CreatableTopic t;
  t.name = name;
  t.num_partitions = partitions;
  t.replication_factor = -1;
  req.topics.push_back(t);
  c.Send(req, 7, 11);
  return c.Receive<protocol::CreateTopicsResponse>(7, 11);
}

protocol::ProduceResponse Produce(RawClient& c, const std::string& topic,
                                  std::vector<uint8_t> batch) {
  protocol::ProduceRequest req;
  req.acks = -1;
  req.timeout_ms = 1000;
  protocol::ProduceRequest::TopicProduceData td;
  td.name = topic;
  td.partition_data.push_back({0, std::move(batch), {}});
  req.topic_data.push_back(std::move(td));
  c.Send(req, 9, 21);
  return c.Receive<protocol::ProduceResponse>(9, 21);
}

protocol::FetchResponse Fetch(RawClient& c, const std::string& topic) {
  protocol::FetchRequest req;
  req.max_wait_ms = 0;
  req.min_bytes = 1;
  protocol::FetchRequest::FetchTopic ft;
  ft.topic = topic;
  protocol::FetchRequest::FetchPartition fp;
  fp.partition = 0;
  fp.fetch_offset = 0;
  fp.partition_max_bytes = 1 << 20;
  ft.partitions.push_back(fp);
  req.topics.push_back(ft);
  c.Send(req, 12, 31);
  return c.Receive<protocol::FetchResponse>(12, 31);
}

protocol::MetadataResponse Metadata(RawClient& c, const std::string& topic) {
  protocol::MetadataRequest req;
  req.topics = std::vector<protocol::MetadataRequest::MetadataRequestTopic>{};
  protocol::MetadataRequest::MetadataRequestTopic t;
  t.name.emplace(topic);
  req.topics->push_back(t);
  req.allow_auto_topic_creation = true;
  c.Send(req, 12, 5);
  return c.Receive<protocol::MetadataResponse>(12, 5);
}

class PrefixPolicy : public TopicPolicy {
 public:
  absl::Status Check(const RequestInfo& who, TopicOperation op, const std::string& topic) override {
    std::lock_guard<std::mutex> l(mu);
    calls.push_back({who.client_id, op, topic});
    if (topic.rfind("app.", 0) == 0) return absl::OkStatus();
    if (op == TopicOperation::kCreate) return absl::InvalidArgumentError("only app.* topics");
    return absl::PermissionDeniedError("only app.* topics");
  }
  struct Call {
    std::string client_id;
    TopicOperation op;
    std::string topic;
  };
  std::mutex mu;
  std::vector<Call> calls;
};

TEST_CASE("a topic policy is consulted on create, produce, fetch and auto-creation",
          "[broker][extensions]") {
  auto policy = std::make_shared<PrefixPolicy>();
  BrokerOptions options;
  options.topic_policy = policy;
  CustomBroker b(options);
  RawClient c(b.port());

  auto ok = CreateTopic(c, "app.orders", 1);
  REQUIRE(ok.topics.size() == 1);
  CHECK(ok.topics[0].error_code == 0);
  auto refused = CreateTopic(c, "other", 1);
  REQUIRE(refused.topics.size() == 1);
  CHECK(refused.topics[0].error_code == Code(ErrorCode::kPolicyViolation));
  CHECK(refused.topics[0].error_message == std::optional<std::string>("only app.* topics"));

  // Auto-creation through Metadata is a create too: refused, the topic
  // stays unknown; allowed, it appears.
  auto meta = Metadata(c, "other.auto");
  REQUIRE(meta.topics.size() == 1);
  CHECK(meta.topics[0].error_code == Code(ErrorCode::kUnknownTopicOrPartition));
  auto meta_ok = Metadata(c, "app.auto");
  REQUIRE(meta_ok.topics.size() == 1);
  CHECK(meta_ok.topics[0].error_code == 0);
  CHECK(meta_ok.topics[0].partitions.size() == 1);

  auto produced = Produce(c, "app.orders", MakeBatch({"a", "b"}));
  REQUIRE(produced.responses.size() == 1);
  CHECK(produced.responses[0].partition_responses[0].error_code == 0);
  auto fetched = Fetch(c, "app.orders");
  REQUIRE(fetched.responses.size() == 1);
  CHECK(fetched.responses[0].partitions[0].error_code == 0);
  CHECK(Values(*fetched.responses[0].partitions[0].records) == std::vector<std::string>{"a", "b"});

  // "other.auto" does not exist; "app.auto" does, but produce and fetch of
  // a topic outside the prefix are refused before existence matters.
  auto denied = Produce(c, "other.auto", MakeBatch({"x"}));
  CHECK(denied.responses[0].partition_responses[0].error_code ==
        Code(ErrorCode::kTopicAuthorizationFailed));
  auto denied_fetch = Fetch(c, "other.auto");
  CHECK(denied_fetch.responses[0].partitions[0].error_code ==
        Code(ErrorCode::kTopicAuthorizationFailed));

  std::lock_guard<std::mutex> l(policy->mu);
  bool saw_produce = false;
  for (const auto& call : policy->calls) {
    CHECK(call.client_id == "raw-client");
    if (call.op == TopicOperation::kProduce && call.topic == "app.orders") saw_produce = true;
  }
  CHECK(saw_produce);
}

// Observes every request and response; rewrites CreateTopics to two
// partitions, answers ListOffsets itself, rejects DeleteTopics.
class TestHook : public RequestHook {
 public:
  HookDecision BeforeRequest(const RequestInfo& info, std::span<const uint8_t> body) override {
    {
      std::lock_guard<std::mutex> l(mu);
      before[info.api_key]++;
      principals.insert(info.principal);
    }
    if (info.api_key == protocol::CreateTopicsRequest::kApiKey) {
      auto req = protocol::CreateTopicsRequest::Decode(body, info.api_version);
      if (!req.ok()) return HookDecision::Reject(req.status());
      for (auto& t : req->topics) t.num_partitions = 2;
      ByteBuffer out;
      protocol::Writer w(&out);
      req->Encode(w, info.api_version);
      return HookDecision::Rewrite(std::vector<uint8_t>(out.data(), out.data() + out.size()));
    }
    if (info.api_key == protocol::ListOffsetsRequest::kApiKey) {
      protocol::ListOffsetsResponse resp;
      resp.throttle_time_ms = 1234;
      ByteBuffer out;
      protocol::Writer w(&out);
      resp.Encode(w, info.api_version);
      return HookDecision::Respond(std::vector<uint8_t>(out.data(), out.data() + out.size()));
    }
    if (info.api_key == protocol::DeleteTopicsRequest::kApiKey) {
      return HookDecision::Reject(absl::PermissionDeniedError("no deletes here"));
    }
    return HookDecision::Continue();
  }
  void AfterResponse(const RequestInfo& info, const ResponseInfo& response) override {
    std::lock_guard<std::mutex> l(mu);
    after[info.api_key]++;
    if (!response.status.ok()) closed[info.api_key]++;
    if (info.api_key == protocol::MetadataRequest::kApiKey && response.body_available) {
      auto meta = protocol::MetadataResponse::Decode(response.body, info.api_version);
      if (meta.ok()) metadata_brokers = static_cast<int>(meta->brokers.size());
    }
    if (info.api_key == protocol::FetchRequest::kApiKey) fetch_bytes += response.size_bytes;
  }
  std::mutex mu;
  std::map<int16_t, int> before, after, closed;
  std::set<std::string> principals;
  int metadata_brokers = -1;
  int64_t fetch_bytes = 0;
};

TEST_CASE("request hooks observe, rewrite, answer and reject requests", "[broker][extensions]") {
  auto hook = std::make_shared<TestHook>();
  BrokerOptions options;
  options.hooks.push_back(hook);
  CustomBroker b(options);
  RawClient c(b.port());

  // Rewritten: one partition asked for, two created.
  auto created = CreateTopic(c, "rewritten", 1);
  REQUIRE(created.topics.size() == 1);
  CHECK(created.topics[0].error_code == 0);
  CHECK(created.topics[0].num_partitions == 2);
  auto meta = Metadata(c, "rewritten");
  REQUIRE(meta.topics.size() == 1);
  CHECK(meta.topics[0].partitions.size() == 2);

  // Answered by the hook: the broker never saw it.
  protocol::ListOffsetsRequest lo;
  lo.replica_id = -1;
  c.Send(lo, 6, 41);
  auto lo_resp = c.Receive<protocol::ListOffsetsResponse>(6, 41);
  CHECK(lo_resp.throttle_time_ms == 1234);

  Produce(c, "rewritten", MakeBatch({"hello"}));
  auto fetched = Fetch(c, "rewritten");
  CHECK(Values(*fetched.responses[0].partitions[0].records) == std::vector<std::string>{"hello"});

  // Rejected: the connection closes; others keep working.
  protocol::DeleteTopicsRequest del;
  del.topic_names = {"rewritten"};
  c.Send(del, 5, 51);
  CHECK(c.WaitClosed());
  RawClient c2(b.port());
  CHECK(Metadata(c2, "rewritten").topics[0].partitions.size() == 2);

  std::lock_guard<std::mutex> l(hook->mu);
  CHECK(hook->before[protocol::CreateTopicsRequest::kApiKey] == 1);
  CHECK(hook->after[protocol::CreateTopicsRequest::kApiKey] == 1);
  CHECK(hook->after[protocol::ListOffsetsRequest::kApiKey] == 1);
  CHECK(hook->closed[protocol::DeleteTopicsRequest::kApiKey] == 1);
  CHECK(hook->closed[protocol::ProduceRequest::kApiKey] == 0);
  CHECK(hook->metadata_brokers == 1);
  CHECK(hook->fetch_bytes > 0);
  CHECK(hook->principals == std::set<std::string>{"User:ANONYMOUS"});
}

TEST_CASE("a custom handler serves an API key the broker does not", "[broker][extensions]") {
  constexpr int16_t kEchoKey = 10000;
  CustomApi echo;
  echo.api_key = kEchoKey;
  echo.min_version = 0;
  echo.max_version = 2;
  echo.handler = [](const RequestInfo& info,
                    std::span<const uint8_t> body) -> absl::StatusOr<std::vector<uint8_t>> {
    if (body.empty()) return absl::InvalidArgumentError("empty echo request");
    std::vector<uint8_t> out(info.client_id.begin(), info.client_id.end());
    out.push_back(':');
    out.insert(out.end(), body.begin(), body.end());
    return out;
  };
  BrokerOptions options;
  options.custom_apis.push_back(echo);
  CustomBroker b(options);
  RawClient c(b.port());

  // ApiVersions advertises it.
  c.Send(protocol::ApiVersionsRequest{}, 3, 1);
  auto versions = c.Receive<protocol::ApiVersionsResponse>(3, 1);
  bool advertised = false;
  for (const auto& k : versions.api_keys) {
    if (k.api_key == kEchoKey) advertised = k.min_version == 0 && k.max_version == 2;
  }
  CHECK(advertised);

  // Header v1 (key, version, correlation id, client id), then the body.
  ByteBuffer frame;
  size_t start = protocol::BeginFrame(frame);
  protocol::Writer w(&frame);
  protocol::RequestHeader h{kEchoKey, 1, 77, "echoer", {}};
  h.Encode(w, protocol::RequestHeaderVersion(kEchoKey, 1));
  frame.Append(std::string_view("ping"));
  REQUIRE(protocol::FinishFrame(frame, start).ok());
  c.SendBytes(frame.span());
  auto payload = c.ReadFrame();
  REQUIRE(payload.has_value());
  protocol::Reader r(*payload);
  auto rh = protocol::ResponseHeader::Decode(r, protocol::ResponseHeaderVersion(kEchoKey, 1));
  REQUIRE(rh.ok());
  CHECK(rh->correlation_id == 77);
  CHECK(std::string(payload->begin() + r.offset(), payload->end()) == "echoer:ping");

  // A version outside the range is refused like any unsupported version.
  ByteBuffer bad;
  start = protocol::BeginFrame(bad);
  protocol::Writer w2(&bad);
  protocol::RequestHeader h2{kEchoKey, 3, 78, "echoer", {}};
  h2.Encode(w2, protocol::RequestHeaderVersion(kEchoKey, 3));
  bad.Append(std::string_view("ping"));
  REQUIRE(protocol::FinishFrame(bad, start).ok());
  c.SendBytes(bad.span());
  CHECK(c.WaitClosed());
}

TEST_CASE("a custom API with a bad range fails start-up", "[broker][extensions]") {
  BrokerOptions options;
  options.port = 0;
  options.data_dir = "/tmp/runnel-ext-test-never-created";
  CustomApi bad;
  bad.api_key = 9999;
  bad.min_version = 3;
  bad.max_version = 1;
  bad.handler = [](const RequestInfo&, std::span<const uint8_t>) {
    return absl::StatusOr<std::vector<uint8_t>>(std::vector<uint8_t>{});
  };
  options.custom_apis.push_back(bad);
  auto b = Broker::Start(options);
  REQUIRE(!b.ok());
  CHECK(b.status().message().find("9999") != std::string::npos);
  std::error_code ec;
  std::filesystem::remove_all(options.data_dir, ec);
}

}  // namespace
}  // namespace runnel::broker::testing
