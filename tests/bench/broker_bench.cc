// broker_bench: producers (librdkafka's and runnel::Producer) and
// consumers (librdkafka's and runnel::Consumer) against runnel::Broker (data
// on disk) and, in the same run, against librdkafka's in-memory mock cluster
// as the baseline, each broker in a child process of its own. Prints, per
// message size (100 B, 1 KiB), acks (1, all; linger.ms=5) and producer, on
// runnel-broker and the mock back to back (so that the machine's load
// weighs alike on both):
//   produce msgs/s and MB/s, produce latency p50/p99/p99.9 (enqueue to
//   delivery report) at full speed and at half of that rate, and consume
//   msgs/s and MB/s of what librdkafka produced with acks=1, by each
//   consumer;
// each with the broker's CPU seconds per million messages (the child's
// threads, from /proc: whether the broker or the client is the limit) and,
// for runnel-broker, its own Produce request times (arrival to response
// ready, from its metrics histogram: the broker's share of the latency, as
// bucket bounds); then the broker's RSS with 1,000 idle partitions.
//
//   broker_bench [--messages N] [--partitions P] [--consume-reps R]
//                [--half-batch-bytes B (16384)] [--half-rate R] [--skip-mock] [--skip-rss] [--skip-runnel-producer]
//                [--skip-runnel-consumer]
//
// Both producers batch alike: linger.ms=5, batch.size 1,000,000 bytes
// (librdkafka's default, and at most 10,000 messages a batch; 16,384 bytes,
// the Java client's default, in the half-peak run: see Plan), no
// idempotence, no compression, a queue far above what is in flight, so
// the client is not the limit before the broker is. Both consumers ask for
// 10 MB a partition and 50 MB a fetch (min 1 byte, max wait 500 ms), keep up
// to 64 MB prefetched, skip CRC checks (librdkafka's default) and take
// messages 10,000 at a time; R repetitions, alternating which goes first.
// The half-peak run paces its sends in 200 µs sleeps (PaceUntil), not a
// spin: a spinning sender held one of this machine's two cores, and the p99
// it measured was the wait of the client's and broker's threads for the
// other.
// The mock keeps only the last ~5 MB of a partition: consumers read what it
// retained (the high minus low watermarks).
//
// The brokers run in forked children (fork before any thread exists) so that
// their RSS and CPU are their own and the clients' threads are not in their
// process. Topics on the mock are made at its start (it serves no
// CreateTopics), so topic names follow the run plan.
// Aims (issue 4): >= 1 M 100-byte msgs/s, p99 < 5 ms at half peak,
// consume > 2 M msgs/s, RSS < 200 MB with 1,000 idle partitions.
#include <dirent.h>
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
#include "broker_child.h"
#include "runnel/broker.h"
#include "runnel/consumer.h"
#include "runnel/producer.h"

namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Waits until `due_ns`, calling `serve` (librdkafka's poll, which runs its
// delivery reports) at least once. A message not yet due is waited for in
// 200 µs sleeps, not by spinning: on 2 cores a spinning load generator takes
// a whole core from the client's threads and the broker, which a producer at
// half load does not do. Messages then go in bursts of up to 200 µs worth.
template <typename Serve>
void PaceUntil(int64_t due_ns, Serve serve) {
  serve();
  while (NowNs() < due_ns) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    serve();
  }
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
  int command_fd = -1;  // to the child: 'm' asks for its metrics; EOF stops it
  int reply_fd = -1;    // from the child: the metrics text, size first
};

bool ReadFull(int fd, void* data, size_t n) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t got = ::read(fd, p, n);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

bool WriteFull(int fd, const void* data, size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t put = ::write(fd, p, n);
    if (put <= 0) return false;
    p += put;
    n -= static_cast<size_t>(put);
  }
  return true;
}

// The parent's ends of earlier children's pipes: a later child closes its
// copies, else a child would never see EOF on its command pipe.
std::vector<int> parent_pipe_ends;

