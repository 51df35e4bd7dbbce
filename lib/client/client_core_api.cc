// ClientCore's public members: they hand work to the I/O thread
// (client_core.cc) and read what it publishes.
#include "absl/strings/str_cat.h"
#include "client/client_core.h"
#include "client/client_core_impl.h"
#include "runnel/common/status_macros.h"

namespace runnel::client {

// ---------------------------------------------------------------------------
// Public face

ClientCore::ClientCore(const ClientOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<ClientCore>> ClientCore::Create(const ClientOptions& options,
                                                               std::shared_ptr<Resolver> resolver) {
  RUNNEL_RETURN_IF_ERROR(options.Validate());
  RUNNEL_ASSIGN_OR_RETURN(std::vector<HostPort> bootstrap,
                          ParseBootstrapServers(options.bootstrap_servers));
  std::unique_ptr<ClientCore> core(new ClientCore(options));
  if (resolver == nullptr) resolver = DefaultResolver();
  core->impl_ = std::make_unique<Impl>(core->options_, std::move(bootstrap), std::move(resolver));
  core->impl_->Start();
  return core;
}

ClientCore::~ClientCore() { Shutdown(absl::Now()); }

void ClientCore::SendRaw(const Target& target, int16_t api_key, Encoder encode,
                         const RequestOptions& options, RawCallback done) {
  PendingRequest req;
  req.target = target;
  req.api_key = api_key;
  const protocol::ApiDescriptor* api = protocol::FindApi(api_key);
  req.min_version = options.min_version >= 0 ? options.min_version : (api ? api->min_version : 0);
  req.max_version = options.max_version >= 0 ? options.max_version : (api ? api->max_version : 0);
  req.encode = std::move(encode);
  req.expect_response = options.expect_response;
  req.deadline = absl::Now() + options.timeout.value_or(options_.request_timeout);
  req.done = std::move(done);
  impl_->Enqueue(std::move(req));
}

std::shared_ptr<const ClusterMetadata> ClientCore::metadata() const {
  absl::MutexLock lock(&impl_->mu_);
  return impl_->metadata_;
}

void ClientCore::AddTopics(const std::vector<std::string>& topics) {
  bool added = false;
  {
    absl::MutexLock lock(&impl_->mu_);
    for (const auto& t : topics) added |= impl_->topics_.insert(t).second;
    if (added) impl_->refresh_requested_ = true;
  }
  if (added) Post([] {});
}

void ClientCore::SetAllTopics(bool all) {
  {
    absl::MutexLock lock(&impl_->mu_);
    impl_->all_topics_ = all;
    impl_->refresh_requested_ = true;
  }
  Post([] {});
}

void ClientCore::RequestMetadataRefresh() {
  {
    absl::MutexLock lock(&impl_->mu_);
    impl_->refresh_requested_ = true;
  }
  Post([] {});
}

absl::StatusOr<std::shared_ptr<const ClusterMetadata>> ClientCore::WaitForTopic(
    const std::string& topic, absl::Time deadline) {
  AddTopics({topic});
  absl::MutexLock lock(&impl_->mu_);
  for (;;) {
    const TopicMetadata* t = impl_->metadata_->FindTopic(topic);
    if (t != nullptr && !t->partitions.empty()) return impl_->metadata_;
    if (impl_->metadata_changed_.WaitWithDeadline(&impl_->mu_, deadline)) {
      t = impl_->metadata_->FindTopic(topic);
      if (t != nullptr && !t->partitions.empty()) return impl_->metadata_;
      std::string why = t == nullptr ? "no metadata for it yet"
                                     : absl::StrCat("last error ",
                                                    std::string(protocol::ErrorCodeName(t->error)));
      return absl::DeadlineExceededError(
          absl::StrCat("topic '", topic, "' not available in time (", why, ")"));
    }
  }
}

int ClientCore::AddMetadataListener(
    absl::AnyInvocable<void(const std::shared_ptr<const ClusterMetadata>&)> listener) {
  absl::MutexLock lock(&impl_->mu_);
  int id = impl_->next_listener_id_++;
  impl_->listeners_.emplace(id, std::make_shared<Impl::Listener>(std::move(listener)));
  return id;
}

void ClientCore::RemoveMetadataListener(int id) {
  absl::MutexLock lock(&impl_->mu_);
  impl_->listeners_.erase(id);
}

void ClientCore::Post(absl::AnyInvocable<void()> fn) {
  impl_->Post(std::move(fn), absl::InfinitePast());
}

void ClientCore::PostAfter(absl::Duration delay, absl::AnyInvocable<void()> fn) {
  impl_->Post(std::move(fn), absl::Now() + delay);
}

bool ClientCore::InIoThread() const { return std::this_thread::get_id() == impl_->io_thread_id_; }

std::optional<std::pair<int16_t, int16_t>> ClientCore::BrokerVersions(int32_t node_id,
                                                                      int16_t api_key) const {
  absl::MutexLock lock(&impl_->mu_);
  auto n = impl_->versions_.find(node_id);
  if (n == impl_->versions_.end()) return std::nullopt;
  auto k = n->second.find(api_key);
  if (k == n->second.end()) return std::nullopt;
  return k->second;
}

int64_t ClientCore::in_flight() const { return impl_->in_flight_.load(); }

void ClientCore::Shutdown(absl::Time deadline) {
  if (impl_ != nullptr) impl_->Shutdown();
}

}  // namespace runnel::client
