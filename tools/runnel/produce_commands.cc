// `runnel produce` (stdin lines to a topic, like kcat -P) and `runnel perf
// produce` (a load generator like kafka-producer-perf-test), both on
// Runnel's producer (runnel/producer.h).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runnel/producer.h"
#include "tools/runnel/command.h"
#include "tools/runnel/flags.h"
#include "tools/runnel/perf_util.h"

namespace runnel::tools {
namespace {

// kcat-style short flags, as the command lines use them.
std::vector<std::string> ExpandShortFlags(std::span<const std::string> args) {
  static const std::pair<const char*, const char*> kShort[] = {
      {"-b", "--bootstrap"}, {"-t", "--topic"}, {"-p", "--partition"},
      {"-z", "--compression"}, {"-K", "--key-delimiter"}, {"-X", "--property"}};
  std::vector<std::string> out;
  for (const auto& a : args) {
    std::string mapped = a;
    for (const auto& [s, l] : kShort) {
      if (a == s) mapped = l;
    }
    out.push_back(mapped);
  }
  return out;
}

void AddCommonFlags(FlagSet& flags) {
  flags.AddString("bootstrap", "HOST:PORT[,...]", "bootstrap servers (-b)", /*required=*/true);
  flags.AddString("topic", "TOPIC", "the topic (-t)", /*required=*/true);
  flags.AddString("compression", "CODEC", "none, gzip, snappy, lz4 or zstd (-z)", false, "none");
  flags.AddString("acks", "0|1|all", "acknowledgements to wait for", false, "all");
  flags.AddString("property", "KEY=VALUE[;KEY=VALUE...]",
                  "more producer properties, Kafka names (-X)");
}

absl::StatusOr<ProducerOptions> OptionsFrom(const FlagSet& flags) {
  ProducerOptions o;
  o.client.bootstrap_servers = flags.GetString("bootstrap");
  o.client.client_id = "runnel-cli";
  if (absl::Status s = o.Set("compression.type", flags.GetString("compression")); !s.ok()) return s;
  if (absl::Status s = o.Set("acks", flags.GetString("acks")); !s.ok()) return s;
  if (o.acks != Acks::kAll) o.enable_idempotence = false;
  std::string props = flags.GetString("property");
  size_t start = 0;
  while (start < props.size()) {
    size_t end = props.find(';', start);
    if (end == std::string::npos) end = props.size();
    std::string kv = props.substr(start, end - start);
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--property '", kv, "' is not KEY=VALUE"));
    }
    if (absl::Status s = o.Set(kv.substr(0, eq), kv.substr(eq + 1)); !s.ok()) return s;
    start = end + 1;
  }
  if (absl::Status s = o.Validate(); !s.ok()) return s;
  return o;
}

int RunProduce(std::span<const std::string> raw_args) {
  FlagSet flags("runnel produce",
                "Sends each line of stdin to --topic as one record (the text before the\n"
                "first --key-delimiter is the key). Exits 1 if any record failed.");
  AddCommonFlags(flags);
  flags.AddInt("partition", "N", "send every record to partition N (-p)");
  flags.AddString("key-delimiter", "DELIM", "split key and value at DELIM (-K)");
  std::vector<std::string> args = ExpandShortFlags(raw_args);
  if (absl::Status s = flags.Parse(args); !s.ok()) return ReportParseResult(flags, s);
  absl::StatusOr<ProducerOptions> options = OptionsFrom(flags);
  if (!options.ok()) {
    std::fprintf(stderr, "runnel produce: %s\n", std::string(options.status().message()).c_str());
    return kExitUsage;
  }
  auto producer = Producer::Create(*options);
  if (!producer.ok()) {
    std::fprintf(stderr, "runnel produce: %s\n", producer.status().ToString().c_str());
    return kExitFailure;
  }
  const std::string delim = flags.GetString("key-delimiter");
  std::atomic<int64_t> failed{0};
  std::mutex err_mu;
  std::string line;
  int64_t sent = 0;
  while (std::getline(std::cin, line)) {
    ProducerRecord r;
    r.topic = flags.GetString("topic");
    if (flags.Has("partition")) r.partition = static_cast<int32_t>(flags.GetInt("partition"));
    size_t at = delim.empty() ? std::string::npos : line.find(delim);
    if (at != std::string::npos) {
      r.key.emplace(line.substr(0, at));
      r.value.emplace(line.substr(at + delim.size()));
    } else {
      r.value.emplace(line);
    }
    absl::Status s = (*producer)->Send(std::move(r), [&](absl::StatusOr<RecordMetadata> md) {
      if (md.ok()) return;
      if (failed++ < 5) {
        std::lock_guard<std::mutex> lock(err_mu);
        std::fprintf(stderr, "runnel produce: %s\n", md.status().ToString().c_str());
      }
    });
    if (!s.ok()) {
      std::fprintf(stderr, "runnel produce: %s\n", s.ToString().c_str());
      ++failed;
      break;
    }
    ++sent;
  }
  absl::Status closed = (*producer)->Close(absl::Seconds(30));
  if (!closed.ok()) std::fprintf(stderr, "runnel produce: %s\n", closed.ToString().c_str());
  if (failed.load() > 0 || !closed.ok()) {
    std::fprintf(stderr, "runnel produce: %lld of %lld records failed\n",
                 static_cast<long long>(failed.load()), static_cast<long long>(sent));
    return kExitFailure;
  }
  return kExitOk;
}

int RunPerfProduce(std::span<const std::string> raw_args) {
  FlagSet flags("runnel perf produce",
                "Sends --count records of --size bytes as fast as the producer takes\n"
                "them; prints progress every second, then msgs/s, MB/s, CPU and the\n"
                "send-to-acknowledgement latency percentiles.");
  AddCommonFlags(flags);
  flags.AddInt("count", "N", "records to send", false, 1000000);
  flags.AddInt("size", "BYTES", "value size", false, 100);
  flags.AddInt("linger-ms", "MS", "linger.ms", false, 5);
  std::vector<std::string> args = ExpandShortFlags(raw_args);
  if (absl::Status s = flags.Parse(args); !s.ok()) return ReportParseResult(flags, s);
  absl::StatusOr<ProducerOptions> options = OptionsFrom(flags);
  if (!options.ok()) {
    std::fprintf(stderr, "runnel perf produce: %s\n",
                 std::string(options.status().message()).c_str());
    return kExitUsage;
  }
  options->linger = absl::Milliseconds(flags.GetInt("linger-ms"));
  auto producer = Producer::Create(*options);
  if (!producer.ok()) {
    std::fprintf(stderr, "runnel perf produce: %s\n", producer.status().ToString().c_str());
    return kExitFailure;
  }
  const int64_t count = flags.GetInt("count");
  const size_t size = static_cast<size_t>(flags.GetInt("size"));
  std::string value(size, 'x');
  for (size_t i = 0; i < size; ++i) value[i] = static_cast<char>('a' + (i * 7) % 26);
  std::vector<int32_t> latency_us(static_cast<size_t>(count), -1);
  std::atomic<int64_t> acked{0}, failed{0};
  const std::string topic = flags.GetString("topic");
  (void)(*producer)->Send(ProducerRecord{.topic = topic, .value = "warm-up"}).get();
  const double cpu0 = CpuSeconds();
  const absl::Time t0 = absl::Now();
  absl::Time next_report = t0 + absl::Seconds(1);
  for (int64_t i = 0; i < count; ++i) {
    absl::Time sent = absl::Now();
    absl::Status s = (*producer)->Send(
        ProducerRecord{.topic = topic, .value = value},
        [&, i, sent](absl::StatusOr<RecordMetadata> md) {
          if (!md.ok()) {
            failed++;
            return;
          }
          latency_us[static_cast<size_t>(i)] =
              static_cast<int32_t>(absl::ToInt64Microseconds(absl::Now() - sent));
          acked++;
        });
    if (!s.ok()) {
      std::fprintf(stderr, "runnel perf produce: %s\n", s.ToString().c_str());
      break;
    }
    if (sent >= next_report) {
      double secs = absl::ToDoubleSeconds(sent - t0);
      std::fprintf(stderr, "%lld records sent, %lld acknowledged, %.0f msgs/s\n",
                   static_cast<long long>(i + 1), static_cast<long long>(acked.load()),
                   acked.load() / secs);
      next_report += absl::Seconds(1);
    }
  }
  (void)(*producer)->Flush(absl::Minutes(5));
  const double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  const double cpu = CpuSeconds() - cpu0;
  ProducerMetrics m = (*producer)->metrics();
  (void)(*producer)->Close(absl::Seconds(10));
  std::vector<int32_t> lat;
  for (int32_t l : latency_us) {
    if (l >= 0) lat.push_back(l);
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))] / 1000.0;
  };
  const int64_t ok = acked.load();
  std::printf("%lld records sent, %.0f msgs/s, %.2f MB/s, %.2f CPU s per million records, "
              "%lld failed\n",
              static_cast<long long>(ok), ok / secs, ok * static_cast<double>(size) / secs / 1e6,
              ok > 0 ? cpu / (ok / 1e6) : 0.0, static_cast<long long>(failed.load()));
  std::printf("latency ms: p50 %.2f, p95 %.2f, p99 %.2f, p99.9 %.2f, max %.2f; "
              "%.0f records per batch on average\n",
              pct(0.50), pct(0.95), pct(0.99), pct(0.999), lat.empty() ? 0.0 : lat.back() / 1000.0,
              m.avg_batch_records);
  return failed.load() > 0 || ok < count ? kExitFailure : kExitOk;
}

constexpr Command kPerfCommands[] = {
    {"produce", "send records as fast as possible; msgs/s, MB/s, latency", RunPerfProduce},
    {"consume", "read records as fast as possible; msgs/s, MB/s", RunPerfConsume},
};

}  // namespace

int RunProduceCommand(std::span<const std::string> args) { return RunProduce(args); }

int RunPerfCommand(std::span<const std::string> args) {
  return RunCommandTable("runnel perf", kPerfCommands, args);
}

}  // namespace runnel::tools
