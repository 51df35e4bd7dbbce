// broker_bench: producers (librdkafka's and runnel::Producer) and a
// librdkafka consumer against runnel::Broker (in a child process, data on
// disk) and, in the same run, against librdkafka's in-memory mock cluster as
// the baseline. Prints, per target, message size (100 B, 1 KiB), acks (1,
// all; linger.ms=5) and producer:
//   produce msgs/s and MB/s, produce latency p50/p99/p99.9 (enqueue to
//   delivery report) at full speed and at half of that rate, and consume
//   msgs/s and MB/s of what librdkafka produced with acks=1;
// then the broker's RSS with 1,000 idle partitions.
//
//   broker_bench [--messages N] [--partitions P] [--skip-mock] [--skip-rss]
//                [--skip-runnel-producer]
//
// Both producers batch alike: linger.ms=5, batch.size 1,000,000 bytes
// (librdkafka's default, and at most 10,000 messages a batch), no
// idempotence, no compression, a queue far above what is in flight, so
// the client is not the limit before the broker is. The consumer asks for
// 10 MB a partition and 50 MB a fetch and takes messages 10,000 at a time.
//
// The broker runs in a forked child (fork before any thread exists) so that
// its RSS is its own and the clients' threads are not in its process.
// Aims (issue 4): >= 1 M 100-byte msgs/s, p99 < 5 ms at half peak,
// consume > 2 M msgs/s, RSS < 200 MB with 1,000 idle partitions.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "runnel/broker.h"
#include "runnel/producer.h"

namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

void Die(const std::string& why) {
  std::fprintf(stderr, "broker_bench: %s\n", why.c_str());
  std::exit(1);
}

// --- the broker child -------------------------------------------------------

struct Child {
  pid_t pid = -1;
  std::string bootstrap;
  std::string dir;
};

Child StartBrokerChild(const std::string& properties_partitions) {
  char tmpl[] = "/tmp/runnel-broker-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp");
  int fds[2];
  if (::pipe(fds) != 0) Die("pipe");
  pid_t pid = ::fork();
  if (pid < 0) Die("fork");
  if (pid == 0) {
    ::close(fds[0]);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    runnel::BrokerOptions options;
    options.port = 0;
    options.data_dir = tmpl;
    options.log_level = "warn";
    options.properties["num.partitions"] = properties_partitions;
    auto broker = runnel::Broker::Start(options);
    std::string line = broker.ok() ? (*broker)->bootstrap_address() : "";
    line += "\n";
    (void)!::write(fds[1], line.data(), line.size());
    ::close(fds[1]);
    if (!broker.ok()) _exit(1);
    int sig = 0;
    sigwait(&signals, &sig);
    (void)(*broker)->Stop(absl::Seconds(5));
    _exit(0);
  }
  ::close(fds[1]);
  std::string got;
  char c;
  while (::read(fds[0], &c, 1) == 1 && c != '\n') got.push_back(c);
  ::close(fds[0]);
  if (got.empty()) Die("the broker child did not start");
  return {pid, got, tmpl};
}

void StopChild(Child& child) {
  ::kill(child.pid, SIGTERM);
  int status = 0;
  ::waitpid(child.pid, &status, 0);
  std::error_code ec;
  std::filesystem::remove_all(child.dir, ec);
}

int64_t RssKb(pid_t pid, const char* field = "VmRSS:") {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stoll(line.substr(std::strlen(field)));
  }
  return -1;
}

// --- librdkafka helpers ------------------------------------------------------

rd_kafka_conf_t* Conf(const std::vector<std::pair<std::string, std::string>>& kv) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : kv) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      Die(k + ": " + err);
    }
  }
  return conf;
}

void CreateTopic(const std::string& bootstrap, const std::string& topic, int partitions) {
  rd_kafka_conf_t* conf = Conf({{"bootstrap.servers", bootstrap}});
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk == nullptr) Die(err);
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof(err));
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  if (ev == nullptr) Die("CreateTopics timed out");
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
  size_t n = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
  if (rd_kafka_event_error(ev) || n != 1 || rd_kafka_topic_result_error(results[0])) {
    Die("CreateTopics " + topic + ": " +
        (n == 1 ? rd_kafka_topic_result_error_string(results[0])
                : rd_kafka_event_error_string(ev)));
  }
  rd_kafka_event_destroy(ev);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
}

struct ProduceResult {
  double seconds = 0;
  int64_t delivered = 0;
  int64_t failed = 0;
  std::vector<int64_t> latencies_ns;
};