Child StartBrokerChild(const std::string& properties_partitions) {
  char tmpl[] = "/tmp/runnel-broker-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp");
  int command[2], reply[2];
  if (::pipe(command) != 0 || ::pipe(reply) != 0) Die("pipe");
  pid_t pid = ::fork();
  if (pid < 0) Die("fork");
  if (pid == 0) {
    ::close(command[1]);
    ::close(reply[0]);
    for (int fd : parent_pipe_ends) ::close(fd);
    runnel::BrokerOptions options;
    options.port = 0;
    options.data_dir = tmpl;
    options.log_level = "warn";
    options.properties["num.partitions"] = properties_partitions;
    auto broker = runnel::Broker::Start(options);
    std::string line = broker.ok() ? (*broker)->bootstrap_address() : "";
    line += "\n";
    (void)WriteFull(reply[1], line.data(), line.size());
    if (!broker.ok()) _exit(1);
    char c;
    while (::read(command[0], &c, 1) == 1) {
      std::string text = (*broker)->MetricsText();
      uint64_t size = text.size();
      if (!WriteFull(reply[1], &size, sizeof size) || !WriteFull(reply[1], text.data(), size)) {
        break;
      }
    }
    (void)(*broker)->Stop(absl::Seconds(5));
    _exit(0);
  }
  ::close(command[0]);
  ::close(reply[1]);
  std::string got;
  char c;
  while (::read(reply[0], &c, 1) == 1 && c != '\n') got.push_back(c);
  if (got.empty()) Die("the broker child did not start");
  parent_pipe_ends.push_back(command[1]);
  parent_pipe_ends.push_back(reply[0]);
  return {pid, got, tmpl, command[1], reply[0]};
}

std::string ChildMetrics(const Child& child) {
  uint64_t size = 0;
  if (!WriteFull(child.command_fd, "m", 1) || !ReadFull(child.reply_fd, &size, sizeof size)) {
    Die("the broker child did not answer");
  }
  std::string text(size, '\0');
  if (!ReadFull(child.reply_fd, text.data(), size)) Die("the broker child did not answer");
  return text;
}

void StopChild(Child& child) {
  ::close(child.command_fd);  // the child stops its broker at EOF
  ::close(child.reply_fd);
  int status = 0;
  ::waitpid(child.pid, &status, 0);
  std::error_code ec;
  std::filesystem::remove_all(child.dir, ec);
}

// The broker's own histogram of Produce request times (arrival to response
// ready): cumulative counts by upper bound in seconds, from its metrics.
using Histogram = std::vector<std::pair<double, int64_t>>;

Histogram ProduceTimes(const std::string& metrics) {
  static constexpr char kPrefix[] = "runnel_request_duration_seconds_bucket{api=\"Produce\",le=\"";
  Histogram h;
  size_t at = 0;
  while ((at = metrics.find(kPrefix, at)) != std::string::npos) {
    at += sizeof(kPrefix) - 1;
    size_t quote = metrics.find('"', at);
    size_t space = metrics.find(' ', quote);
    if (quote == std::string::npos || space == std::string::npos) break;
    std::string le = metrics.substr(at, quote - at);
    double bound = le == "+Inf" ? 1e300 : std::stod(le);
    h.emplace_back(bound, std::stoll(metrics.substr(space + 1)));
  }
  return h;
}

// The bucket bound (ms) under which fraction q of the requests between two
// readings fell, as text: "<=0.25"; "-" without data.
std::string BucketPercentile(const Histogram& before, const Histogram& after, double q) {
  if (after.empty()) return "-";
  int64_t total = after.back().second - (before.empty() ? 0 : before.back().second);
  if (total <= 0) return "-";
  for (size_t i = 0; i < after.size(); ++i) {
    int64_t n = after[i].second - (i < before.size() ? before[i].second : 0);
    if (static_cast<double>(n) >= q * static_cast<double>(total)) {
      if (after[i].first > 1e299) return ">10000";
      char buf[32];
      std::snprintf(buf, sizeof buf, "<=%g", after[i].first * 1e3);
      return buf;
    }
  }
  return "-";
}

int64_t RssKb(pid_t pid, const char* field = "VmRSS:") {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stoll(line.substr(std::strlen(field)));
  }
  return -1;
}

// CPU seconds used so far by every thread of process `pid`: the sum of
// /proc/PID/task/TID/schedstat's run time (nanoseconds; /proc/PID/stat
// counts 10 ms ticks, too coarse for a consume of a fraction of a second).
// The brokers' threads live as long as the broker, so no thread's time is
// lost between two readings.
double ProcessCpuSeconds(pid_t pid) {
  std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(tasks.c_str());
  if (dir == nullptr) return -1;
  int64_t ns = 0;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(tasks + "/" + e->d_name + "/schedstat");
    int64_t run = 0;
    if (in >> run) ns += run;
  }
  ::closedir(dir);
  return static_cast<double>(ns) / 1e9;
}

