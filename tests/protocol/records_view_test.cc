// `records` fields view the frame they were decoded from when the decoder is
// given the frame's owner (no copy of record data between the socket and the
// caller), and copy it otherwise.
#include <cstdint>
#include <memory>
#include <vector>

#include "catch2/catch.hpp"
#include "runnel/common/shared_bytes.h"
#include "runnel/protocol/messages/fetch.h"
#include "runnel/protocol/messages/produce.h"

namespace runnel::protocol {
namespace {

// A Fetch v12 response with one partition holding `records`.
std::shared_ptr<const ByteBuffer> EncodedFetch(std::vector<uint8_t> records) {
  FetchResponse r;
  auto& t = r.responses.emplace_back();
  t.topic = "t";
  auto& p = t.partitions.emplace_back();
  p.partition_index = 3;
  p.records = std::move(records);
  auto buf = std::make_shared<ByteBuffer>();
  Writer w(buf.get());
  r.Encode(w, 12);
  REQUIRE(w.status().ok());
  return buf;
}

bool Within(const uint8_t* p, const ByteBuffer& buf) {
  return p >= buf.data() && p < buf.data() + buf.size();
}

TEST_CASE("records decoded with the frame's owner view the frame", "[wire][records]") {
  const std::vector<uint8_t> payload(5000, 0xab);
  auto frame = EncodedFetch(payload);
  auto decoded = FetchResponse::Decode(frame->span(), 12, frame);
  REQUIRE(decoded.ok());
  const auto& records = decoded->responses.at(0).partitions.at(0).records;
  REQUIRE(records.has_value());
  CHECK(records->size() == payload.size());
  CHECK(Within(records->data(), *frame));
  CHECK(records->owner() == frame);
  CHECK(std::vector<uint8_t>(records->begin(), records->end()) == payload);

  // The view keeps the frame alive once everyone else has let go of it.
  SharedBytes kept = *records;
  const std::weak_ptr<const ByteBuffer> weak = frame;
  frame.reset();
  decoded = absl::InternalError("dropped");
  CHECK_FALSE(weak.expired());
  CHECK(std::vector<uint8_t>(kept.begin(), kept.end()) == payload);
  kept = SharedBytes();
  CHECK(weak.expired());
}

TEST_CASE("records decoded without an owner are a copy of their own", "[wire][records]") {
  const std::vector<uint8_t> payload(300, 0x5c);
  auto frame = EncodedFetch(payload);
  auto decoded = FetchResponse::Decode(frame->span(), 12);
  REQUIRE(decoded.ok());
  auto& records = decoded->responses.at(0).partitions.at(0).records;
  REQUIRE(records.has_value());
  CHECK_FALSE(Within(records->data(), *frame));
  CHECK(std::vector<uint8_t>(records->begin(), records->end()) == payload);
  // A copy held alone can be written (a broker stamps offsets in place)...
  std::span<uint8_t> writable = records->WritableIfSole();
  REQUIRE(writable.size() == payload.size());
  writable[0] = 1;
  CHECK((*records)[0] == 1);
  // ...but not once it is shared, nor a view of someone else's frame.
  SharedBytes shared = *records;
  CHECK(records->WritableIfSole().empty());
  auto viewed = FetchResponse::Decode(frame->span(), 12, frame);
  REQUIRE(viewed.ok());
  CHECK(viewed->responses.at(0).partitions.at(0).records->WritableIfSole().empty());
}

TEST_CASE("a null records field stays null either way", "[wire][records]") {
  ProduceRequest req;
  req.acks = 1;
  auto& t = req.topic_data.emplace_back();
  t.name = "t";
  t.partition_data.emplace_back().records.reset();
  auto buf = std::make_shared<ByteBuffer>();
  Writer w(buf.get());
  req.Encode(w, 9);
  REQUIRE(w.status().ok());
  auto viewed = ProduceRequest::Decode(buf->span(), 9, buf);
  auto copied = ProduceRequest::Decode(buf->span(), 9);
  REQUIRE(viewed.ok());
  REQUIRE(copied.ok());
  CHECK_FALSE(viewed->topic_data.at(0).partition_data.at(0).records.has_value());
  CHECK_FALSE(copied->topic_data.at(0).partition_data.at(0).records.has_value());
}

TEST_CASE("a records length past the frame fails the decode", "[wire][records]") {
  auto frame = EncodedFetch(std::vector<uint8_t>(64, 1));
  // Cut the frame inside the records bytes.
  auto cut = std::make_shared<ByteBuffer>();
  cut->Append(frame->data(), frame->size() - 20);
  auto decoded = FetchResponse::Decode(cut->span(), 12, cut);
  REQUIRE_FALSE(decoded.ok());
  CHECK(std::string(decoded.status().message()).find("records") != std::string::npos);
}

}  // namespace
}  // namespace runnel::protocol
