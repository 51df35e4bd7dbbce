// consumer_bench: Runnel's consumer beside librdkafka's, with the same fetch
// settings, against librdkafka's mock cluster and against runnel-broker, in
// one run.
//
//   consumer_bench [--count N] [--reps R] [--mock-only] [--broker-only]
//                  [--check-crcs true|false] [--only SIZE/CODEC]
//
// Each broker runs in a child process (an in-process runnel::Broker over a
// temp dir; librdkafka's mock cluster via rdkafka_mock.h), so the CPU time
// measured (getrusage of this process around each run) is the consumer's
// alone: its own I/O threads and the polling thread, not the broker's.
//
// For each record size (100 B, 1 KiB) and codec (none, zstd) a topic is
// preloaded with N records by librdkafka's producer (linger.ms 5,
// batch.size 1000000), then read in full from the beginning by manual
// assignment, R times per client, alternating which client goes first. The
// topic has 6 partitions on runnel-broker; the mock keeps only about 5 MB
// of each partition, so there it has as many as it takes to keep all N
// (see Partitions()), and both clients read what it retained (the records
// column). Both clients use
// fetch.min.bytes 1, fetch.max.wait.ms 500, max.partition.fetch.bytes
// 1 MiB, fetch.max.bytes 50 MiB, 64 MiB of prefetch and the same
// check.crcs, and touch every value they are given.
//
// msgs/s and MB/s count from the first record handed over to the last, so
// that connecting, metadata and the start-offset lookup (fixed delays that
// differ between the clients, printed as startup) do not dominate short
// runs ("all msgs/s" counts from the assignment); CPU seconds cover the
// whole run, startup included.
//
// Prints one line per run, then a table: medians of msgs/s and CPU seconds
// per million records, and the range (min-max) over the R repetitions of
// the ratio ours/librdkafka. Build with -Dbuildtype=release for figures
// worth quoting.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runnel/broker.h"
#include "runnel/consumer.h"
#include "broker_child.h"
#include "rep_summary.h"

namespace {

constexpr int kPartitions = 6;
constexpr size_t kSizes[] = {100, 1024};
constexpr const char* kCodecs[] = {"none", "zstd"};

std::string TopicName(size_t size, const std::string& codec) {
  return "consume-" + std::to_string(size) + "-" + codec;
}

struct Result {
  double startup = 0;  // from the assignment to the first record
  double seconds = 0;  // from the first record to the last
  double cpu = 0;
  int64_t records = 0;
  int64_t bytes = 0;  // value bytes handed to the application
  int64_t steady_records = 0, steady_bytes = 0;  // after the first hand-over
};

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void CountDelivered(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* counts = static_cast<std::pair<int64_t, std::string>*>(opaque);
  if (m->err == 0) {
    ++counts->first;
  } else if (counts->second.empty()) {
    counts->second = rd_kafka_err2str(m->err);
  }
}

// Throughput counts from the first record handed over to the last (the
// records of that first hand-over excluded), so that connecting, metadata
// and the start-offset lookups, which differ in their fixed delays between
// the clients, do not weigh on short runs; they are reported as startup.
void Finish(Result& r, absl::Time t0, absl::Time first, absl::Time end, int64_t first_records,
            int64_t first_bytes) {
  if (first == absl::InfiniteFuture()) return;
  r.startup = absl::ToDoubleSeconds(first - t0);
  r.seconds = absl::ToDoubleSeconds(end - first);
  r.steady_records = r.records - first_records;
  r.steady_bytes = r.bytes - first_bytes;
}

// Writes `count` records of `size` bytes, keyless, round robin over the
// partitions, with librdkafka's producer. False if any failed.
bool Preload(const std::string& bootstrap, const std::string& topic, int partitions, size_t size,
             const std::string& codec, int64_t count) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const char* k, const std::string& v) {
    rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err);
  };
  set("bootstrap.servers", bootstrap);
  set("compression.codec", codec);
  set("linger.ms", "5");
  set("batch.size", "1000000");
  set("queue.buffering.max.kbytes", "262144");
  set("queue.buffering.max.messages", "10000000");
  set("log_level", "0");
  std::pair<int64_t, std::string> delivered;  // count, first error
  rd_kafka_conf_set_opaque(conf, &delivered);
  rd_kafka_conf_set_dr_msg_cb(conf, CountDelivered);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) return false;
  std::string value(size, 'x');
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>('a' + (i * 7) % 26);
  bool ok = true;
  for (int64_t i = 0; i < count && ok; ++i) {
    for (;;) {
      rd_kafka_resp_err_t e = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(topic.c_str()),
          RD_KAFKA_V_PARTITION(static_cast<int32_t>(i % partitions)),
          RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_END);
      if (e == 0) break;
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        std::fprintf(stderr, "preload %s: %s\n", topic.c_str(), rd_kafka_err2str(e));
        ok = false;
        break;
      }
      rd_kafka_poll(rk, 1);
    }
    if ((i & 1023) == 0) rd_kafka_poll(rk, 0);
  }
  ok = ok && rd_kafka_flush(rk, 120000) == 0;
  rd_kafka_destroy(rk);
  if (delivered.first != count) {
    std::fprintf(stderr, "preload %s: %lld of %lld delivered (%s)\n", topic.c_str(),
                 static_cast<long long>(delivered.first), static_cast<long long>(count),
                 delivered.second.c_str());
    ok = false;
  }
  return ok;
}

