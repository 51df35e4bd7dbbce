// custom_broker: a Kafka-compatible broker with house rules, built on
// runnel::Broker's extension points. It refuses produce to topics outside a
// prefix (a TopicPolicy: clients see TOPIC_AUTHORIZATION_FAILED) and counts
// the records each client id got acknowledged (a RequestHook that reads
// Produce requests before the broker and their responses after).
//
//   custom_broker [--listen HOST:PORT] [--data-dir DIR] [--prefix PREFIX]
//
// Then, from another shell:
//
//   echo hi | kcat -b 127.0.0.1:9092 -P -t app.events -X client.id=alice  # accepted
//   echo hi | kcat -b 127.0.0.1:9092 -P -t payroll -X client.id=mallory   # refused
//
// It prints "bootstrap HOST:PORT" once listening, and on SIGTERM or SIGINT
// prints a line "records CLIENT_ID N" per client, then stops.
#include <signal.h>

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "runnel/broker.h"
#include "runnel/protocol/messages/produce.h"
#include "runnel/protocol/record_batch.h"

namespace {

// Produce is allowed only to topics starting with the prefix; creating and
// reading any topic is fine.
class PrefixPolicy : public runnel::TopicPolicy {
 public:
  explicit PrefixPolicy(std::string prefix) : prefix_(std::move(prefix)) {}
  absl::Status Check(const runnel::RequestInfo& who, runnel::TopicOperation op,
                     const std::string& topic) override {
    if (op != runnel::TopicOperation::kProduce || topic.rfind(prefix_, 0) == 0) {
      return absl::OkStatus();
    }
    return absl::PermissionDeniedError("client " + who.client_id + " may only produce to " +
                                       prefix_ + "* topics");
  }

 private:
  const std::string prefix_;
};

// Counts acknowledged records per client id. BeforeRequest notes how many
// records each partition of a Produce request carries; AfterResponse adds
// those the broker answered without error. Both run on the broker's I/O
// threads concurrently, hence the mutex.
class RecordCounter : public runnel::RequestHook {
 public:
  runnel::HookDecision BeforeRequest(const runnel::RequestInfo& info,
                                     std::span<const uint8_t> body) override {
    if (info.api_key != runnel::protocol::ProduceRequest::kApiKey) {
      return runnel::HookDecision::Continue();
    }
    auto request = runnel::protocol::ProduceRequest::Decode(body, info.api_version);
    if (!request.ok()) return runnel::HookDecision::Continue();  // the broker answers that
    std::map<std::pair<std::string, int32_t>, int64_t> counts;
    for (const auto& topic : request->topic_data) {
      for (const auto& partition : topic.partition_data) {
        if (!partition.records.has_value()) continue;
        runnel::protocol::RecordBatchReader reader(*partition.records);
        while (reader.NextBatch())
          counts[{topic.name, partition.index}] += reader.header().record_count;
      }
    }
    std::lock_guard<std::mutex> l(mu_);
    pending_[{info.peer, info.correlation_id}] = std::move(counts);
    return runnel::HookDecision::Continue();
  }

  void AfterResponse(const runnel::RequestInfo& info,
                     const runnel::ResponseInfo& response) override {
    if (info.api_key != runnel::protocol::ProduceRequest::kApiKey) return;
    std::lock_guard<std::mutex> l(mu_);
    auto it = pending_.find({info.peer, info.correlation_id});
    if (it == pending_.end()) return;
    auto counts = std::move(it->second);
    pending_.erase(it);
    if (!response.status.ok()) return;
    if (!response.body_available) {  // acks=0: no answer; count what was sent
      for (const auto& [where, n] : counts) per_client_[info.client_id] += n;
      return;
    }
    auto answer = runnel::protocol::ProduceResponse::Decode(response.body, info.api_version);
    if (!answer.ok()) return;
    for (const auto& topic : answer->responses) {
      for (const auto& p : topic.partition_responses) {
        if (p.error_code == 0) per_client_[info.client_id] += counts[{topic.name, p.index}];
      }
    }
  }

  std::map<std::string, int64_t> PerClient() {
    std::lock_guard<std::mutex> l(mu_);
    return per_client_;
  }

 private:
  std::mutex mu_;
  std::map<std::pair<std::string, int32_t>, std::map<std::pair<std::string, int32_t>, int64_t>>
      pending_;
  std::map<std::string, int64_t> per_client_;
};

int Usage() {
  std::fprintf(stderr,
               "usage: custom_broker [--listen HOST:PORT] [--data-dir DIR] [--prefix PREFIX]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  runnel::BrokerOptions options;
  options.data_dir = "./custom-broker-data";
  std::string prefix = "app.";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--listen") {
      size_t colon = value.rfind(':');
      if (colon == std::string::npos) return Usage();
      options.host = value.substr(0, colon);
      options.port = static_cast<uint16_t>(std::stoi(value.substr(colon + 1)));
    } else if (flag == "--data-dir") {
      options.data_dir = value;
    } else if (flag == "--prefix") {
      prefix = value;
    } else {
      return Usage();
    }
  }
  if (argc % 2 == 0) return Usage();

  auto counter = std::make_shared<RecordCounter>();
  options.hooks.push_back(counter);
  options.topic_policy = std::make_shared<PrefixPolicy>(prefix);

  // The broker's threads inherit the blocked signals; this thread waits.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<runnel::Broker>> broker = runnel::Broker::Start(options);
  if (!broker.ok()) {
    std::fprintf(stderr, "custom_broker: %s\n", std::string(broker.status().message()).c_str());
    return 1;
  }
  std::printf("bootstrap %s\n", (*broker)->bootstrap_address().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  absl::Status stopped = (*broker)->Stop(absl::Seconds(5));
  for (const auto& [client, n] : counter->PerClient()) {
    std::printf("records %s %lld\n", client.c_str(), static_cast<long long>(n));
  }
  std::fflush(stdout);
  return stopped.ok() ? 0 : 1;
}
