#include "broker/topic_registry.h"

#include <algorithm>
#include <functional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace runnel::broker {

using protocol::ErrorCode;

TopicRegistry::TopicRegistry(storage::LogManager* logs, MetadataLog* metadata,
                             storage::LogOptions defaults)
    : logs_(logs), metadata_(metadata), defaults_(std::move(defaults)) {}

protocol::Uuid TopicRegistry::NewTopicId() {
  static absl::Mutex mu(absl::kConstInit);
  static std::mt19937_64* rng = new std::mt19937_64(std::random_device{}());
  absl::MutexLock l(&mu);
  protocol::Uuid id;
  uint64_t a = (*rng)(), b = (*rng)();
  for (int i = 0; i < 8; ++i) {
    id.bytes[i] = static_cast<uint8_t>(a >> (8 * i));
    id.bytes[8 + i] = static_cast<uint8_t>(b >> (8 * i));
  }
  // Version 4, variant 1, as Kafka's Uuid.randomUuid().
  id.bytes[6] = static_cast<uint8_t>((id.bytes[6] & 0x0f) | 0x40);
  id.bytes[8] = static_cast<uint8_t>((id.bytes[8] & 0x3f) | 0x80);
  return id;
}

std::optional<storage::LogOptions> TopicRegistry::OptionsFor(
    const std::map<std::string, std::string>& configs) const {
  if (configs.empty()) return std::nullopt;
  absl::StatusOr<storage::LogOptions> o = storage::LogOptions::FromProperties(configs, defaults_);
  if (!o.ok()) return std::nullopt;  // validated on creation; defaults if that changed
  return *o;
}

TopicError TopicRegistry::ValidateName(const std::string& name) {
  if (name.empty() || name == "." || name == "..") {
    return {ErrorCode::kInvalidTopicException, "topic name is empty, '.' or '..'"};
  }
  if (name == kMetadataTopic) {
    return {ErrorCode::kInvalidTopicException, "__cluster_metadata is reserved for the broker"};
  }
  if (name.size() > 249) {
    return {ErrorCode::kInvalidTopicException, "topic name is longer than 249 characters"};
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return {ErrorCode::kInvalidTopicException,
              absl::StrCat("topic name '", name, "' has characters other than [a-zA-Z0-9._-]")};
    }
  }
  return {};
}

absl::StatusOr<std::shared_ptr<Partition>> TopicRegistry::OpenPartition(
    const std::string& topic, int32_t index, const std::optional<storage::LogOptions>& options) {
  absl::StatusOr<std::shared_ptr<storage::Log>> log =
      logs_->GetOrCreateLog(storage::TopicPartition{topic, index}, options);
  if (!log.ok()) return log.status();
  auto p = std::make_shared<Partition>();
  p->topic = topic;
  p->index = index;
  p->log = *std::move(log);
  p->high_watermark = p->log->log_end_offset();  // one node: everything is committed
  return p;
}

absl::Status TopicRegistry::Load() {
  absl::StatusOr<MetadataState> state = metadata_->Replay();
  if (!state.ok()) return state.status();
  std::map<std::string, int32_t> on_disk;  // name -> partition directories found
  for (const storage::TopicPartition& tp : logs_->ListLogs()) {
    if (tp.topic == kMetadataTopic) continue;
    on_disk[tp.topic] = std::max(on_disk[tp.topic], tp.partition + 1);
  }
  for (const auto& [name, count] : on_disk) {
    if (state->topics.contains(name)) continue;
    if (state->removed.contains(name)) {
      // Deleted, but the crash came before its directories went.
      for (const storage::TopicPartition& tp : logs_->ListLogs()) {
        if (tp.topic == name) (void)logs_->DeleteLog(tp);
      }
      continue;
    }
    TopicMetadata adopted{NewTopicId(), count, {}};
    if (absl::Status s = metadata_->AppendTopic(name, adopted); !s.ok()) return s;
    state->topics[name] = adopted;
  }
  absl::MutexLock l(&mu_);
  for (const auto& [name, meta] : state->topics) {
    auto topic = std::make_shared<Topic>();
    topic->name = name;
    topic->id = meta.id;
    topic->configs = meta.configs;
    std::optional<storage::LogOptions> options = OptionsFor(meta.configs);
    for (int32_t i = 0; i < meta.partitions; ++i) {
      absl::StatusOr<std::shared_ptr<Partition>> p = OpenPartition(name, i, options);
      if (!p.ok()) return p.status();
      topic->partitions.push_back(*std::move(p));
    }
    topics_[name] = std::move(topic);
  }
  return absl::OkStatus();
}

std::shared_ptr<const Topic> TopicRegistry::Find(const std::string& name) const {
  absl::MutexLock l(&mu_);
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : it->second;
}

std::shared_ptr<Partition> TopicRegistry::FindPartition(const std::string& name,
                                                        int32_t index) const {
  std::shared_ptr<const Topic> t = Find(name);
  if (t == nullptr || index < 0 || index >= static_cast<int32_t>(t->partitions.size())) {
    return nullptr;
  }
  return t->partitions[index];
}

std::vector<std::shared_ptr<const Topic>> TopicRegistry::List() const {
  std::vector<std::shared_ptr<const Topic>> out;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [name, t] : topics_) out.push_back(t);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->name < b->name; });
  return out;
}

