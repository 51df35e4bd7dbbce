// DeleteRecords (log start offset, low watermark, OFFSET_OUT_OF_RANGE) and
// ListOffsets v7's max timestamp, against an in-process broker.
#include "runnel/protocol/messages/delete_records.h"

#include <catch2/catch.hpp>

#include "admin_util.h"
#include "runnel/protocol/messages/list_offsets.h"

namespace runnel::broker::testing {
namespace {

using protocol::ErrorCode;

protocol::DeleteRecordsResponse::DeleteRecordsPartitionResult DeleteRecords(
    RawClient& c, const std::string& topic, int32_t partition, int64_t offset,
    int16_t version = 2) {
  protocol::DeleteRecordsRequest req;
  req.timeout_ms = 1000;
  req.topics.push_back({topic, {{partition, offset, {}}}, {}});
  c.Send(req, version, 2001);
  auto resp = c.Receive<protocol::DeleteRecordsResponse>(version, 2001);
  REQUIRE(resp.topics.size() == 1);
  REQUIRE(resp.topics[0].partitions.size() == 1);
  CHECK(resp.topics[0].partitions[0].partition_index == partition);
  return resp.topics[0].partitions[0];
}

protocol::ListOffsetsResponse::ListOffsetsPartitionResponse ListOffsets(RawClient& c,
                                                                        const std::string& topic,
                                                                        int64_t timestamp,
                                                                        int16_t version = 7) {
  protocol::ListOffsetsRequest req;
  req.replica_id = -1;
  protocol::ListOffsetsRequest::ListOffsetsTopic t;
  t.name = topic;
  t.partitions.push_back({0, -1, timestamp, {}});
  req.topics.push_back(t);
  c.Send(req, version, 2002);
  auto resp = c.Receive<protocol::ListOffsetsResponse>(version, 2002);
  REQUIRE(resp.topics.size() == 1);
  REQUIRE(resp.topics[0].partitions.size() == 1);
  return resp.topics[0].partitions[0];
}

std::vector<uint8_t> BatchAt(const std::vector<int64_t>& timestamps) {
  protocol::RecordBatchBuilder builder(protocol::RecordBatchBuilderOptions{});
  for (int64_t ts : timestamps) {
    REQUIRE(builder.Append(ts, nullptr, std::to_string(ts)).ok());
  }
  auto bytes = builder.Finish();
  REQUIRE(bytes.ok());
  return std::vector<uint8_t>(bytes->begin(), bytes->end());
}

TEST_CASE("delete records moves the log start offset", "[delete_records]") {
  BrokerFixture f;
  RawClient c(f.port());
  REQUIRE(CreateTopicWith(c, "t", 1) == 0);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(ProduceOne(c, "t", 0, MakeBatch({"v" + std::to_string(i)})).error_code == 0);
  }
  auto r = DeleteRecords(c, "t", 0, 4);
  CHECK(r.error_code == 0);
  CHECK(r.low_watermark == 4);
  CHECK(ListOffsets(c, "t", -2).offset == 4);
  CHECK(FetchOne(c, "t", 0, 2).error_code == Code(ErrorCode::kOffsetOutOfRange));
  auto fetched = FetchOne(c, "t", 0, 4);
  CHECK(fetched.error_code == 0);
  CHECK(fetched.log_start_offset == 4);
  std::vector<int64_t> offsets;
  std::vector<std::string> values = Values(*fetched.records, &offsets);
  REQUIRE(!values.empty());
  CHECK(values.front() == "v4");
  CHECK(offsets.front() == 4);

  // Lower than the start: nothing changes. Past the high watermark: error.
  CHECK(DeleteRecords(c, "t", 0, 2, 0).low_watermark == 4);
  auto past = DeleteRecords(c, "t", 0, 11, 1);
  CHECK(past.error_code == Code(ErrorCode::kOffsetOutOfRange));
  CHECK(DeleteRecords(c, "t", 0, -7).error_code == Code(ErrorCode::kOffsetOutOfRange));
  CHECK(DeleteRecords(c, "t", 3, 1).error_code == Code(ErrorCode::kUnknownTopicOrPartition));
  CHECK(DeleteRecords(c, "nope", 0, 1).error_code == Code(ErrorCode::kUnknownTopicOrPartition));
  CHECK(ListOffsets(c, "t", -2).offset == 4);

  // -1: everything up to the high watermark; appends continue after it.
  auto all = DeleteRecords(c, "t", 0, -1);
  CHECK(all.error_code == 0);
  CHECK(all.low_watermark == 10);
  CHECK(ListOffsets(c, "t", -2).offset == 10);
  CHECK(ProduceOne(c, "t", 0, MakeBatch({"after"})).base_offset == 10);

  // A clean restart keeps the start offset (log-start-offset-checkpoint).
  f.Restart();
  RawClient again(f.port());
  CHECK(ListOffsets(again, "t", -2).offset == 10);
  CHECK(Values(*FetchOne(again, "t", 0, 10).records) == std::vector<std::string>{"after"});
}

TEST_CASE("list offsets v7: the record with the largest timestamp", "[list_offsets]") {
  BrokerFixture f;
  RawClient c(f.port());
  REQUIRE(CreateTopicWith(c, "t", 1) == 0);
  auto none = ListOffsets(c, "t", -3);
  CHECK(none.error_code == 0);
  CHECK(none.offset == -1);
  CHECK(none.timestamp == -1);

  const int64_t base = 1'700'000'000'000;
  REQUIRE(ProduceOne(c, "t", 0, BatchAt({base + 10, base + 500, base + 20})).error_code == 0);
  REQUIRE(ProduceOne(c, "t", 0, BatchAt({base + 30, base + 40})).error_code == 0);
  auto max = ListOffsets(c, "t", -3);
  CHECK(max.error_code == 0);
  CHECK(max.offset == 1);
  CHECK(max.timestamp == base + 500);

  // A later record with the same timestamp: the first one wins.
  REQUIRE(ProduceOne(c, "t", 0, BatchAt({base + 500, base + 7})).error_code == 0);
  CHECK(ListOffsets(c, "t", -3).offset == 1);
  // A newer maximum in a later batch.
  REQUIRE(ProduceOne(c, "t", 0, BatchAt({base + 1, base + 900'000, base + 2})).error_code == 0);
  max = ListOffsets(c, "t", -3);
  CHECK(max.offset == 8);
  CHECK(max.timestamp == base + 900'000);

  // The other specs still work at v7; -3 before v7 is not a valid spec.
  CHECK(ListOffsets(c, "t", -1).offset == 10);
  CHECK(ListOffsets(c, "t", -2).offset == 0);
  CHECK(ListOffsets(c, "t", base + 25).offset == 1);  // the first at or after it
  CHECK(ListOffsets(c, "t", base + 600).offset == 8);
  CHECK(ListOffsets(c, "t", -3, 6).error_code != 0);
}

}  // namespace
}  // namespace runnel::broker::testing
