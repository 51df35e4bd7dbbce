// The consumer's offset requests: OffsetCommit and OffsetFetch to the group
// coordinator, ListOffsets to each partition's leader. Called from any
// thread; callbacks run on the I/O thread.
#include <algorithm>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/consumer_impl.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/list_offsets.h"
#include "runnel/protocol/messages/offset_commit.h"
#include "runnel/protocol/messages/offset_fetch.h"

namespace runnel::client {

using protocol::ErrorCode;

TopicPartitionOffsets ConsumerImpl::UncommittedPositions(
    const std::vector<TopicPartition>* only) const {
  TopicPartitionOffsets out;
  for (const auto& [tp, ps] : assigned_) {
    if (ps.position < 0) continue;
    if (only != nullptr && std::find(only->begin(), only->end(), tp) == only->end()) continue;
    auto it = last_committed_.find(tp);
    if (it != last_committed_.end() && it->second == ps.position) continue;
    out[tp] = OffsetAndMetadata{ps.position, "", -1};
  }
  return out;
}

void ConsumerImpl::SendCommit(const TopicPartitionOffsets& offsets, Done done) {
  if (offsets.empty()) return done(absl::OkStatus());
  if (options_.group_id.empty()) {
    return done(absl::FailedPreconditionError("commit needs a group.id"));
  }
  {
    absl::MutexLock l(&mu_);
    if (rebalancing_ && subscribed_) {
      return done(protocol::ErrorCodeToStatus(ErrorCode::kRebalanceInProgress,
                                              "commit while the group rebalances"));
    }
  }
  FindCoordinator([this, offsets, done = std::move(done)](
                      absl::StatusOr<int32_t> coordinator) mutable {
    if (!coordinator.ok()) return done(coordinator.status());
    protocol::OffsetCommitRequest req;
    req.group_id = options_.group_id;
    {
      absl::MutexLock l(&mu_);
      // Inside the group a commit names the generation, so a member that
      // missed a rebalance cannot overwrite its successor's offsets. Also
      // while it rejoins: the coordinator takes the last generation's
      // commits until the new one is formed (Kafka's PreparingRebalance),
      // which is when a closing member or a revocation commits.
      if (!member_id_.empty() && generation_ >= 0 &&
          (group_state_ == GroupState::kStable || group_state_ == GroupState::kJoining)) {
        req.generation_id_or_member_epoch = generation_;
        req.member_id = member_id_;
        req.group_instance_id = options_.group_instance_id;
      }
    }
    for (const auto& [tp, om] : offsets) {
      if (req.topics.empty() || req.topics.back().name != tp.topic) {
        req.topics.emplace_back();
        req.topics.back().name = tp.topic;
      }
      auto& p = req.topics.back().partitions.emplace_back();
      p.partition_index = tp.partition;
      p.committed_offset = om.offset;
      p.committed_leader_epoch = om.leader_epoch;
      p.committed_metadata.emplace(om.metadata);
    }
    if (log_.DebugEnabled(ClientDebugContext::kCgrp)) {
      std::string text;
      for (const auto& [tp, om] : offsets) {
        absl::StrAppend(&text, text.empty() ? "" : " ", tp.topic, "-", tp.partition, "@",
                        om.offset);
      }
      log_.Debug(ClientDebugContext::kCgrp, "OffsetCommit",
                 {{"group", options_.group_id},
                  {"generation", std::to_string(req.generation_id_or_member_epoch)},
                  {"offsets", text}});
    }
    group_core_->Send<protocol::OffsetCommitResponse>(
        Target::Node(*coordinator), std::move(req),
        [this, offsets, done = std::move(done)](
            absl::StatusOr<Reply<protocol::OffsetCommitResponse>> reply) mutable {
          if (!reply.ok()) {
            RUNNEL_CLIENT_LOG(log_, kInfo, "OffsetCommit failed",
                              {{"group", options_.group_id}, {"error", reply.status().ToString()}});
            absl::MutexLock l(&mu_);
            coordinator_.reset();
            return done(reply.status());
          }
          absl::Status first;
          absl::MutexLock l(&mu_);
          for (const auto& t : reply->response.topics) {
            for (const auto& p : t.partitions) {
              const auto ec = static_cast<ErrorCode>(p.error_code);
              const TopicPartition tp{t.name, p.partition_index};
              if (ec == ErrorCode::kNone) {
                auto it = offsets.find(tp);
                if (it != offsets.end()) last_committed_[tp] = it->second.offset;
                continue;
              }
              if (ec == ErrorCode::kNotCoordinator || ec == ErrorCode::kCoordinatorNotAvailable) {
                coordinator_.reset();
              }
              // A rebalance the commit ran into is the heartbeat's to
              // notice; rejoining from here would restart the rebalance
              // that is under way, over and over.
              if (first.ok()) {
                first = protocol::ErrorCodeToStatus(
                    ec, absl::StrCat("commit ", t.name, "-", p.partition_index));
              }
            }
          }
          if (first.ok()) {
            absl::MutexLock ml(&metrics_mu_);
            ++metrics_.commits;
          }
          mu_.Unlock();
          if (first.ok()) {
            RUNNEL_CLIENT_DEBUG(log_, kCgrp, "OffsetCommit done", {{"group", options_.group_id}});
          } else {
            RUNNEL_CLIENT_LOG(log_, kInfo, "OffsetCommit failed",
                              {{"group", options_.group_id}, {"error", first.ToString()}});
          }
          done(first);
          mu_.Lock();
        });
  });
}

absl::Status ConsumerImpl::CommitAtClose(const TopicPartitionOffsets& offsets,
                                         absl::Time deadline) {
  absl::Status last = absl::DeadlineExceededError("commit at close timed out");
  while (true) {
    auto promise = std::make_shared<std::promise<absl::Status>>();
    std::future<absl::Status> result = promise->get_future();
    SendCommit(offsets, [promise](absl::Status s) { promise->set_value(std::move(s)); });
    if (result.wait_until(absl::ToChronoTime(deadline)) != std::future_status::ready) {
      return absl::DeadlineExceededError(
          absl::StrCat("commit at close timed out (last attempt: ", last.ToString(), ")"));
    }
    last = result.get();
    if (last.ok()) return last;
    const auto ec = protocol::ErrorCodeFromStatus(last);
    bool retry = !ec.has_value() ||  // the connection or the request failed
                 *ec == ErrorCode::kRebalanceInProgress || *ec == ErrorCode::kNotCoordinator ||
                 *ec == ErrorCode::kCoordinatorNotAvailable ||
                 *ec == ErrorCode::kCoordinatorLoadInProgress ||
                 *ec == ErrorCode::kRequestTimedOut || protocol::IsRetriable(*ec);
    if (!retry && (*ec == ErrorCode::kIllegalGeneration || *ec == ErrorCode::kUnknownMemberId)) {
      // A join under way brings the generation the coordinator now has;
      // without one, the group moved on without this member and its
      // partitions are someone else's: the commit must not happen.
      absl::MutexLock l(&mu_);
      retry = join_in_flight_ && !member_id_.empty();
    }
    if (!retry) return last;
    const absl::Duration backoff = options_.client.retry_backoff;
    if (absl::Now() + backoff >= deadline) return last;
    RUNNEL_CLIENT_DEBUG(log_, kCgrp, "commit at close retried",
                        {{"group", options_.group_id}, {"error", last.ToString()}});
    absl::SleepFor(backoff);
  }
}

void ConsumerImpl::SendOffsetFetch(
    const std::vector<TopicPartition>& tps,
    absl::AnyInvocable<void(absl::StatusOr<TopicPartitionOffsets>)> done,
    std::shared_ptr<std::map<TopicPartition, absl::Status>> partition_errors) {
  if (options_.group_id.empty()) return done(TopicPartitionOffsets{});
  FindCoordinator([this, tps, done = std::move(done), partition_errors](
                      absl::StatusOr<int32_t> coordinator) mutable {
    if (!coordinator.ok()) return done(coordinator.status());
    protocol::OffsetFetchRequest req;
    req.group_id = options_.group_id;
    req.require_stable = true;
    auto& g = req.groups.emplace_back();
    g.group_id = options_.group_id;
    g.topics.emplace();
    std::map<std::string, std::vector<int32_t>> by_topic;
    for (const auto& tp : tps) by_topic[tp.topic].push_back(tp.partition);
    req.topics.emplace();
    for (const auto& [topic, parts] : by_topic) {
      auto& t = req.topics->emplace_back();
      t.name = topic;
      t.partition_indexes = parts;
      auto& t8 = g.topics->emplace_back();
      t8.name = topic;
      t8.partition_indexes = parts;
    }
    group_core_->Send<protocol::OffsetFetchResponse>(
        Target::Node(*coordinator), std::move(req),
        [this, done = std::move(done), partition_errors](
            absl::StatusOr<Reply<protocol::OffsetFetchResponse>> reply) mutable {
          if (!reply.ok()) return done(reply.status());
          const auto& r = reply->response;
          TopicPartitionOffsets out;
          auto take = [&](const std::string& topic, int32_t partition, int64_t offset,
                          int32_t epoch, const std::optional<std::string>& md,
                          int16_t error) -> absl::Status {
            if (error != 0) {
              auto s = protocol::ErrorCodeToStatus(
                  static_cast<ErrorCode>(error),
                  absl::StrCat("offset fetch ", topic, "-", partition));
              if (partition_errors == nullptr) return s;
              (*partition_errors)[{topic, partition}] = std::move(s);
              return absl::OkStatus();
            }
            if (offset >= 0) out[{topic, partition}] = {offset, md.value_or(""), epoch};
            return absl::OkStatus();
          };
          int16_t top_error = r.error_code;
          absl::Status s;
          if (reply->api_version >= 8) {
            for (const auto& gr : r.groups) {
              if (gr.error_code != 0) top_error = gr.error_code;
              for (const auto& t : gr.topics) {
                for (const auto& p : t.partitions) {
                  auto ps = take(t.name, p.partition_index, p.committed_offset,
                                 p.committed_leader_epoch, p.metadata, p.error_code);
                  if (s.ok()) s = ps;
                }
              }
            }
          } else {
            for (const auto& t : r.topics) {
              for (const auto& p : t.partitions) {
                auto ps = take(t.name, p.partition_index, p.committed_offset,
                               p.committed_leader_epoch, p.metadata, p.error_code);
                if (s.ok()) s = ps;
              }
            }
          }
          if (top_error != 0) {
            const auto ec = static_cast<ErrorCode>(top_error);
            if (ec == ErrorCode::kNotCoordinator || ec == ErrorCode::kCoordinatorNotAvailable) {
              absl::MutexLock l(&mu_);
              coordinator_.reset();
            }
            return done(protocol::ErrorCodeToStatus(ec, "offset fetch"));
          }
          if (!s.ok()) return done(s);
          done(std::move(out));
        });
  });
}

void ConsumerImpl::SendListOffsets(
    const std::map<TopicPartition, int64_t>& query,
    absl::AnyInvocable<void(absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>>)>
        done) {
  struct Gather {
    size_t pending = 0;
    absl::Status status;
    std::map<TopicPartition, std::optional<int64_t>> out;
    absl::AnyInvocable<void(absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>>)>
        done;
  };
  if (query.empty()) return done(std::map<TopicPartition, std::optional<int64_t>>{});
  auto gather = std::make_shared<Gather>();
  gather->pending = query.size();
  gather->done = std::move(done);
  // One request per partition: each goes to its own leader, and these are
  // rare (start-up, resets, OffsetsForTimes).
  for (const auto& [tp, ts] : query) {
    protocol::ListOffsetsRequest req;
    req.replica_id = -1;
    req.isolation_level = static_cast<int8_t>(options_.isolation_level);
    auto& t = req.topics.emplace_back();
    t.name = tp.topic;
    auto& p = t.partitions.emplace_back();
    p.partition_index = tp.partition;
    p.timestamp = ts;
    // v1-3 carry all we read (offset, timestamp, isolation level); v4+ add
    // leader epochs we do not use, and librdkafka 2.0's mock cluster, our
    // independent test broker, answers v5 with 4 bytes too many.
    RequestOptions ro;
    ro.max_version = 3;
    core_->Send<protocol::ListOffsetsResponse>(
        Target::LeaderOf(tp.topic, tp.partition), std::move(req),
        [this, gather, tp = tp](absl::StatusOr<Reply<protocol::ListOffsetsResponse>> reply) {
          if (!reply.ok()) {
            if (gather->status.ok()) gather->status = reply.status();
          } else {
            for (const auto& t : reply->response.topics) {
              for (const auto& p : t.partitions) {
                const auto ec = static_cast<ErrorCode>(p.error_code);
                if (ec != ErrorCode::kNone) {
                  if (ec == ErrorCode::kNotLeaderOrFollower ||
                      ec == ErrorCode::kUnknownTopicOrPartition) {
                    core_->RequestMetadataRefresh();
                  }
                  if (gather->status.ok()) {
                    gather->status = protocol::ErrorCodeToStatus(
                        ec, absl::StrCat("list offsets ", t.name, "-", p.partition_index));
                  }
                  continue;
                }
                gather->out[tp] =
                    p.offset >= 0 ? std::optional<int64_t>(p.offset) : std::nullopt;
              }
            }
          }
          if (--gather->pending == 0) {
            if (!gather->status.ok()) return gather->done(gather->status);
            gather->done(std::move(gather->out));
          }
        },
        ro);
  }
}

}  // namespace runnel::client
