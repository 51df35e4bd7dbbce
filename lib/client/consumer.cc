// The Consumer's public calls; the group protocol, fetching and offset
// requests are in consumer_group.cc, consumer_fetch.cc, consumer_offsets.cc.
#include "runnel/consumer.h"

#include <future>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/consumer_impl.h"
#include "runnel/common/status_macros.h"
#include "runnel/protocol/error_code.h"

namespace runnel {

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(const ConsumerOptions& options) {
  RUNNEL_RETURN_IF_ERROR(options.Validate());
  std::vector<std::unique_ptr<client::group::Assignor>> assignors;
  for (const auto& name : options.assignment_strategies) {
    RUNNEL_ASSIGN_OR_RETURN(auto a, client::group::MakeAssignor(name));
    assignors.push_back(std::move(a));
  }
  RUNNEL_ASSIGN_OR_RETURN(auto core, client::ClientCore::Create(options.client));
  RUNNEL_ASSIGN_OR_RETURN(auto group_core, client::ClientCore::Create(options.client));
  return std::unique_ptr<Consumer>(new client::ConsumerImpl(
      options, std::move(core), std::move(group_core), std::move(assignors)));
}

namespace {
// Where a Poll error about one partition keeps the partition ("7:orders").
constexpr char kPartitionPayloadUrl[] = "type.runnel.dev/runnel.PollErrorPartition";
}  // namespace

std::optional<TopicPartition> PollErrorPartition(const absl::Status& status) {
  auto payload = status.GetPayload(kPartitionPayloadUrl);  // absl::optional in this Abseil
  if (!payload.has_value()) return std::nullopt;
  const std::string text(*payload);
  const size_t colon = text.find(':');
  TopicPartition tp;
  if (colon == std::string::npos || !absl::SimpleAtoi(text.substr(0, colon), &tp.partition)) {
    return std::nullopt;
  }
  tp.topic = text.substr(colon + 1);
  return tp;
}

namespace client {
namespace {

// Poll's report of an assigned partition that does not exist.
absl::Status MissingPartitionError(const TopicPartition& tp) {
  absl::Status s = protocol::ErrorCodeToStatus(
      protocol::ErrorCode::kUnknownTopicOrPartition,
      absl::StrCat("assigned partition ", tp.topic, "-", tp.partition,
                   " does not exist (retried; the other partitions go on)"));
  s.SetPayload(kPartitionPayloadUrl, absl::Cord(absl::StrCat(tp.partition, ":", tp.topic)));
  return s;
}

}  // namespace
}  // namespace client

}  // namespace runnel

