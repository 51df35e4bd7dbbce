// `runnel consume`: prints the records of a topic, one a line (like kcat -C),
// on Runnel's consumer (runnel/consumer.h). Without --group it Assigns the
// topic's partitions (all, or --partition) and starts them at --offset; with
// --group it joins the group, starts where the group left off (--offset
// beginning|end for partitions without a committed offset) and commits what
// it printed. With --group and a numeric --offset (N, or -N from the end),
// every partition the group assigns starts there whatever was committed,
// as kcat -G does with -o (its rebalance callback assigns each partition at
// the -o offset).
// --count and --exit-at-end end it; so do SIGINT and SIGTERM, which commit,
// leave the group and exit 0.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runnel/consumer.h"
#include "tools/runnel/admin_util.h"
#include "tools/runnel/command.h"
#include "tools/runnel/consume_format.h"
#include "tools/runnel/consume_setup.h"
#include "tools/runnel/flags.h"

namespace runnel::tools {
namespace {

constexpr ShortFlag kConsumeShortFlags[] = {{"-o", "--offset"},      {"-c", "--count"},
                                            {"-e", "--exit-at-end"}, {"-f", "--format"},
                                            {"-p", "--partition"},   {"-X", "--property"}};

// Where --offset starts the assigned partitions.
struct StartOffset {
  enum Kind { kBeginning, kEnd, kAbsolute, kFromEnd } kind = kBeginning;
  int64_t n = 0;  // kAbsolute: the offset; kFromEnd: how many before the end
};

absl::StatusOr<StartOffset> ParseStartOffset(const std::string& s) {
  if (s == "beginning") return StartOffset{StartOffset::kBeginning, 0};
  if (s == "end") return StartOffset{StartOffset::kEnd, 0};
  int64_t n = 0;
  if (!absl::SimpleAtoi(s, &n)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--offset is beginning, end, an offset or -N (N before the end), got '", s, "'"));
  }
  return n < 0 ? StartOffset{StartOffset::kFromEnd, -n} : StartOffset{StartOffset::kAbsolute, n};
}

// Seeks every partition to an absolute or end-relative --offset.
absl::Status SeekTo(Consumer& consumer, const std::vector<PartitionOffsets>& partitions,
                    const StartOffset& start) {
  for (const PartitionOffsets& p : partitions) {
    const int64_t offset =
        start.kind == StartOffset::kFromEnd ? std::max(p.earliest, p.end - start.n) : start.n;
    if (absl::Status s = consumer.Seek(p.tp, offset); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// With --group and a numeric --offset: every partition the group hands this
// member (at each rebalance) starts at the offset, as kcat -G -o does. -N
// counts from the end the partition had when the command started (as
// without --group). Runs on Poll's thread, inside Poll.
class SeekOnAssign : public RebalanceListener {
 public:
  SeekOnAssign(const std::vector<PartitionOffsets>& partitions, StartOffset start) : start_(start) {
    for (const PartitionOffsets& p : partitions) known_[p.tp] = p;
  }
  void Attach(Consumer* consumer) { consumer_ = consumer; }

  void OnPartitionsAssigned(const std::vector<TopicPartition>& partitions) override {
    for (const TopicPartition& tp : partitions) {
      int64_t offset = start_.n;
      if (start_.kind == StartOffset::kFromEnd) {
        auto it = known_.find(tp);
        // A partition created since had nothing then: start at its beginning.
        offset = it == known_.end() ? 0 : std::max(it->second.earliest, it->second.end - start_.n);
      }
      if (absl::Status s = consumer_->Seek(tp, offset); !s.ok() && failure_.ok()) failure_ = s;
      started_.insert(tp);
    }
  }
  void OnPartitionsRevoked(const std::vector<TopicPartition>& partitions) override {
    for (const TopicPartition& tp : partitions) started_.erase(tp);
  }
  const absl::Status& failure() const { return failure_; }
  // Whether `tp` was sought since it was assigned: until then its position
  // is the committed one, which --exit-at-end must not take for the end.
  bool Started(const TopicPartition& tp) const { return started_.contains(tp); }

 private:
  const StartOffset start_;
  std::map<TopicPartition, PartitionOffsets> known_;
  Consumer* consumer_ = nullptr;
  absl::Status failure_;
  std::set<TopicPartition> started_;
};

// --exit-at-end: whether every assigned partition's position has reached
// its high watermark as it was when the command started (kcat -e stops at
// the end it meets instead; with records still arriving, this one stops
// sooner). False while nothing is assigned (a group not joined yet) and
// while a position is not known yet (asked again after the next Poll).
class EndTracker {
 public:
  // `ready`: whether an assigned partition's position can be trusted yet.
  EndTracker(Consumer& consumer, const std::vector<PartitionOffsets>& partitions,
             absl::Duration timeout, std::function<bool(const TopicPartition&)> ready)
      : consumer_(consumer), timeout_(timeout), ready_(std::move(ready)) {
    for (const PartitionOffsets& p : partitions) ends_[p.tp] = p.end;
  }

  bool AllAtEnd() {
    const std::vector<TopicPartition> assigned = consumer_.Assignment();
    if (assigned.empty()) return false;
    for (const TopicPartition& tp : assigned) {
      auto end = ends_.find(tp);
      if (end == ends_.end()) continue;  // created since: it had nothing then
      if (!ready_(tp)) return false;
      auto position = consumer_.Position(tp, timeout_);
      if (!position.ok() || *position < end->second) return false;
    }
    return true;
  }

 private:
  Consumer& consumer_;
  const absl::Duration timeout_;
  const std::function<bool(const TopicPartition&)> ready_;
  std::map<TopicPartition, int64_t> ends_;
};

int RunConsume(std::span<const std::string> raw) {
  FlagSet flags("runnel consume",
                "Prints the records of --topic, one a line (--format), like kcat -C.\n"
                "Without --group: reads every partition (or --partition) from --offset.\n"
                "With --group: joins the group, starts at its committed offsets (--offset\n"
                "beginning|end where it has none) and commits what was printed; a numeric\n"
                "--offset (N or -N) starts every partition the group assigns there instead,\n"
                "committed offsets notwithstanding (as kcat -G -o).\n"
                "--format directives: %t topic, %p partition, %o offset, %k key, %s value,\n"
                "%T timestamp (ms), %h headers (k=v,...), %K key size, %S value size, %%;\n"
                "escapes \\n \\t \\r \\\\. SIGINT/SIGTERM: commit, leave the group, exit 0.");
  AddConsumerFlags(flags);
  flags.AddString("offset", "beginning|end|OFFSET|-N", "where to start (-o)", false, "beginning");
  flags.AddInt("count", "N", "exit after N records (-c)");
  flags.AddBool("exit-at-end", "exit once every partition is read to its end (-e)");
  flags.AddString("format", "FORMAT", "how to print a record (-f)", false, "%s\\n");
  flags.AddInt("partition", "N", "read only partition N (-p; not with --group)");
  if (std::optional<int> rc = ParseCommandFlags(flags, raw, kConsumeShortFlags)) return *rc;
  auto format = RecordFormat::Parse(flags.GetString("format"));
  if (!format.ok()) return ReportParseResult(flags, format.status());
  auto start = ParseStartOffset(flags.GetString("offset"));
  if (!start.ok()) return ReportParseResult(flags, start.status());
  const bool in_group = !flags.GetString("group").empty();
  if (in_group && flags.Has("partition")) {
    return ReportParseResult(
        flags, absl::InvalidArgumentError("--partition reads outside a group: drop --group"));
  }
  if (flags.Has("count") && flags.GetInt("count") <= 0) {
    return ReportParseResult(flags, absl::InvalidArgumentError("--count must be positive"));
  }
  if (flags.Has("partition") && flags.GetInt("partition") < 0) {
    return ReportParseResult(flags, absl::InvalidArgumentError("--partition must be >= 0"));
  }
  auto options = ConsumerOptionsFrom(
      flags, start->kind == StartOffset::kEnd ? OffsetReset::kLatest : OffsetReset::kEarliest);
  if (!options.ok()) return ReportParseResult(flags, options.status());

  std::optional<int32_t> only;
  if (flags.Has("partition")) only = static_cast<int32_t>(flags.GetInt("partition"));
  // Also how an unknown topic or an absent broker is reported, before a
  // consumer would wait for either.
  std::optional<std::vector<PartitionOffsets>> partitions = DescribePartitions(flags, only);
  if (!partitions.has_value()) return kExitFailure;

  auto created = Consumer::Create(*options);
  if (!created.ok()) return ReportFailure(flags, created.status());
  Consumer& consumer = **created;
  const absl::Duration timeout = TimeoutFrom(flags);
  InstallStopHandlers();
  const bool numeric_start =
      start->kind == StartOffset::kAbsolute || start->kind == StartOffset::kFromEnd;
  SeekOnAssign seek_on_assign(*partitions, *start);
  seek_on_assign.Attach(&consumer);
  if (in_group) {
    if (absl::Status s = consumer.Subscribe({flags.GetString("topic")},
                                            numeric_start ? &seek_on_assign : nullptr);
        !s.ok()) {
      return ReportFailure(flags, s);
    }
  } else {
    std::vector<TopicPartition> tps;
    for (const PartitionOffsets& p : *partitions) tps.push_back(p.tp);
    if (absl::Status s = consumer.Assign(tps); !s.ok()) return ReportFailure(flags, s);
    if (start->kind == StartOffset::kAbsolute || start->kind == StartOffset::kFromEnd) {
      if (absl::Status s = SeekTo(consumer, *partitions, *start); !s.ok()) {
        (void)consumer.Close(timeout);
        return ReportFailure(flags, s);
      }
    }
  }

  const int64_t limit = flags.Has("count") ? flags.GetInt("count") : -1;
  EndTracker ends(consumer, *partitions, std::min(timeout, absl::Seconds(2)),
                  [&](const TopicPartition& tp) {
                    return !(in_group && numeric_start) || seek_on_assign.Started(tp);
                  });
  int64_t printed = 0;
  // Per partition, the first offset Poll returned but this did not print
  // (a --count or a signal mid-batch): the group's commit goes back to it.
  std::map<TopicPartition, int64_t> unprinted;
  absl::Status failure;
  std::string out;
  bool done = false;
  while (!done) {
    if (StopRequested()) break;
    auto batch = consumer.Poll(absl::Milliseconds(200));
    if (batch.ok() && !seek_on_assign.failure().ok()) batch = seek_on_assign.failure();
    if (!batch.ok()) {
      failure = batch.status();
      break;
    }
    out.clear();
    for (const ConsumerRecord& r : *batch) {
      if (done || StopRequested()) {
        TopicPartition tp{r.topic, r.partition};
        if (!unprinted.contains(tp)) unprinted[tp] = r.offset;
        continue;
      }
      format->Append(r, &out);
      done = ++printed == limit;
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    if (!batch->empty()) std::fflush(stdout);
    if (!done && flags.GetBool("exit-at-end")) done = ends.AllAtEnd();
  }
  std::fflush(stdout);

  absl::Status committed;
  if (in_group && failure.ok()) {
    for (const auto& [tp, offset] : unprinted) (void)consumer.Seek(tp, offset);
    committed = consumer.Commit(timeout);
  }
  absl::Status closed = consumer.Close(timeout);
  if (!failure.ok()) return ReportFailure(flags, failure);
  if (!committed.ok()) return ReportFailure(flags, committed);
  if (!closed.ok()) return ReportFailure(flags, closed);
  return kExitOk;
}

}  // namespace

int RunConsumeCommand(std::span<const std::string> args) { return RunConsume(args); }

}  // namespace runnel::tools
