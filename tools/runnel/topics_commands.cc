// `runnel topics list|create|delete|describe|alter`: topic management on
// runnel::Admin, like kafka-topics.sh and kafka-configs.sh for topics.
// Exits 1 when any topic's operation failed (each failure on stderr).
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "runnel/admin.h"
#include "tools/runnel/admin_util.h"
#include "tools/runnel/command.h"
#include "tools/runnel/flags.h"

namespace runnel::tools {
namespace {

int RunList(std::span<const std::string> raw) {
  FlagSet flags("runnel topics list", "Prints every topic's name, one a line.");
  AddBootstrapFlag(flags);
  flags.AddBool("internal", "include internal topics (__consumer_offsets)");
  if (std::optional<int> rc = ParseCommandFlags(flags, raw)) return *rc;
  auto admin = MakeAdmin(flags);
  if (admin == nullptr) return kExitFailure;
  auto topics = admin->ListTopics(flags.GetBool("internal"));
  if (!topics.ok()) return ReportFailure(flags, topics.status());
  for (const TopicListing& t : *topics) std::printf("%s\n", t.name.c_str());
  return kExitOk;
}

int RunCreate(std::span<const std::string> raw) {
  FlagSet flags("runnel topics create", "Creates topics (--topic a,b).");
  AddBootstrapFlag(flags);
  flags.AddString("topic", "TOPIC[,TOPIC...]", "the topics (-t)", /*required=*/true);
  flags.AddInt("partitions", "N", "partitions (default: the broker's num.partitions)", false, -1);
  flags.AddInt("replication-factor", "N", "replicas (default: the broker's)", false, -1);
  flags.AddString("config", "KEY=VALUE[;KEY=VALUE...]", "topic configs");
  flags.AddBool("validate-only", "check the request; create nothing");
  if (std::optional<int> rc = ParseCommandFlags(flags, raw)) return *rc;
  auto configs = ParseKeyValues("config", flags.GetString("config"));
  if (!configs.ok()) return ReportParseResult(flags, configs.status());
  std::vector<NewTopic> topics;
  for (const std::string& name : SplitList(flags.GetString("topic"))) {
    topics.push_back(
        NewTopic{.name = name,
                 .partitions = static_cast<int32_t>(flags.GetInt("partitions")),
                 .replication_factor = static_cast<int16_t>(flags.GetInt("replication-factor")),
                 .configs = *configs});
  }
  auto admin = MakeAdmin(flags);
  if (admin == nullptr) return kExitFailure;
  auto results = admin->CreateTopics(topics, flags.GetBool("validate-only"));
  if (!results.ok()) return ReportFailure(flags, results.status());
  bool ok = true;
  for (const TopicResult& r : *results) {
    if (ReportItem(flags.command(), r.status)) {
      std::printf("%s %s (%d partitions)\n", flags.GetBool("validate-only") ? "valid" : "created",
                  r.name.c_str(), r.partitions);
    } else {
      ok = false;
    }
  }
  return ok ? kExitOk : kExitFailure;
}

int RunDelete(std::span<const std::string> raw) {
  FlagSet flags("runnel topics delete", "Deletes topics (--topic a,b) and their records.");
  AddBootstrapFlag(flags);
  flags.AddString("topic", "TOPIC[,TOPIC...]", "the topics (-t)", /*required=*/true);
  if (std::optional<int> rc = ParseCommandFlags(flags, raw)) return *rc;
  auto admin = MakeAdmin(flags);
  if (admin == nullptr) return kExitFailure;
  auto results = admin->DeleteTopics(SplitList(flags.GetString("topic")));
  if (!results.ok()) return ReportFailure(flags, results.status());
  bool ok = true;
  for (const TopicResult& r : *results) {
    if (ReportItem(flags.command(), r.status)) {
      std::printf("deleted %s\n", r.name.c_str());
    } else {
      ok = false;
    }
  }
  return ok ? kExitOk : kExitFailure;
}

std::string Join(const std::vector<int32_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(v[i]);
  }
  return out;
}

int RunDescribe(std::span<const std::string> raw) {
  FlagSet flags("runnel topics describe",
                "Prints each topic's partitions (leader, replicas, in-sync replicas) and\n"
                "the configs set on it (--all-configs: every config).");
  AddBootstrapFlag(flags);
  flags.AddString("topic", "TOPIC[,TOPIC...]", "the topics (-t)", /*required=*/true);
  flags.AddBool("all-configs", "also print configs left at their defaults");
  if (std::optional<int> rc = ParseCommandFlags(flags, raw)) return *rc;
  auto admin = MakeAdmin(flags);
  if (admin == nullptr) return kExitFailure;
  const std::vector<std::string> names = SplitList(flags.GetString("topic"));
  auto described = admin->DescribeTopics(names);
  if (!described.ok()) return ReportFailure(flags, described.status());
  std::vector<ConfigResource> resources;
  for (const auto& n : names) resources.push_back({ConfigResourceType::kTopic, n});
  auto configs = admin->DescribeConfigs(resources);
  if (!configs.ok()) return ReportFailure(flags, configs.status());
  bool ok = true;
  for (size_t i = 0; i < described->size(); ++i) {
    const TopicDescription& d = (*described)[i];
    if (!ReportItem(flags.command(), d.status)) {
      ok = false;
      continue;
    }
    std::printf("Topic: %s\tTopicId: %s\tPartitionCount: %zu\n", d.name.c_str(), d.topic_id.c_str(),
                d.partitions.size());
    for (const ConfigEntry& e : (*configs)[i].entries) {
      if (e.source != ConfigSource::kDynamicTopic && !flags.GetBool("all-configs")) continue;
      std::printf("\tConfig: %s=%s\n", e.name.c_str(), e.value.value_or("").c_str());
    }
    for (const PartitionInfo& p : d.partitions) {
      std::printf("\tPartition: %d\tLeader: %d\tReplicas: %s\tIsr: %s\n", p.partition, p.leader,
                  Join(p.replicas).c_str(), Join(p.isr).c_str());
    }
  }
  return ok ? kExitOk : kExitFailure;
}

int RunAlter(std::span<const std::string> raw) {
  FlagSet flags("runnel topics alter",
                "Changes a topic: --partitions grows it, --set and --delete edit its configs.");
  AddBootstrapFlag(flags);
  flags.AddString("topic", "TOPIC", "the topic (-t)", /*required=*/true);
  flags.AddInt("partitions", "N", "the new partition count (larger than now)");
  flags.AddString("set", "KEY=VALUE[;KEY=VALUE...]", "configs to set");
  flags.AddString("delete", "KEY[,KEY...]", "configs to return to their defaults");
  flags.AddBool("validate-only", "check the request; change nothing");
  if (std::optional<int> rc = ParseCommandFlags(flags, raw)) return *rc;
  auto set = ParseKeyValues("set", flags.GetString("set"));
  if (!set.ok()) return ReportParseResult(flags, set.status());
  const std::string topic = flags.GetString("topic");
  std::vector<AlterConfigOp> ops;
  for (const auto& [k, v] : *set) ops.push_back({k, AlterConfigOpType::kSet, v});
  for (const auto& k : SplitList(flags.GetString("delete"))) {
    ops.push_back({k, AlterConfigOpType::kDelete, std::nullopt});
  }
  if (ops.empty() && !flags.Has("partitions")) {
    return ReportParseResult(flags, absl::InvalidArgumentError(
                                        "nothing to change: give --partitions, --set or --delete"));
  }
  auto admin = MakeAdmin(flags);
  if (admin == nullptr) return kExitFailure;
  const bool dry = flags.GetBool("validate-only");
  bool ok = true;
  if (flags.Has("partitions")) {
    auto r =
        admin->CreatePartitions({{topic, static_cast<int32_t>(flags.GetInt("partitions"))}}, dry);
    if (!r.ok()) return ReportFailure(flags, r.status());
    for (const TopicResult& t : *r) {
      if (ReportItem(flags.command(), t.status)) {
        std::printf("%s now has %lld partitions\n", t.name.c_str(),
                    static_cast<long long>(flags.GetInt("partitions")));
      } else {
        ok = false;
      }
    }
  }
  if (!ops.empty()) {
    auto r = admin->IncrementalAlterConfigs(
        {{ConfigResource{ConfigResourceType::kTopic, topic}, ops}}, dry);
    if (!r.ok()) return ReportFailure(flags, r.status());
    for (const ConfigResourceResult& c : *r) {
      if (ReportItem(flags.command(), c.status)) {
        std::printf("altered configs of %s\n", c.resource.name.c_str());
      } else {
        ok = false;
      }
    }
  }
  return ok ? kExitOk : kExitFailure;
}

constexpr Command kTopicCommands[] = {
    {"list", "print the topics", RunList},
    {"create", "create topics (--partitions, --config)", RunCreate},
    {"delete", "delete topics", RunDelete},
    {"describe", "partitions, leaders and configs of topics", RunDescribe},
    {"alter", "add partitions or change configs", RunAlter},
};

}  // namespace

int RunTopicsCommand(std::span<const std::string> args) {
  return RunCommandTable("runnel topics", kTopicCommands, args);
}

}  // namespace runnel::tools