TopicError TopicRegistry::Create(const std::string& name, int32_t partitions,
                                 const std::map<std::string, std::string>& configs,
                                 bool validate_only) {
  if (TopicError e = ValidateName(name); !e.ok()) return e;
  if (partitions < 1) {
    return {ErrorCode::kInvalidPartitions,
            absl::StrCat("number of partitions must be at least 1, was ", partitions)};
  }
  std::optional<storage::LogOptions> options;
  if (!configs.empty()) {
    absl::StatusOr<storage::LogOptions> o = storage::LogOptions::FromProperties(configs, defaults_);
    if (!o.ok()) return {ErrorCode::kInvalidConfig, std::string(o.status().message())};
    options = *o;
  }
  absl::MutexLock l(&mu_);
  if (topics_.contains(name)) {
    return {ErrorCode::kTopicAlreadyExists, absl::StrCat("topic '", name, "' already exists")};
  }
  if (validate_only) return {};
  auto topic = std::make_shared<Topic>();
  topic->name = name;
  topic->id = NewTopicId();
  topic->configs = configs;
  if (absl::Status s = metadata_->AppendTopic(name, {topic->id, partitions, configs}); !s.ok()) {
    return {ErrorCode::kKafkaStorageError, std::string(s.message())};
  }
  for (int32_t i = 0; i < partitions; ++i) {
    absl::StatusOr<std::shared_ptr<Partition>> p = OpenPartition(name, i, options);
    if (!p.ok()) return {ErrorCode::kKafkaStorageError, std::string(p.status().message())};
    topic->partitions.push_back(*std::move(p));
  }
  topics_[name] = std::move(topic);
  RUNNEL_LOG(kInfo, "topic created", {{"topic", name}, {"partitions", std::to_string(partitions)}});
  return {};
}

TopicError TopicRegistry::Delete(const std::string& name) {
  std::shared_ptr<const Topic> topic;
  {
    absl::MutexLock l(&mu_);
    auto it = topics_.find(name);
    if (it == topics_.end()) {
      return {ErrorCode::kUnknownTopicOrPartition, absl::StrCat("topic '", name, "' does not exist")};
    }
    if (absl::Status s = metadata_->AppendRemoveTopic(name); !s.ok()) {
      return {ErrorCode::kKafkaStorageError, std::string(s.message())};
    }
    topic = it->second;
    topics_.erase(it);
  }
  for (const auto& p : topic->partitions) {
    absl::Status s = logs_->DeleteLog(storage::TopicPartition{name, p->index});
    if (!s.ok() && !absl::IsNotFound(s)) {
      return {ErrorCode::kKafkaStorageError, std::string(s.message())};
    }
  }
  return {};
}

TopicError TopicRegistry::AddPartitions(const std::string& name, int32_t total,
                                        bool validate_only) {
  absl::MutexLock l(&mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    return {ErrorCode::kUnknownTopicOrPartition, absl::StrCat("topic '", name, "' does not exist")};
  }
  int32_t current = static_cast<int32_t>(it->second->partitions.size());
  if (total <= current) {
    return {ErrorCode::kInvalidPartitions,
            absl::StrCat("topic has ", current, " partitions; the new count must be larger, was ",
                         total)};
  }
  if (validate_only) return {};
  if (absl::Status s = metadata_->AppendPartitionCount(name, total); !s.ok()) {
    return {ErrorCode::kKafkaStorageError, std::string(s.message())};
  }
  auto grown = std::make_shared<Topic>(*it->second);
  std::optional<storage::LogOptions> options = OptionsFor(grown->configs);
  for (int32_t i = current; i < total; ++i) {
    absl::StatusOr<std::shared_ptr<Partition>> p = OpenPartition(name, i, options);
    if (!p.ok()) return {ErrorCode::kKafkaStorageError, std::string(p.status().message())};
    grown->partitions.push_back(*std::move(p));
  }
  it->second = std::move(grown);
  return {};
}

TopicError TopicRegistry::AlterConfigs(
    const std::string& name,
    const std::function<TopicError(std::map<std::string, std::string>*)>& edit,
    bool validate_only) {
  absl::MutexLock l(&mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    return {ErrorCode::kUnknownTopicOrPartition, absl::StrCat("topic '", name, "' does not exist")};
  }
  const Topic& old = *it->second;
  std::map<std::string, std::string> configs = old.configs;
  if (TopicError e = edit(&configs); !e.ok()) return e;
  absl::StatusOr<storage::LogOptions> options =
      storage::LogOptions::FromProperties(configs, defaults_);
  if (!options.ok()) return {ErrorCode::kInvalidConfig, std::string(options.status().message())};
  if (validate_only) return {};
  // The whole topic record again, with the new configs: replay keeps the
  // latest record for a name, so a crash after this leaves the new configs.
  TopicMetadata meta{old.id, static_cast<int32_t>(old.partitions.size()), configs};
  if (absl::Status s = metadata_->AppendTopic(name, meta); !s.ok()) {
    return {ErrorCode::kKafkaStorageError, std::string(s.message())};
  }
  auto changed = std::make_shared<Topic>(old);
  changed->configs = std::move(configs);
  it->second = changed;
  for (const auto& p : changed->partitions) {
    if (absl::Status s = p->log->UpdateOptions(*options); !s.ok()) {
      // Recorded already: the next start opens the log with these options.
      return {ErrorCode::kKafkaStorageError,
              absl::StrCat("partition ", p->index, ": ", std::string(s.message()))};
    }
  }
  return {};
}

}  // namespace runnel::broker
