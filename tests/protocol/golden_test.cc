// Golden frames from real Kafka clients (kcat, confluent-kafka-python and
// kafka-python, kafkajs) and librdkafka's mock broker: decoding them with the
// generated messages and the record batch reader, checking what the clients
// were told to send, and re-encoding them to the same bytes.
//
// The frames, MANIFEST.tsv and how they were captured:
// tests/data/golden/README.md (recapture: tools/capture/capture_golden.sh).
// Expected values below come from what the capture sent (five records k1..k5
// = hello-golden-1..5 with header h1=v1, topic "golden", partition 0, codecs
// in the order none gzip snappy lz4 zstd), not from this code's output.
//
// APIs whose messages are not generated yet are picked up by __has_include
// as their headers appear; until then their frames are reported with WARN,
// and a frame of a generated API that this file cannot decode fails.
#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "catch2/catch.hpp"
#include "runnel/protocol/api_keys.h"
#include "runnel/protocol/header.h"
#include "runnel/protocol/messages/api_versions.h"
#include "runnel/protocol/messages/metadata.h"
#include "runnel/protocol/messages/produce.h"
#include "runnel/protocol/record_batch.h"

#if __has_include("runnel/protocol/messages/fetch.h")
#include "runnel/protocol/messages/fetch.h"
#define RUNNEL_GOLDEN_HAS_FETCH 1
#endif
#if __has_include("runnel/protocol/messages/list_offsets.h")
#include "runnel/protocol/messages/list_offsets.h"
#define RUNNEL_GOLDEN_HAS_LIST_OFFSETS 1
#endif
#if __has_include("runnel/protocol/messages/find_coordinator.h")
#include "runnel/protocol/messages/find_coordinator.h"
#define RUNNEL_GOLDEN_HAS_FIND_COORDINATOR 1
#endif
#if __has_include("runnel/protocol/messages/join_group.h")
#include "runnel/protocol/messages/join_group.h"
#define RUNNEL_GOLDEN_HAS_JOIN_GROUP 1
#endif
#if __has_include("runnel/protocol/messages/sync_group.h")
#include "runnel/protocol/messages/sync_group.h"
#define RUNNEL_GOLDEN_HAS_SYNC_GROUP 1
#endif
#if __has_include("runnel/protocol/messages/heartbeat.h")
#include "runnel/protocol/messages/heartbeat.h"
#define RUNNEL_GOLDEN_HAS_HEARTBEAT 1
#endif
#if __has_include("runnel/protocol/messages/leave_group.h")
#include "runnel/protocol/messages/leave_group.h"
#define RUNNEL_GOLDEN_HAS_LEAVE_GROUP 1
#endif
#if __has_include("runnel/protocol/messages/offset_fetch.h")
#include "runnel/protocol/messages/offset_fetch.h"
#define RUNNEL_GOLDEN_HAS_OFFSET_FETCH 1
#endif
#if __has_include("runnel/protocol/messages/offset_commit.h")
#include "runnel/protocol/messages/offset_commit.h"
#define RUNNEL_GOLDEN_HAS_OFFSET_COMMIT 1
#endif

namespace runnel::protocol {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr std::string_view kTopic = "golden";
// The order the capture produced in: batch i sits at offset 5 * i.
constexpr std::array<std::string_view, 5> kCodecOrder = {"none", "gzip", "snappy", "lz4", "zstd"};
constexpr int kRecordsPerBatch = 5;
constexpr int kMinFrames = 100;  // the set holds 120; fewer means a broken capture

// One MANIFEST.tsv row and its file.
struct GoldenFrame {
  std::string file;  // e.g. kcat_produce_v7_gzip.bin
  std::string client;
  std::string client_id;
  int16_t api_key = 0;
  std::string api;
  int16_t api_version = 0;
  int16_t header_version = 0;
  int32_t correlation_id = 0;
  bool request = true;
  Bytes bytes;  // the whole frame, size prefix included

