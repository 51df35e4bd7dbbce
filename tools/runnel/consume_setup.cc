#include "tools/runnel/consume_setup.h"

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"

namespace runnel::tools {

void AddConsumerFlags(FlagSet& flags) {
  AddBootstrapFlag(flags);
  flags.AddString("topic", "TOPIC", "the topic (-t)", /*required=*/true);
  flags.AddString("group", "GROUP", "join this consumer group and commit its offsets (-g)");
  flags.AddString("property", "KEY=VALUE[;KEY=VALUE...]",
                  "more consumer properties, Kafka names (-X)");
  flags.AddInt("timeout-ms", "MS", "how long to wait for a broker before giving up", false, 10000);
}

absl::Duration TimeoutFrom(const FlagSet& flags) {
  return absl::Milliseconds(std::max<int64_t>(1, flags.GetInt("timeout-ms")));
}

absl::StatusOr<ConsumerOptions> ConsumerOptionsFrom(const FlagSet& flags, OffsetReset reset) {
  ConsumerOptions o;
  o.client.bootstrap_servers = flags.GetString("bootstrap");
  o.client.client_id = "runnel-cli";
  o.client.request_timeout = TimeoutFrom(flags);
  // A connect that cannot finish within the request timeout would only
  // delay the error the user waits for.
  o.client.connection_setup_timeout =
      std::min(o.client.connection_setup_timeout, o.client.request_timeout);
  o.group_id = flags.GetString("group");
  o.enable_auto_commit = !o.group_id.empty();
  o.auto_offset_reset = reset;
  auto props = ParseKeyValues("property", flags.GetString("property"));
  if (!props.ok()) return props.status();
  for (const auto& [k, v] : *props) {
    if (absl::Status s = o.Set(k, v); !s.ok()) return s;
  }
  if (absl::Status s = o.Validate(); !s.ok()) return s;
  return o;
}

std::optional<std::vector<PartitionOffsets>> DescribePartitions(const FlagSet& flags,
                                                                std::optional<int32_t> only) {
  std::unique_ptr<Admin> admin = MakeAdmin(flags, TimeoutFrom(flags));
  if (admin == nullptr) return std::nullopt;
  const std::string topic = flags.GetString("topic");
  auto described = admin->DescribeTopics({topic});
  if (!described.ok()) {
    ReportFailure(flags, described.status());
    return std::nullopt;
  }
  if (described->size() != 1 || !ReportItem(flags.command(), (*described)[0].status)) {
    return std::nullopt;
  }
  std::map<TopicPartition, OffsetSpec> earliest, latest;
  for (const PartitionInfo& p : (*described)[0].partitions) {
    if (only.has_value() && *only != p.partition) continue;
    earliest[{topic, p.partition}] = OffsetSpec::Earliest();
    latest[{topic, p.partition}] = OffsetSpec::Latest();
  }
  if (earliest.empty()) {
    ReportFailure(flags, absl::NotFoundError(absl::StrCat(topic, " has no partition ",
                                                          only.value_or(0), " (it has ",
                                                          (*described)[0].partitions.size(), ")")));
    return std::nullopt;
  }
  auto firsts = admin->ListOffsets(earliest);
  if (!firsts.ok()) {
    ReportFailure(flags, firsts.status());
    return std::nullopt;
  }
  auto ends = admin->ListOffsets(latest);
  if (!ends.ok()) {
    ReportFailure(flags, ends.status());
    return std::nullopt;
  }
  std::vector<PartitionOffsets> out;
  for (const auto& [tp, spec] : earliest) {
    const ListOffsetsResult& first = (*firsts)[tp];
    const ListOffsetsResult& end = (*ends)[tp];
    if (!ReportItem(flags.command(), first.status) || !ReportItem(flags.command(), end.status)) {
      return std::nullopt;
    }
    out.push_back({tp, first.offset, end.offset});
  }
  return out;
}

namespace {

std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

void OnStopSignal(int) { stop_requested.store(true, std::memory_order_relaxed); }

}  // namespace

void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  // The first signal asks for a clean stop; should that hang, a second one
  // ends the process as it would without a handler.
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool StopRequested() { return stop_requested.load(std::memory_order_relaxed); }

}  // namespace runnel::tools