struct DeliveryState {
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> failed{0};
  std::vector<int64_t>* latencies = nullptr;  // only touched on the poll thread
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* st = static_cast<DeliveryState*>(opaque);
  if (m->err) {
    st->failed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  st->delivered.fetch_add(1, std::memory_order_relaxed);
  st->latencies->push_back(NowNs() - reinterpret_cast<int64_t>(m->_private));
}

// Produces `count` messages of `size` bytes round-robin over the
// partitions; with `rate` > 0, paces the sends to that many per second.
ProduceResult Produce(const std::string& bootstrap, const std::string& topic, int partitions,
                      int64_t count, size_t size, const std::string& acks, double rate) {
  DeliveryState st;
  ProduceResult result;
  result.latencies_ns.reserve(static_cast<size_t>(count));
  st.latencies = &result.latencies_ns;
  rd_kafka_conf_t* conf = Conf({{"bootstrap.servers", bootstrap},
                                {"acks", acks},
                                {"linger.ms", "5"},
                                {"batch.size", "1000000"},
                                {"batch.num.messages", "10000"},
                                {"queue.buffering.max.messages", "2000000"},
                                {"queue.buffering.max.kbytes", "2097152"},
                                {"enable.idempotence", "false"},
                                {"compression.type", "none"}});
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  rd_kafka_conf_set_opaque(conf, &st);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk == nullptr) Die(err);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  std::string payload(size, 'x');
  // Warm up: metadata and the connection before the clock starts.
  if (rd_kafka_produce(rkt, 0, 0, payload.data(), payload.size(), nullptr, 0,
                       reinterpret_cast<void*>(NowNs())) != 0 ||
      rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR || st.delivered.load() != 1) {
    Die("librdkafka: the warm-up message failed");
  }
  st.delivered = 0;
  result.latencies_ns.clear();
  int64_t start_ns = NowNs();
  for (int64_t i = 0; i < count; ++i) {
    if (rate > 0) {
      int64_t due = start_ns + static_cast<int64_t>(static_cast<double>(i) * 1e9 / rate);
      while (NowNs() < due) rd_kafka_poll(rk, 0);
    }
    int32_t partition = static_cast<int32_t>(i % partitions);
    while (rd_kafka_produce(rkt, partition, 0, payload.data(), payload.size(), nullptr, 0,
                            reinterpret_cast<void*>(NowNs())) != 0) {
      if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        Die(std::string("produce: ") + rd_kafka_err2str(rd_kafka_last_error()));
      }
      rd_kafka_poll(rk, 1);
    }
    if ((i & 1023) == 0) rd_kafka_poll(rk, 0);
  }
  while (st.delivered.load() + st.failed.load() < count) rd_kafka_poll(rk, 10);
  result.seconds = static_cast<double>(NowNs() - start_ns) / 1e9;
  result.delivered = st.delivered.load();
  result.failed = st.failed.load();
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  std::sort(result.latencies_ns.begin(), result.latencies_ns.end());
  return result;
}

// As Produce, with runnel::Producer and the same batching settings.
ProduceResult ProduceRunnel(const std::string& bootstrap, const std::string& topic,
                            int partitions, int64_t count, size_t size, const std::string& acks,
                            double rate) {
  ProduceResult result;
  runnel::ProducerOptions o;
  o.client.bootstrap_servers = bootstrap;
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"enable.idempotence", "false"}, {"acks", acks}, {"compression.type", "none"}}) {
    if (absl::Status s = o.Set(k, v); !s.ok()) Die(k + ": " + std::string(s.message()));
  }
  o.linger = absl::Milliseconds(5);
  o.batch_size = 1000000;
  o.max_request_size = 1000000 + 4096;
  o.buffer_memory = int64_t{512} << 20;
  absl::StatusOr<std::unique_ptr<runnel::Producer>> producer = runnel::Producer::Create(o);
  if (!producer.ok()) Die("runnel producer: " + producer.status().ToString());
  // Each callback writes its own slot (on the sender thread); Flush returns
  // after every callback ran, so the slots are read after that.
  std::vector<int64_t> latencies(static_cast<size_t>(count), -1);
  std::atomic<int64_t> failed{0};
  std::string payload(size, 'x');
  // Metadata and the connection before the clock starts.
  if (!(*producer)->Send(runnel::ProducerRecord{.topic = topic, .partition = 0, .value = "warm"})
           .get()
           .ok()) {
    Die("runnel producer: the warm-up record failed");
  }
  int64_t start_ns = NowNs();
  for (int64_t i = 0; i < count; ++i) {
    if (rate > 0) {
      int64_t due = start_ns + static_cast<int64_t>(static_cast<double>(i) * 1e9 / rate);
      while (NowNs() < due) {
      }
    }
    int64_t sent_ns = NowNs();
    int64_t* slot = &latencies[static_cast<size_t>(i)];
    absl::Status s = (*producer)->Send(
        runnel::ProducerRecord{.topic = topic,
                               .partition = static_cast<int32_t>(i % partitions),
                               .value = payload},
        [slot, sent_ns, &failed](absl::StatusOr<runnel::RecordMetadata> md) {
          if (md.ok()) {
            *slot = NowNs() - sent_ns;
          } else {
            failed.fetch_add(1, std::memory_order_relaxed);
          }
        });
    if (!s.ok()) Die("runnel producer: " + s.ToString());
  }
  if (absl::Status s = (*producer)->Flush(absl::Seconds(120)); !s.ok()) {
    Die("runnel producer flush: " + s.ToString());
  }
  result.seconds = static_cast<double>(NowNs() - start_ns) / 1e9;
  (void)(*producer)->Close(absl::Seconds(10));
  for (int64_t ns : latencies) {
    if (ns >= 0) result.latencies_ns.push_back(ns);
  }
  result.delivered = static_cast<int64_t>(result.latencies_ns.size());
  result.failed = failed.load();
  std::sort(result.latencies_ns.begin(), result.latencies_ns.end());
  return result;
}

