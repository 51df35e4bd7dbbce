// The consumer's watch over assigned partitions that do not exist (issue 5),
// whose offsets cannot be looked up: logged at warn once when the metadata
// or an OffsetFetch answer first says so, then every 30 s with the retries
// so far, and at info when it appears; reported once by Poll (librdkafka's
// consumer error event); retried by a metadata refresh once a second.
//
// The watch only marks a partition `missing` and clears the mark when it
// appears; InitPositions and ResetOffsets (consumer_fetch.cc) decide for
// themselves to ask nothing for a missing one, so that the warning is
// logged once instead of at every retry.
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "client/consumer_impl.h"
#include "runnel/protocol/error_code.h"

namespace runnel::client {

using protocol::ErrorCode;

bool PartitionMissing(const ClusterMetadata& md, const TopicPartition& tp) {
  const TopicMetadata* t = md.FindTopic(tp.topic);
  return t != nullptr && t->error == ErrorCode::kNone &&
         (tp.partition < 0 || tp.partition >= static_cast<int32_t>(t->partitions.size()));
}

namespace {

std::string Seconds(absl::Duration d) { return std::to_string(absl::ToInt64Seconds(d)); }

}  // namespace

bool ConsumerImpl::Watched(const TopicPartition& tp) const {
  auto a = assigned_.find(tp);
  return a != assigned_.end() && a->second.missing;
}

bool ConsumerImpl::NoteMissing(const TopicPartition& tp, PartitionState& ps, absl::Time now) {
  ps.missing = true;
  if (!missing_.emplace(tp, MissingPartition{now, now}).second) return false;
  missing_to_report_.push_back(tp);
  cv_.SignalAll();
  return true;
}

void ConsumerImpl::WarnMissing(const TopicPartition& tp) {
  bool tick;
  {
    absl::MutexLock l(&mu_);
    tick = !missing_tick_scheduled_;
    missing_tick_scheduled_ = true;
  }
  if (tick) core_->PostAfter(absl::Seconds(1), [this] { MissingPartitionsTick(); });
  RUNNEL_CLIENT_LOG(log_, kWarn, "assigned partition does not exist",
                    {{"topic", tp.topic},
                     {"partition", std::to_string(tp.partition)},
                     {"error", "UNKNOWN_TOPIC_OR_PARTITION"},
                     {"retry_ms", "1000"}});
}

void ConsumerImpl::WatchMissingPartitions(const ClusterMetadata& md) {
  struct Appeared {
    TopicPartition tp;
    MissingPartition was;
  };
  std::vector<Appeared> appeared;
  std::vector<TopicPartition> started;
  const absl::Time now = absl::Now();
  {
    absl::MutexLock l(&mu_);
    if (closed_) return;
    // Unassigned since, or given a position by Seek: no longer watched.
    for (auto it = missing_.begin(); it != missing_.end();) {
      it = Watched(it->first) ? std::next(it) : missing_.erase(it);
    }
    for (auto& [tp, ps] : assigned_) {
      if (ps.position >= 0) continue;
      if (!PartitionMissing(md, tp)) {
        auto it = missing_.find(tp);
        if (it == missing_.end()) continue;
        appeared.push_back({tp, it->second});
        missing_.erase(it);
        // InitPositions looks it up, unless a lookup is still in flight
        // (`resetting`): that one's answer is taken as any other.
        ps.missing = false;
        continue;
      }
      if (NoteMissing(tp, ps, now)) started.push_back(tp);
    }
  }
  for (const auto& tp : started) WarnMissing(tp);
  for (const auto& [tp, was] : appeared) {
    RUNNEL_CLIENT_LOG(log_, kInfo, "assigned partition appeared",
                      {{"topic", tp.topic},
                       {"partition", std::to_string(tp.partition)},
                       {"missing_s", Seconds(now - was.since)},
                       {"retries", std::to_string(was.retries)}});
  }
  if (!appeared.empty()) core_->Post([this] { InitPositions(); });
}

void ConsumerImpl::MissingPartitionsTick() {
  std::vector<std::pair<TopicPartition, MissingPartition>> warn;
  const absl::Time now = absl::Now();
  {
    absl::MutexLock l(&mu_);
    missing_tick_scheduled_ = false;
    if (closed_ || missing_.empty()) return;
    for (auto& [tp, m] : missing_) {
      ++m.retries;
      if (now - m.warned >= kMissingPartitionWarnInterval) {
        m.warned = now;
        warn.emplace_back(tp, m);
      }
    }
    missing_tick_scheduled_ = true;
  }
  for (const auto& [tp, m] : warn) {
    RUNNEL_CLIENT_LOG(log_, kWarn, "assigned partition still does not exist",
                      {{"topic", tp.topic},
                       {"partition", std::to_string(tp.partition)},
                       {"error", "UNKNOWN_TOPIC_OR_PARTITION"},
                       {"missing_s", Seconds(now - m.since)},
                       {"retries", std::to_string(m.retries)}});
  }
  // The snapshot this asks for is watched by the metadata listener.
  core_->RequestMetadataRefresh();
  core_->PostAfter(absl::Seconds(1), [this] { MissingPartitionsTick(); });
}

}  // namespace runnel::client
