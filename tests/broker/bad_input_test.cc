// Bad input against an in-process broker, each case followed by the same
// two checks: a connection opened before it still gets answers, and the
// records written before it are all still there. Frames that cannot be
// parsed (oversized, negative or zero size, truncated, garbage header,
// unknown API key, unsupported version, undecodable body) close their own
// connection only; a too-new ApiVersions gets v0 with UNSUPPORTED_VERSION
// and the version list; corrupt record batches in Produce get
// CORRUPT_MESSAGE for their partition while the other partitions of the same
// request are written.
#include <catch2/catch.hpp>
#include <random>
#include <thread>

#include "admin_util.h"
#include "runnel/protocol/messages/api_versions.h"
#include "runnel/protocol/messages/metadata.h"

namespace runnel::broker::testing {
namespace {

using protocol::ApiVersionsRequest;
using protocol::ApiVersionsResponse;
using protocol::ErrorCode;

constexpr size_t kMaxRequest = 64 * 1024;  // socket.request.max.bytes in these tests

// Byte positions in a record batch v2 header.
constexpr size_t kBatchLengthAt = 8;
constexpr size_t kMagicAt = 16;
constexpr size_t kCrcAt = 17;
constexpr size_t kRecordsAt = 61;

std::vector<uint8_t> Frame(std::vector<uint8_t> payload) {
  uint32_t n = static_cast<uint32_t>(payload.size());
  std::vector<uint8_t> out = {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                              static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// A request header v1 (key, version, correlation id 7, client id "x")
// followed by `body`.
std::vector<uint8_t> Request(int16_t key, int16_t version, std::vector<uint8_t> body) {
  std::vector<uint8_t> p = {static_cast<uint8_t>(key >> 8),
                            static_cast<uint8_t>(key),
                            static_cast<uint8_t>(version >> 8),
                            static_cast<uint8_t>(version),
                            0,
                            0,
                            0,
                            7,
                            0,
                            1,
                            'x'};
  p.insert(p.end(), body.begin(), body.end());
  return Frame(std::move(p));
}

void PutBE32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  b[at] = static_cast<uint8_t>(v >> 24);
  b[at + 1] = static_cast<uint8_t>(v >> 16);
  b[at + 2] = static_cast<uint8_t>(v >> 8);
  b[at + 3] = static_cast<uint8_t>(v);
}

class BadInputFixture {
 public:
  BadInputFixture()
      : broker_({{"socket.request.max.bytes", std::to_string(kMaxRequest)}}),
        bystander_(broker_.port()) {
    RawClient c(broker_.port());
    REQUIRE(CreateTopicWith(c, "keep", 1) == 0);
    REQUIRE(CreateTopicWith(c, "t", 4) == 0);
    REQUIRE(ProduceOne(c, "keep", 0, MakeBatch({"a", "b", "c"})).error_code == 0);
  }

  uint16_t port() const { return broker_.port(); }

  // The connection opened before the bad input still works, a new one
  // too, and what "keep" held is intact.
  void CheckHealthy() {
    bystander_.Send(ApiVersionsRequest{}, 3, ++correlation_);
    CHECK(bystander_.Receive<ApiVersionsResponse>(3, correlation_).error_code == 0);
    RawClient c(broker_.port());
    auto data = FetchOne(c, "keep", 0, 0);
    CHECK(data.error_code == 0);
    CHECK(data.high_watermark == 3);
    REQUIRE(data.records.has_value());
    CHECK(Values(*data.records) == std::vector<std::string>{"a", "b", "c"});
  }

  // Sends `bytes` on a fresh connection and expects the broker to close it.
  void ExpectClosed(const std::vector<uint8_t>& bytes) {
    RawClient c(broker_.port());
    c.SendBytes(bytes);
    CHECK(c.WaitClosed());
  }

 private:
  BrokerFixture broker_;
  RawClient bystander_;
  int32_t correlation_ = 100;
};

TEST_CASE("bad frames close their own connection and nothing else", "[bad_input]") {
  BadInputFixture f;
  SECTION("oversized frame") {
    f.ExpectClosed({0, 1, 0, 1});  // 65537 > socket.request.max.bytes
    f.ExpectClosed({0x7f, 0xff, 0xff, 0xff});
  }
  SECTION("negative sizes") {
    f.ExpectClosed({0xff, 0xff, 0xff, 0xff});
    f.ExpectClosed({0x80, 0, 0, 0});
  }
  SECTION("empty frame") { f.ExpectClosed({0, 0, 0, 0}); }
  SECTION("truncated frames") {
    // The peer goes away inside the size prefix, the header and the body.
    for (std::vector<uint8_t> bytes :
         {std::vector<uint8_t>{0, 0}, std::vector<uint8_t>{0, 0, 0, 20, 0, 18},
          std::vector<uint8_t>{0, 0, 0, 200, 0, 18, 0, 3, 0, 0, 0, 1}}) {
      RawClient c(f.port());
      c.SendBytes(bytes);
    }
    // A frame that never completes does not block other connections.
    RawClient slow(f.port());
    slow.SendBytes(std::vector<uint8_t>{0, 0, 1, 0, 0, 18});
    f.CheckHealthy();
  }
  SECTION("garbage headers") {
    f.ExpectClosed(Frame({0, 18}));                                // no version
    f.ExpectClosed(Frame({0, 18, 0, 3, 0, 0}));                    // short correlation id
    f.ExpectClosed(Frame({0, 18, 0, 3, 0, 0, 0, 1, 0x7f, 0x7f}));  // client id past the end
    f.ExpectClosed(Frame({0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xfe}));  // client id length -2
    f.ExpectClosed(Frame({0, 3, 0, 12, 0, 0, 0, 1, 0, 0, 0xff}));  // bad tagged fields
  }
  SECTION("unknown API keys") {
    f.ExpectClosed(Request(999, 0, {}));
    f.ExpectClosed(Request(-1, 0, {}));
    f.ExpectClosed(Request(0x7fff, 3, {}));
  }
  SECTION("unsupported versions") {
    f.ExpectClosed(Request(0, 2, {}));   // Produce below its minimum
    f.ExpectClosed(Request(1, 99, {}));  // Fetch far above its maximum
    f.ExpectClosed(Request(3, -1, {}));  // Metadata, negative version
  }
  SECTION("undecodable bodies") {
    // Metadata v1: topic array of -5 entries (non-nullable), then of
    // 2^31-1 entries with none there.
    f.ExpectClosed(Request(3, 1, {0xff, 0xff, 0xff, 0xfb}));
    f.ExpectClosed(Request(3, 1, {0x7f, 0xff, 0xff, 0xff}));
    // Produce v9 (flexible): compact array length varint that never ends.
    f.ExpectClosed(Request(0, 9, {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
    // CreateTopics v2 with a topic name longer than the frame.
    f.ExpectClosed(Request(19, 2, {0, 0, 0, 1, 0x7f, 0x00, 'a'}));
  }
  f.CheckHealthy();
}

TEST_CASE("a too-new ApiVersions gets v0 with UNSUPPORTED_VERSION and the versions",
          "[bad_input]") {
  BadInputFixture f;
  RawClient c(f.port());
  // Header v2 as a flexible version has it; the body is not read.
  c.SendBytes(Frame({0, 18, 0x7f, 0x00, 0, 0, 0, 9, 0, 1, 'x', 0, 0xde, 0xad}));
  auto resp = c.Receive<ApiVersionsResponse>(0, 9);
  CHECK(resp.error_code == static_cast<int16_t>(ErrorCode::kUnsupportedVersion));
  bool produce = false, api_versions = false;
  for (const auto& k : resp.api_keys) {
    if (k.api_key == 0) produce = k.min_version == 3 && k.max_version == 9;
    if (k.api_key == 18) api_versions = k.min_version == 0 && k.max_version == 3;
  }
  CHECK(produce);
  CHECK(api_versions);
  // The connection stays usable for the retry at a version we have.
  c.Send(ApiVersionsRequest{}, 3, 10);
  CHECK(c.Receive<ApiVersionsResponse>(3, 10).error_code == 0);
  f.CheckHealthy();
}

TEST_CASE("corrupt record batches get CORRUPT_MESSAGE for their partition only", "[bad_input]") {
  BadInputFixture f;
  RawClient c(f.port());
  const std::vector<uint8_t> good = MakeBatch({"ok-1", "ok-2"});
  std::vector<uint8_t> bad_crc = good;
  bad_crc[kRecordsAt + 3] ^= 0x20;
  std::vector<uint8_t> bad_stored_crc = good;
  bad_stored_crc[kCrcAt] ^= 0x01;
  std::vector<uint8_t> bad_magic = good;
  bad_magic[kMagicAt] = 7;
  std::vector<uint8_t> too_long = good;  // batchLength past the end of the data
  PutBE32(too_long, kBatchLengthAt, static_cast<uint32_t>(good.size()));
  std::vector<uint8_t> too_short = good;  // batchLength cuts the records off
  PutBE32(too_short, kBatchLengthAt, static_cast<uint32_t>(good.size() - 12 - 5));
  std::vector<uint8_t> negative = good;
  PutBE32(negative, kBatchLengthAt, 0xfffffff0u);
  std::vector<uint8_t> stub(good.begin(), good.begin() + 30);  // header cut short

  struct Case {
    const char* what;
    std::vector<uint8_t> batch;
  };
  for (const Case& bad :
       {Case{"bad CRC", bad_crc}, Case{"bad stored CRC", bad_stored_crc},
        Case{"bad magic", bad_magic}, Case{"batch length too long", too_long},
        Case{"batch length too short", too_short}, Case{"negative batch length", negative},
        Case{"truncated header", stub}}) {
    INFO(bad.what);
    // One request: partition 0 good, partition 1 bad, partition 2 good.
    protocol::ProduceRequest req;
    req.acks = -1;
    req.timeout_ms = 1000;
    protocol::ProduceRequest::TopicProduceData td;
    td.name = "t";
    td.partition_data.push_back({0, SharedBytes::CopyOf(good), {}});
    td.partition_data.push_back({1, SharedBytes::CopyOf(bad.batch), {}});
    td.partition_data.push_back({2, SharedBytes::CopyOf(good), {}});
    req.topic_data.push_back(td);
    c.Send(req, 9, 55);
    auto resp = c.Receive<protocol::ProduceResponse>(9, 55);
    REQUIRE(resp.responses.size() == 1);
    const auto& parts = resp.responses[0].partition_responses;
    REQUIRE(parts.size() == 3);
    CHECK(parts[0].error_code == 0);
    CHECK(parts[1].index == 1);
    CHECK(parts[1].error_code == static_cast<int16_t>(ErrorCode::kCorruptMessage));
    CHECK(parts[1].base_offset == -1);
    CHECK(parts[2].error_code == 0);
  }
  // Nothing of the bad batches was written; every good one was.
  auto p1 = FetchOne(c, "t", 1, 0);
  CHECK(p1.error_code == 0);
  CHECK(p1.high_watermark == 0);
  auto p0 = FetchOne(c, "t", 0, 0);
  CHECK(p0.high_watermark == 14);
  CHECK(Values(*p0.records).size() == 14);
  // The partition takes good batches after the bad ones.
  auto after = ProduceOne(c, "t", 1, good);
  CHECK(after.error_code == 0);
  CHECK(after.base_offset == 0);
  f.CheckHealthy();
}

TEST_CASE("random garbage frames never take the broker down", "[bad_input]") {
  BadInputFixture f;
  std::mt19937 rng(20261202);
  const std::vector<int16_t> keys = {0, 1, 2, 3, 18, 19, 20, 21, 32, 33, 44, 999};
  for (int i = 0; i < 300; ++i) {
    std::vector<uint8_t> body(rng() % 96);
    for (uint8_t& b : body) b = static_cast<uint8_t>(rng());
    int16_t key = keys[rng() % keys.size()];
    int16_t version = static_cast<int16_t>(rng() % 14);
    RawClient c(f.port());
    c.SendBytes(Request(key, version, body));
    // Either an answer or a close; both are fine, a hang is not.
    std::optional<std::vector<uint8_t>> answer = c.ReadFrame(5000);
    if (answer.has_value()) CHECK(answer->size() >= 4);
  }
  f.CheckHealthy();
}

}  // namespace
}  // namespace runnel::broker::testing