// Broker CPU seconds per million messages, for the table.
double PerMillion(double cpu_seconds, int64_t messages) {
  return messages > 0 ? cpu_seconds / (static_cast<double>(messages) / 1e6) : 0;
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
                      int64_t count, size_t size, const std::string& acks, double rate,
                      int batch_bytes) {
  DeliveryState st;
  ProduceResult result;
  result.latencies_ns.reserve(static_cast<size_t>(count));
  st.latencies = &result.latencies_ns;
  rd_kafka_conf_t* conf = Conf({{"bootstrap.servers", bootstrap},
                                {"acks", acks},
                                {"linger.ms", "5"},
                                {"batch.size", std::to_string(batch_bytes)},
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
      PaceUntil(start_ns + static_cast<int64_t>(static_cast<double>(i) * 1e9 / rate),
                [rk] { rd_kafka_poll(rk, 0); });
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
ProduceResult ProduceRunnel(const std::string& bootstrap, const std::string& topic, int partitions,
                            int64_t count, size_t size, const std::string& acks, double rate,
                            int batch_bytes) {
  ProduceResult result;
  runnel::ProducerOptions o;
  o.client.bootstrap_servers = bootstrap;
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"enable.idempotence", "false"}, {"acks", acks}, {"compression.type", "none"}}) {
    if (absl::Status s = o.Set(k, v); !s.ok()) Die(k + ": " + std::string(s.message()));
  }
  o.linger = absl::Milliseconds(5);
  o.batch_size = batch_bytes;
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
  if (!(*producer)
           ->Send(runnel::ProducerRecord{.topic = topic, .partition = 0, .value = "warm"})
           .get()
           .ok()) {
    Die("runnel producer: the warm-up record failed");
  }
  int64_t start_ns = NowNs();
  for (int64_t i = 0; i < count; ++i) {
    if (rate > 0) {
      PaceUntil(start_ns + static_cast<int64_t>(static_cast<double>(i) * 1e9 / rate), [] {});
    }
    int64_t sent_ns = NowNs();
    int64_t* slot = &latencies[static_cast<size_t>(i)];
    absl::Status s = (*producer)->Send(
        runnel::ProducerRecord{
            .topic = topic, .partition = static_cast<int32_t>(i % partitions), .value = payload},
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

// Messages the broker holds in the topic: the sum of high - low watermarks
// (the mock drops all but a partition's last few MB).
int64_t Retained(const std::string& bootstrap, const std::string& topic, int partitions) {
  rd_kafka_conf_t* conf = Conf({{"bootstrap.servers", bootstrap}});
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (rk == nullptr) Die(err);
  int64_t total = 0;
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 10000) != 0) {
      Die("watermarks of " + topic);
    }
    total += high - low;
  }
  rd_kafka_destroy(rk);
  return total;
}

struct ConsumeResult {
  double seconds = 0;  // from the first message to the last
  int64_t got = 0;
  int64_t bytes = 0;  // value bytes handed over (each one touched)
};

// Reads every message of the topic from the beginning with librdkafka.
ConsumeResult Consume(const std::string& bootstrap, const std::string& topic, int partitions,
                      int64_t expected) {
  rd_kafka_conf_t* conf = Conf({{"bootstrap.servers", bootstrap},
                                {"group.id", "broker-bench"},
                                {"enable.auto.commit", "false"},
                                {"fetch.min.bytes", "1"},
                                {"fetch.wait.max.ms", "500"},
                                {"fetch.max.bytes", "52428800"},
                                {"max.partition.fetch.bytes", "10485760"},
                                {"queued.min.messages", "1000000"},
                                {"queued.max.messages.kbytes", "65536"},
                                {"check.crcs", "false"}});
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
  ConsumeResult result;
  // The clock starts at the first message: connecting, the coordinator
  // lookup and ListOffsets are not consume throughput (they took longer
  // than the consume itself at 2 M msgs/s).
  int64_t start_ns = 0;
  int64_t deadline = NowNs() + 120'000'000'000LL;
  // Messages 10,000 at a time off the consumer queue: one call per
  // thousands of messages, so the loop costs next to nothing per message.
  rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(rk);
  std::vector<rd_kafka_message_t*> batch(10000);
  while (result.got < expected && NowNs() < deadline) {
    ssize_t n = rd_kafka_consume_batch_queue(queue, 100, batch.data(), batch.size());
    if (n > 0 && start_ns == 0) start_ns = NowNs();
    for (ssize_t i = 0; i < n; ++i) {
      const rd_kafka_message_t* m = batch[static_cast<size_t>(i)];
      if (!m->err) {
        ++result.got;
        result.bytes += static_cast<int64_t>(m->len);
      }
      rd_kafka_message_destroy(batch[static_cast<size_t>(i)]);
    }
  }
  result.seconds = static_cast<double>(NowNs() - start_ns) / 1e9;
  rd_kafka_queue_destroy(queue);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return result;
}

