// ClientCore::Impl: the I/O thread's loop and request routing. The public
// members are in client_core_api.cc, metadata upkeep in
// client_core_metadata.cc.
#include "client/client_core.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/client_core_impl.h"
#include "runnel/common/status_macros.h"

namespace runnel::client {

// ---------------------------------------------------------------------------
// Impl: hand-over from callers

void ResolveMailbox::Deliver(Answer answer) {
  absl::MutexLock lock(&mu);
  if (closed) return;
  answers.push_back(std::move(answer));
  uint64_t one = 1;
  (void)!::write(wake_fd, &one, sizeof one);
}

void ResolveMailbox::Close() {
  absl::MutexLock lock(&mu);
  closed = true;
  answers.clear();
}

std::vector<ResolveMailbox::Answer> ResolveMailbox::Take() {
  absl::MutexLock lock(&mu);
  std::vector<Answer> out;
  out.swap(answers);
  return out;
}

ClientCore::Impl::Impl(const ClientOptions& options, std::vector<HostPort> bootstrap,
                       std::shared_ptr<Resolver> resolver)
    : metadata_(std::make_shared<ClusterMetadata>()),
      options_(options),
      bootstrap_(std::move(bootstrap)),
      log_(options),
      resolver_(std::move(resolver)),
      io_metadata_(metadata_) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  absl::MutexLock lock(&mailbox_->mu);
  mailbox_->wake_fd = wake_fd_;
}

ClientCore::Impl::~Impl() {
  Shutdown();
  // Lookups still running deliver into a closed mailbox from now on, never
  // into the eventfd closed below.
  mailbox_->Close();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

ConnectionHooks ClientCore::Impl::Hooks() {
  ConnectionHooks hooks;
  hooks.log = &log_;
  hooks.resolve = [resolver = resolver_, mailbox = mailbox_](int32_t node_id, uint64_t attempt,
                                                             const HostPort& address) {
    resolver->Resolve(address, [mailbox, node_id, attempt](ResolveResult result) {
      mailbox->Deliver({node_id, attempt, std::move(result)});
    });
  };
  return hooks;
}

void ClientCore::Impl::HandleResolved(absl::Time now) {
  for (ResolveMailbox::Answer& a : mailbox_->Take()) {
    auto it = conns_.find(a.node_id);
    if (it == conns_.end()) continue;
    absl::Status s = it->second->OnResolved(a.attempt, std::move(a.result), now);
    if (!s.ok()) CloseConnection(*it->second, s, now);
  }
}

void ClientCore::Impl::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ClientCore::Impl::Enqueue(PendingRequest request) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      incoming_.push_back(std::move(request));
      request.done = nullptr;
    }
  }
  if (request.done) {
    request.done(absl::CancelledError("the client is shut down"));
    return;
  }
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void ClientCore::Impl::Post(absl::AnyInvocable<void()> fn, absl::Time at) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    timers_.push_back(Timer{at, std::move(fn)});
  }
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void ClientCore::Impl::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable() && std::this_thread::get_id() != thread_.get_id()) thread_.join();
}

// ---------------------------------------------------------------------------
// Impl: the I/O loop

void ClientCore::Impl::RunCompletions() {
  while (!completions_.empty()) {
    Completions batch;
    batch.swap(completions_);
    for (auto& c : batch) {
      if (c.done) c.done(std::move(c.result));
    }
  }
}