namespace runnel::client {
namespace {

// Waits for a callback's result until `deadline`.
template <typename T>
struct Waiter {
  std::shared_ptr<std::promise<T>> promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  auto Callback() {
    return [p = promise](T v) { p->set_value(std::move(v)); };
  }
  std::optional<T> Wait(absl::Time deadline) {
    if (future.wait_until(absl::ToChronoTime(deadline)) != std::future_status::ready) {
      return std::nullopt;
    }
    return future.get();
  }
};

absl::Status TimedOut(std::string_view what) {
  return absl::DeadlineExceededError(absl::StrCat(std::string(what), " timed out"));
}

}  // namespace

ConsumerImpl::ConsumerImpl(const ConsumerOptions& options, std::unique_ptr<ClientCore> core,
                           std::unique_ptr<ClientCore> group_core,
                           std::vector<std::unique_ptr<group::Assignor>> assignors)
    : options_(options),
      core_(std::move(core)),
      group_core_(std::move(group_core)),
      assignors_(std::move(assignors)) {
  metadata_listener_ =
      core_->AddMetadataListener([this](const std::shared_ptr<const ClusterMetadata>& md) {
        OnMetadata(md);
        WatchMissingPartitions(*md);
      });
  if (options_.enable_auto_commit && !options_.group_id.empty()) ScheduleAutoCommit();
}

ConsumerImpl::~ConsumerImpl() {
  bool closed;
  {
    absl::MutexLock l(&mu_);
    closed = closed_;
  }
  if (!closed) Close(absl::Seconds(10)).IgnoreError();
  group_core_->Shutdown(absl::Now());
  core_->Shutdown(absl::Now());
}

absl::Status ConsumerImpl::CheckOpen() const {
  if (closed_) return absl::FailedPreconditionError("the consumer is closed");
  return absl::OkStatus();
}

absl::Status ConsumerImpl::Subscribe(const std::vector<std::string>& topics,
                                     RebalanceListener* listener) {
  {
    absl::MutexLock l(&mu_);
    RUNNEL_RETURN_IF_ERROR(CheckOpen());
    if (options_.group_id.empty()) {
      return absl::FailedPreconditionError("Subscribe needs a group.id");
    }
    if (!subscribed_) {
      queued_bytes_ = 0;
      assigned_.clear();  // a manual assignment ends
    }
    topics_ = topics;
    pattern_.reset();
    listener_ = listener;
    subscribed_ = true;
    ++subscription_version_;
  }
  core_->AddTopics(topics);
  RequestRejoin();
  return absl::OkStatus();
}

absl::Status ConsumerImpl::SubscribePattern(const std::string& regex,
                                            RebalanceListener* listener) {
  std::optional<std::regex> re;
  try {
    re.emplace(regex, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("bad topic pattern '", regex, "': ", e.what()));
  }
  {
    absl::MutexLock l(&mu_);
    RUNNEL_RETURN_IF_ERROR(CheckOpen());
    if (options_.group_id.empty()) {
      return absl::FailedPreconditionError("Subscribe needs a group.id");
    }
    if (!subscribed_) {
      queued_bytes_ = 0;
      assigned_.clear();
    }
    topics_.clear();
    pattern_ = std::move(re);
    metadata_at_subscribe_ = core_->metadata();
    listener_ = listener;
    subscribed_ = true;
    ++subscription_version_;
  }
  core_->SetAllTopics(true);
  core_->RequestMetadataRefresh();
  RequestRejoin();
  return absl::OkStatus();
}

absl::Status ConsumerImpl::Unsubscribe() {
  std::vector<TopicPartition> all;
  RebalanceListener* listener;
  TopicPartitionOffsets offsets;
  {
    absl::MutexLock l(&mu_);
    RUNNEL_RETURN_IF_ERROR(CheckOpen());
    subscribed_ = false;
    events_.clear();  // a rebalance in progress no longer matters
    for (const auto& [tp, ps] : assigned_) all.push_back(tp);
    listener = listener_;
  }
  if (listener != nullptr && !all.empty()) listener->OnPartitionsRevoked(all);
  {
    absl::MutexLock l(&mu_);
    if (options_.enable_auto_commit) offsets = UncommittedPositions(nullptr);
  }
  absl::Status committed = Commit(offsets, options_.client.request_timeout);
  {
    absl::MutexLock l(&mu_);
    assigned_.clear();
    queued_bytes_ = 0;
  }
  LeaveGroup(absl::Now() + options_.client.request_timeout);
  absl::MutexLock l(&mu_);
  group_state_ = GroupState::kIdle;
  ++session_;
  return committed;
}

void ConsumerImpl::SetAssignment(const std::vector<TopicPartition>& tps) {
  std::map<TopicPartition, PartitionState> next;
  for (const auto& tp : tps) {
    auto it = assigned_.find(tp);
    if (it != assigned_.end()) {
      next[tp] = std::move(it->second);
    } else {
      next[tp].epoch = ++epoch_counter_;
    }
  }
  queued_bytes_ = 0;
  for (const auto& [tp, ps] : next) queued_bytes_ += ps.buffered_bytes;
  // A missing partition assigned again later is a new case, reported again.
  for (auto it = missing_.begin(); it != missing_.end();) {
    it = next.count(it->first) ? std::next(it) : missing_.erase(it);
  }
  assigned_ = std::move(next);
}

absl::Status ConsumerImpl::Assign(const std::vector<TopicPartition>& partitions) {
  std::vector<std::string> topics;
  {
    absl::MutexLock l(&mu_);
    RUNNEL_RETURN_IF_ERROR(CheckOpen());
    if (subscribed_) {
      return absl::FailedPreconditionError("Assign while subscribed: Unsubscribe first");
    }
    SetAssignment(partitions);
    for (const auto& tp : partitions) topics.push_back(tp.topic);
  }
  // Partitions the metadata already says do not exist are marked missing
  // before InitPositions would look them up.
  WatchMissingPartitions(*core_->metadata());
  core_->AddTopics(topics);
  core_->Post([this] { InitPositions(); });
  PumpSoon();
  return absl::OkStatus();
}

std::vector<TopicPartition> ConsumerImpl::Assignment() const {
  absl::MutexLock l(&mu_);
  std::vector<TopicPartition> out;
  for (const auto& [tp, ps] : assigned_) out.push_back(tp);
  return out;
}

absl::StatusOr<std::vector<ConsumerRecord>> ConsumerImpl::Poll(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<ConsumerRecord> out;
  absl::Status partition_error;  // one missing partition's report
  bool rejoin = false;
  mu_.Lock();
  last_poll_ = absl::Now();
  if (left_for_poll_timeout_) {
    left_for_poll_timeout_ = false;
    rejoin = true;
  }
  while (true) {
    if (closed_ || !fatal_.ok()) break;
    if (!events_.empty()) {
      Event e = std::move(events_.front());
      events_.pop_front();
      RebalanceListener* listener = listener_;
      mu_.Unlock();
      if (listener != nullptr) {
        switch (e.kind) {
          case EventKind::kAssigned: listener->OnPartitionsAssigned(e.partitions); break;
          case EventKind::kRevoked:
            if (!e.partitions.empty()) listener->OnPartitionsRevoked(e.partitions);
            break;
          case EventKind::kLost: listener->OnPartitionsLost(e.partitions); break;
        }
      }
      if (e.kind == EventKind::kRevoked) FinishRevocation(e.partitions, std::move(e.then));
      mu_.Lock();
      continue;
    }
    // An assigned partition that does not exist, once (still missing and
    // assigned): this Poll returns nothing else, the records wait for the
    // next.
    if (!missing_to_report_.empty()) {
      TopicPartition tp = std::move(missing_to_report_.front());
      missing_to_report_.pop_front();
      if (missing_.count(tp) == 0 || assigned_.count(tp) == 0) continue;
      partition_error = MissingPartitionError(tp);
      break;
    }
    // Round robin over partitions with records, so none starves.
    const size_t n = assigned_.size();
    auto it = assigned_.begin();
    if (n > 0) std::advance(it, poll_cursor_ % n);
    for (size_t i = 0; i < n && out.size() < static_cast<size_t>(options_.max_poll_records); ++i) {
      PartitionState& ps = it->second;
      while (!ps.buffered.empty() && !ps.paused &&
             out.size() < static_cast<size_t>(options_.max_poll_records)) {
        ConsumerRecord& r = ps.buffered.front();
        const int64_t bytes = RecordBytes(r);
        ps.position = r.offset + 1;
        out.push_back(std::move(r));
        ps.buffered.pop_front();
        ps.buffered_bytes -= bytes;
        queued_bytes_ -= bytes;
      }
      if (++it == assigned_.end()) it = assigned_.begin();
    }
    poll_cursor_++;
    if (!out.empty() || absl::Now() >= deadline) break;
    cv_.WaitWithDeadline(&mu_, deadline);
  }
  absl::Status status = closed_        ? absl::FailedPreconditionError("the consumer is closed")
                        : !fatal_.ok() ? fatal_
                                       : partition_error;
  mu_.Unlock();
  if (rejoin) RequestRejoin();
  if (!status.ok()) return status;
  if (!out.empty()) {
    {
      absl::MutexLock ml(&metrics_mu_);
      metrics_.records_consumed += static_cast<int64_t>(out.size());
    }
    PumpSoon();
  }
  return out;
}

absl::Status ConsumerImpl::Commit(absl::Duration timeout) {
  TopicPartitionOffsets offsets;
  {
    absl::MutexLock l(&mu_);
    RUNNEL_RETURN_IF_ERROR(CheckOpen());
    offsets = UncommittedPositions(nullptr);
  }
  return Commit(offsets, timeout);
}

absl::Status ConsumerImpl::Commit(const TopicPartitionOffsets& offsets, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  TopicPartitionOffsets pending = offsets;
  while (true) {
    Waiter<absl::Status> w;
    SendCommit(pending, w.Callback());
    auto r = w.Wait(deadline);
    if (!r) return TimedOut("commit");
    if (r->ok()) return *r;
    // A rebalance or a moving coordinator: try again (with the new
    // generation) while time is left, for partitions still ours.
    const auto ec = protocol::ErrorCodeFromStatus(*r);
    const bool retry = absl::IsUnavailable(*r) ||
                       (ec && (*ec == protocol::ErrorCode::kRebalanceInProgress ||
                               *ec == protocol::ErrorCode::kNotCoordinator ||
                               *ec == protocol::ErrorCode::kCoordinatorNotAvailable ||
                               *ec == protocol::ErrorCode::kCoordinatorLoadInProgress ||
                               *ec == protocol::ErrorCode::kRequestTimedOut));
    if (!retry || absl::Now() + options_.client.retry_backoff >= deadline) return *r;
    absl::SleepFor(options_.client.retry_backoff);
    absl::MutexLock l(&mu_);
    if (subscribed_) {
      for (auto it = pending.begin(); it != pending.end();) {
        it = assigned_.count(it->first) ? std::next(it) : pending.erase(it);
      }
    }
    if (pending.empty()) return absl::OkStatus();
  }
}

void ConsumerImpl::CommitAsync(CommitCallback done) {
  TopicPartitionOffsets offsets;
  {
    absl::MutexLock l(&mu_);
    offsets = UncommittedPositions(nullptr);
  }
  CommitAsync(offsets, std::move(done));
}

void ConsumerImpl::CommitAsync(const TopicPartitionOffsets& offsets, CommitCallback done) {
  SendCommit(offsets, [done = std::move(done)](absl::Status s) {
    if (done) done(s);
  });
}

absl::StatusOr<TopicPartitionOffsets> ConsumerImpl::Committed(
    const std::vector<TopicPartition>& partitions, absl::Duration timeout) {
  Waiter<absl::StatusOr<TopicPartitionOffsets>> w;
  SendOffsetFetch(partitions, w.Callback());
  auto r = w.Wait(absl::Now() + timeout);
  if (!r) return TimedOut("committed offsets");
  return *r;
}

absl::StatusOr<int64_t> ConsumerImpl::Position(const TopicPartition& tp, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  core_->Post([this] { InitPositions(); });
  absl::MutexLock l(&mu_);
  while (true) {
    RUNNEL_RETURN_IF_ERROR(CheckOpen());
    RUNNEL_RETURN_IF_ERROR(fatal_);
    auto it = assigned_.find(tp);
    if (it == assigned_.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat(tp.topic, "-", tp.partition, " is not assigned to this consumer"));
    }
    if (it->second.position >= 0) return it->second.position;
    if (cv_.WaitWithDeadline(&mu_, deadline)) return TimedOut("position");
  }
}