// As Consume, with runnel::Consumer and the same fetch settings.
ConsumeResult ConsumeRunnel(const std::string& bootstrap, const std::string& topic, int partitions,
                            int64_t expected) {
  runnel::ConsumerOptions o;
  o.client.bootstrap_servers = bootstrap;
  o.enable_auto_commit = false;
  o.auto_offset_reset = runnel::OffsetReset::kEarliest;
  o.fetch_min_bytes = 1;
  o.fetch_max_wait = absl::Milliseconds(500);
  o.fetch_max_bytes = 52428800;
  o.max_partition_fetch_bytes = 10485760;
  o.queued_max_bytes = int64_t{64} << 20;
  o.max_poll_records = 10000;
  o.check_crcs = false;
  absl::StatusOr<std::unique_ptr<runnel::Consumer>> consumer = runnel::Consumer::Create(o);
  if (!consumer.ok()) Die("runnel consumer: " + consumer.status().ToString());
  std::vector<runnel::TopicPartition> tps;
  for (int p = 0; p < partitions; ++p) tps.push_back({topic, p});
  if (absl::Status s = (*consumer)->Assign(tps); !s.ok()) Die("runnel assign: " + s.ToString());
  ConsumeResult result;
  int64_t start_ns = 0;
  int64_t deadline = NowNs() + 120'000'000'000LL;
  while (result.got < expected && NowNs() < deadline) {
    absl::StatusOr<std::vector<runnel::ConsumerRecord>> batch =
        (*consumer)->Poll(absl::Milliseconds(100));
    if (!batch.ok()) Die("runnel poll: " + batch.status().ToString());
    if (!batch->empty() && start_ns == 0) start_ns = NowNs();
    for (const runnel::ConsumerRecord& r : *batch) {
      if (r.value) result.bytes += static_cast<int64_t>(r.value->size());
    }
    result.got += static_cast<int64_t>(batch->size());
  }
  result.seconds = static_cast<double>(NowNs() - start_ns) / 1e9;
  (void)(*consumer)->Close(absl::Seconds(5));
  return result;
}

// The producer a run uses.
enum class Client { kRdkafka, kRunnel };

const char* ClientName(Client c) { return c == Client::kRdkafka ? "rdkafka" : "runnel"; }

ProduceResult ProduceWith(Client client, const std::string& bootstrap, const std::string& topic,
                          int partitions, int64_t count, size_t size, const std::string& acks,
                          double rate, int batch_bytes) {
  return client == Client::kRdkafka
             ? Produce(bootstrap, topic, partitions, count, size, acks, rate, batch_bytes)
             : ProduceRunnel(bootstrap, topic, partitions, count, size, acks, rate, batch_bytes);
}

constexpr size_t kSizes[] = {100, 1024};
constexpr const char* kAcks[] = {"1", "all"};

// One topic per (size, acks, producer); the half-peak run goes to
// "<topic>-half" so that the consume reads exactly the full-speed run.
std::string TopicName(size_t size, const std::string& acks, Client client) {
  return "bench-" + std::to_string(size) + "-acks" + acks + "-" + ClientName(client);
}

struct Target {
  std::string name;
  pid_t pid = -1;
  std::string bootstrap;
  bool mock = false;  // topics exist already; else made with CreateTopics
  // runnel-broker's child, whose metrics give the broker's own Produce
  // request times; null for the mock.
  const Child* child = nullptr;
};

Histogram ProduceTimesOf(const Target& target) {
  return target.child != nullptr ? ProduceTimes(ChildMetrics(*target.child)) : Histogram{};
}

struct Plan {
  int partitions = 4;
  int64_t messages = 1'000'000;
  int consume_reps = 2;
  // batch.size of the full-speed run (librdkafka's default) and of the
  // half-peak run: there, with a 1 MB batch, a batch at half load fills in
  // far more than linger.ms, so every message waits out the linger (p99 at
  // least ~5 ms by construction); 16,384 is the Java client's default, with
  // which a loaded producer sends on size, as Kafka users run it.
  int full_batch_bytes = 1'000'000;
  int half_batch_bytes = 16'384;
  // With a value, the "half peak" run of 100-byte cells goes at this many
  // msgs/s (a quarter of it for 1 KiB) on every broker, so that latencies
  // are compared at the same load; else at half of each broker's own peak.
  double fixed_half_rate = 0;
  std::vector<Client> producers;
  std::vector<Client> consumers;
};

