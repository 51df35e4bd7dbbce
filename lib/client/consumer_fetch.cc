// Fetching, on the I/O thread: one Fetch in flight per leader at a time,
// covering every assigned, unpaused partition with a known position whose
// prefetched bytes are under max.partition.fetch.bytes, while all prefetched
// bytes stay under queued_max_bytes. Answers become ConsumerRecords queued per
// partition for Poll; errors back off by retry.backoff.ms (refreshing the
// metadata when the leader moved) or reset the offset (OFFSET_OUT_OF_RANGE).
//
// read_committed: the broker stops at the last stable offset and lists the
// aborted transactions in range; a transactional batch of a producer with an
// open aborted transaction is skipped until that producer's abort marker.
#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/consumer_impl.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/fetch.h"
#include "runnel/protocol/record_batch.h"

namespace runnel::client {

using protocol::ErrorCode;

namespace {

std::optional<std::string> Copy(const protocol::NullableBytes& b) {
  if (b.is_null()) return std::nullopt;
  return std::string(b.str());
}

// One partition's share of a fetch answer, decoded off the consumer's lock:
// the records from `fetch_offset` on not yet handed to the partition's
// buffer, and where the next fetch starts.
struct DecodedPartition {
  TopicPartition tp;
  uint64_t epoch = 0;       // the partition's epoch when the fetch was sent
  int64_t fetch_offset = 0;  // in: the offset asked for; out: the next to ask for
  const protocol::FetchResponse::PartitionData* data = nullptr;
  std::vector<ConsumerRecord> records;
  int64_t bytes = 0;  // RecordBytes of `records`
  absl::Status error;  // a corrupt batch (DataLoss): records before it are kept
};

// Walks the batches of d.data: skips what lies before fetch_offset, control
// batches and (read_committed) batches of aborted transactions, and copies
// every other record into d.records. Whenever a whole batch leaves at least
// `publish_every` records there, calls `publish` (which empties d.records),
// so that Poll can start on a large answer (a compressed one inflates to
// many times max.partition.fetch.bytes) before all of it is decoded; stops
// when `publish` returns false (the partition was revoked or sought).
void DecodeRecords(DecodedPartition& d, bool read_committed, bool check_crcs,
                   size_t publish_every,
                   const std::function<bool(DecodedPartition&)>& publish) {
  const auto& p = *d.data;
  // Aborted transactions in range, by first offset.
  std::multimap<int64_t, int64_t> aborted;  // first offset -> producer id
  if (read_committed && p.aborted_transactions) {
    for (const auto& a : *p.aborted_transactions) aborted.emplace(a.first_offset, a.producer_id);
  }
  std::set<int64_t> open_aborts;
  protocol::RecordBatchReaderOptions ro;
  ro.verify_crc = check_crcs;
  protocol::RecordBatchReader reader(*p.records, ro);
  while (reader.NextBatch()) {
    const auto& h = reader.header();
    while (!aborted.empty() && aborted.begin()->first <= h.last_offset()) {
      open_aborts.insert(aborted.begin()->second);
      aborted.erase(aborted.begin());
    }
    if (h.last_offset() < d.fetch_offset) continue;
    if (h.is_control()) {
      if (reader.NextRecord()) {
        auto cr = protocol::ParseControlRecord(reader.record());
        if (cr.ok() && cr->type == protocol::ControlRecordType::kAbort) {
          open_aborts.erase(h.producer_id);
        }
      }
      d.fetch_offset = h.last_offset() + 1;
      continue;
    }
    if (h.is_transactional() && open_aborts.count(h.producer_id)) {
      d.fetch_offset = h.last_offset() + 1;
      continue;
    }
    const bool log_append_time = h.timestamp_type() == protocol::TimestampType::kLogAppendTime;
    if (h.record_count > 0) d.records.reserve(d.records.size() + h.record_count);
    while (reader.NextRecord()) {
      const auto& r = reader.record();
      if (r.offset < d.fetch_offset) continue;
      ConsumerRecord& cr = d.records.emplace_back();
      cr.topic = d.tp.topic;
      cr.partition = d.tp.partition;
      cr.offset = r.offset;
      cr.timestamp_ms = r.timestamp;
      cr.log_append_time = log_append_time;
      cr.leader_epoch = h.partition_leader_epoch;
      if (!r.key.is_null()) cr.key.emplace(r.key.str());
      if (!r.value.is_null()) cr.value.emplace(r.value.str());
      if (!r.headers.empty()) {
        for (const auto& hd : r.headers) {
          cr.headers.emplace_back(std::string(hd.key), Copy(hd.value));
        }
      }
      d.bytes += RecordBytes(cr);
    }
    if (!reader.status().ok()) break;
    d.fetch_offset = h.last_offset() + 1;
    if (d.records.size() >= publish_every && !publish(d)) return;
  }
  if (!reader.status().ok()) {
    d.error = absl::DataLossError(absl::StrCat("fetch of ", d.tp.topic, "-", d.tp.partition,
                                               " at offset ", d.fetch_offset, ": ",
                                               std::string(reader.status().message())));
  }
}

}  // namespace

void ConsumerImpl::PumpSoon() {
  {
    absl::MutexLock l(&mu_);
    if (pump_scheduled_ || closed_) return;
    pump_scheduled_ = true;
  }
  core_->Post([this] { Pump(); });
}

void ConsumerImpl::Pump() {
  std::map<int32_t, protocol::FetchRequest> requests;
  std::map<int32_t, std::map<TopicPartition, uint64_t>> epochs;
  bool need_metadata = false;
  {
    absl::MutexLock l(&mu_);
    pump_scheduled_ = false;
    if (closed_ || queued_bytes_ >= options_.queued_max_bytes) return;
    const auto md = core_->metadata();
    for (auto& [tp, ps] : assigned_) {
      if (ps.paused || ps.position < 0 || ps.resetting ||
          ps.buffered_bytes >= options_.max_partition_fetch_bytes) {
        continue;
      }
      const auto leader = md->LeaderOf(tp.topic, tp.partition);
      if (!leader) {
        need_metadata = true;
        continue;
      }
      if (fetching_nodes_.count(*leader)) continue;
      auto& req = requests[*leader];
      if (req.topics.empty() || req.topics.back().topic != tp.topic) {
        req.topics.emplace_back().topic = tp.topic;
      }
      auto& p = req.topics.back().partitions.emplace_back();
      p.partition = tp.partition;
      p.fetch_offset = ps.fetch_offset;
      p.partition_max_bytes = options_.max_partition_fetch_bytes;
      epochs[*leader][tp] = ps.epoch;
    }
    for (auto& [node, req] : requests) {
      fetching_nodes_.insert(node);
      req.replica_id = -1;
      req.max_wait_ms = static_cast<int32_t>(absl::ToInt64Milliseconds(options_.fetch_max_wait));
      req.min_bytes = options_.fetch_min_bytes;
      req.max_bytes = options_.fetch_max_bytes;
      req.isolation_level = static_cast<int8_t>(options_.isolation_level);
      req.session_id = 0;
      req.session_epoch = -1;  // a full fetch each time: no session to keep
    }
  }
  if (need_metadata) {
    core_->RequestMetadataRefresh();
    core_->PostAfter(core_->options().retry_backoff, [this] { PumpSoon(); });
  }
  for (auto& [node, req] : requests) {
    RequestOptions ro;
    ro.timeout = options_.client.request_timeout + options_.fetch_max_wait;
    {
      absl::MutexLock ml(&metrics_mu_);
      ++metrics_.fetch_requests;
    }
    core_->Send<protocol::FetchResponse>(
        Target::Node(node), std::move(req),
        [this, node = node, e = std::move(epochs[node])](
            absl::StatusOr<Reply<protocol::FetchResponse>> reply) mutable {
          HandleFetch(node, std::move(e), std::move(reply));
        },
        ro);
  }
}

void ConsumerImpl::HandleFetch(int32_t node, std::map<TopicPartition, uint64_t> epochs,
                               absl::StatusOr<Reply<protocol::FetchResponse>> reply) {
  bool backoff = false, refresh = false, resets = false;
  int64_t fetched = 0;
  std::vector<DecodedPartition> work;
  {
    absl::MutexLock l(&mu_);
    if (closed_) return;
    if (!reply.ok() || reply->response.error_code != 0) {
      backoff = true;
    } else {
      for (const auto& t : reply->response.responses) {
        for (const auto& p : t.partitions) {
          TopicPartition tp{t.topic, p.partition_index};
          auto it = assigned_.find(tp);
          auto ep = epochs.find(tp);
          // Revoked, sought or reset since the request: the answer is stale.
          if (it == assigned_.end() || ep == epochs.end() || ep->second != it->second.epoch) {
            continue;
          }
          PartitionState& ps = it->second;
          const auto ec = static_cast<ErrorCode>(p.error_code);
          if (ec == ErrorCode::kOffsetOutOfRange) {
            if (options_.auto_offset_reset == OffsetReset::kNone) {
              fatal_ = absl::OutOfRangeError(absl::StrCat(
                  "offset ", ps.fetch_offset, " is out of range for ", tp.topic, "-",
                  tp.partition, " and auto.offset.reset is none"));
            } else {
              ps.reset_to = options_.auto_offset_reset == OffsetReset::kEarliest ? -2 : -1;
              ps.position = -1;
              resets = true;
            }
            continue;
          }
          if (ec != ErrorCode::kNone) {
            backoff = true;
            refresh = refresh || ec == ErrorCode::kNotLeaderOrFollower ||
                      ec == ErrorCode::kUnknownTopicOrPartition ||
                      ec == ErrorCode::kLeaderNotAvailable ||
                      ec == ErrorCode::kFencedLeaderEpoch || ec == ErrorCode::kUnknownLeaderEpoch;
            continue;
          }
          ps.high_watermark = p.high_watermark;
          if (!p.records || p.records->empty()) continue;
          fetched += static_cast<int64_t>(p.records->size());
          work.push_back(DecodedPartition{.tp = std::move(tp), .epoch = ep->second,
                                          .fetch_offset = ps.fetch_offset, .data = &p});
        }
      }
    }
  }
  // Decoding (CRCs, decompression, a copy of every key and value) runs off
  // the lock, so that Poll hands out what is already buffered meanwhile,
  // and its records are queued a Poll's worth at a time. The node stays in
  // fetching_nodes_ until the end, so no second fetch of these partitions
  // starts from the old offsets; a Seek, reset or revocation in between
  // bumps the epoch, and what is left of the partition's answer is dropped.
  const std::function<bool(DecodedPartition&)> publish = [this](DecodedPartition& d) {
    absl::MutexLock l(&mu_);
    if (closed_) return false;
    auto it = assigned_.find(d.tp);
    if (it == assigned_.end() || it->second.epoch != d.epoch) return false;
    PartitionState& ps = it->second;
    for (ConsumerRecord& r : d.records) ps.buffered.push_back(std::move(r));
    d.records.clear();
    ps.buffered_bytes += d.bytes;
    queued_bytes_ += d.bytes;
    d.bytes = 0;
    ps.fetch_offset = d.fetch_offset;
    if (!d.error.ok()) fatal_ = d.error;
    cv_.SignalAll();
    return true;
  };
  const size_t publish_every = static_cast<size_t>(std::max(1, options_.max_poll_records));
  for (DecodedPartition& d : work) {
    DecodeRecords(d, options_.isolation_level == IsolationLevel::kReadCommitted,
                  options_.check_crcs, publish_every, publish);
    publish(d);  // the rest, the final fetch_offset and any error
  }
  {
    absl::MutexLock l(&mu_);
    fetching_nodes_.erase(node);
    if (closed_) return;
  }
  {
    absl::MutexLock ml(&metrics_mu_);
    metrics_.bytes_fetched += fetched;
  }
  if (refresh) core_->RequestMetadataRefresh();
  if (resets) InitPositions();
  if (backoff) {
    core_->PostAfter(core_->options().retry_backoff, [this] { PumpSoon(); });
  } else {
    PumpSoon();
  }
}

void ConsumerImpl::InitPositions() {
  std::vector<TopicPartition> lookup;
  std::map<int64_t, std::vector<TopicPartition>> resets;  // timestamp -> partitions
  {
    absl::MutexLock l(&mu_);
    if (closed_) return;
    for (auto& [tp, ps] : assigned_) {
      if (ps.resetting) continue;
      if (ps.reset_to) {
        resets[*ps.reset_to].push_back(tp);
        ps.resetting = true;
      } else if (ps.position < 0) {
        lookup.push_back(tp);
        ps.resetting = true;
      }
    }
  }
  for (auto& [ts, tps] : resets) ResetOffsets(std::move(tps), ts);
  if (lookup.empty()) return;
  SendOffsetFetch(lookup, [this, lookup](absl::StatusOr<TopicPartitionOffsets> committed) {
    std::vector<TopicPartition> reset;
    {
      absl::MutexLock l(&mu_);
      for (const auto& tp : lookup) {
        auto it = assigned_.find(tp);
        if (it == assigned_.end() || !it->second.resetting) continue;
        PartitionState& ps = it->second;
        if (!committed.ok()) {
          ps.resetting = false;
          continue;
        }
        auto c = committed->find(tp);
        if (c != committed->end()) {
          SetPosition(ps, c->second.offset);
          last_committed_[tp] = c->second.offset;
        } else if (options_.auto_offset_reset == OffsetReset::kNone) {
          ps.resetting = false;
          fatal_ = absl::OutOfRangeError(absl::StrCat("no committed offset for ", tp.topic, "-",
                                                      tp.partition,
                                                      " and auto.offset.reset is none"));
          cv_.SignalAll();
        } else {
          reset.push_back(tp);
        }
      }
    }
    if (!committed.ok()) {
      core_->PostAfter(core_->options().retry_backoff, [this] { InitPositions(); });
      return;
    }
    if (!reset.empty()) {
      ResetOffsets(std::move(reset),
                   options_.auto_offset_reset == OffsetReset::kEarliest ? -2 : -1);
    }
    PumpSoon();
  });
}

void ConsumerImpl::ResetOffsets(std::vector<TopicPartition> tps, int64_t timestamp) {
  std::map<TopicPartition, int64_t> query;
  for (const auto& tp : tps) query[tp] = timestamp;
  SendListOffsets(query, [this, tps](absl::StatusOr<std::map<TopicPartition,
                                                             std::optional<int64_t>>> r) {
    bool retry = false;
    {
      absl::MutexLock l(&mu_);
      for (const auto& tp : tps) {
        auto it = assigned_.find(tp);
        if (it == assigned_.end() || !it->second.resetting) continue;
        std::optional<int64_t> offset;
        if (r.ok()) {
          auto o = r->find(tp);
          if (o != r->end()) offset = o->second;
        }
        if (offset) {
          SetPosition(it->second, *offset);
        } else {
          it->second.resetting = false;  // keeps reset_to: tried again
          retry = true;
        }
      }
    }
    if (retry) core_->PostAfter(core_->options().retry_backoff, [this] { InitPositions(); });
    PumpSoon();
  });
}

}  // namespace runnel::client
