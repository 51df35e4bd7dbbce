// An in-process Broker on a free loopback port with a fresh data directory,
// and helpers to build record batches and read them back.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "runnel/broker.h"
#include "runnel/protocol/record_batch.h"

namespace runnel::broker::testing {

class BrokerFixture {
 public:
  // `properties`: server.properties keys for the first start.
  explicit BrokerFixture(std::map<std::string, std::string> properties = {}, uint16_t port = 0) {
    char tmpl[] = "/tmp/runnel-broker-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    Start(std::move(properties), port);
  }
  ~BrokerFixture() {
    if (broker_ != nullptr) (void)broker_->Stop(absl::Seconds(5));
    broker_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // `port` 0 takes a free one; a restart can ask for the one it had, so
  // that clients connected before find it again.
  void Start(std::map<std::string, std::string> properties = {}, uint16_t port = 0) {
    BrokerOptions options;
    options.port = port;
    options.data_dir = dir_;
    options.io_threads = 2;
    options.properties = std::move(properties);
    auto b = Broker::Start(options);
    INFO(b.status().ToString());
    REQUIRE(b.ok());
    broker_ = *std::move(b);
    std::string addr = broker_->bootstrap_address();
    port_ = static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
  }
  void Stop() {
    REQUIRE(broker_->Stop(absl::Seconds(5)).ok());
    broker_.reset();
  }
  void Restart() {
    Stop();
    Start();
  }

  uint16_t port() const { return port_; }
  Broker& broker() { return *broker_; }

 private:
  std::string dir_;
  std::unique_ptr<Broker> broker_;
  uint16_t port_ = 0;
};

inline std::vector<uint8_t> MakeBatch(const std::vector<std::string>& values,
                                      protocol::CompressionType compression =
                                          protocol::CompressionType::kNone) {
  protocol::RecordBatchBuilder builder({.compression = compression});
  for (const auto& v : values) REQUIRE(builder.Append(1'700'000'000'000, nullptr, v).ok());
  auto bytes = builder.Finish();
  REQUIRE(bytes.ok());
  return std::vector<uint8_t>(bytes->begin(), bytes->end());
}

inline std::vector<std::string> Values(std::span<const uint8_t> records,
                                       std::vector<int64_t>* offsets = nullptr) {
  std::vector<std::string> out;
  protocol::RecordBatchReader reader(records);
  while (reader.NextBatch()) {
    while (reader.NextRecord()) {
      out.push_back(std::string(reader.record().value.str()));
      if (offsets != nullptr) offsets->push_back(reader.record().offset);
    }
  }
  REQUIRE(reader.status().ok());
  return out;
}

}  // namespace runnel::broker::testing