Result RunRunnel(const std::string& bootstrap, const std::string& topic, int partitions,
                 int64_t count, bool check_crcs) {
  runnel::ConsumerOptions o;
  o.client.bootstrap_servers = bootstrap;
  o.enable_auto_commit = false;
  o.auto_offset_reset = runnel::OffsetReset::kEarliest;
  o.fetch_min_bytes = 1;
  o.fetch_max_wait = absl::Milliseconds(500);
  o.max_partition_fetch_bytes = 1 << 20;
  o.fetch_max_bytes = 50 << 20;
  o.queued_max_bytes = 64 << 20;
  o.check_crcs = check_crcs;
  Result r;
  auto consumer = runnel::Consumer::Create(o);
  if (!consumer.ok()) {
    std::fprintf(stderr, "runnel consumer: %s\n", consumer.status().ToString().c_str());
    return r;
  }
  std::vector<runnel::TopicPartition> tps;
  for (int p = 0; p < partitions; ++p) tps.push_back({topic, p});
  const double cpu0 = CpuSeconds();
  const absl::Time t0 = absl::Now();
  absl::Time first = absl::InfiniteFuture();
  int64_t first_records = 0, first_bytes = 0;
  const absl::Time give_up = t0 + absl::Seconds(120);
  if ((*consumer)->Assign(tps).ok()) {
    while (r.records < count && absl::Now() < give_up) {
      auto batch = (*consumer)->Poll(absl::Milliseconds(100));
      if (!batch.ok()) {
        std::fprintf(stderr, "runnel poll: %s\n", batch.status().ToString().c_str());
        break;
      }
      for (const auto& rec : *batch) {
        if (rec.value) r.bytes += static_cast<int64_t>(rec.value->size());
      }
      r.records += static_cast<int64_t>(batch->size());
      if (first == absl::InfiniteFuture() && r.records > 0) {
        first = absl::Now();
        first_records = r.records;
        first_bytes = r.bytes;
      }
    }
  }
  const absl::Time end = absl::Now();
  r.cpu = CpuSeconds() - cpu0;
  Finish(r, t0, first, end, first_records, first_bytes);
  (void)(*consumer)->Close(absl::Seconds(5));
  return r;
}

