// `runnel groups list|describe|delete|offsets`: consumer groups on
// runnel::Admin, like kafka-consumer-groups.sh. `offsets` prints each
// partition's committed offset, log end offset and lag, and with
// --reset-to moves the committed offsets of a group with no live members.
// Exits 1 when any group's (or partition's) operation failed.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "runnel/admin.h"
#include "tools/runnel/admin_util.h"
#include "tools/runnel/command.h"
#include "tools/runnel/flags.h"

namespace runnel::tools {
namespace {

int RunList(std::span<const std::string> raw) {
  FlagSet flags("runnel groups list", "Prints every group: id, state, protocol type.");
  AddBootstrapFlag(flags);
  flags.AddString("state", "STATE[,STATE...]", "only groups in these states (e.g. Stable,Empty)");
  if (std::optional<int> rc = ParseCommandFlags(flags, raw)) return *rc;
  auto admin = MakeAdmin(flags);
  if (admin == nullptr) return kExitFailure;
  auto groups = admin->ListGroups(SplitList(flags.GetString("state")));
  if (!groups.ok()) return ReportFailure(flags, groups.status());
  for (const GroupListing& g : *groups) {
    std::printf("%s\t%s\t%s\n", g.group_id.c_str(), g.state.c_str(), g.protocol_type.c_str());
  }
  return kExitOk;
}

int RunDescribe(std::span<const std::string> raw) {
  FlagSet flags("runnel groups describe",
                "Prints each group's state, assignor and members with their partitions.");
  AddBootstrapFlag(flags);
  flags.AddString("group", "GROUP[,GROUP...]", "the groups (-g)", /*required=*/true);
  if (std::optional<int> rc = ParseCommandFlags(flags, raw)) return *rc;
  auto admin = MakeAdmin(flags);
  if (admin == nullptr) return kExitFailure;
  auto groups = admin->DescribeGroups(SplitList(flags.GetString("group")));
  if (!groups.ok()) return ReportFailure(flags, groups.status());
  bool ok = true;
  for (const GroupDescription& g : *groups) {
    if (!ReportItem(flags.command(), g.status)) {
      ok = false;
      continue;
    }
    std::printf("Group: %s\tState: %s\tProtocol: %s\tCoordinator: %d\tMembers: %zu\n",
                g.group_id.c_str(), g.state.c_str(), g.protocol.c_str(), g.coordinator,
                g.members.size());
    for (const MemberDescription& m : g.members) {
      std::string parts;
      for (const TopicPartition& tp : m.assignment) {
        parts += (parts.empty() ? "" : ",") + tp.topic + "-" + std::to_string(tp.partition);
      }
      std::printf("\tMember: %s\tClient: %s\tHost: %s\tPartitions: %s\n", m.member_id.c_str(),
                  m.client_id.c_str(), m.client_host.c_str(), parts.c_str());
    }
  }
  return ok ? kExitOk : kExitFailure;
}

int RunDelete(std::span<const std::string> raw) {
  FlagSet flags("runnel groups delete",
                "Deletes groups with no members, and their committed offsets.");
  AddBootstrapFlag(flags);
  flags.AddString("group", "GROUP[,GROUP...]", "the groups (-g)", /*required=*/true);
  if (std::optional<int> rc = ParseCommandFlags(flags, raw)) return *rc;
  auto admin = MakeAdmin(flags);
  if (admin == nullptr) return kExitFailure;
  auto results = admin->DeleteGroups(SplitList(flags.GetString("group")));
  if (!results.ok()) return ReportFailure(flags, results.status());
  bool ok = true;
  for (const GroupResult& r : *results) {
    if (ReportItem(flags.command(), r.status)) {
      std::printf("deleted %s\n", r.group_id.c_str());
    } else {
      ok = false;
    }
  }
  return ok ? kExitOk : kExitFailure;
}

int RunOffsets(std::span<const std::string> raw) {
  FlagSet flags("runnel groups offsets",
                "Prints the group's committed offset, log end offset and lag per partition.\n"
                "--reset-to earliest|latest|OFFSET (with --topic) commits new offsets for\n"
                "every partition of the topic; the group must have no live members.");
  AddBootstrapFlag(flags);
  flags.AddString("group", "GROUP", "the group (-g)", /*required=*/true);
  flags.AddString("topic", "TOPIC", "the topic for --reset-to (-t)");
  flags.AddString("reset-to", "earliest|latest|OFFSET", "commit these offsets");
  if (std::optional<int> rc = ParseCommandFlags(flags, raw)) return *rc;
  const std::string group = flags.GetString("group");
  auto admin = MakeAdmin(flags);
  if (admin == nullptr) return kExitFailure;
  bool ok = true;
  if (flags.Has("reset-to")) {
    const std::string to = flags.GetString("reset-to");
    const std::string topic = flags.GetString("topic");
    if (topic.empty()) {
      return ReportParseResult(flags, absl::InvalidArgumentError("--reset-to needs --topic"));
    }
    int64_t offset = 0;
    if (to != "earliest" && to != "latest" && !absl::SimpleAtoi(to, &offset)) {
      return ReportParseResult(
          flags, absl::InvalidArgumentError("--reset-to is earliest, latest or an offset"));
    }
    auto described = admin->DescribeTopics({topic});
    if (!described.ok()) return ReportFailure(flags, described.status());
    if (!ReportItem(flags.command(), (*described)[0].status)) return kExitFailure;
    std::map<TopicPartition, OffsetSpec> specs;
    for (const PartitionInfo& p : (*described)[0].partitions) {
      specs[{topic, p.partition}] =
          to == "earliest" ? OffsetSpec::Earliest() : OffsetSpec::Latest();
    }
    TopicPartitionOffsets offsets;
    if (to == "earliest" || to == "latest") {
      auto listed = admin->ListOffsets(specs);
      if (!listed.ok()) return ReportFailure(flags, listed.status());
      for (const auto& [tp, r] : *listed) {
        if (!ReportItem(flags.command(), r.status)) return kExitFailure;
        offsets[tp].offset = r.offset;
      }
    } else {
      for (const auto& [tp, spec] : specs) offsets[tp].offset = offset;
    }
    auto altered = admin->AlterConsumerGroupOffsets(group, offsets);
    if (!altered.ok()) return ReportFailure(flags, altered.status());
    for (const auto& [tp, s] : *altered) ok &= ReportItem(flags.command(), s);
    if (!ok) return kExitFailure;
  }
  auto committed = admin->ListConsumerGroupOffsets(group);
  if (!committed.ok()) return ReportFailure(flags, committed.status());
  std::map<TopicPartition, OffsetSpec> ends;
  for (const auto& [tp, c] : *committed) ends[tp] = OffsetSpec::Latest();
  std::map<TopicPartition, ListOffsetsResult> end_offsets;
  if (!ends.empty()) {
    auto listed = admin->ListOffsets(ends);
    if (!listed.ok()) return ReportFailure(flags, listed.status());
    end_offsets = std::move(*listed);
  }
  std::printf("TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\n");
  for (const auto& [tp, c] : *committed) {
    if (!ReportItem(flags.command(), c.status)) {
      ok = false;
      continue;
    }
    const ListOffsetsResult& end = end_offsets[tp];
    std::string end_text = end.status.ok() ? std::to_string(end.offset) : "-";
    std::string lag = end.status.ok() && c.committed.offset >= 0
                          ? std::to_string(end.offset - c.committed.offset)
                          : "-";
    std::printf("%s\t%d\t%lld\t%s\t%s\n", tp.topic.c_str(), tp.partition,
                static_cast<long long>(c.committed.offset), end_text.c_str(), lag.c_str());
  }
  return ok ? kExitOk : kExitFailure;
}

constexpr Command kGroupCommands[] = {
    {"list", "print the consumer groups", RunList},
    {"describe", "state and members of groups", RunDescribe},
    {"delete", "delete groups with no members", RunDelete},
    {"offsets", "committed offsets and lag; --reset-to moves them", RunOffsets},
};

}  // namespace

int RunGroupsCommand(std::span<const std::string> args) {
  return RunCommandTable("runnel groups", kGroupCommands, args);
}

}  // namespace runnel::tools