void ConsumerImpl::SetPosition(PartitionState& ps, int64_t offset) {
  ps.position = offset;
  ps.fetch_offset = offset;
  queued_bytes_ -= ps.buffered_bytes;
  ps.buffered.clear();
  ps.buffered_bytes = 0;
  ps.undecoded.reset();
  ps.undecoded_bytes = 0;
  ps.epoch = ++epoch_counter_;
  ps.reset_to.reset();
  ps.resetting = false;
  // A position ends the watch over a missing partition (nothing to look
  // up); SeekToListedOffset's -1 leaves one missing, reset once it appears.
  if (offset >= 0) ps.missing = false;
  cv_.SignalAll();
}

absl::Status ConsumerImpl::Seek(const TopicPartition& tp, int64_t offset) {
  {
    absl::MutexLock l(&mu_);
    RUNNEL_RETURN_IF_ERROR(CheckOpen());
    auto it = assigned_.find(tp);
    if (it == assigned_.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("Seek: ", tp.topic, "-", tp.partition, " is not assigned"));
    }
    SetPosition(it->second, offset);
  }
  PumpSoon();
  return absl::OkStatus();
}

absl::Status ConsumerImpl::SeekToBeginning(const std::vector<TopicPartition>& partitions) {
  return SeekToListedOffset(partitions, -2);
}