// One cell of the table on one target: produce at full speed and at half
// of that rate with `client`, then (acks=1, librdkafka's producer) consume
// what was produced with each consumer.
void RunCell(const Target& target, const Plan& plan, size_t size, const char* acks, Client client) {
  const char* name = target.name.c_str();
  const char* producer = ClientName(client);
  int64_t count = size == 100 ? plan.messages : plan.messages / 4;
  std::string topic = TopicName(size, acks, client);
  if (!target.mock) CreateTopic(target.bootstrap, topic, plan.partitions);
  Histogram times0 = ProduceTimesOf(target);
  double cpu0 = ProcessCpuSeconds(target.pid);
  ProduceResult full =
      ProduceWith(client, target.bootstrap, topic, plan.partitions, count, size, acks, 0,
                  plan.full_batch_bytes);
  double cpu = ProcessCpuSeconds(target.pid) - cpu0;
  Histogram times = ProduceTimesOf(target);
  double rate = static_cast<double>(full.delivered) / full.seconds;
  std::printf(
      "%-6s %-7s %5zu B acks=%-3s produce %9.0f msgs/s %7.1f MB/s  latency p50 %6.2f p99 "
      "%7.2f p99.9 %7.2f ms  broker %5.2f cpu s/M, Produce time p50 %s p99 %s ms%s\n",
      name, producer, size, acks, rate, rate * static_cast<double>(size) / 1e6,
      Percentile(full.latencies_ns, 0.5), Percentile(full.latencies_ns, 0.99),
      Percentile(full.latencies_ns, 0.999), PerMillion(cpu, full.delivered),
      BucketPercentile(times0, times, 0.5).c_str(), BucketPercentile(times0, times, 0.99).c_str(),
      full.failed > 0 ? (" FAILED " + std::to_string(full.failed)).c_str() : "");
  std::fflush(stdout);
  // Half of the peak rate (or the fixed rate), for ~2 s (at most `count`
  // messages), into a second topic so the consume below reads exactly the
  // first run.
  const double half_rate = plan.fixed_half_rate > 0
                               ? (size == 100 ? plan.fixed_half_rate : plan.fixed_half_rate / 4)
                               : rate / 2;
  int64_t half_count = std::min<int64_t>(count, static_cast<int64_t>(2 * half_rate));
  std::string half_topic = topic + "-half";
  if (!target.mock) CreateTopic(target.bootstrap, half_topic, plan.partitions);
  times0 = ProduceTimesOf(target);
  cpu0 = ProcessCpuSeconds(target.pid);
  ProduceResult half = ProduceWith(client, target.bootstrap, half_topic, plan.partitions,
                                   half_count, size, acks, half_rate, plan.half_batch_bytes);
  cpu = ProcessCpuSeconds(target.pid) - cpu0;
  times = ProduceTimesOf(target);
  std::printf(
      "%-6s %-7s %5zu B acks=%-3s at half peak (%8.0f msgs/s, batch.size %d): latency p50 %6.2f "
      "p99 %7.2f p99.9 %7.2f ms  broker %5.2f cpu s/M, Produce time p50 %s p99 %s ms%s\n",
      name, producer, size, acks, half_rate, plan.half_batch_bytes, Percentile(half.latencies_ns, 0.5),
      Percentile(half.latencies_ns, 0.99), Percentile(half.latencies_ns, 0.999),
      PerMillion(cpu, half.delivered), BucketPercentile(times0, times, 0.5).c_str(),
      BucketPercentile(times0, times, 0.99).c_str(),
      half.failed > 0 ? (" FAILED " + std::to_string(half.failed)).c_str() : "");
  std::fflush(stdout);
  if (std::string(acks) != "1" || client != Client::kRdkafka) return;
  // What librdkafka produced with acks=1, read by each consumer,
  // alternating which goes first.
  const int64_t expected = Retained(target.bootstrap, topic, plan.partitions);
  for (int rep = 0; rep < plan.consume_reps; ++rep) {
    for (size_t k = 0; k < plan.consumers.size(); ++k) {
      Client consumer = plan.consumers[(k + static_cast<size_t>(rep)) % plan.consumers.size()];
      cpu0 = ProcessCpuSeconds(target.pid);
      ConsumeResult c = consumer == Client::kRdkafka
                            ? Consume(target.bootstrap, topic, plan.partitions, expected)
                            : ConsumeRunnel(target.bootstrap, topic, plan.partitions, expected);
      cpu = ProcessCpuSeconds(target.pid) - cpu0;
      std::printf(
          "%-6s %-7s %5zu B consume %9.0f msgs/s %7.1f MB/s  broker %5.2f cpu s/M  (%lld of "
          "%lld, rep %d)%s\n",
          name, ClientName(consumer), size, static_cast<double>(c.got) / c.seconds,
          static_cast<double>(c.bytes) / c.seconds / 1e6, PerMillion(cpu, c.got),
          static_cast<long long>(c.got), static_cast<long long>(expected), rep,
          c.got < expected ? " INCOMPLETE" : "");
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Plan plan;
  plan.producers = {Client::kRdkafka, Client::kRunnel};
  plan.consumers = {Client::kRdkafka, Client::kRunnel};
  bool mock = true, rss = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--messages" && i + 1 < argc) {
      plan.messages = std::stoll(argv[++i]);
    } else if (a == "--partitions" && i + 1 < argc) {
      plan.partitions = std::stoi(argv[++i]);
    } else if (a == "--consume-reps" && i + 1 < argc) {
      plan.consume_reps = std::stoi(argv[++i]);
    } else if (a == "--half-batch-bytes" && i + 1 < argc) {
      plan.half_batch_bytes = std::stoi(argv[++i]);
    } else if (a == "--half-rate" && i + 1 < argc) {
      plan.fixed_half_rate = std::stod(argv[++i]);
    } else if (a == "--skip-mock") {
      mock = false;
    } else if (a == "--skip-rss") {
      rss = false;
    } else if (a == "--skip-runnel-producer") {
      plan.producers = {Client::kRdkafka};
    } else if (a == "--skip-runnel-consumer") {
      plan.consumers = {Client::kRdkafka};
    } else {
      Die("usage: broker_bench [--messages N] [--partitions P] [--consume-reps R] "
          "[--half-batch-bytes B] [--half-rate R] [--skip-mock] [--skip-rss] [--skip-runnel-producer] "
          "[--skip-runnel-consumer]");
    }
  }
  // Children first: no thread may exist at fork(). The mock first, so that
  // it holds no copy of the runnel children's pipes.
  runnel::bench::BrokerChild mock_child;
  if (mock) {
    runnel::bench::BrokerChildOptions o;
    o.mock = true;
    for (size_t size : kSizes) {
      for (const char* acks : kAcks) {
        for (Client client : plan.producers) {
          o.mock_topics.push_back({TopicName(size, acks, client), plan.partitions});
          o.mock_topics.push_back({TopicName(size, acks, client) + "-half", plan.partitions});
        }
      }
    }
    mock_child = runnel::bench::StartBrokerChild(o);
    if (mock_child.pid < 0 || mock_child.bootstrap.empty()) Die("the mock child did not start");
  }
  Child broker = StartBrokerChild("1");
  Child idle;
  if (rss) idle = StartBrokerChild("1");
  std::printf(
      "runnel-broker (child pid %d) at %s; %lld messages of 100 B (a quarter as many of "
      "1 KiB), %d partitions, linger.ms=5\n",
      broker.pid, broker.bootstrap.c_str(), static_cast<long long>(plan.messages), plan.partitions);

  // Cell by cell, both targets back to back (alternating which goes
  // first), so that the machine's load drifts alike over both.
  std::vector<Target> targets = {{"runnel", broker.pid, broker.bootstrap, false, &broker}};
  if (mock) targets.push_back({"mock", mock_child.pid, mock_child.bootstrap, true, nullptr});
  size_t cell = 0;
  for (size_t size : kSizes) {
    for (const char* acks : kAcks) {
      for (Client client : plan.producers) {
        for (size_t k = 0; k < targets.size(); ++k) {
          RunCell(targets[(k + cell) % targets.size()], plan, size, acks, client);
        }
        ++cell;
      }
    }
  }
  std::printf("runnel broker RSS after the runs: %lld MB (peak %lld MB)\n",
              static_cast<long long>(RssKb(broker.pid) / 1024),
              static_cast<long long>(RssKb(broker.pid, "VmHWM:") / 1024));
  StopChild(broker);
  if (mock) {
    ::kill(mock_child.pid, SIGKILL);
    ::waitpid(mock_child.pid, nullptr, 0);
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