double Percentile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t i =
      std::min(sorted.size() - 1, static_cast<size_t>(q * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[i]) / 1e6;
}

// Reads every message of the topic from the beginning; returns the seconds
// from the first message to the last.
double Consume(const std::string& bootstrap, const std::string& topic, int partitions,
               int64_t expected, int64_t* got_out) {
  rd_kafka_conf_t* conf = Conf({{"bootstrap.servers", bootstrap},
                                {"group.id", "broker-bench"},
                                {"enable.auto.commit", "false"},
                                {"fetch.max.bytes", "52428800"},
                                {"max.partition.fetch.bytes", "10485760"},
                                {"queued.min.messages", "1000000"}});
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (rk == nullptr) Die(err);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  int64_t got = 0;
  // The clock starts at the first message: connecting, the coordinator
  // lookup and ListOffsets are not consume throughput (they took longer
  // than the consume itself at 2 M msgs/s).
  int64_t start_ns = 0;
  int64_t deadline = NowNs() + 120'000'000'000LL;
  // Messages 10,000 at a time off the consumer queue: one call per
  // thousands of messages, so the loop costs next to nothing per message.
  rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(rk);
  std::vector<rd_kafka_message_t*> batch(10000);
  while (got < expected && NowNs() < deadline) {
    ssize_t n = rd_kafka_consume_batch_queue(queue, 100, batch.data(), batch.size());
    if (n > 0 && start_ns == 0) start_ns = NowNs();
    for (ssize_t i = 0; i < n; ++i) {
      if (!batch[static_cast<size_t>(i)]->err) ++got;
      rd_kafka_message_destroy(batch[static_cast<size_t>(i)]);
    }
  }
  double seconds = static_cast<double>(NowNs() - start_ns) / 1e9;
  rd_kafka_queue_destroy(queue);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  *got_out = got;
  return seconds;
}

// The producer a run uses.
enum class Client { kRdkafka, kRunnel };

ProduceResult ProduceWith(Client client, const std::string& bootstrap, const std::string& topic,
                          int partitions, int64_t count, size_t size, const std::string& acks,
                          double rate) {
  return client == Client::kRdkafka
             ? Produce(bootstrap, topic, partitions, count, size, acks, rate)
             : ProduceRunnel(bootstrap, topic, partitions, count, size, acks, rate);
}

