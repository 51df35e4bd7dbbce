// producer_bench: Runnel's producer beside librdkafka's, with the same
// settings, against librdkafka's mock cluster and against runnel-broker,
// in one run. Each broker runs in a child process, so the CPU time measured
// (getrusage of this process) is the client's alone: the sending thread and
// the client's own threads.
//
//   producer_bench [--count N] [--reps R] [--mock-only] [--broker-only]
//                  [--only SIZE/CODEC/ACKS] [--client runnel|rdkafka] [--help]
//
// Matrix: record size 100 B and 1 KiB, compression none and zstd, acks 1
// and all, linger.ms 5, batch.size 1000000 (librdkafka's default), no
// idempotence (librdkafka's default), keyless records to a 3-partition
// topic, 256 MiB of buffer. Each cell runs R times per client, alternating
// which client goes first (the machine's load then favours neither); on
// runnel-broker every run gets a fresh topic, deleted after the run. A run
// sends N records as fast as Send takes them, then flushes; msgs/s counts
// from the first Send to the end of the flush, CPU seconds cover the same
// span.
//
// Prints one line per run, then a table: medians of msgs/s and CPU seconds
// per million records, and the range (min-max) over the R repetitions of
// the ratio runnel/librdkafka. Build with -Dbuildtype=release for figures
// worth quoting.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runnel/broker.h"
#include "runnel/producer.h"
#include "broker_child.h"
#include "rep_summary.h"

namespace {

struct Settings {
  std::string bootstrap;
  std::string topic;
  size_t size;
  std::string codec;
  std::string acks;
  int64_t count;
};

struct Result {
  double seconds = 0;
  double cpu = 0;
  int64_t delivered = 0;
};

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

Result RunRunnel(const Settings& s) {
  runnel::ProducerOptions o;
  o.client.bootstrap_servers = s.bootstrap;
  (void)o.Set("enable.idempotence", "false");
  (void)o.Set("acks", s.acks);
  (void)o.Set("compression.type", s.codec);
  o.linger = absl::Milliseconds(5);
  o.batch_size = 1000000;
  o.max_request_size = 4 * 1000000;
  o.buffer_memory = 256 << 20;
  auto producer = runnel::Producer::Create(o);
  Result r;
  if (!producer.ok()) {
    std::fprintf(stderr, "runnel producer: %s\n", producer.status().ToString().c_str());
    return r;
  }
  std::string value(s.size, 'x');
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>('a' + (i * 7) % 26);
  std::atomic<int64_t> ok{0};
  // A first record so that metadata is known before the clock starts.
  (void)(*producer)->Send(runnel::ProducerRecord{.topic = s.topic, .value = "warm"}).get();
  double cpu0 = CpuSeconds();
  absl::Time t0 = absl::Now();
  for (int64_t i = 0; i < s.count; ++i) {
    absl::Status st = (*producer)->Send(
        runnel::ProducerRecord{.topic = s.topic, .value = value},
        [&ok](absl::StatusOr<runnel::RecordMetadata> md) {
          if (md.ok()) ok.fetch_add(1, std::memory_order_relaxed);
        });
    if (!st.ok()) break;
  }
  (void)(*producer)->Flush(absl::Seconds(120));
  r.seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  r.cpu = CpuSeconds() - cpu0;
  r.delivered = ok.load();
  (void)(*producer)->Close(absl::Seconds(10));
  return r;
}

void DeliveryReport(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  if (m->err == 0) static_cast<std::atomic<int64_t>*>(opaque)->fetch_add(1);
}

Result RunRdkafka(const Settings& s) {
  char err[512];
  std::atomic<int64_t> ok{0};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const char* k, const std::string& v) {
    rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err);
  };
  set("bootstrap.servers", s.bootstrap);
  set("acks", s.acks);
  set("compression.codec", s.codec);
  set("linger.ms", "5");
  set("batch.size", "1000000");
  set("queue.buffering.max.kbytes", "262144");
  set("queue.buffering.max.messages", "10000000");
  set("log_level", "0");
  rd_kafka_conf_set_opaque(conf, &ok);
  rd_kafka_conf_set_dr_msg_cb(conf, DeliveryReport);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  Result r;
  if (rk == nullptr) return r;
  std::string value(s.size, 'x');
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>('a' + (i * 7) % 26);
  rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(s.topic.c_str()), RD_KAFKA_V_VALUE((void*)"warm", 4),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  rd_kafka_flush(rk, 10000);
  ok = 0;
  double cpu0 = CpuSeconds();
  absl::Time t0 = absl::Now();
  for (int64_t i = 0; i < s.count; ++i) {
    for (;;) {
      rd_kafka_resp_err_t e = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(s.topic.c_str()), RD_KAFKA_V_VALUE(value.data(), value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
      rd_kafka_poll(rk, 1);
    }
    if ((i & 1023) == 0) rd_kafka_poll(rk, 0);  // delivery reports need polling
  }
  rd_kafka_flush(rk, 120000);
  r.seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  r.cpu = CpuSeconds() - cpu0;
  r.delivered = ok.load();
  rd_kafka_destroy(rk);
  return r;
}