  std::span<const uint8_t> payload() const {
    return std::span<const uint8_t>(bytes).subspan(kFrameSizeBytes);
  }
  // What follows "_v<version>" in the name, without "_response": a codec,
  // "empty", "alltopics", "notopics" or "".
  std::string variant() const {
    std::string stem = file.substr(0, file.size() - 4);  // ".bin"
    if (!request) stem.resize(stem.size() - std::string_view("_response").size());
    const std::string prefix = absl::StrCat(client, "_", api, "_v", api_version);
    return stem.size() > prefix.size() ? stem.substr(prefix.size() + 1) : "";
  }
};

Bytes ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const std::vector<GoldenFrame>& Frames() {
  static const std::vector<GoldenFrame> frames = [] {
    const std::string dir = std::string(RUNNEL_TEST_DATA_DIR) + "/golden/";
    std::ifstream manifest(dir + "MANIFEST.tsv");
    std::vector<GoldenFrame> out;
    std::string line;
    std::getline(manifest, line);  // column names
    while (std::getline(manifest, line)) {
      std::vector<std::string> c = absl::StrSplit(line, '\t');
      if (c.size() < 11) continue;
      GoldenFrame f;
      f.file = c[0];
      f.client = c[1];
      f.client_id = c[3];
      int v = 0;
      if (absl::SimpleAtoi(c[4], &v)) f.api_key = static_cast<int16_t>(v);
      f.api = c[5];
      if (absl::SimpleAtoi(c[6], &v)) f.api_version = static_cast<int16_t>(v);
      if (absl::SimpleAtoi(c[7], &v)) f.header_version = static_cast<int16_t>(v);
      absl::SimpleAtoi(c[8], &f.correlation_id);
      f.request = c[9] == "request";
      f.bytes = ReadFile(dir + f.file);
      out.push_back(std::move(f));
    }
    return out;
  }();
  return frames;
}

std::vector<const GoldenFrame*> Select(std::string_view api, bool request) {
  std::vector<const GoldenFrame*> out;
  for (const GoldenFrame& f : Frames()) {
    if (f.api == api && f.request == request) out.push_back(&f);
  }
  return out;
}

// The client id each capture configured (README.md), by file prefix.
std::string ExpectedClientId(const std::string& client) {
  static const std::map<std::string, std::string> ids = {
      {"kcat", "golden-kcat"},
      {"confluent", "golden-confluent"},
      {"kafkapython", "golden-kafka-python"},
      {"kafkajs", "golden-kafkajs"},
  };
  auto it = ids.find(client);
  return it == ids.end() ? "(unknown client " + client + ")" : it->second;
}

int CodecIndex(const std::string& codec) {
  auto it = std::find(kCodecOrder.begin(), kCodecOrder.end(), codec);
  return it == kCodecOrder.end() ? -1 : static_cast<int>(it - kCodecOrder.begin());
}

// Records a client produced: five batches for librdkafka and kafka-python,
// three (no lz4/zstd codec) for kafkajs. Counted from the captured files.
[[maybe_unused]] int64_t ProducedRecords(const std::string& client) {
  int64_t n = 0;
  for (const GoldenFrame* f : Select("produce", true)) {
    if (f->client == client) n += kRecordsPerBatch;
  }
  return n;
}

// The body of a frame after its header, checking the header on the way.
std::span<const uint8_t> Body(const GoldenFrame& f) {
  Reader r(f.payload());
  if (f.request) {
    auto h = DecodeRequestHeader(r);
    REQUIRE(h.ok());
  } else {
    auto h = ResponseHeader::Decode(r, ResponseHeaderVersion(f.api_key, f.api_version));
    REQUIRE(h.ok());
  }
  return f.payload().subspan(r.offset());
}

template <typename T>
T DecodeBody(const GoldenFrame& f) {
  INFO(f.file);
  auto msg = T::Decode(Body(f), f.api_version);
  INFO(msg.status().ToString());
  REQUIRE(msg.ok());
  return *std::move(msg);
}

// Checks a record set holding exactly one batch of the capture's five
// records, compressed with `codec`, starting at `base_offset`.
void CheckFiveRecords(std::span<const uint8_t> records, const std::string& codec,
                      int64_t base_offset) {
  INFO("codec " << codec << ", base offset " << base_offset);
  RecordBatchReader reader(records);
  const bool got_batch = reader.NextBatch();
  INFO(reader.status().ToString());
  REQUIRE(got_batch);
  const RecordBatchHeader& h = reader.header();
  CHECK(static_cast<int>(h.compression()) == CodecIndex(codec));
  CHECK(h.base_offset == base_offset);
  CHECK(h.record_count == kRecordsPerBatch);
  CHECK(h.last_offset_delta == kRecordsPerBatch - 1);
  CHECK(h.producer_id == -1);  // no idempotence
  CHECK(h.timestamp_type() == TimestampType::kCreateTime);
  CHECK_FALSE(h.is_transactional());
  CHECK_FALSE(h.is_control());
  for (int i = 1; i <= kRecordsPerBatch; ++i) {
    REQUIRE(reader.NextRecord());
    const Record& rec = reader.record();
    CHECK(rec.offset == base_offset + i - 1);
    CHECK(rec.key.str() == absl::StrCat("k", i));
    CHECK(rec.value.str() == absl::StrCat("hello-golden-", i));
    REQUIRE(rec.headers.size() == 1);
    const RecordHeader hdr = *rec.headers.begin();  // a copy: the iterator is a temporary
    CHECK(hdr.key == "h1");
    CHECK(hdr.value.str() == "v1");
  }
  CHECK_FALSE(reader.NextRecord());
  CHECK_FALSE(reader.NextBatch());
  CHECK(reader.status().ok());
  CHECK_FALSE(reader.has_incomplete_tail());
  CHECK(reader.consumed_bytes() == records.size());
}

// ---------------------------------------------------------------------------
// Whole-frame round trip, for every API whose messages are generated.

template <typename Req, typename Resp>
absl::StatusOr<Bytes> ReencodeFrame(const GoldenFrame& f) {
  Reader r(f.payload());
  ByteBuffer out;
  if (f.request) {
    auto header = DecodeRequestHeader(r);
    if (!header.ok()) return header.status();
    auto body = Req::Decode(f.payload().subspan(r.offset()), f.api_version);
    if (!body.ok()) return body.status();
    if (auto s = EncodeRequestFrame(*header, *body, &out); !s.ok()) return s;
  } else {
    auto header = ResponseHeader::Decode(r, ResponseHeaderVersion(f.api_key, f.api_version));
    if (!header.ok()) return header.status();
    auto body = Resp::Decode(f.payload().subspan(r.offset()), f.api_version);
    if (!body.ok()) return body.status();
    auto s = EncodeResponseFrame(header->correlation_id, f.api_version, *body, &out);
    if (!s.ok()) return s;
  }
  return Bytes(out.data(), out.data() + out.size());
}

using ReencodeFn = absl::StatusOr<Bytes> (*)(const GoldenFrame&);

const std::map<int16_t, ReencodeFn>& Reencoders() {
  static const std::map<int16_t, ReencodeFn> fns = {
      {ProduceRequest::kApiKey, &ReencodeFrame<ProduceRequest, ProduceResponse>},
      {MetadataRequest::kApiKey, &ReencodeFrame<MetadataRequest, MetadataResponse>},
      {ApiVersionsRequest::kApiKey, &ReencodeFrame<ApiVersionsRequest, ApiVersionsResponse>},
#ifdef RUNNEL_GOLDEN_HAS_FETCH
      {FetchRequest::kApiKey, &ReencodeFrame<FetchRequest, FetchResponse>},
#endif
#ifdef RUNNEL_GOLDEN_HAS_LIST_OFFSETS
      {ListOffsetsRequest::kApiKey, &ReencodeFrame<ListOffsetsRequest, ListOffsetsResponse>},
#endif
#ifdef RUNNEL_GOLDEN_HAS_FIND_COORDINATOR
      {FindCoordinatorRequest::kApiKey,
       &ReencodeFrame<FindCoordinatorRequest, FindCoordinatorResponse>},
#endif
#ifdef RUNNEL_GOLDEN_HAS_JOIN_GROUP
      {JoinGroupRequest::kApiKey, &ReencodeFrame<JoinGroupRequest, JoinGroupResponse>},
#endif
#ifdef RUNNEL_GOLDEN_HAS_SYNC_GROUP
      {SyncGroupRequest::kApiKey, &ReencodeFrame<SyncGroupRequest, SyncGroupResponse>},
#endif
#ifdef RUNNEL_GOLDEN_HAS_HEARTBEAT
      {HeartbeatRequest::kApiKey, &ReencodeFrame<HeartbeatRequest, HeartbeatResponse>},
#endif
#ifdef RUNNEL_GOLDEN_HAS_LEAVE_GROUP
      {LeaveGroupRequest::kApiKey, &ReencodeFrame<LeaveGroupRequest, LeaveGroupResponse>},
#endif
#ifdef RUNNEL_GOLDEN_HAS_OFFSET_FETCH
      {OffsetFetchRequest::kApiKey, &ReencodeFrame<OffsetFetchRequest, OffsetFetchResponse>},
#endif
#ifdef RUNNEL_GOLDEN_HAS_OFFSET_COMMIT
      {OffsetCommitRequest::kApiKey, &ReencodeFrame<OffsetCommitRequest, OffsetCommitResponse>},
#endif
  };
  return fns;
}

TEST_CASE("golden: every frame's header matches the manifest", "[golden]") {
  REQUIRE(Frames().size() >= kMinFrames);
  for (const GoldenFrame& f : Frames()) {
    INFO(f.file);
    REQUIRE(f.bytes.size() > kFrameSizeBytes);
    auto size = ParseFrameSize(f.bytes);
    REQUIRE(size.ok());
    CHECK(*size == f.bytes.size() - kFrameSizeBytes);
    Reader r(f.payload());
    if (f.request) {
      auto h = DecodeRequestHeader(r);
      REQUIRE(h.ok());
      CHECK(h->api_key == f.api_key);
      CHECK(h->api_version == f.api_version);
      CHECK(h->correlation_id == f.correlation_id);
      CHECK(h->client_id == ExpectedClientId(f.client));
      CHECK(h->client_id == f.client_id);
      CHECK(h->unknown_tagged_fields.empty());
      CHECK(RequestHeaderVersion(f.api_key, f.api_version) == f.header_version);
      // The header alone re-encodes to its bytes.
      ByteBuffer again;
      Writer w(&again);
      h->Encode(w, f.header_version);
      CHECK(Bytes(again.data(), again.data() + again.size()) ==
            Bytes(f.payload().begin(), f.payload().begin() + r.offset()));
    } else {
      CHECK(ResponseHeaderVersion(f.api_key, f.api_version) == f.header_version);
      auto h = ResponseHeader::Decode(r, f.header_version);
      REQUIRE(h.ok());
      CHECK(h->correlation_id == f.correlation_id);
    }
  }
}

TEST_CASE("golden: frames of generated APIs decode and re-encode byte for byte", "[golden]") {
  std::set<std::string> pending;  // APIs with golden frames but no generated messages
  int checked = 0;
  for (const GoldenFrame& f : Frames()) {
    INFO(f.file);
    auto fn = Reencoders().find(f.api_key);
    if (fn == Reencoders().end()) {
      // A generated API this file has no entry for is a gap in the test.
      CHECK(FindApi(f.api_key) == nullptr);
      pending.insert(f.api);
      continue;
    }
    auto again = fn->second(f);
    INFO(again.status().ToString());
    REQUIRE(again.ok());
    CHECK(*again == f.bytes);
    ++checked;
  }
  CHECK(checked >=
        static_cast<int>(Select("produce", true).size() + Select("metadata", true).size() +
                         Select("api_versions", true).size()));
  if (!pending.empty()) {
    WARN("golden frames not round-tripped, their messages are not generated yet: " << absl::StrJoin(
             pending, ", "));
  }
}

// ---------------------------------------------------------------------------
// What the clients sent, field by field.

TEST_CASE("golden: ApiVersions", "[golden]") {
  const std::map<std::string, std::pair<std::string, std::string>> software = {
      {"kcat", {"librdkafka", "2.0.2"}},
      {"confluent", {"confluent-kafka-python", "1.7.0-rdkafka-2.0.2"}},
  };
  int v3 = 0;
  for (const GoldenFrame* f : Select("api_versions", true)) {
    auto req = DecodeBody<ApiVersionsRequest>(*f);
    if (f->api_version >= 3) {
      INFO(f->file);
      REQUIRE(software.count(f->client) == 1);
      CHECK(req.client_software_name == software.at(f->client).first);
      CHECK(req.client_software_version == software.at(f->client).second);
      ++v3;
    }
  }
  CHECK(v3 == 2);  // both librdkafka clients start with v3
  const auto responses = Select("api_versions", false);
  REQUIRE(!responses.empty());
  for (const GoldenFrame* f : responses) {
    auto resp = DecodeBody<ApiVersionsResponse>(*f);
    INFO(f->file);
    CHECK(resp.error_code == 0);
    auto range = [&](int16_t key) {
      for (const auto& k : resp.api_keys) {
        if (k.api_key == key) return std::pair<int, int>(k.min_version, k.max_version);
      }
      return std::pair<int, int>(-1, -1);
    };
    // librdkafka 2.0.2's mock cluster, Metadata raised to v4 by the capture.
    CHECK(range(0) == std::pair<int, int>(0, 7));
    CHECK(range(1) == std::pair<int, int>(0, 11));
    CHECK(range(3) == std::pair<int, int>(0, 4));
    CHECK(range(18) == std::pair<int, int>(0, 2));
  }
}

TEST_CASE("golden: Metadata", "[golden]") {
  for (const GoldenFrame* f : Select("metadata", true)) {
    auto req = DecodeBody<MetadataRequest>(*f);
    const std::string variant = f->variant();
    INFO(f->file);
    if (variant.empty()) {
      REQUIRE(req.topics.has_value());
      REQUIRE(req.topics->size() == 1);
      CHECK((*req.topics)[0].name == std::string(kTopic));
    } else if (variant == "alltopics" && f->api_version == 0) {
      REQUIRE(req.topics.has_value());  // v0 has no null: empty means all
      CHECK(req.topics->empty());
    } else if (variant == "alltopics") {
      CHECK_FALSE(req.topics.has_value());
    } else {
      REQUIRE(variant == "notopics");
      REQUIRE(req.topics.has_value());
      CHECK(req.topics->empty());
    }
  }
  const auto responses = Select("metadata", false);
  REQUIRE(!responses.empty());
  for (const GoldenFrame* f : responses) {
    auto resp = DecodeBody<MetadataResponse>(*f);
    INFO(f->file);
    REQUIRE(resp.brokers.size() == 1);
    const auto& broker = resp.brokers[0];
    CHECK(broker.host == "127.0.0.1");
    CHECK(broker.port > 0);
    if (f->api_version >= 2) {
      REQUIRE(resp.cluster_id.has_value());
      CHECK(resp.cluster_id->rfind("mockCluster", 0) == 0);
    }
    if (f->variant() == "notopics") {
      CHECK(resp.topics.empty());
      continue;
    }
    REQUIRE(resp.topics.size() == 1);
    const auto& topic = resp.topics[0];
    CHECK(topic.error_code == 0);
    CHECK(topic.name == std::string(kTopic));
    CHECK_FALSE(topic.is_internal);
    REQUIRE(topic.partitions.size() == 1);
    CHECK(topic.partitions[0].error_code == 0);
    CHECK(topic.partitions[0].partition_index == 0);
    CHECK(topic.partitions[0].leader_id == broker.node_id);
    CHECK(topic.partitions[0].replica_nodes == std::vector<int32_t>{broker.node_id});
    CHECK(topic.partitions[0].isr_nodes == std::vector<int32_t>{broker.node_id});
  }
}

TEST_CASE("golden: Produce requests carry the five records in each codec", "[golden]") {
  std::map<std::string, std::set<std::string>> codecs_by_client;
  for (const GoldenFrame* f : Select("produce", true)) {
    auto req = DecodeBody<ProduceRequest>(*f);
    const std::string codec = f->variant();
    INFO(f->file);
    codecs_by_client[f->client].insert(codec);
    CHECK_FALSE(req.transactional_id.has_value());
    CHECK(req.acks == -1);
    CHECK(req.timeout_ms == 30000);
    REQUIRE(req.topic_data.size() == 1);
    CHECK(req.topic_data[0].name == kTopic);
    REQUIRE(req.topic_data[0].partition_data.size() == 1);
    const auto& part = req.topic_data[0].partition_data[0];
    CHECK(part.index == 0);
    REQUIRE(part.records.has_value());
    CheckFiveRecords(*part.records, codec, /*base_offset=*/0);  // producers send 0
  }
  const std::set<std::string> all(kCodecOrder.begin(), kCodecOrder.end());
  CHECK(codecs_by_client["kcat"] == all);
  CHECK(codecs_by_client["confluent"] == all);
  CHECK(codecs_by_client["kafkapython"] == all);
  CHECK(codecs_by_client["kafkajs"] == std::set<std::string>{"none", "gzip", "snappy"});

  for (const GoldenFrame* f : Select("produce", false)) {
    auto resp = DecodeBody<ProduceResponse>(*f);
    INFO(f->file);
    REQUIRE(resp.responses.size() == 1);
    CHECK(resp.responses[0].name == kTopic);
    REQUIRE(resp.responses[0].partition_responses.size() == 1);
    const auto& p = resp.responses[0].partition_responses[0];
    CHECK(p.index == 0);
    CHECK(p.error_code == 0);
    CHECK(p.base_offset == kRecordsPerBatch * CodecIndex(f->variant()));
    CHECK(p.log_append_time_ms == 1234);  // what the mock answers
    CHECK(resp.throttle_time_ms == 0);
  }
}

#ifdef RUNNEL_GOLDEN_HAS_FETCH
TEST_CASE("golden: Fetch requests and the batches they got", "[golden]") {
  for (const GoldenFrame* f : Select("fetch", true)) {
    auto req = DecodeBody<FetchRequest>(*f);
    INFO(f->file);
    const std::string variant = f->variant();
    const int64_t offset =
        variant == "empty" ? ProducedRecords(f->client) : kRecordsPerBatch * CodecIndex(variant);
    CHECK(req.replica_id == -1);
    CHECK(req.min_bytes == 1);
    REQUIRE(req.topics.size() == 1);
    CHECK(req.topics[0].topic == kTopic);
    REQUIRE(req.topics[0].partitions.size() == 1);
    CHECK(req.topics[0].partitions[0].partition == 0);
    CHECK(req.topics[0].partitions[0].fetch_offset == offset);
  }
  const auto responses = Select("fetch", false);
  REQUIRE(!responses.empty());
  for (const GoldenFrame* f : responses) {
    auto resp = DecodeBody<FetchResponse>(*f);
    INFO(f->file);
    const std::string variant = f->variant();
    REQUIRE(resp.responses.size() == 1);
    CHECK(resp.responses[0].topic == kTopic);
    REQUIRE(resp.responses[0].partitions.size() == 1);
    const auto& p = resp.responses[0].partitions[0];
    CHECK(p.partition_index == 0);
    CHECK(p.error_code == 0);
    CHECK(p.high_watermark == ProducedRecords(f->client));
    if (variant == "empty") {
      CHECK((!p.records.has_value() || p.records->empty()));
    } else {
      REQUIRE(p.records.has_value());
      CheckFiveRecords(*p.records, variant, kRecordsPerBatch * CodecIndex(variant));
    }
  }
}
#else
TEST_CASE("golden: Fetch (pending: runnel/protocol/messages/fetch.h is not generated yet)",
          "[golden]") {
  // The record batches of the Fetch responses can still be checked: the mock
  // returns one batch per response, and the frame ends with its records.
  const auto responses = Select("fetch", false);
  REQUIRE(!responses.empty());
  WARN(
      "FetchRequest/FetchResponse are not generated yet; checking only the "
      "record batches at the end of "
      << responses.size() << " Fetch responses");
  for (const GoldenFrame* f : responses) {
    const std::string variant = f->variant();
    if (variant == "empty") continue;
    INFO(f->file);
    // The records field is the last one: an int32 length, then the batch up
    // to the end of the body. Find the length that says so.
    const auto body = Body(*f);
    bool found = false;
    for (size_t start = 0; start + 4 <= body.size() && !found; ++start) {
      const uint32_t len = (uint32_t{body[start]} << 24) | (uint32_t{body[start + 1]} << 16) |
                           (uint32_t{body[start + 2]} << 8) | uint32_t{body[start + 3]};
      if (len == body.size() - start - 4) {
        CheckFiveRecords(body.subspan(start + 4), variant, kRecordsPerBatch * CodecIndex(variant));
        found = true;
      }
    }
    CHECK(found);
  }
}
#endif

}  // namespace
}  // namespace runnel::protocol