void ClientCore::Impl::Run() {
  io_thread_id_ = std::this_thread::get_id();
  std::vector<pollfd> fds;
  std::vector<BrokerConnection*> polled;
  for (;;) {
    absl::Time now = absl::Now();
    std::vector<PendingRequest> incoming;
    std::vector<Timer> due;
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      incoming.swap(incoming_);
      stopping = stopping_;
      auto split = std::partition(timers_.begin(), timers_.end(),
                                  [&](const Timer& t) { return t.at > now; });
      for (auto it = split; it != timers_.end(); ++it) due.push_back(std::move(*it));
      timers_.erase(split, timers_.end());
    }
    for (auto& r : incoming) pending_.push_back(std::move(r));
    for (auto& t : due) t.fn();
    if (stopping) break;

    HandleResolved(now);
    MaybeRefreshMetadata(now);
    DispatchPending(now);
    ExpireRequests(now);
    RunCompletions();

    fds.clear();
    polled.clear();
    fds.push_back(pollfd{wake_fd_, POLLIN, 0});
    for (auto& [id, conn] : conns_) {
      short ev = conn->WantedEvents();
      if (ev == 0) continue;
      fds.push_back(pollfd{conn->fd(), ev, 0});
      polled.push_back(conn.get());
    }
    absl::Duration wait = NextWakeUp(now) - now;
    int timeout_ms = static_cast<int>(
        std::clamp<int64_t>(absl::ToInt64Milliseconds(wait + absl::Microseconds(999)), 0, 1000));
    int rc = ::poll(fds.data(), fds.size(), timeout_ms);
    if (rc < 0) continue;  // EINTR
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      (void)!::read(wake_fd_, &v, sizeof v);
    }
    now = absl::Now();
    for (size_t i = 0; i < polled.size(); ++i) {
      if (fds[i + 1].revents == 0) continue;
      BrokerConnection& conn = *polled[i];
      bool was_ready = conn.state() == BrokerConnection::State::kReady;
      absl::Status s = conn.HandleEvents(fds[i + 1].revents, now, &completions_);
      if (!s.ok()) {
        CloseConnection(conn, s, now);
      } else if (!was_ready && conn.state() == BrokerConnection::State::kReady) {
        reconnect_[conn.node_id()] = Reconnect{};
        std::map<int16_t, std::pair<int16_t, int16_t>> v;
        for (const auto& api : protocol::AllApis()) {
          if (auto r = conn.BrokerVersions(api.key)) v[api.key] = *r;
        }
        absl::MutexLock lock(&mu_);
        versions_[conn.node_id()] = std::move(v);
      }
    }
    int64_t total = 0;
    for (auto& [id, conn] : conns_) total += static_cast<int64_t>(conn->in_flight());
    in_flight_.store(total);
    RunCompletions();
  }

  // Shutting down: fail everything still queued or in flight.
  absl::Status cancelled = absl::CancelledError("the client is shut down");
  for (auto& r : pending_) completions_.push_back({std::move(r.done), cancelled});
  pending_.clear();
  for (auto& [id, conn] : conns_) conn->Close(cancelled, &completions_);
  RunCompletions();
  std::vector<PendingRequest> late;
  {
    absl::MutexLock lock(&mu_);
    late.swap(incoming_);
    timers_.clear();
  }
  for (auto& r : late) {
    if (r.done) r.done(cancelled);
  }
  in_flight_.store(0);
}

absl::Time ClientCore::Impl::NextWakeUp(absl::Time now) {
  absl::Time t = now + absl::Seconds(1);
  for (const auto& r : pending_) t = std::min(t, r.deadline);
  for (const auto& [id, conn] : conns_) t = std::min(t, conn->NextDeadline());
  for (const auto& [id, rc] : reconnect_) {
    if (rc.next_attempt > now) t = std::min(t, rc.next_attempt);
  }
  {
    absl::MutexLock lock(&mu_);
    for (const auto& timer : timers_) t = std::min(t, timer.at);
    if (refresh_requested_ && !metadata_in_flight_) {
      t = std::min(t, last_metadata_attempt_ + options_.retry_backoff);
    }
  }
  if (!metadata_in_flight_) t = std::min(t, next_metadata_);
  return std::max(t, now);
}

// ---------------------------------------------------------------------------
// Routing

