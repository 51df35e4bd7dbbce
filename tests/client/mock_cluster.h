// MockCluster: librdkafka's mock Kafka cluster (rdkafka_mock.h) started
// in-process, an independent broker implementation for the client tests.
//
//   MockCluster mock(3);                         // three brokers
//   mock.CreateTopic("t", 6);                    // partitions, replication 1..3
//   ClientOptions o; o.bootstrap_servers = mock.bootstraps();
//
// Owns a librdkafka handle that owns the mock; one test at a time.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdexcept>
#include <string>

namespace runnel::client::testing {

class MockCluster {
 public:
  explicit MockCluster(int brokers) {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk_ == nullptr) throw std::runtime_error(errstr);
    mock_ = rd_kafka_mock_cluster_new(rk_, brokers);
    if (mock_ == nullptr) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(mock_);
    rd_kafka_destroy(rk_);
  }
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(mock_); }
  rd_kafka_mock_cluster_t* mock() { return mock_; }

  void CreateTopic(const std::string& name, int partitions, int replication = 1) {
    if (rd_kafka_mock_topic_create(mock_, name.c_str(), partitions, replication) != 0) {
      throw std::runtime_error("rd_kafka_mock_topic_create failed for " + name);
    }
  }

  // Holds broker `broker_id`'s answer to its next request of `api_key` for
  // `ms` milliseconds (then answers it normally): an answer that comes late.
  void HoldNextAnswer(int32_t broker_id, int16_t api_key, int ms) {
    if (rd_kafka_mock_broker_push_request_error_rtts(mock_, broker_id, api_key, 1,
                                                     RD_KAFKA_RESP_ERR_NO_ERROR,
                                                     ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("rd_kafka_mock_broker_push_request_error_rtts failed");
    }
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* mock_ = nullptr;
};

}  // namespace runnel::client::testing
