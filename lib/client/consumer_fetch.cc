// Fetching, on the I/O thread: one Fetch in flight per leader at a time,
// covering every assigned, unpaused partition with a known position whose
// prefetched bytes are under max.partition.fetch.bytes, while all prefetched
// bytes stay under queued_max_bytes. Answers become ConsumerRecords queued per
// partition for Poll, viewing the answer's bytes (or a compressed batch's
// inflated copy) instead of copying them; decoding stops while the records
// buffered fill queued_max_bytes. Errors back off by retry.backoff.ms
// (refreshing the metadata when the leader moved) or reset the offset
// (OFFSET_OUT_OF_RANGE).
//
// read_committed: the broker stops at the last stable offset and lists the
// aborted transactions in range; a transactional batch of a producer with an
// open aborted transaction is skipped until that producer's abort marker.
//
// Debug lines in the "fetch" context (librdkafka's): each Fetch sent (leader,
// partitions, their offsets), each partition's answer (error, high
// watermark, bytes, records), a failed Fetch, an offset reset and where it
// landed, and each backoff. Their fields are built only when the context
// (or log_level debug) is on, and logged off mu_.
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/consumer_impl.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/common/shared_bytes.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/fetch.h"
#include "runnel/protocol/record_batch.h"

namespace runnel::client {

using protocol::ErrorCode;

// One partition's share of a fetch answer: its record bytes (a view of the
// response frame, never copied) and a reader over them that keeps its place
// between calls, so decoding can stop at queued_max_bytes and go on when
// Poll has made room. Only the I/O thread touches it.
struct FetchedPartition {
  TopicPartition tp;
  uint64_t epoch = 0;        // the partition's epoch when the fetch was sent
  int64_t fetch_offset = 0;  // the next offset to ask for
  // The answer's record batches; records of uncompressed batches view them.
  SharedBytes input;
  std::optional<protocol::RecordBatchReader> reader;
  // read_committed: aborted transactions in range not reached yet, by first
  // offset, and the producers whose aborted transaction is open.
  std::multimap<int64_t, int64_t> aborted;
  std::set<int64_t> open_aborts;
  absl::Status error;  // a corrupt batch (DataLoss): records before it are kept

