// FetchSessionCache: incremental fetch sessions (KIP-227, Fetch v7+), with
// the semantics of Kafka's FetchSession.scala. A consumer that fetches the
// same partitions again and again sends them once, in a full fetch (epoch
// 0) that creates a session; later fetches (epochs 1, 2, ...) carry only the
// partitions whose fetch offset or size changed and those to forget, and
// their responses only the partitions with records or changed metadata
// (high watermark, log start offset, last stable offset) or an error.
//
//   session_id  epoch   meaning
//   0           -1      sessionless full fetch (librdkafka 2.0.2, kafkajs)
//   0 or N      0       full fetch; closes N, creates a session if there is room
//   N           -1      closes N, then a sessionless full fetch
//   N           >= 1    incremental fetch of session N at that epoch
//
//   FetchSessionCache cache(/*max_sessions=*/1000);
//   FetchContext ctx = cache.NewContext(request, now_ms);
//   if (ctx.error != ErrorCode::kNone) return AnswerOnly(ctx.error);
//   request.topics = ctx.topics;  // what to read: the session's partitions
//   ... read every partition of ctx.topics into `response` ...
//   cache.Finish(ctx, &response, now_ms);  // session id, filtering
//
// A session remembers each partition's fetch offset and max bytes from the
// requests, and the high watermark, log start and last stable offset of the
// last response that carried the partition. When the cache is full a new
// session evicts one unused for 2 minutes (Kafka's
// fetch.session.eviction.ms), else the smallest one when the new one has
// more partitions; otherwise the full fetch is answered with session id 0.
//
// Threads: any; one mutex guards the cache and every session in it. A
// FetchContext may outlive its session's place in the cache (a parked fetch
// whose session was evicted): Finish then updates a session nobody will
// use again.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/fetch.h"

namespace runnel::broker {

// max.incremental.fetch.session.cache.slots and fetch.session.eviction.ms
// (Kafka's defaults).
inline constexpr int32_t kDefaultFetchSessionCacheSlots = 1000;
inline constexpr int64_t kFetchSessionEvictionMs = 120'000;

struct FetchSession;

struct FetchContext {
  enum class Kind { kSessionless, kFull, kIncremental };
  Kind kind = Kind::kSessionless;
  // Not kNone: answer with this top-level error, session id 0 and no
  // partitions (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH).
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  // The partitions to read: the request's for a full fetch, every partition
  // of the session (in the order they joined it) for an incremental one.
  std::vector<protocol::FetchRequest::FetchTopic> topics;
  std::shared_ptr<FetchSession> session;  // kIncremental only
};

class FetchSessionCache {
 public:
  // `max_sessions` 0 turns sessions off: every full fetch gets session id 0.
  explicit FetchSessionCache(int32_t max_sessions = kDefaultFetchSessionCacheSlots,
                             int64_t eviction_ms = kFetchSessionEvictionMs);
  ~FetchSessionCache();

  // Decides what `request` is (table above); an incremental one updates its
  // session's partitions (added, changed, forgotten) and moves its epoch on.
  FetchContext NewContext(const protocol::FetchRequest& request, int64_t now_ms);

  // Completes `response` (read from context.topics): a full fetch creates
  // a session when there is room and puts its id in the response; an
  // incremental one keeps only the partitions the client must hear about
  // and remembers what it told it. Sessionless: untouched.
  void Finish(FetchContext& context, protocol::FetchResponse* response, int64_t now_ms);

  size_t size() const;
  // For tests: the epoch the session expects next, or -1 when there is none.
  int32_t ExpectedEpoch(int32_t session_id) const;

 private:
  bool MakeRoom(size_t new_size, int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int32_t NewId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int32_t max_sessions_;
  const int64_t eviction_ms_;
  mutable absl::Mutex mu_;
  std::map<int32_t, std::shared_ptr<FetchSession>> sessions_ ABSL_GUARDED_BY(mu_);
  std::mt19937 random_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::broker