void ClientCore::Impl::DispatchPending(absl::Time now) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (TryDispatch(*it, now)) {
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

bool ClientCore::Impl::TryDispatch(PendingRequest& request, absl::Time now) {
  BrokerConnection* conn = nullptr;
  switch (request.target.kind) {
    case Target::Kind::kNode:
      conn = ConnectionFor(request.target.node_id, now);
      if (conn == nullptr) {
        absl::MutexLock lock(&mu_);
        refresh_requested_ = true;  // perhaps a broker we have not heard of yet
      }
      break;
    case Target::Kind::kLeader: {
      std::optional<int32_t> leader =
          io_metadata_->LeaderOf(request.target.topic, request.target.partition);
      if (!leader.has_value()) {
        absl::MutexLock lock(&mu_);
        topics_.insert(request.target.topic);
        refresh_requested_ = true;
      } else {
        conn = ConnectionFor(*leader, now);
      }
      break;
    }
    case Target::Kind::kAnyBroker:
      conn = PickAnyBroker(now);
      break;
  }
  if (conn == nullptr) return false;
  request.waiting_for = conn->node_id();
  request.waited = true;
  if (conn->state() != BrokerConnection::State::kReady) return false;
  SendOn(*conn, request, now);
  return true;
}

void ClientCore::Impl::SendOn(BrokerConnection& conn, PendingRequest& request, absl::Time now) {
  const protocol::ApiDescriptor* api = protocol::FindApi(request.api_key);
  std::string api_name = api ? std::string(api->name) : absl::StrCat("api ", request.api_key);
  auto broker = conn.BrokerVersions(request.api_key);
  std::string who = absl::StrCat("broker ", conn.node_id(), " (", conn.address().ToString(), ")");
  if (!broker.has_value()) {
    completions_.push_back({std::move(request.done),
                            absl::FailedPreconditionError(
                                absl::StrCat(who, " does not support ", api_name))});
    return;
  }
  int16_t version = std::min(request.max_version, broker->second);
  if (version < std::max(request.min_version, broker->first)) {
    completions_.push_back(
        {std::move(request.done),
         absl::FailedPreconditionError(absl::StrCat(
             who, " supports ", api_name, " v", broker->first, "-", broker->second,
             "; this client needs v", request.min_version, "-", request.max_version))});
    return;
  }
  absl::StatusOr<int32_t> id = conn.Enqueue(request.api_key, version, request.encode);
  if (!id.ok()) {
    completions_.push_back({std::move(request.done), id.status()});
    return;
  }
  RUNNEL_CLIENT_DEBUG(log_, kProtocol, "request sent",
                      {{"broker", std::to_string(conn.node_id())},
                       {"api", api_name},
                       {"version", std::to_string(version)},
                       {"correlation_id", std::to_string(*id)}});
  if (request.expect_response) {
    conn.Track(*id, BrokerConnection::InFlight{request.api_key, version, now, request.deadline,
                                               std::move(request.done)});
  } else {
    completions_.push_back({std::move(request.done),
                            RawResponse{conn.node_id(), request.api_key, version, ByteBuffer(), 0}});
  }
  absl::Status s = conn.Flush();
  if (!s.ok()) CloseConnection(conn, s, now);
}

BrokerConnection* ClientCore::Impl::ConnectionFor(int32_t node_id, absl::Time now) {
  auto it = conns_.find(node_id);
  if (it == conns_.end()) {
    HostPort address;
    if (node_id < 0) {
      size_t index = static_cast<size_t>(-1 - node_id);
      if (index >= bootstrap_.size()) return nullptr;
      address = bootstrap_[index];
    } else {
      auto b = io_metadata_->brokers.find(node_id);
      if (b == io_metadata_->brokers.end()) return nullptr;
      address = b->second;
    }
    it = conns_
             .emplace(node_id,
                      std::make_unique<BrokerConnection>(node_id, address, options_, Hooks()))
             .first;
  }
  BrokerConnection& conn = *it->second;
  if (conn.state() == BrokerConnection::State::kDisconnected) {
    Reconnect& rc = reconnect_[node_id];
    if (now >= rc.next_attempt) {
      absl::Status s = conn.StartConnect(now);
      if (!s.ok()) CloseConnection(conn, s, now);
    }
  }
  return &conn;
}

BrokerConnection* ClientCore::Impl::PickAnyBroker(absl::Time now) {
  BrokerConnection* best = nullptr;
  for (auto& [id, conn] : conns_) {
    if (conn->state() != BrokerConnection::State::kReady) continue;
    if (best == nullptr || conn->in_flight() < best->in_flight()) best = conn.get();
  }
  if (best != nullptr) return best;
  for (auto& [id, conn] : conns_) {
    if (conn->state() == BrokerConnection::State::kResolving ||
        conn->state() == BrokerConnection::State::kConnecting ||
        conn->state() == BrokerConnection::State::kNegotiating) {
      return conn.get();
    }
  }
  // Nothing ready or connecting: start on the next candidate (the known
  // brokers, else the bootstrap servers) that is not backing off.
  std::vector<int32_t> candidates;
  for (const auto& [id, address] : io_metadata_->brokers) candidates.push_back(id);
  if (candidates.empty()) {
    for (size_t i = 0; i < bootstrap_.size(); ++i) candidates.push_back(-1 - static_cast<int32_t>(i));
  }
  for (size_t n = 0; n < candidates.size(); ++n) {
    int32_t id = candidates[(any_cursor_ + n) % candidates.size()];
    if (now < reconnect_[id].next_attempt) continue;
    any_cursor_ = (any_cursor_ + n + 1) % candidates.size();
    BrokerConnection* conn = ConnectionFor(id, now);
    if (conn != nullptr && conn->state() != BrokerConnection::State::kDisconnected) return conn;
  }
  return nullptr;
}

void ClientCore::Impl::CloseConnection(BrokerConnection& conn, const absl::Status& status,
                                       absl::Time now) {
  conn.Close(status, &completions_);
  Reconnect& rc = reconnect_[conn.node_id()];
  if (!absl::IsCancelled(status)) {
    // A broker that stays down fails the same way at every reconnect: warn
    // once per distinct error, then only at debug.
    std::string error(status.message());
    bool repeat = error == rc.last_logged_error;
    if (repeat) {
      RUNNEL_CLIENT_DEBUG(log_, kBroker, "broker connection failed",
                          {{"broker", std::to_string(conn.node_id())},
                           {"address", conn.address().ToString()},
                           {"error", error}});
    } else {
      RUNNEL_CLIENT_LOG(log_, kWarn, "broker connection failed",
                        {{"broker", std::to_string(conn.node_id())},
                         {"address", conn.address().ToString()},
                         {"error", error}});
    }
    rc.last_logged_error = std::move(error);
  }
  rc.backoff = rc.backoff == absl::ZeroDuration()
                   ? options_.reconnect_backoff
                   : std::min(rc.backoff * 2, options_.reconnect_backoff_max);
  rc.next_attempt = now + rc.backoff;
  absl::MutexLock lock(&mu_);
  versions_.erase(conn.node_id());
  refresh_requested_ = true;  // a lost connection may mean a moved leader
}

void ClientCore::Impl::ExpireRequests(absl::Time now) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->deadline > now) {
      ++it;
      continue;
    }
    std::string why = "no broker to send it to";
    if (it->target.kind == Target::Kind::kLeader) {
      why = absl::StrCat("no leader known for ", it->target.topic, "-", it->target.partition);
    }
    if (it->waited) {
      auto c = conns_.find(it->waiting_for);
      why = absl::StrCat("waiting for broker ", it->waiting_for);
      if (c != conns_.end()) {
        absl::StrAppend(&why, " (", c->second->address().ToString(), ")");
        if (!c->second->last_error().ok()) {
          absl::StrAppend(&why, ": ", c->second->last_error().message());
        }
      }
    }
    completions_.push_back(
        {std::move(it->done), absl::DeadlineExceededError(absl::StrCat("request timed out ", why))});
    it = pending_.erase(it);
  }
  for (auto& [id, conn] : conns_) {
    if (conn->state() == BrokerConnection::State::kResolving && conn->TimedOut(now)) {
      CloseConnection(*conn,
                      absl::DeadlineExceededError(absl::StrCat(
                          "resolving ", conn->address().ToString(), " took longer than ",
                          "socket.connection.setup.timeout.ms (",
                          absl::FormatDuration(options_.connection_setup_timeout), ")")),
                      now);
    } else if (conn->state() != BrokerConnection::State::kDisconnected && conn->TimedOut(now)) {
      CloseConnection(*conn,
                      absl::DeadlineExceededError(absl::StrCat(
                          "request to broker ", id, " (", conn->address().ToString(),
                          ") timed out")),
                      now);
    }
  }
}

}  // namespace runnel::client