absl::Status ConsumerImpl::SeekToEnd(const std::vector<TopicPartition>& partitions) {
  return SeekToListedOffset(partitions, -1);
}

absl::Status ConsumerImpl::SeekToListedOffset(const std::vector<TopicPartition>& partitions,
                                              int64_t timestamp) {
  {
    absl::MutexLock l(&mu_);
    RUNNEL_RETURN_IF_ERROR(CheckOpen());
    for (const auto& tp : partitions) {
      auto it = assigned_.find(tp);
      if (it == assigned_.end()) continue;  // as Kafka: unassigned ones are ignored
      SetPosition(it->second, -1);
      it->second.reset_to = timestamp;
    }
  }
  // The position is unknown until the I/O thread's ListOffsets answers.
  core_->Post([this] { InitPositions(); });
  return absl::OkStatus();
}

absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> ConsumerImpl::OffsetsForTimes(
    const std::map<TopicPartition, int64_t>& timestamps, absl::Duration timeout) {
  Waiter<absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>>> w;
  SendListOffsets(timestamps, w.Callback());
  auto r = w.Wait(absl::Now() + timeout);
  if (!r) return TimedOut("offsets for times");
  return *r;
}

absl::StatusOr<std::pair<int64_t, int64_t>> ConsumerImpl::WatermarkOffsets(
    const TopicPartition& tp, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  {
    // A partition fetched lately: what its latest fetch answer said. Asking
    // the leader would wait behind the fetch it holds on this connection.
    absl::MutexLock l(&mu_);
    RUNNEL_RETURN_IF_ERROR(CheckOpen());
    auto it = assigned_.find(tp);
    if (it != assigned_.end()) {
      const PartitionState& ps = it->second;
      if (ps.log_start_offset >= 0 && ps.end_offset >= 0 &&
          absl::Now() - ps.watermarks_at < options_.fetch_max_wait) {
        return std::make_pair(ps.log_start_offset, ps.end_offset);
      }
    }
  }
  // Both lookups at once.
  using Offsets = absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>>;
  Waiter<Offsets> first, next;
  SendListOffsets({{tp, -2}}, first.Callback());
  SendListOffsets({{tp, -1}}, next.Callback());
  std::pair<int64_t, int64_t> out;
  for (auto [w, v] : {std::pair{&first, &out.first}, std::pair{&next, &out.second}}) {
    auto r = w->Wait(deadline);
    if (!r) return TimedOut("watermark offsets");
    if (!r->ok()) return r->status();
    auto o = (*r)->find(tp);
    *v = (o != (*r)->end() && o->second) ? *o->second : -1;
  }
  return out;
}

