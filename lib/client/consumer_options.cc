// ConsumerOptions from Kafka property names (Java and librdkafka spellings).
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/group/assignor.h"
#include "client/properties.h"
#include "runnel/common/status_macros.h"
#include "runnel/consumer.h"

namespace runnel {

using client::InvalidProperty;
using client::ParseBool;
using client::ParseInt;
using client::ParseMillis;

namespace {

// Java's class names for the assignors map to Kafka's protocol names.
absl::StatusOr<std::vector<std::string>> ParseStrategies(std::string_view key,
                                                         std::string_view value) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(absl::string_view(value.data(), value.size()), ',',
                                               absl::SkipWhitespace())) {
    std::string name(absl::StripAsciiWhitespace(part));
    const size_t dot = name.rfind('.');
    if (dot != std::string::npos) name = name.substr(dot + 1);
    if (name == "RangeAssignor") name = "range";
    if (name == "RoundRobinAssignor") name = "roundrobin";
    if (name == "CooperativeStickyAssignor") name = "cooperative-sticky";
    if (!client::group::MakeAssignor(name).ok()) {
      return InvalidProperty(key, value, "expected range, roundrobin or cooperative-sticky");
    }
    out.push_back(name);
  }
  if (out.empty()) return InvalidProperty(key, value, "no assignor named");
  return out;
}

}  // namespace

absl::Status ConsumerOptions::Set(std::string_view key, std::string_view value) {
  RUNNEL_ASSIGN_OR_RETURN(bool known, client.TrySet(key, value));
  if (known) return absl::OkStatus();
  if (key == "group.id") {
    group_id = std::string(value);
  } else if (key == "group.instance.id") {
    if (value.empty()) {
      group_instance_id.reset();
    } else {
      group_instance_id.emplace(value);
    }
  } else if (key == "partition.assignment.strategy") {
    RUNNEL_ASSIGN_OR_RETURN(assignment_strategies, ParseStrategies(key, value));
  } else if (key == "session.timeout.ms") {
    RUNNEL_ASSIGN_OR_RETURN(session_timeout, ParseMillis(key, value));
  } else if (key == "heartbeat.interval.ms") {
    RUNNEL_ASSIGN_OR_RETURN(heartbeat_interval, ParseMillis(key, value));
  } else if (key == "max.poll.interval.ms") {
    RUNNEL_ASSIGN_OR_RETURN(max_poll_interval, ParseMillis(key, value));
  } else if (key == "enable.auto.commit") {
    RUNNEL_ASSIGN_OR_RETURN(enable_auto_commit, ParseBool(key, value));
  } else if (key == "auto.commit.interval.ms") {
    RUNNEL_ASSIGN_OR_RETURN(auto_commit_interval, ParseMillis(key, value));
  } else if (key == "auto.offset.reset") {
    if (value == "earliest" || value == "smallest" || value == "beginning") {
      auto_offset_reset = OffsetReset::kEarliest;
    } else if (value == "latest" || value == "largest" || value == "end") {
      auto_offset_reset = OffsetReset::kLatest;
    } else if (value == "none" || value == "error") {
      auto_offset_reset = OffsetReset::kNone;
    } else {
      return InvalidProperty(key, value, "expected earliest, latest or none");
    }
  } else if (key == "fetch.min.bytes") {
    RUNNEL_ASSIGN_OR_RETURN(int64_t n, ParseInt(key, value, 1, 1 << 30));
    fetch_min_bytes = static_cast<int32_t>(n);
  } else if (key == "fetch.max.wait.ms" || key == "fetch.wait.max.ms") {
    RUNNEL_ASSIGN_OR_RETURN(fetch_max_wait, ParseMillis(key, value));
  } else if (key == "fetch.max.bytes") {
    RUNNEL_ASSIGN_OR_RETURN(int64_t n, ParseInt(key, value, 1024, 2147483647));
    fetch_max_bytes = static_cast<int32_t>(n);
  } else if (key == "max.partition.fetch.bytes") {
    RUNNEL_ASSIGN_OR_RETURN(int64_t n, ParseInt(key, value, 1024, 2147483647));
    max_partition_fetch_bytes = static_cast<int32_t>(n);
  } else if (key == "queued.max.messages.kbytes") {
    RUNNEL_ASSIGN_OR_RETURN(int64_t n, ParseInt(key, value, 1, int64_t{1} << 31));
    queued_max_bytes = n * 1024;
  } else if (key == "max.poll.records") {
    RUNNEL_ASSIGN_OR_RETURN(int64_t n, ParseInt(key, value, 1, 1 << 30));
    max_poll_records = static_cast<int32_t>(n);
  } else if (key == "check.crcs") {
    RUNNEL_ASSIGN_OR_RETURN(check_crcs, ParseBool(key, value));
  } else if (key == "isolation.level") {
    if (value == "read_uncommitted") {
      isolation_level = IsolationLevel::kReadUncommitted;
    } else if (value == "read_committed") {
      isolation_level = IsolationLevel::kReadCommitted;
    } else {
      return InvalidProperty(key, value, "expected read_uncommitted or read_committed");
    }
  } else {
    return client::UnknownProperty(key);
  }
  return absl::OkStatus();
}

absl::StatusOr<ConsumerOptions> ConsumerOptions::FromProperties(
    const std::map<std::string, std::string>& properties) {
  ConsumerOptions options;
  for (const auto& [key, value] : properties) {
    RUNNEL_RETURN_IF_ERROR(options.Set(key, value));
  }
  RUNNEL_RETURN_IF_ERROR(options.Validate());
  return options;
}

absl::Status ConsumerOptions::Validate() const {
  RUNNEL_RETURN_IF_ERROR(client.Validate());
  if (assignment_strategies.empty()) {
    return absl::InvalidArgumentError("partition.assignment.strategy names no assignor");
  }
  if (heartbeat_interval <= absl::ZeroDuration() || heartbeat_interval >= session_timeout) {
    return absl::InvalidArgumentError(
        "heartbeat.interval.ms must be positive and below session.timeout.ms");
  }
  if (max_poll_records < 1 || fetch_min_bytes < 1 || max_partition_fetch_bytes < 1 ||
      fetch_max_bytes < 1 || queued_max_bytes < 1) {
    return absl::InvalidArgumentError(
        "max.poll.records and the fetch sizes must be positive");
  }
  if (group_instance_id && group_id.empty()) {
    return absl::InvalidArgumentError("group.instance.id needs a group.id");
  }
  return absl::OkStatus();
}

}  // namespace runnel