Result RunRdkafka(const std::string& bootstrap, const std::string& topic, int partitions,
                  int64_t count, bool check_crcs) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const char* k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "rdkafka %s: %s\n", k, err);
    }
  };
  set("bootstrap.servers", bootstrap);
  set("group.id", "consumer-bench");  // librdkafka's assign needs one; nothing is committed
  set("enable.auto.commit", "false");
  set("auto.offset.reset", "earliest");
  set("fetch.min.bytes", "1");
  set("fetch.wait.max.ms", "500");
  set("max.partition.fetch.bytes", std::to_string(1 << 20));
  set("fetch.max.bytes", std::to_string(50 << 20));
  set("queued.max.messages.kbytes", std::to_string(64 << 10));
  set("check.crcs", check_crcs ? "true" : "false");
  set("log_level", "0");
  Result r;
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) {
    std::fprintf(stderr, "rdkafka consumer: %s\n", err);
    return r;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  const double cpu0 = CpuSeconds();
  const absl::Time t0 = absl::Now();
  absl::Time first = absl::InfiniteFuture();
  int64_t first_records = 0, first_bytes = 0;
  const absl::Time give_up = t0 + absl::Seconds(120);
  if (rd_kafka_resp_err_t e = rd_kafka_assign(rk, list); e != 0) {
    std::fprintf(stderr, "rdkafka assign: %s\n", rd_kafka_err2str(e));
  } else {
    while (r.records < count && absl::Now() < give_up) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (m == nullptr) continue;
      if (m->err == 0) {
        r.bytes += static_cast<int64_t>(m->len);
        if (++r.records == 1) {
          first = absl::Now();
          first_records = 1;
          first_bytes = r.bytes;
        }
      } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        std::fprintf(stderr, "rdkafka poll: %s\n", rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
    }
  }
  const absl::Time end = absl::Now();
  r.cpu = CpuSeconds() - cpu0;
  Finish(r, t0, first, end, first_records, first_bytes);
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return r;
}

// Records the broker holds in the topic: the sum of high - low watermarks.
int64_t Retained(const std::string& bootstrap, const std::string& topic, int partitions) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) return -1;
  int64_t total = 0;
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 10000) != 0) {
      total = -1;
      break;
    }
    total += high - low;
  }
  rd_kafka_destroy(rk);
  return total;
}

// The partitions of a topic for `count` records of `size` bytes: kPartitions
// on runnel-broker. The mock keeps only about 5 MB and 100,000 records of
// each partition, so its topics get as many partitions as it takes to keep
// all `count` (with room for batch overhead): both brokers then serve the
// same records, and a 1 KiB run on the mock lasts long enough to measure.
int Partitions(bool mock, size_t size, int64_t count) {
  if (!mock) return kPartitions;
  const int64_t per_partition = std::min<int64_t>(90000, (9 << 20) / 2 / static_cast<int64_t>(size));
  return static_cast<int>(std::max<int64_t>(kPartitions, (count + per_partition - 1) / per_partition));
}

// The mock (its topics made up front: it serves no CreateTopics) or
// runnel-broker (auto-creating them with kPartitions partitions) in a child
// process: its pid and bootstrap address, or pid -1.
std::pair<pid_t, std::string> StartChild(bool mock, const std::string& dir, int64_t count) {
  runnel::bench::BrokerChildOptions o;
  o.mock = mock;
  for (size_t size : kSizes) {
    for (const char* codec : kCodecs) {
      o.mock_topics.push_back({TopicName(size, codec), Partitions(true, size, count)});
    }
  }
  o.data_dir = dir;
  o.properties["num.partitions"] = std::to_string(kPartitions);
  runnel::bench::BrokerChild child = runnel::bench::StartBrokerChild(o);
  return {child.pid, child.bootstrap};
}

}  // namespace

