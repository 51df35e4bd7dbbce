// Record batches exactly as real producers sent them (librdkafka via kcat and
// confluent-kafka-python, kafka-python, kafkajs; every codec), taken from the
// golden produce requests in tests/data/golden: the log accepts them, assigns
// offsets without touching their CRC, and hands back what the client would
// decode.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "common/record_batch_format.h"
#include "runnel/log.h"
#include "test_util.h"

namespace runnel::storage {
namespace {

using testing::ReadAll;
using testing::TempDir;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The produce requests listed in MANIFEST.tsv.
std::vector<std::string> ProduceRequests() {
  std::vector<std::string> files;
  std::ifstream manifest(std::string(RUNNEL_TEST_DATA_DIR) + "/golden/MANIFEST.tsv");
  std::string line;
  while (std::getline(manifest, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, '\t');) f.push_back(cell);
    if (f.size() > 9 && f[5] == "produce" && f[9] == "request") files.push_back(f[0]);
  }
  return files;
}

// Every CRC-valid record batch inside a request (found by trying each byte
// position: the request framing around them is not this test's business).
ByteBuffer BatchesIn(const std::string& bytes) {
  namespace rb = runnel::record_batch;
  ByteBuffer out;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  for (size_t pos = 0; pos + rb::kHeaderSize <= bytes.size();) {
    absl::StatusOr<rb::BatchFrame> frame = rb::FrameBatch({p + pos, bytes.size() - pos}, pos);
    if (frame.ok() && frame->complete && rb::ValidateBatch({p + pos, frame->size}, pos).ok()) {
      out.Append(p + pos, frame->size);
      pos += frame->size;
    } else {
      ++pos;
    }
  }
  return out;
}

TEST_CASE("real clients' batches append and read back record for record", "[golden]") {
  const std::vector<std::string> files = ProduceRequests();
  REQUIRE(files.size() >= 15);
  for (const TimestampType type : {TimestampType::kCreateTime, TimestampType::kLogAppendTime}) {
    TempDir dir;
    LogOptions o;
    o.message_timestamp_type = type;
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir.path(), .log = o});
    REQUIRE(log.ok());
    int64_t expected = 0;
    for (const std::string& file : files) {
      INFO(file);
      ByteBuffer batches = BatchesIn(Slurp(std::string(RUNNEL_TEST_DATA_DIR) + "/golden/" + file));
      REQUIRE_FALSE(batches.empty());
      absl::StatusOr<AppendResult> r = (*log)->Append({batches.data(), batches.size()});
      REQUIRE(r.ok());
      CHECK(r->base_offset == expected);
      CHECK(r->record_count == 5);
      expected = r->last_offset + 1;
    }
    std::vector<testing::SeenRecord> seen = ReadAll(**log);
    REQUIRE(seen.size() == static_cast<size_t>(expected));
    for (size_t i = 0; i < seen.size(); ++i) {
      CHECK(seen[i].offset == static_cast<int64_t>(i));
      CHECK(seen[i].value == "hello-golden-" + std::to_string(i % 5 + 1));
    }
    // Reopened with full recovery: every CRC still checks.
    REQUIRE((*log)->Close().ok());
    log->reset();
    absl::StatusOr<std::unique_ptr<Log>> again = Log::Open({.dir = dir.path(), .log = o});
    REQUIRE(again.ok());
    CHECK((*again)->recovery_report().truncations.empty());
    CHECK((*again)->log_end_offset() == expected);
  }
}

}  // namespace
}  // namespace runnel::storage