// The mock or runnel-broker (3 partitions a topic) in a child process: its
// pid and bootstrap address, or pid -1.
std::pair<pid_t, std::string> StartChild(bool mock, const std::string& dir) {
  runnel::bench::BrokerChildOptions o;
  o.mock = mock;
  o.mock_topics = {{"bench", 3}};
  if (!mock) {
    o.data_dir = dir;
    o.properties["num.partitions"] = "3";
  }
  runnel::bench::BrokerChild child = runnel::bench::StartBrokerChild(o);
  return {child.pid, child.bootstrap};
}

constexpr const char* kUsage =
    "usage: producer_bench [--count N] [--reps R] [--mock-only] [--broker-only]\n"
    "                      [--only SIZE/CODEC/ACKS] [--client runnel|rdkafka]\n"
    "  --count N      records per run (default 200000)\n"
    "  --reps R       runs per client and cell, alternating who goes first (default 3)\n"
    "  --mock-only    only librdkafka's mock cluster\n"
    "  --broker-only  only runnel-broker\n"
    "  --only S       only cells whose SIZE/CODEC/ACKS starts with S, e.g. 1024/none\n"
    "  --client C     only one client (for profiling one of them)\n"
    "Prints one line per run, then medians and runnel/librdkafka ratio ranges.\n";

}  // namespace

int main(int argc, char** argv) {
  int64_t count = 200000;
  int reps = 3;
  bool mock = true, runnel_broker = true;
  std::string only, only_client;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
      count = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--mock-only") == 0) {
      runnel_broker = false;
    } else if (std::strcmp(argv[i], "--broker-only") == 0) {
      mock = false;
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (std::strcmp(argv[i], "--client") == 0 && i + 1 < argc) {
      only_client = argv[++i];
    } else {
      std::fputs(kUsage, std::strcmp(argv[i], "--help") == 0 ? stdout : stderr);
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  if (count <= 0 || reps <= 0) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  // runnel-broker's data dir, removed at the end; under $TMPDIR when set
  // (TMPDIR=/dev/shm takes the disk out, to tell a client's limit from
  // the broker's writeback).
  const char* tmp = std::getenv("TMPDIR");
  std::string dir_template =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/runnel-producer-bench-XXXXXX";
  char* dir = dir_template.data();
  if (mkdtemp(dir) == nullptr) return 1;
  std::vector<std::pair<std::string, std::pair<pid_t, std::string>>> brokers;
  if (mock) brokers.push_back({"mock", StartChild(true, dir)});
  if (runnel_broker) brokers.push_back({"runnel-broker", StartChild(false, dir)});
  std::printf("count %lld per run, %d reps; CPU is this process's (the sending thread and the "
              "client's threads), brokers run in child processes\n",
              static_cast<long long>(count), reps);
  std::printf("%-14s %-7s %5s %-5s %-4s %3s %12s %9s %14s %10s\n", "broker", "client", "size",
              "codec", "acks", "rep", "msgs/s", "MB/s", "cpu s/M recs", "delivered");
  // "broker size codec acks" -> client -> series, in run order.
  runnel::bench::SummaryTable table;
  int topic_no = 0;
  for (const auto& [name, child] : brokers) {
    if (child.first < 0 || child.second.empty()) {
      std::printf("%-14s (did not start)\n", name.c_str());
      continue;
    }
    for (size_t size : {size_t{100}, size_t{1024}}) {
      for (const char* codec : {"none", "zstd"}) {
        for (const char* acks : {"1", "all"}) {
          const std::string cell = std::to_string(size) + "/" + codec + "/" + acks;
          if (cell.compare(0, only.size(), only) != 0) continue;
          auto& row = table.emplace_back(
              name + " " + std::to_string(size) + " " + codec + " " + acks,
              std::map<std::string, runnel::bench::Series>{});
          for (int rep = 0; rep < reps; ++rep) {
            for (int k = 0; k < 2; ++k) {
              const bool ours = (k == 0) == (rep % 2 == 0);
              const char* client = ours ? "runnel" : "rdkafka";
              if (!only_client.empty() && only_client != client) continue;
              // A fresh topic per run on runnel-broker (auto-created with 3
              // partitions); the mock's "bench" topic otherwise.
              Settings s{child.second,
                         name == "mock" ? "bench" : "bench-" + std::to_string(topic_no++),
                         size, codec, acks, count};
              const Result r = ours ? RunRunnel(s) : RunRdkafka(s);
              // Every run starts from the same disk (see DeleteTopic).
              if (name != "mock") runnel::bench::DeleteTopic(s.bootstrap, s.topic);
              const double msgs = r.seconds > 0 ? r.delivered / r.seconds : 0;
              const double cpu = r.delivered > 0 ? r.cpu / (r.delivered / 1e6) : 0.0;
              std::printf("%-14s %-7s %5zu %-5s %-4s %3d %12.0f %9.1f %14.2f %10lld%s\n",
                          name.c_str(), client, size, codec, acks, rep, msgs, msgs * size / 1e6,
                          cpu, static_cast<long long>(r.delivered),
                          r.delivered < count ? " INCOMPLETE" : "");
              std::fflush(stdout);
              runnel::bench::Series& series = row.second[client];
              series.msgs.push_back(msgs);
              series.cpu.push_back(cpu);
            }
          }
        }
      }
    }
  }
  runnel::bench::PrintSummary(table, reps, "broker size codec acks");
  for (const auto& [name, child] : brokers) {
    if (child.first > 0) {
      kill(child.first, SIGKILL);
      waitpid(child.first, nullptr, 0);
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