int main(int argc, char** argv) {
  int64_t count = 100000;
  int reps = 3;
  bool mock = true, runnel_broker = true, check_crcs = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--count") == 0 && i + 1 < argc) count = std::atoll(argv[++i]);
    if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--mock-only") == 0) runnel_broker = false;
    if (std::strcmp(argv[i], "--broker-only") == 0) mock = false;
    if (std::strcmp(argv[i], "--check-crcs") == 0 && i + 1 < argc) {
      check_crcs = std::strcmp(argv[++i], "true") == 0;
    }
    if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
  }
  // runnel-broker's data dir, removed at the end.
  char dir[] = "/tmp/runnel-consumer-bench-XXXXXX";
  if (mkdtemp(dir) == nullptr) return 1;
  std::vector<std::pair<std::string, std::pair<pid_t, std::string>>> brokers;
  if (mock) brokers.push_back({"mock", StartChild(true, dir, count)});
  if (runnel_broker) brokers.push_back({"runnel-broker", StartChild(false, dir, count)});
  std::printf("count %lld per run, %d reps, check.crcs %s; CPU is this process's (the consumer "
              "client's threads), brokers run in child processes\n",
              static_cast<long long>(count), reps, check_crcs ? "true" : "false");
  std::printf("%-14s %-7s %5s %-5s %3s %12s %9s %14s %9s %9s %12s\n", "broker", "client",
              "size", "codec", "rep", "msgs/s", "MB/s", "cpu s/M recs", "records", "startup s",
              "all msgs/s");
  // (broker, size, codec) -> client -> series
  runnel::bench::SummaryTable table;
  for (const auto& [name, child] : brokers) {
    if (child.first < 0 || child.second.empty()) {
      std::printf("%-14s (did not start)\n", name.c_str());
      continue;
    }
    for (size_t size : kSizes) {
      for (const char* codec : kCodecs) {
        if (!only.empty() && only != std::to_string(size) + "/" + codec) continue;
        const std::string topic = TopicName(size, codec);
        const int partitions = Partitions(name == "mock", size, count);
        if (!Preload(child.second, topic, partitions, size, codec, count)) {
          std::printf("%-14s %5zu %-5s preload failed\n", name.c_str(), size, codec);
          continue;
        }
        // Read what the broker retained (all of it, unless the mock
        // dropped some; see Partitions()).
        const int64_t available = Retained(child.second, topic, partitions);
        if (available <= 0) {
          std::printf("%-14s %5zu %-5s no records retained\n", name.c_str(), size, codec);
          continue;
        }
        auto& row = table.emplace_back(name + " " + std::to_string(size) + " " + codec,
                                       std::map<std::string, runnel::bench::Series>{});
        for (int rep = 0; rep < reps; ++rep) {
          // Alternate who goes first: the page cache and the machine's load
          // then favour neither.
          for (int k = 0; k < 2; ++k) {
            const bool ours = (k == 0) == (rep % 2 == 0);
            const Result r =
                ours ? RunRunnel(child.second, topic, partitions, available, check_crcs)
                     : RunRdkafka(child.second, topic, partitions, available, check_crcs);
            const char* client = ours ? "runnel" : "rdkafka";
            const double msgs = r.seconds > 0 ? r.steady_records / r.seconds : 0;
            const double mbs = r.seconds > 0 ? r.steady_bytes / r.seconds / 1e6 : 0;
            const double cpu = r.records > 0 ? r.cpu / (r.records / 1e6) : 0;
            const double total = r.records / (r.startup + r.seconds + 1e-9);
            std::printf("%-14s %-7s %5zu %-5s %3d %12.0f %9.1f %14.2f %9lld %9.3f %12.0f%s\n",
                        name.c_str(), client, size, codec, rep, msgs, mbs, cpu,
                        static_cast<long long>(r.records), r.startup, total,
                        r.records < available ? " INCOMPLETE" : "");
            std::fflush(stdout);
            runnel::bench::Series& s = row.second[client];
            s.msgs.push_back(msgs);
            s.mbs.push_back(mbs);
            s.cpu.push_back(cpu);
          }
        }
        // The next cell's preload then starts from the same disk.
        if (name != "mock") runnel::bench::DeleteTopic(child.second, topic);
      }
    }
  }
  runnel::bench::PrintSummary(table, reps, "broker size codec");
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