void RunTarget(const std::string& name, const std::string& bootstrap, bool create_with_admin,
               rd_kafka_mock_cluster_t* mock, int partitions, int64_t messages,
               bool runnel_producer) {
  static int topic_seq = 0;
  auto create = [&](const std::string& topic) {
    if (create_with_admin) {
      CreateTopic(bootstrap, topic, partitions);
    } else {
      rd_kafka_mock_topic_create(mock, topic.c_str(), partitions, 1);
    }
  };
  std::vector<Client> clients = {Client::kRdkafka};
  if (runnel_producer) clients.push_back(Client::kRunnel);
  for (size_t size : {size_t{100}, size_t{1024}}) {
    for (const char* acks : {"1", "all"}) {
      for (Client client : clients) {
        const char* producer = client == Client::kRdkafka ? "rdkafka" : "runnel";
        int64_t count = size == 100 ? messages : messages / 4;
        std::string topic = "bench-" + std::to_string(++topic_seq);
        create(topic);
        ProduceResult full =
            ProduceWith(client, bootstrap, topic, partitions, count, size, acks, 0);
        double rate = static_cast<double>(full.delivered) / full.seconds;
        std::printf(
            "%-6s %-7s %5zu B acks=%-3s produce %9.0f msgs/s %7.1f MB/s  latency p50 %6.2f p99 "
            "%7.2f p99.9 %7.2f ms%s\n",
            name.c_str(), producer, size, acks, rate, rate * static_cast<double>(size) / 1e6,
            Percentile(full.latencies_ns, 0.5), Percentile(full.latencies_ns, 0.99),
            Percentile(full.latencies_ns, 0.999),
            full.failed > 0 ? (" FAILED " + std::to_string(full.failed)).c_str() : "");
        std::fflush(stdout);
        // Half of the peak rate, for ~2 s (at most `count` messages), into a
        // second topic so the consume below reads exactly the first run.
        int64_t half_count = std::min<int64_t>(count, static_cast<int64_t>(rate));
        std::string half_topic = topic + "-half";
        create(half_topic);
        ProduceResult half =
            ProduceWith(client, bootstrap, half_topic, partitions, half_count, size, acks, rate / 2);
        std::printf(
            "%-6s %-7s %5zu B acks=%-3s at half peak (%8.0f msgs/s): latency p50 %6.2f p99 %7.2f "
            "p99.9 %7.2f ms\n",
            name.c_str(), producer, size, acks, rate / 2, Percentile(half.latencies_ns, 0.5),
            Percentile(half.latencies_ns, 0.99), Percentile(half.latencies_ns, 0.999));
        std::fflush(stdout);
        if (std::string(acks) == "1" && client == Client::kRdkafka) {
          int64_t got = 0;
          double s = Consume(bootstrap, topic, partitions, full.delivered, &got);
          std::printf("%-6s %-7s %5zu B consume %9.0f msgs/s %7.1f MB/s (%lld of %lld)\n",
                      name.c_str(), "rdkafka", size, static_cast<double>(got) / s,
                      static_cast<double>(got) * static_cast<double>(size) / s / 1e6,
                      static_cast<long long>(got), static_cast<long long>(full.delivered));
          std::fflush(stdout);
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int64_t messages = 1'000'000;
  int partitions = 4;
  bool mock = true, rss = true, runnel_producer = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--messages" && i + 1 < argc) {
      messages = std::stoll(argv[++i]);
    } else if (a == "--partitions" && i + 1 < argc) {
      partitions = std::stoi(argv[++i]);
    } else if (a == "--skip-mock") {
      mock = false;
    } else if (a == "--skip-rss") {
      rss = false;
    } else if (a == "--skip-runnel-producer") {
      runnel_producer = false;
    } else {
      Die("usage: broker_bench [--messages N] [--partitions P] [--skip-mock] [--skip-rss] "
          "[--skip-runnel-producer]");
    }
  }
  // Children first: no thread may exist at fork().
  Child broker = StartBrokerChild("1");
  Child idle;
  if (rss) idle = StartBrokerChild("1");
  std::printf(
      "runnel-broker (child pid %d) at %s; %lld messages of 100 B (a quarter as many of "
      "1 KiB), %d partitions, linger.ms=5\n",
      broker.pid, broker.bootstrap.c_str(), static_cast<long long>(messages), partitions);

  RunTarget("runnel", broker.bootstrap, true, nullptr, partitions, messages, runnel_producer);
  std::printf("runnel broker RSS after the runs: %lld MB (peak %lld MB)\n",
              static_cast<long long>(RssKb(broker.pid) / 1024),
              static_cast<long long>(RssKb(broker.pid, "VmHWM:") / 1024));
  StopChild(broker);

  if (mock) {
    char err[512];
    rd_kafka_t* holder = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof(err));
    rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(holder, 1);
    RunTarget("mock", rd_kafka_mock_cluster_bootstraps(mc), false, mc, partitions, messages,
              runnel_producer);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(holder);
  }

  if (rss) {
    int64_t before = RssKb(idle.pid);
    for (int t = 0; t < 10; ++t) CreateTopic(idle.bootstrap, "idle-" + std::to_string(t), 100);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    std::printf(
        "runnel broker RSS: %lld MB at start, %lld MB with 1,000 idle partitions "
        "(10 topics x 100)\n",
        static_cast<long long>(before / 1024), static_cast<long long>(RssKb(idle.pid) / 1024));
    StopChild(idle);
  }
  return 0;
}
