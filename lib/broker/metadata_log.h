// MetadataLog: the topic registry's durable state, an ordered stream of
// records (cluster_metadata.proto) in a storage Log at
// <data-dir>/__cluster_metadata-0. Each change is appended and fsynced
// before it takes effect, so a crash leaves either the old or the new state.
//
// Threads: Append* from any thread (the storage Log serialises its writers;
// TopicRegistry and the producer id manager each hold their own lock).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runnel/log.h"
#include "runnel/log_manager.h"
#include "runnel/protocol/wire.h"

namespace runnel::broker {

inline constexpr char kMetadataTopic[] = "__cluster_metadata";

// A topic as the metadata log last described it.
struct TopicMetadata {
  protocol::Uuid id;
  int32_t partitions = 0;
  std::map<std::string, std::string> configs;
};

struct MetadataState {
  std::map<std::string, TopicMetadata> topics;
  // Names whose latest record removed them: leftover partition directories
  // of these are deleted at start-up.
  std::map<std::string, bool> removed;
  // Where the next block of producer ids starts (the highest
  // ProducerIdsRecord); 0 before the first InitProducerId.
  int64_t next_producer_id_block = 0;
};

class MetadataLog {
 public:
  static absl::StatusOr<std::unique_ptr<MetadataLog>> Open(storage::LogManager* logs);

  // Replays every record.
  absl::StatusOr<MetadataState> Replay() const;

  absl::Status AppendTopic(const std::string& name, const TopicMetadata& topic);
  absl::Status AppendPartitionCount(const std::string& name, int32_t partitions);
  absl::Status AppendRemoveTopic(const std::string& name);
  // Reserves producer ids below `next_block_start` (producer_ids.h).
  absl::Status AppendProducerIdBlock(int32_t broker_id, int64_t next_block_start);

 private:
  explicit MetadataLog(std::shared_ptr<storage::Log> log) : log_(std::move(log)) {}
  absl::Status AppendBytes(const std::string& value);

  std::shared_ptr<storage::Log> log_;
};

}  // namespace runnel::broker
