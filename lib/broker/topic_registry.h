// TopicRegistry: the broker's topics (name, id, partitions, configs) and the
// partition objects requests work on. Partitions hold the high watermark
// apart from the log end: on one node it moves to the log end after each
// append; with replication it will trail it.
//
// Topics, their random ids, partition counts and configs live in the
// metadata log (metadata_log.h); each change is appended there before it
// takes effect, and start-up replays it. Partition directories without a
// topic record (written before the metadata log existed) are adopted.
//
// Threads: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "broker/metadata_log.h"
#include "runnel/log.h"
#include "runnel/log_manager.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/wire.h"

namespace runnel::broker {

class ProducerStateTable;  // producer_state.h

struct Partition {
  std::string topic;
  int32_t index = 0;
  std::shared_ptr<storage::Log> log;
  // The storage log takes one writer at a time; produce requests for the
  // same partition arrive on several I/O threads.
  absl::Mutex append_mu;
  // Offsets below it are visible to consumers. Only advanced after appends.
  std::atomic<int64_t> high_watermark{0};
  // Idempotent producers' sequences (producer_state.h), rebuilt from the log
  // by the first produce after start-up; null until then.
  std::shared_ptr<ProducerStateTable> producers ABSL_GUARDED_BY(append_mu);
};

struct Topic {
  std::string name;
  protocol::Uuid id;
  std::map<std::string, std::string> configs;  // topic-level overrides
  std::vector<std::shared_ptr<Partition>> partitions;
};

// A Kafka error code with its message, for per-topic results.
struct TopicError {
  protocol::ErrorCode code = protocol::ErrorCode::kNone;
  std::string message;
  bool ok() const { return code == protocol::ErrorCode::kNone; }
};

class TopicRegistry {
 public:
  // `metadata` (not owned) must outlive the registry.
  TopicRegistry(storage::LogManager* logs, MetadataLog* metadata, storage::LogOptions defaults);

  // Replays the metadata log and opens every topic's partitions.
  absl::Status Load();

  std::shared_ptr<const Topic> Find(const std::string& name) const;
  std::shared_ptr<Partition> FindPartition(const std::string& name, int32_t index) const;
  std::vector<std::shared_ptr<const Topic>> List() const;

  // Kafka's checks (name legal, partitions >= 1, configs valid), then the
  // logs unless `validate_only`.
  TopicError Create(const std::string& name, int32_t partitions,
                    const std::map<std::string, std::string>& configs, bool validate_only);
  TopicError Delete(const std::string& name);
  // Grows a topic to `total` partitions.
  TopicError AddPartitions(const std::string& name, int32_t total, bool validate_only);

  // Changes the topic's config overrides: `edit` gets the current ones and
  // changes them in place (keys it removes go back to the broker defaults)
  // or returns an error, which is passed on. It runs under the registry's
  // lock, so concurrent changes never lose one another. The result is
  // validated (INVALID_CONFIG saying which key and why), recorded in the
  // metadata log and applied to every partition's live log, unless
  // `validate_only`. UNKNOWN_TOPIC_OR_PARTITION for a missing topic.
  TopicError AlterConfigs(const std::string& name,
                          const std::function<TopicError(std::map<std::string, std::string>*)>& edit,
                          bool validate_only);

  // The broker-wide log options topics without overrides use.
  const storage::LogOptions& defaults() const { return defaults_; }

  static protocol::Uuid NewTopicId();
  static TopicError ValidateName(const std::string& name);

 private:
  absl::StatusOr<std::shared_ptr<Partition>> OpenPartition(
      const std::string& topic, int32_t index, const std::optional<storage::LogOptions>& options);

  std::optional<storage::LogOptions> OptionsFor(const std::map<std::string, std::string>& configs) const;

  storage::LogManager* const logs_;
  MetadataLog* const metadata_;
  const storage::LogOptions defaults_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const Topic>> topics_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::broker
