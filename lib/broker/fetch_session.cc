#include "broker/fetch_session.h"

#include <algorithm>
#include <limits>

namespace runnel::broker {

using protocol::ErrorCode;
using protocol::FetchRequest;
using protocol::FetchResponse;

namespace {

using PartitionKey = std::pair<std::string, int32_t>;

// Kafka's FetchMetadata.nextEpoch: epochs wrap from INT32_MAX to 1 (0 and
// -1 mean full fetches).
int32_t NextEpoch(int32_t epoch) {
  return epoch == std::numeric_limits<int32_t>::max() ? 1 : epoch + 1;
}

}  // namespace

struct FetchSession {
  struct Partition {
    int64_t order = 0;  // when it joined the session: responses keep this order
    FetchRequest::FetchPartition request;
    // As the client last heard them; -1 before any response carried the
    // partition, so that its first response always does.
    int64_t high_watermark = -1;
    int64_t log_start_offset = -1;
    int64_t last_stable_offset = -1;
  };

  int32_t id = 0;
  int32_t epoch = 1;  // the epoch the next incremental fetch must carry
  int64_t last_used_ms = 0;
  int64_t next_order = 0;
  std::map<PartitionKey, Partition> partitions;

  void Upsert(const std::string& topic, const FetchRequest::FetchPartition& fp) {
    auto [it, added] = partitions.try_emplace({topic, fp.partition});
    if (added) it->second.order = next_order++;
    it->second.request = fp;
  }

