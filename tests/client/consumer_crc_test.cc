// check.crcs against runnel-broker (an in-process runnel::Broker): a record
// batch corrupted on disk after the broker accepted it (one value byte
// flipped in the partition's segment file, which the broker serves as it
// is) stops a consumer with check.crcs=true with DataLoss, and reaches one
// with check.crcs=false, corrupt byte included, as in librdkafka and Java.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "runnel/broker.h"
#include "tests/client/consumer_util.h"

namespace runnel::client {
namespace {

using testing::MakeConsumer;
using testing::ProduceNumbered;
using testing::QuickConsumerOptions;

// Flips "v5" (record 5's value; records are "v0".."v9") to "w5" in the one
// segment file under the partition's directory. False if not found once.
bool CorruptRecordFive(const std::string& data_dir, const std::string& partition_dir) {
  for (const auto& e : std::filesystem::recursive_directory_iterator(data_dir)) {
    if (e.path().extension() != ".log" ||
        e.path().parent_path().filename() != partition_dir) {
      continue;
    }
    std::ifstream in(e.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // A value is its varint length (2 -> 0x04) then its bytes.
    const std::string needle("\x04v5", 3);
    const size_t at = bytes.find(needle);
    if (at == std::string::npos || bytes.find(needle, at + 1) != std::string::npos) return false;
    const int fd = open(e.path().c_str(), O_WRONLY);
    if (fd < 0) return false;
    const char w = 'w';
    const bool ok = pwrite(fd, &w, 1, static_cast<off_t>(at + 1)) == 1;
    close(fd);
    return ok;
  }
  return false;
}

struct PollOutcome {
  std::vector<ConsumerRecord> records;
  absl::Status error;
};

// Polls partition 0 of `topic` from the beginning until 10 records came, an
// error, or 10 s passed.
PollOutcome ReadAll(const std::string& bootstrap, const std::string& topic, bool check_crcs) {
  auto o = QuickConsumerOptions(bootstrap, "");
  o.enable_auto_commit = false;
  o.check_crcs = check_crcs;
  auto c = MakeConsumer(o);
  REQUIRE(c->Assign({{topic, 0}}).ok());
  PollOutcome out;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (out.records.size() < 10 && absl::Now() < deadline) {
    auto batch = c->Poll(absl::Milliseconds(100));
    if (!batch.ok()) {
      out.error = batch.status();
      break;
    }
    for (auto& r : *batch) out.records.push_back(std::move(r));
  }
  (void)c->Close(absl::Seconds(5));
  return out;
}

TEST_CASE("check.crcs: a batch corrupted on disk is refused when true, delivered when false",
          "[consumer]") {
  char tmpl[] = "/tmp/runnel-crc-test-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  {
    BrokerOptions bo;
    bo.port = 0;
    bo.data_dir = dir;
    bo.io_threads = 1;
    auto broker = Broker::Start(bo);
    INFO(broker.status().ToString());
    REQUIRE(broker.ok());
    const std::string bootstrap = (*broker)->bootstrap_address();
    ProduceNumbered(bootstrap, "crc", 10, 1);
    REQUIRE(CorruptRecordFive(dir, "crc-0"));

    const PollOutcome checked = ReadAll(bootstrap, "crc", true);
    INFO(checked.error.ToString());
    CHECK(checked.error.code() == absl::StatusCode::kDataLoss);
    CHECK(checked.error.message().find("CRC") != absl::string_view::npos);
    for (const auto& r : checked.records) CHECK(*r.value != "w5");
    CHECK(checked.records.size() < 10);

    const PollOutcome unchecked = ReadAll(bootstrap, "crc", false);
    INFO(unchecked.error.ToString());
    CHECK(unchecked.error.ok());
    REQUIRE(unchecked.records.size() == 10);
    for (int i = 0; i < 10; ++i) {
      CHECK(unchecked.records[i].offset == i);
      CHECK(*unchecked.records[i].value == (i == 5 ? "w5" : "v" + std::to_string(i)));
    }
    CHECK((*broker)->Stop(absl::Seconds(5)).ok());
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace runnel::client
