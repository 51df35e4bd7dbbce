// ClientCore's internals: the state shared with callers (under mu_) and the
// state of the I/O thread. Split from client_core.cc so that the request
// routing (client_core.cc) and the metadata upkeep (client_core_metadata.cc)
// live in files of their own.
#pragma once

#include <atomic>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "client/client_core.h"
#include "client/client_logger.h"
#include "client/resolver.h"

namespace runnel::client {

// A request not yet written to a connection.
struct PendingRequest {
  Target target;
  int16_t api_key = 0;
  int16_t min_version = 0;
  int16_t max_version = 0;
  Encoder encode;
  bool expect_response = true;
  absl::Time deadline;
  RawCallback done;
  // The connection the request last waited for (for the timeout message).
  int32_t waiting_for = 0;
  bool waited = false;
};

// Where resolver threads leave their answers for the I/O thread. Shared with
// the lookups still running, which may outlive the core: once closed, an
// answer is dropped instead of touching the core or its (closed) eventfd.
struct ResolveMailbox {
  struct Answer {
    int32_t node_id = 0;
    uint64_t attempt = 0;
    ResolveResult result;
  };
  // Any thread: queues the answer and wakes the I/O thread.
  void Deliver(Answer answer);
  void Close();
  std::vector<Answer> Take();

  absl::Mutex mu;
  bool closed ABSL_GUARDED_BY(mu) = false;
  int wake_fd ABSL_GUARDED_BY(mu) = -1;
  std::vector<Answer> answers ABSL_GUARDED_BY(mu);
};

class ClientCore::Impl {
 public:
  Impl(const ClientOptions& options, std::vector<HostPort> bootstrap,
       std::shared_ptr<Resolver> resolver);
  ~Impl();

  void Start();
  void Enqueue(PendingRequest request);
  void Post(absl::AnyInvocable<void()> fn, absl::Time at);
  void Shutdown();

  // --- shared with callers
  mutable absl::Mutex mu_;
  absl::CondVar metadata_changed_;
  std::shared_ptr<const ClusterMetadata> metadata_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> topics_ ABSL_GUARDED_BY(mu_);
  bool all_topics_ ABSL_GUARDED_BY(mu_) = false;
  bool refresh_requested_ ABSL_GUARDED_BY(mu_) = true;
  using Listener = absl::AnyInvocable<void(const std::shared_ptr<const ClusterMetadata>&)>;
  std::map<int, std::shared_ptr<Listener>> listeners_ ABSL_GUARDED_BY(mu_);
  int next_listener_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int32_t, std::map<int16_t, std::pair<int16_t, int16_t>>> versions_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> in_flight_{0};
  std::thread::id io_thread_id_;

 private:
  struct Timer {
    absl::Time at;
    absl::AnyInvocable<void()> fn;
  };
  struct Reconnect {
    absl::Time next_attempt = absl::InfinitePast();
    absl::Duration backoff = absl::ZeroDuration();
    // The failure last logged at warn; repeats go to debug.
    std::string last_logged_error;
  };

  void Run();
  void RunCompletions();
  // Routing (client_core.cc).
  void DispatchPending(absl::Time now);
  // true when the request left `pending_` (sent or failed).
  bool TryDispatch(PendingRequest& request, absl::Time now);
  void SendOn(BrokerConnection& conn, PendingRequest& request, absl::Time now);
  BrokerConnection* ConnectionFor(int32_t node_id, absl::Time now);
  BrokerConnection* PickAnyBroker(absl::Time now);
  void CloseConnection(BrokerConnection& conn, const absl::Status& status, absl::Time now);
  ConnectionHooks Hooks();
  void HandleResolved(absl::Time now);
  void ExpireRequests(absl::Time now);
  absl::Time NextWakeUp(absl::Time now);
  // Metadata (client_core_metadata.cc).
  void MaybeRefreshMetadata(absl::Time now);
  void OnMetadata(absl::StatusOr<RawResponse> raw);

  const ClientOptions& options_;
  const std::vector<HostPort> bootstrap_;
  const ClientLogger log_;
  const std::shared_ptr<Resolver> resolver_;
  const std::shared_ptr<ResolveMailbox> mailbox_ = std::make_shared<ResolveMailbox>();
  int wake_fd_ = -1;
  std::thread thread_;

  // Handed over by callers (under mu_).
  std::vector<PendingRequest> incoming_ ABSL_GUARDED_BY(mu_);
  std::vector<Timer> timers_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // I/O thread only. Bootstrap servers have node ids -1, -2, ...
  std::map<int32_t, std::unique_ptr<BrokerConnection>> conns_;
  std::map<int32_t, Reconnect> reconnect_;
  std::list<PendingRequest> pending_;
  Completions completions_;
  std::shared_ptr<const ClusterMetadata> io_metadata_;
  bool metadata_in_flight_ = false;
  std::string last_metadata_error_;  // last logged at warn; cleared by a success
  absl::Time last_metadata_attempt_ = absl::InfinitePast();
  absl::Time next_metadata_ = absl::InfinitePast();
  size_t any_cursor_ = 0;
};

}  // namespace runnel::client
