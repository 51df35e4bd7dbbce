// runnel-broker: runs a single-node Kafka-compatible broker until SIGTERM or
// SIGINT, then shuts down cleanly (stop accepting, answer requests already
// read, flush, write checkpoints).
//
//   runnel-broker [--listen HOST:PORT] [--data-dir DIR] [--node-id N]
//                 [--config server.properties] [--log-level LEVEL]
//                 [--metrics-listen HOST:PORT]
//
// Flags override the config file. Exit status: 0 after a clean shutdown,
// 1 when start-up or shutdown failed, 2 for bad usage.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "broker/server_config.h"
#include "runnel/broker.h"

namespace {

constexpr char kUsage[] =
    "usage: runnel-broker [--listen HOST:PORT] [--data-dir DIR] [--node-id N] "
    "[--config FILE]\n"
    "                     [--log-level LEVEL] [--metrics-listen HOST:PORT]\n"
    "  --listen HOST:PORT   where to accept clients (default 127.0.0.1:9092)\n"
    "  --data-dir DIR       partitions and metadata (default ./data)\n"
    "  --node-id N          this broker's id (default 0)\n"
    "  --config FILE        Kafka server.properties keys (listeners, log.dirs,\n"
    "                       num.partitions, log.retention.ms, ...)\n"
    "  --log-level LEVEL    debug, info (default), warn, error or off\n"
    "                       (property runnel.log.level)\n"
    "  --metrics-listen HOST:PORT\n"
    "                       serve Prometheus metrics at http://HOST:PORT/metrics\n"
    "                       (property runnel.metrics.listen)\n";

int Usage(const std::string& why) {
  std::cerr << "runnel-broker: " << why << "\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil is built with deadlock detection on: every Mutex lock
  // then updates a global lock graph (0.7% of the broker's samples under
  // load, behind one global lock). The tests keep it on; the server does not.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  runnel::BrokerOptions options;
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    std::string value;
    if (size_t eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return Usage("missing value for " + arg);
    }
    if (arg != "--listen" && arg != "--data-dir" && arg != "--node-id" && arg != "--config" &&
        arg != "--log-level" && arg != "--metrics-listen") {
      return Usage("unknown flag " + arg);
    }
    flags[arg] = value;
  }
  if (auto it = flags.find("--config"); it != flags.end()) {
    absl::StatusOr<std::map<std::string, std::string>> props =
        runnel::broker::ReadPropertiesFile(it->second);
    if (!props.ok()) {
      std::cerr << "runnel-broker: " << props.status().message() << "\n";
      return 1;
    }
    options.properties = *std::move(props);
  }
  // Flags win over the file: drop the keys they replace.
  if (auto it = flags.find("--listen"); it != flags.end()) {
    options.properties.erase("listeners");
    if (absl::Status s = runnel::broker::ParseListener("--listen", it->second, &options.host,
                                                       &options.port);
        !s.ok()) {
      return Usage(std::string(s.message()));
    }
  }
  if (auto it = flags.find("--data-dir"); it != flags.end()) {
    options.properties.erase("log.dirs");
    options.properties.erase("log.dir");
    options.data_dir = it->second;
  }
  if (auto it = flags.find("--node-id"); it != flags.end()) {
    options.properties.erase("node.id");
    options.properties.erase("broker.id");
    if (!absl::SimpleAtoi(it->second, &options.node_id) || options.node_id < 0) {
      return Usage("--node-id wants a non-negative integer, got " + it->second);
    }
  }
  if (auto it = flags.find("--log-level"); it != flags.end()) {
    options.properties.erase("runnel.log.level");
    options.log_level = it->second;
  }
  if (auto it = flags.find("--metrics-listen"); it != flags.end()) {
    options.properties.erase("runnel.metrics.listen");
    options.metrics_listen = it->second;
  }

  // Block the shutdown signals in every thread (the broker's threads inherit
  // the mask) and wait for them here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<runnel::Broker>> broker = runnel::Broker::Start(options);
  if (!broker.ok()) {
    std::cerr << "runnel-broker: cannot start: " << broker.status().message() << "\n";
    return 1;
  }
  // Scripts (tests/interop) read the bootstrap address from this line.
  std::cerr << "runnel-broker: listening; bootstrap " << (*broker)->bootstrap_address()
            << ", data in " << options.data_dir << "\n";
  if (!(*broker)->metrics_address().empty()) {
    std::cerr << "runnel-broker: metrics at http://" << (*broker)->metrics_address()
              << "/metrics\n";
  }
  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "runnel-broker: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
            << ", shutting down\n";
  absl::Status s = (*broker)->Stop(absl::Seconds(5));
  if (!s.ok()) {
    std::cerr << "runnel-broker: shutdown: " << s.message() << "\n";
    return 1;
  }
  std::cerr << "runnel-broker: stopped\n";
  return 0;
}
