// A broker in a forked child process, for the client benchmarks: either
// librdkafka's in-memory mock cluster (one broker) or an in-process
// runnel::Broker over `data_dir`. Running it in a child keeps the broker's
// CPU out of the benchmark process's getrusage, so the figures are the
// client's own.
//
//   BrokerChild mock = StartBrokerChild({.mock = true, .mock_topics = {{"bench", 3}}});
//   ... clients against mock.bootstrap ...
//   kill(mock.pid, SIGKILL);
//   waitpid(mock.pid, nullptr, 0);
#pragma once

#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runnel/admin.h"
#include "runnel/broker.h"

namespace runnel::bench {

struct BrokerChildOptions {
  bool mock = false;
  // The mock serves no CreateTopics: its topics are made up front.
  std::vector<std::pair<std::string, int>> mock_topics;
  // runnel-broker: where its data goes, and its server properties.
  std::string data_dir;
  std::map<std::string, std::string> properties;
};

struct BrokerChild {
  pid_t pid = -1;         // -1: the child could not be started
  std::string bootstrap;  // empty: the broker did not start
};

// Forks; the child starts the broker, writes its bootstrap address to a
// pipe and waits to be killed.
inline BrokerChild StartBrokerChild(const BrokerChildOptions& o) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string bootstrap;
    if (o.mock) {
      char err[256];
      rd_kafka_conf_t* conf = rd_kafka_conf_new();
      rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
      rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
      rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, 1);
      for (const auto& [name, partitions] : o.mock_topics) {
        rd_kafka_mock_topic_create(mc, name.c_str(), partitions, 1);
      }
      bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
      (void)!write(fds[1], bootstrap.data(), bootstrap.size());
      close(fds[1]);
      for (;;) pause();
    }
    runnel::BrokerOptions bo;
    bo.port = 0;
    bo.data_dir = o.data_dir;
    bo.properties = o.properties;
    auto broker = runnel::Broker::Start(bo);
    if (broker.ok()) bootstrap = (*broker)->bootstrap_address();
    (void)!write(fds[1], bootstrap.data(), bootstrap.size());
    close(fds[1]);
    if (!broker.ok()) _exit(1);
    for (;;) pause();
  }
  close(fds[1]);
  char buf[256];
  ssize_t n = read(fds[0], buf, sizeof buf);
  close(fds[0]);
  return {pid, n > 0 ? std::string(buf, static_cast<size_t>(n)) : ""};
}

// Deletes `topic` on a runnel-broker child once a run is timed, so that
// every run starts from the same disk. On the 2-core VM these figures come
// from, buffered writes fell from ~2 GB/s to ~250 MB/s once a few earlier
// runs' gigabytes were on disk (dd shows the same), and whichever client
// ran later paid for its predecessors.
inline void DeleteTopic(const std::string& bootstrap, const std::string& topic) {
  AdminOptions o;
  o.client.bootstrap_servers = bootstrap;
  auto admin = Admin::Create(o);
  absl::Status s = admin.ok() ? absl::OkStatus() : admin.status();
  if (s.ok()) {
    auto results = (*admin)->DeleteTopics({topic});
    s = !results.ok() ? results.status() : results->empty() ? absl::OkStatus() : (*results)[0].status;
  }
  if (!s.ok()) std::fprintf(stderr, "deleting %s: %s\n", topic.c_str(), s.ToString().c_str());
}

}  // namespace runnel::bench
