#include "common/record_batch_format.h"

#include <catch2/catch.hpp>
#include <vector>

#include "common/crc32c.h"
#include "runnel/common/endian.h"

namespace runnel::record_batch {
namespace {

// A header-only batch (no records) with distinct values in every field, CRC
// filled in, laid out by the offsets in the Kafka spec rather than by the
// constants under test.
std::vector<uint8_t> MakeEmptyBatch() {
  std::vector<uint8_t> b(61, 0);
  StoreBigEndian<int64_t>(&b[0], 0x0102030405060708);  // baseOffset
  StoreBigEndian<int32_t>(&b[8], 49);                  // batchLength = 61 - 12
  StoreBigEndian<int32_t>(&b[12], 7);                  // partitionLeaderEpoch
  b[16] = 2;                                           // magic
  StoreBigEndian<int16_t>(&b[21], 0x0034);             // attributes: lz4|transactional|control
  StoreBigEndian<int32_t>(&b[23], 9);                  // lastOffsetDelta
  StoreBigEndian<int64_t>(&b[27], 1000);               // baseTimestamp
  StoreBigEndian<int64_t>(&b[35], 2000);               // maxTimestamp
  StoreBigEndian<int64_t>(&b[43], 42);                 // producerId
  StoreBigEndian<int16_t>(&b[51], 3);                  // producerEpoch
  StoreBigEndian<int32_t>(&b[53], 11);                 // baseSequence
  StoreBigEndian<int32_t>(&b[57], 0);                  // recordCount
  StoreBigEndian<uint32_t>(&b[17], Crc32c(&b[21], 61 - 21));
  return b;
}

TEST_CASE("ParseBatchHeader reads every field at its spec offset", "[record_batch_format]") {
  const auto b = MakeEmptyBatch();
  const BatchHeader h = ParseBatchHeader(b.data());
  CHECK(h.base_offset == 0x0102030405060708);
  CHECK(h.batch_length == 49);
  CHECK(h.partition_leader_epoch == 7);
  CHECK(h.magic == 2);
  CHECK(h.crc == Crc32c(&b[21], 40));
  CHECK(h.attributes == 0x34);
  CHECK((h.attributes & kCompressionMask) == 4);
  CHECK((h.attributes & kTransactionalBit) != 0);
  CHECK((h.attributes & kControlBit) != 0);
  CHECK((h.attributes & kTimestampTypeBit) == 0);
  CHECK(h.last_offset_delta == 9);
  CHECK(h.base_timestamp == 1000);
  CHECK(h.max_timestamp == 2000);
  CHECK(h.producer_id == 42);
  CHECK(h.producer_epoch == 3);
  CHECK(h.base_sequence == 11);
  CHECK(h.record_count == 0);
}

TEST_CASE("ValidateBatch accepts a good batch and names the flaw in a bad one",
          "[record_batch_format]") {
  auto b = MakeEmptyBatch();
  CHECK(ValidateBatch(b, 0).ok());

  SECTION("CRC mismatch") {
    b[40] ^= 1;
    absl::Status s = ValidateBatch(b, 4096);
    CHECK(s.code() == absl::StatusCode::kDataLoss);
    CHECK_THAT(std::string(s.message()), Catch::Contains("CRC") && Catch::Contains("4096"));
  }
  SECTION("baseOffset and partitionLeaderEpoch are outside the CRC") {
    b[0] ^= 0xff;
    b[13] ^= 0xff;
    CHECK(ValidateBatch(b, 0).ok());
  }
  SECTION("wrong magic") {
    b[16] = 1;
    CHECK(ValidateBatch(b, 0).code() == absl::StatusCode::kInvalidArgument);
  }
  SECTION("batchLength disagrees with the size") {
    StoreBigEndian<int32_t>(&b[8], 50);
    CHECK(ValidateBatch(b, 0).code() == absl::StatusCode::kDataLoss);
  }
  SECTION("shorter than a header") {
    CHECK(ValidateBatch(std::span(b).first(60), 0).code() == absl::StatusCode::kDataLoss);
  }
}

TEST_CASE("FrameBatch reports partial batches as incomplete, not errors", "[record_batch_format]") {
  const auto b = MakeEmptyBatch();
  for (size_t n = 0; n < b.size(); ++n) {
    auto f = FrameBatch(std::span(b).first(n), 0);
    REQUIRE(f.ok());
    CHECK_FALSE(f->complete);
    CHECK(f->size == (n < 12 ? 0u : 61u));
  }
  auto f = FrameBatch(b, 0);
  REQUIRE(f.ok());
  CHECK(f->complete);
  CHECK(f->size == 61u);

  auto small = b;
  StoreBigEndian<int32_t>(&small[8], 48);
  CHECK(FrameBatch(small, 0).status().code() == absl::StatusCode::kDataLoss);
  auto negative = b;
  StoreBigEndian<int32_t>(&negative[8], -1);
  CHECK(FrameBatch(negative, 0).status().code() == absl::StatusCode::kDataLoss);
  CHECK(FrameBatch(b, 0, /*max_batch_size=*/60).status().code() == absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace runnel::record_batch