void ConsumerImpl::Pause(const std::vector<TopicPartition>& partitions) {
  absl::MutexLock l(&mu_);
  for (const auto& tp : partitions) {
    auto it = assigned_.find(tp);
    if (it != assigned_.end()) it->second.paused = true;
  }
}

void ConsumerImpl::Resume(const std::vector<TopicPartition>& partitions) {
  {
    absl::MutexLock l(&mu_);
    for (const auto& tp : partitions) {
      auto it = assigned_.find(tp);
      if (it != assigned_.end()) it->second.paused = false;
    }
  }
  PumpSoon();
}

std::vector<TopicPartition> ConsumerImpl::Paused() const {
  absl::MutexLock l(&mu_);
  std::vector<TopicPartition> out;
  for (const auto& [tp, ps] : assigned_) {
    if (ps.paused) out.push_back(tp);
  }
  return out;
}

std::pair<std::string, int32_t> ConsumerImpl::GroupMember() const {
  absl::MutexLock l(&mu_);
  return {member_id_, generation_};
}

ConsumerMetrics ConsumerImpl::metrics() const {
  ConsumerMetrics m;
  {
    absl::MutexLock ml(&metrics_mu_);
    m = metrics_;
  }
  absl::MutexLock l(&mu_);
  m.queued_bytes = queued_bytes_;
  for (const auto& [tp, ps] : assigned_) {
    if (ps.position >= 0 && ps.high_watermark >= 0) m.lag[tp] = ps.high_watermark - ps.position;
  }
  return m;
}

absl::Status ConsumerImpl::Close(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  TopicPartitionOffsets offsets;
  std::vector<TopicPartition> all;
  {
    absl::MutexLock l(&mu_);
    RUNNEL_RETURN_IF_ERROR(CheckOpen());
    if (options_.enable_auto_commit) offsets = UncommittedPositions(nullptr);
    // Revoked partitions whose commit failed (consumer_group.cc).
    for (const auto& [tp, o] : unreleased_) offsets.try_emplace(tp, OffsetAndMetadata{o, "", -1});
    subscribed_ = false;  // no more joins
    ++session_;           // no more heartbeats
  }
  absl::Status status;
  if (!offsets.empty()) {
    // Three quarters of the time for the commit (retried through a
    // rebalance), the rest for leaving.
    status = CommitAtClose(offsets, absl::Now() + (deadline - absl::Now()) * 3 / 4);
  }
  LeaveGroup(deadline);
  {
    absl::MutexLock l(&mu_);
    closed_ = true;
    cv_.SignalAll();
  }
  core_->RemoveMetadataListener(metadata_listener_);
  group_core_->Shutdown(deadline);
  core_->Shutdown(deadline);
  return status;
}

}  // namespace runnel::client