  // The partitions in the order they joined, grouped by topic as the wire
  // wants them (a topic whose partitions are not adjacent appears twice,
  // as in Kafka's own incremental responses).
  std::vector<FetchRequest::FetchTopic> Topics() const {
    std::vector<std::pair<int64_t, const std::pair<const PartitionKey, Partition>*>> ordered;
    ordered.reserve(partitions.size());
    for (const auto& entry : partitions) ordered.emplace_back(entry.second.order, &entry);
    std::sort(ordered.begin(), ordered.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<FetchRequest::FetchTopic> out;
    for (const auto& [order, entry] : ordered) {
      if (out.empty() || out.back().topic != entry->first.first) {
        out.emplace_back();
        out.back().topic = entry->first.first;
      }
      out.back().partitions.push_back(entry->second.request);
    }
    return out;
  }

  // Kafka's CachedPartition.maybeUpdateResponseData: whether the client must
  // hear about the partition, and if so remember what it is told.
  static bool MustRespond(Partition& cached, const FetchResponse::PartitionData& pd) {
    bool must = pd.records.has_value() && !pd.records->empty();
    if (pd.error_code != static_cast<int16_t>(ErrorCode::kNone)) must = true;
    if (cached.high_watermark != pd.high_watermark ||
        cached.log_start_offset != pd.log_start_offset ||
        cached.last_stable_offset != pd.last_stable_offset) {
      must = true;
    }
    cached.high_watermark = pd.high_watermark;
    cached.log_start_offset = pd.log_start_offset;
    cached.last_stable_offset = pd.last_stable_offset;
    return must;
  }
};

FetchSessionCache::FetchSessionCache(int32_t max_sessions, int64_t eviction_ms)
    : max_sessions_(std::max(max_sessions, 0)),
      eviction_ms_(eviction_ms),
      random_(std::random_device{}()) {}

FetchSessionCache::~FetchSessionCache() = default;

FetchContext FetchSessionCache::NewContext(const FetchRequest& request, int64_t now_ms) {
  FetchContext ctx;
  const bool full = request.session_epoch == 0 || request.session_epoch == -1;
  if (full) {
    // Both full forms end the session they name.
    if (request.session_id != 0) {
      absl::MutexLock l(&mu_);
      sessions_.erase(request.session_id);
    }
    ctx.kind = request.session_epoch == 0 ? FetchContext::Kind::kFull
                                          : FetchContext::Kind::kSessionless;
    ctx.topics = request.topics;
    return ctx;
  }
  absl::MutexLock l(&mu_);
  auto it = sessions_.find(request.session_id);
  if (request.session_id == 0 || it == sessions_.end()) {
    ctx.error = ErrorCode::kFetchSessionIdNotFound;
    return ctx;
  }
  FetchSession& s = *it->second;
  if (s.epoch != request.session_epoch) {
    ctx.error = ErrorCode::kInvalidFetchSessionEpoch;
    return ctx;
  }
  // Kafka's FetchSession.update: added and changed partitions first, then
  // the forgotten ones.
  for (const FetchRequest::FetchTopic& t : request.topics) {
    for (const FetchRequest::FetchPartition& fp : t.partitions) s.Upsert(t.topic, fp);
  }
  for (const FetchRequest::ForgottenTopic& t : request.forgotten_topics_data) {
    for (int32_t p : t.partitions) s.partitions.erase({t.topic, p});
  }
  s.epoch = NextEpoch(s.epoch);
  s.last_used_ms = now_ms;
  ctx.kind = FetchContext::Kind::kIncremental;
  ctx.topics = s.Topics();
  ctx.session = it->second;
  return ctx;
}

void FetchSessionCache::Finish(FetchContext& context, FetchResponse* response, int64_t now_ms) {
  switch (context.kind) {
    case FetchContext::Kind::kSessionless:
      response->session_id = 0;
      return;
    case FetchContext::Kind::kFull: {
      size_t count = 0;
      for (const auto& t : context.topics) count += t.partitions.size();
      absl::MutexLock l(&mu_);
      if (!MakeRoom(count, now_ms)) {
        response->session_id = 0;
        return;
      }
      auto s = std::make_shared<FetchSession>();
      s->id = NewId();
      s->last_used_ms = now_ms;
      for (const auto& t : context.topics) {
        for (const auto& fp : t.partitions) s->Upsert(t.topic, fp);
      }
      // The client has now heard every partition's figures.
      for (const auto& tr : response->responses) {
        for (const auto& pd : tr.partitions) {
          auto it = s->partitions.find({tr.topic, pd.partition_index});
          if (it != s->partitions.end()) FetchSession::MustRespond(it->second, pd);
        }
      }
      response->session_id = s->id;
      sessions_.emplace(s->id, std::move(s));
      return;
    }
    case FetchContext::Kind::kIncremental: {
      absl::MutexLock l(&mu_);
      FetchSession& s = *context.session;
      std::vector<FetchResponse::FetchableTopicResponse> kept;
      for (auto& tr : response->responses) {
        FetchResponse::FetchableTopicResponse out;
        out.topic = tr.topic;
        for (auto& pd : tr.partitions) {
          auto it = s.partitions.find({tr.topic, pd.partition_index});
          if (it == s.partitions.end() || FetchSession::MustRespond(it->second, pd)) {
            out.partitions.push_back(std::move(pd));
          }
        }
        if (!out.partitions.empty()) kept.push_back(std::move(out));
      }
      response->responses = std::move(kept);
      response->session_id = s.id;
      s.last_used_ms = now_ms;
      return;
    }
  }
}

bool FetchSessionCache::MakeRoom(size_t new_size, int64_t now_ms) {
  if (max_sessions_ == 0) return false;
  if (sessions_.size() < static_cast<size_t>(max_sessions_)) return true;
  // Kafka's FetchSessionCache.tryEvict: the least recently used session when
  // it is stale, else the smallest when the new session is larger.
  auto oldest = sessions_.end();
  auto smallest = sessions_.end();
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
    if (oldest == sessions_.end() || it->second->last_used_ms < oldest->second->last_used_ms) {
      oldest = it;
    }
    if (smallest == sessions_.end() ||
        it->second->partitions.size() < smallest->second->partitions.size()) {
      smallest = it;
    }
  }
  if (now_ms - oldest->second->last_used_ms > eviction_ms_) {
    sessions_.erase(oldest);
    return true;
  }
  if (new_size > smallest->second->partitions.size()) {
    sessions_.erase(smallest);
    return true;
  }
  return false;
}

int32_t FetchSessionCache::NewId() {
  std::uniform_int_distribution<int32_t> pick(1, std::numeric_limits<int32_t>::max());
  for (;;) {
    int32_t id = pick(random_);
    if (!sessions_.contains(id)) return id;
  }
}

size_t FetchSessionCache::size() const {
  absl::MutexLock l(&mu_);
  return sessions_.size();
}

int32_t FetchSessionCache::ExpectedEpoch(int32_t session_id) const {
  absl::MutexLock l(&mu_);
  auto it = sessions_.find(session_id);
  return it == sessions_.end() ? -1 : it->second->epoch;
}

}  // namespace runnel::broker