  // Input bytes not decoded yet (as fetched: compressed ones stay so).
  int64_t Left() const {
    return static_cast<int64_t>(input.size() - reader->consumed_bytes());
  }
};

namespace {

std::optional<std::string_view> View(const protocol::NullableBytes& b) {
  if (b.is_null()) return std::nullopt;
  return b.str();
}

// Decodes f's next batch that holds records past fetch_offset (skipping
// older ones, control batches and, read_committed, batches of aborted
// transactions) into `out`, adding their RecordBytes to `bytes`. Records
// view the batch where it lies: in f.input, or in its inflated copy, which
// they then share. False once f holds no more batches or on a corrupt one
// (f.error).
// Records in a fetched partition's batches (control batches left out, and
// records below the fetch offset counted): headers only, no CRC check or
// inflating. For the fetch context's debug lines.
int64_t CountRecords(const SharedBytes& bytes) {
  protocol::RecordBatchReaderOptions ro;
  ro.verify_crc = false;
  protocol::RecordBatchReader reader(bytes.span(), ro);
  int64_t n = 0;
  while (reader.NextBatch()) {
    if (!reader.header().is_control()) n += reader.header().record_count;
  }
  return n;
}

std::string_view ResetName(int64_t timestamp) {
  return timestamp == -2 ? "earliest" : timestamp == -1 ? "latest" : "timestamp";
}

bool DecodeBatch(FetchedPartition& f, std::vector<ConsumerRecord>& out,
                 int64_t& bytes) {
  protocol::RecordBatchReader& reader = *f.reader;
  while (reader.NextBatch()) {
    const auto& h = reader.header();
    while (!f.aborted.empty() && f.aborted.begin()->first <= h.last_offset()) {
      f.open_aborts.insert(f.aborted.begin()->second);
      f.aborted.erase(f.aborted.begin());
    }
    if (h.last_offset() < f.fetch_offset) continue;
    if (h.is_control()) {
      if (reader.NextRecord()) {
        auto cr = protocol::ParseControlRecord(reader.record());
        if (cr.ok() && cr->type == protocol::ControlRecordType::kAbort) {
          f.open_aborts.erase(h.producer_id);
        }
      }
      f.fetch_offset = h.last_offset() + 1;
      continue;
    }
    if (h.is_transactional() && f.open_aborts.count(h.producer_id)) {
      f.fetch_offset = h.last_offset() + 1;
      continue;
    }
    const bool log_append_time = h.timestamp_type() == protocol::TimestampType::kLogAppendTime;
    if (h.record_count > 0) out.reserve(out.size() + h.record_count);
    std::shared_ptr<const void> buffer = f.input.owner();
    bool first = true;
    while (reader.NextRecord()) {
      if (first && h.compression() != protocol::CompressionType::kNone) {
        // The reader inflated the batch on this first NextRecord: its records
        // keep the inflated bytes alive from here.
        buffer = std::make_shared<const ByteBuffer>(reader.ReleaseDecompressed());
      }
      first = false;
      const auto& r = reader.record();
      if (r.offset < f.fetch_offset) continue;
      ConsumerRecord& cr = out.emplace_back();
      cr.topic = f.tp.topic;
      cr.partition = f.tp.partition;
      cr.offset = r.offset;
      cr.timestamp_ms = r.timestamp;
      cr.log_append_time = log_append_time;
      cr.leader_epoch = h.partition_leader_epoch;
      cr.key = View(r.key);
      cr.value = View(r.value);
      if (!r.headers.empty()) {
        for (const auto& hd : r.headers) cr.headers.emplace_back(hd.key, View(hd.value));
      }
      cr.buffer = buffer;
      bytes += RecordBytes(cr);
    }
    if (!reader.status().ok()) break;
    f.fetch_offset = h.last_offset() + 1;
    return true;
  }
  if (!reader.status().ok()) {
    f.error = absl::DataLossError(absl::StrCat("fetch of ", f.tp.topic, "-", f.tp.partition,
                                               " at offset ", f.fetch_offset, ": ",
                                               std::string(reader.status().message())));
  }
  return false;
}

// An OffsetFetch answer's partition error saying the partition does not
// exist (UNKNOWN_TOPIC_OR_PARTITION).
bool DoesNotExist(const absl::Status& s) {
  return protocol::ErrorCodeFromStatus(s) == ErrorCode::kUnknownTopicOrPartition;
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
  // Answers parked at queued_max_bytes go first: their partitions are not
  // fetched again until they are decoded.
  std::vector<std::shared_ptr<FetchedPartition>> parked;
  {
    absl::MutexLock l(&mu_);
    pump_scheduled_ = false;
    if (closed_) return;
    if (DecodeRoom() > 0) {
      for (auto& [tp, ps] : assigned_) {
        if (!ps.undecoded || ps.paused) continue;
        parked.push_back(std::move(ps.undecoded));
        ps.undecoded.reset();
        ps.buffered_bytes -= ps.undecoded_bytes;
        queued_bytes_ -= ps.undecoded_bytes;
        ps.undecoded_bytes = 0;
      }
    }
  }
  for (auto& f : parked) Decode(std::move(f));

  std::map<int32_t, protocol::FetchRequest> requests;
  std::map<int32_t, std::map<TopicPartition, uint64_t>> epochs;
  bool need_metadata = false;
  {
    absl::MutexLock l(&mu_);
    if (closed_ || queued_bytes_ >= options_.queued_max_bytes) return;
    const auto md = core_->metadata();
    // Leaders with a partition left out only until Poll drains it (a full
    // buffer or a parked answer), and leaders with a partition asked for
    // that may have records past its fetch offset.
    std::set<int32_t> withheld, behind;
    for (auto& [tp, ps] : assigned_) {
      if (ps.paused || ps.position < 0 || ps.resetting) continue;
      const auto leader = md->LeaderOf(tp.topic, tp.partition);
      if (!leader) {
        need_metadata = true;
        continue;
      }
      if (ps.undecoded || ps.buffered_bytes >= options_.max_partition_fetch_bytes) {
        withheld.insert(*leader);
        continue;
      }
      if (fetching_nodes_.count(*leader)) continue;
      if (ps.end_offset < 0 || ps.fetch_offset < ps.end_offset) behind.insert(*leader);
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
    // A fetch of caught-up partitions only is held by the broker for up to
    // fetch.max.wait.ms, and with one fetch a leader at a time it would hold
    // up the withheld partitions once Poll drains them (a 0.5 s stall in
    // mid-read): wait for that Poll (its PumpSoon) instead.
    for (auto it = requests.begin(); it != requests.end();) {
      it = withheld.count(it->first) && !behind.count(it->first) ? requests.erase(it)
                                                                 : std::next(it);
    }
    // Each answer may fill its share of the room left (a broker still
    // sends a first batch larger than that, as Kafka does).
    const int64_t share = requests.empty() ? 0
                          : (options_.queued_max_bytes - queued_bytes_) /
                                static_cast<int64_t>(requests.size());
    for (auto& [node, req] : requests) {
      fetching_nodes_.insert(node);
      req.replica_id = -1;
      req.max_wait_ms = static_cast<int32_t>(absl::ToInt64Milliseconds(options_.fetch_max_wait));
      req.min_bytes = options_.fetch_min_bytes;
      req.max_bytes = static_cast<int32_t>(
          std::clamp<int64_t>(share, 1, std::max<int64_t>(1, options_.fetch_max_bytes)));
      req.isolation_level = static_cast<int8_t>(options_.isolation_level);
      req.session_id = 0;
      req.session_epoch = -1;  // a full fetch each time: no session to keep
    }
  }
  if (need_metadata) {
    RUNNEL_CLIENT_DEBUG(
        log_, kFetch, "fetch backoff",
        {{"reason", "partition leader unknown"},
         {"backoff_ms",
          std::to_string(absl::ToInt64Milliseconds(core_->options().retry_backoff))}});
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
    if (log_.DebugEnabled(ClientDebugContext::kFetch)) {
      std::string offsets;
      size_t partitions = 0;
      for (const auto& t : req.topics) {
        for (const auto& p : t.partitions) {
          absl::StrAppend(&offsets, offsets.empty() ? "" : ",", t.topic, "[", p.partition, "]@",
                          p.fetch_offset);
          ++partitions;
        }
      }
      log_.Debug(ClientDebugContext::kFetch, "fetch sent",
                 {{"leader", std::to_string(node)},
                  {"partitions", std::to_string(partitions)},
                  {"offsets", offsets},
                  {"max_bytes", std::to_string(req.max_bytes)},
                  {"max_wait_ms", std::to_string(req.max_wait_ms)}});
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

int64_t ConsumerImpl::DecodeRoom() const {
  int64_t undecoded = 0;
  for (const auto& [tp, ps] : assigned_) undecoded += ps.undecoded_bytes;
  return options_.queued_max_bytes - (queued_bytes_ - undecoded);
}

void ConsumerImpl::Decode(std::shared_ptr<FetchedPartition> f) {
  const size_t publish_every = static_cast<size_t>(std::max(1, options_.max_poll_records));
  std::vector<ConsumerRecord> records;
  int64_t bytes = 0;  // RecordBytes of `records`
  int64_t room = 0;   // DecodeRoom() at the last look
  bool more = true;
  bool first = true;
  while (true) {
    if (!first) {
      more = DecodeBatch(*f, records, bytes);
      // Decoding runs off the lock (Poll hands out what is buffered
      // meanwhile); a Poll's worth, or the room left, is handed over at once.
      if (more && records.size() < publish_every && bytes < room) continue;
    }
    absl::MutexLock l(&mu_);
    if (closed_) return;
    auto it = assigned_.find(f->tp);
    // Revoked, sought or reset meanwhile: the rest of the answer is stale.
    if (it == assigned_.end() || it->second.epoch != f->epoch) return;
    PartitionState& ps = it->second;
    if (!records.empty()) {
      for (ConsumerRecord& r : records) ps.buffered.push_back(std::move(r));
      records.clear();
      ps.buffered_bytes += bytes;
      queued_bytes_ += bytes;
      bytes = 0;
      cv_.SignalAll();
    }
    ps.fetch_offset = f->fetch_offset;
    if (!more) {
      if (!f->error.ok()) {
        fatal_ = f->error;
        cv_.SignalAll();
      }
      return;
    }
    room = DecodeRoom();
    if (room <= 0) {
      // Full: the rest waits, compressed, for Pump once Poll made room.
      ps.undecoded_bytes = f->Left();
      ps.buffered_bytes += ps.undecoded_bytes;
      queued_bytes_ += ps.undecoded_bytes;
      ps.undecoded = std::move(f);
      return;
    }
    first = false;
  }
}

void ConsumerImpl::HandleFetch(int32_t node, std::map<TopicPartition, uint64_t> epochs,
                               absl::StatusOr<Reply<protocol::FetchResponse>> reply) {
  bool backoff = false, refresh = false, resets = false;
  int64_t fetched = 0;
  std::vector<std::shared_ptr<FetchedPartition>> work;
  const bool read_committed = options_.isolation_level == IsolationLevel::kReadCommitted;
  const bool debug = log_.DebugEnabled(ClientDebugContext::kFetch);
  // Partitions reset for OFFSET_OUT_OF_RANGE, with the offset asked for
  // (kept only for the debug lines, which are logged off the lock).
  std::vector<std::pair<TopicPartition, int64_t>> reset_log;
  std::string backoff_error;  // debug only: why the fetch backs off
  if (debug) {
    if (!reply.ok()) {
      log_.Debug(ClientDebugContext::kFetch, "fetch failed",
                 {{"leader", std::to_string(node)}, {"error", reply.status().ToString()}});
    } else {
      if (reply->response.error_code != 0) {
        log_.Debug(ClientDebugContext::kFetch, "fetch failed",
                   {{"leader", std::to_string(node)},
                    {"error", protocol::ErrorCodeName(
                                  static_cast<ErrorCode>(reply->response.error_code))}});
      }
      for (const auto& t : reply->response.responses) {
        for (const auto& p : t.partitions) {
          const bool has = p.records && !p.records->empty();
          log_.Debug(
              ClientDebugContext::kFetch, "fetch answer",
              {{"leader", std::to_string(node)},
               {"topic", t.topic},
               {"partition", std::to_string(p.partition_index)},
               {"error", protocol::ErrorCodeName(static_cast<ErrorCode>(p.error_code))},
               {"high_watermark", std::to_string(p.high_watermark)},
               {"last_stable_offset", std::to_string(p.last_stable_offset)},
               {"bytes", std::to_string(has ? p.records->size() : 0)},
               {"records", std::to_string(has ? CountRecords(*p.records) : 0)}});
        }
      }
    }
  }
  {
    absl::MutexLock l(&mu_);
    if (closed_) return;
    if (!reply.ok() || reply->response.error_code != 0) {
      if (debug) {
        backoff_error = !reply.ok() ? reply.status().ToString()
                                    : std::string(protocol::ErrorCodeName(
                                          static_cast<ErrorCode>(reply->response.error_code)));
      }
      backoff = true;
    } else {
      const absl::Time now = absl::Now();
      for (auto& t : reply->response.responses) {
        for (auto& p : t.partitions) {
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
              if (debug) reset_log.emplace_back(tp, ps.fetch_offset);
            }
            continue;
          }
          if (ec != ErrorCode::kNone) {
            backoff = true;
            if (debug && backoff_error.empty()) {
              backoff_error = absl::StrCat(std::string(protocol::ErrorCodeName(ec)), " (",
                                           tp.topic, "[", tp.partition, "])");
            }
            refresh = refresh || ec == ErrorCode::kNotLeaderOrFollower ||
                      ec == ErrorCode::kUnknownTopicOrPartition ||
                      ec == ErrorCode::kLeaderNotAvailable ||
                      ec == ErrorCode::kFencedLeaderEpoch || ec == ErrorCode::kUnknownLeaderEpoch;
            continue;
          }
          ps.high_watermark = p.high_watermark;
          ps.log_start_offset = p.log_start_offset;
          ps.end_offset = read_committed && p.last_stable_offset >= 0 ? p.last_stable_offset
                                                                      : p.high_watermark;
          ps.watermarks_at = now;
          if (!p.records || p.records->empty()) continue;
          fetched += static_cast<int64_t>(p.records->size());
          auto f = std::make_shared<FetchedPartition>();
          f->tp = std::move(tp);
          f->epoch = ep->second;
          f->fetch_offset = ps.fetch_offset;
          // A view of the frame: the records of uncompressed batches view it
          // in turn, so no record byte is copied after the socket read.
          f->input = std::move(*p.records);
          if (read_committed && p.aborted_transactions) {
            for (const auto& a : *p.aborted_transactions) {
              f->aborted.emplace(a.first_offset, a.producer_id);
            }
          }
          protocol::RecordBatchReaderOptions ro;
          ro.verify_crc = options_.check_crcs;
          f->reader.emplace(f->input.span(), ro);
          work.push_back(std::move(f));
        }
      }
    }
  }
  // Decoding (CRCs, decompression) runs off the lock, and its records are
  // queued a Poll's worth at a time (a zstd answer inflating to ~100 MB
  // hands out its first records at once). The node stays in
  // fetching_nodes_ until the end, so no second fetch of these partitions
  // starts from the old offsets; a Seek, reset or revocation in between
  // bumps the epoch, and what is left of the partition's answer is dropped.
  for (auto& f : work) Decode(std::move(f));
  {
    absl::MutexLock l(&mu_);
    fetching_nodes_.erase(node);
    if (closed_) return;
  }
  {
    absl::MutexLock ml(&metrics_mu_);
    metrics_.bytes_fetched += fetched;
  }
  for (const auto& [tp, offset] : reset_log) {
    log_.Debug(ClientDebugContext::kFetch, "offset reset",
               {{"topic", tp.topic},
                {"partition", std::to_string(tp.partition)},
                {"offset", std::to_string(offset)},
                {"error", "OFFSET_OUT_OF_RANGE"},
                {"reset_to", ResetName(options_.auto_offset_reset == OffsetReset::kEarliest
                                           ? -2
                                           : -1)}});
  }
  if (refresh) core_->RequestMetadataRefresh();
  if (resets) InitPositions();
  if (backoff) {
    RUNNEL_CLIENT_DEBUG(
        log_, kFetch, "fetch backoff",
        {{"leader", std::to_string(node)},
         {"error", backoff_error},
         {"refresh_metadata", refresh ? "true" : "false"},
         {"backoff_ms",
          std::to_string(absl::ToInt64Milliseconds(core_->options().retry_backoff))}});
    core_->PostAfter(core_->options().retry_backoff, [this] { PumpSoon(); });
  } else {
    PumpSoon();
  }
}

ConsumerImpl::PartitionState* ConsumerImpl::LookupTarget(const TopicPartition& tp, uint64_t epoch) {
  auto it = assigned_.find(tp);
  if (it == assigned_.end() || !it->second.resetting || it->second.epoch != epoch) return nullptr;
  return &it->second;
}

void ConsumerImpl::InitPositions() {
  std::vector<TopicPartition> lookup;
  auto asked = std::make_shared<std::map<TopicPartition, uint64_t>>();  // at which epoch
  std::map<int64_t, std::vector<TopicPartition>> resets;  // timestamp -> partitions
  {
    absl::MutexLock l(&mu_);
    if (closed_) return;
    for (auto& [tp, ps] : assigned_) {
      // A missing partition is asked for once a snapshot lists it
      // (WatchMissingPartitions posts this then).
      if (ps.resetting || ps.missing) continue;
      if (ps.reset_to) {
        resets[*ps.reset_to].push_back(tp);
        ps.resetting = true;
      } else if (ps.position < 0) {
        lookup.push_back(tp);
        (*asked)[tp] = ps.epoch;
        ps.resetting = true;
      }
    }
  }
  for (auto& [ts, tps] : resets) ResetOffsets(std::move(tps), ts);
  if (lookup.empty()) return;
  // A partition's own error retries that partition only: the others go on
  // (issue 5). UNKNOWN_TOPIC_OR_PARTITION, one that does not exist, is not
  // retried but marked missing and watched (consumer_missing.cc).
  auto errors = std::make_shared<std::map<TopicPartition, absl::Status>>();
  SendOffsetFetch(
      lookup,
      [this, lookup, asked, errors](absl::StatusOr<TopicPartitionOffsets> committed) {
        std::vector<TopicPartition> reset, started;
        bool retry = false;
        {
          const absl::Time now = absl::Now();
          absl::MutexLock l(&mu_);
          for (const auto& tp : lookup) {
            PartitionState* target = LookupTarget(tp, asked->at(tp));
            if (target == nullptr) continue;
            PartitionState& ps = *target;
            // Went missing while asked: the answer is dropped and the partition
            // asked again once it appears (a position taken now would end the
            // watch without its "appeared" line). A failed call is retried below.
            if (ps.missing || !committed.ok()) {
              ps.resetting = false;
              continue;
            }
            if (auto e = errors->find(tp); e != errors->end()) {
              ps.resetting = false;
              if (DoesNotExist(e->second)) {
                if (NoteMissing(tp, ps, now)) started.push_back(tp);
              } else {
                retry = true;
              }
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
        for (const auto& tp : started) WarnMissing(tp);
        if (!committed.ok()) {
          core_->PostAfter(core_->options().retry_backoff, [this] { InitPositions(); });
          return;
        }
        for (const auto& [tp, status] : *errors) {
          if (DoesNotExist(status)) continue;  // the watch warns about it
          RUNNEL_CLIENT_LOG(log_, kWarn, "offset fetch failed for a partition",
                            {{"topic", tp.topic},
                             {"partition", std::to_string(tp.partition)},
                             {"error", status.ToString()}});
        }
        if (retry) core_->PostAfter(core_->options().retry_backoff, [this] { InitPositions(); });
        if (!reset.empty()) {
          ResetOffsets(std::move(reset),
                       options_.auto_offset_reset == OffsetReset::kEarliest ? -2 : -1);
        }
        PumpSoon();
      },
      errors);
}

void ConsumerImpl::ResetOffsets(std::vector<TopicPartition> tps, int64_t timestamp) {
  // Each partition is looked up on its own: a partition that cannot be
  // answered (one that does not exist waits out request.timeout.ms for a
  // leader) must not hold back the others' positions (issue 5).
  // on_answer runs on the I/O thread with one partition's answer.
  auto asked = std::make_shared<std::map<TopicPartition, uint64_t>>();  // at which epoch
  auto on_answer = [this, timestamp, asked](const TopicPartition& tp, const absl::Status& status,
                                            std::optional<int64_t> offset) {
    bool retry = false, done = false;
    {
      absl::MutexLock l(&mu_);
      PartitionState* target = LookupTarget(tp, asked->at(tp));
      if (target == nullptr) return;
      if (offset) {
        SetPosition(*target, *offset);
        done = true;
      } else {
        target->resetting = false;  // keeps reset_to: tried again
        retry = true;
      }
    }
    if (done) {
      RUNNEL_CLIENT_DEBUG(log_, kFetch, "offset reset done",
                          {{"topic", tp.topic},
                           {"partition", std::to_string(tp.partition)},
                           {"reset_to", ResetName(timestamp)},
                           {"offset", std::to_string(*offset)}});
    }
    if (retry) {
      RUNNEL_CLIENT_DEBUG(
          log_, kFetch, "offset reset backoff",
          {{"topic", tp.topic},
           {"partition", std::to_string(tp.partition)},
           {"error", status.ok() ? "no offset in the answer" : status.ToString()},
           {"backoff_ms",
            std::to_string(absl::ToInt64Milliseconds(core_->options().retry_backoff))}});
      core_->PostAfter(core_->options().retry_backoff, [this] { InitPositions(); });
    }
    PumpSoon();
  };
  // A partition the metadata says does not exist is not asked (it would
  // wait request.timeout.ms for a leader that never comes): it is marked
  // missing, keeping reset_to, and reset once a snapshot lists it.
  std::vector<TopicPartition> ask, started;
  {
    const auto md = core_->metadata();
    const absl::Time now = absl::Now();
    absl::MutexLock l(&mu_);
    for (const auto& tp : tps) {
      auto it = assigned_.find(tp);
      if (it == assigned_.end() || !it->second.resetting) continue;  // sought meanwhile
      if (!PartitionMissing(*md, tp)) {
        ask.push_back(tp);
        (*asked)[tp] = it->second.epoch;
        continue;
      }
      it->second.resetting = false;
      if (NoteMissing(tp, it->second, now)) started.push_back(tp);
    }
  }
  for (const auto& tp : started) WarnMissing(tp);
  for (const auto& tp : ask) {
    SendListOffsets(
        {{tp, timestamp}},
        [on_answer, tp](absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> r) {
          on_answer(tp, r.ok() ? absl::OkStatus() : r.status(),
                    r.ok() && r->count(tp) ? r->at(tp) : std::nullopt);
        });
  }
}

}  // namespace runnel::client
