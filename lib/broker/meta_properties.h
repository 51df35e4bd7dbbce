// meta.properties: the data directory's identity, as Kafka (KRaft mode)
// writes it in each log directory:
//
//   #
//   #<date the file was written>
//   cluster.id=<22 characters: a random UUID in URL-safe base64, no padding>
//   node.id=<this broker's node id>
//   version=1
//
// The cluster id is made once, when a data directory is first used, and
// read back on every start so clients (and Kafka tools) see the same id
// across restarts. A data directory written by another node id refuses to
// start: serving it would hand one node's partitions to another.
//
//   absl::StatusOr<MetaProperties> meta = LoadOrCreateMetaProperties("/data", 0);
//   if (!meta.ok()) return meta.status();  // e.g. a node id mismatch
//   std::string cluster_id = meta->cluster_id;
//
// Threads: call at start-up, before the data directory is otherwise used.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace runnel::broker {

inline constexpr char kMetaPropertiesFile[] = "meta.properties";

struct MetaProperties {
  std::string cluster_id;
  int32_t node_id = 0;
};

// A new cluster id as Kafka's Uuid.randomUuid().toString() makes one: 16
// random bytes (version 4, variant 1) in URL-safe base64 without padding,
// never starting with '-' (Kafka avoids ids that look like flags).
std::string NewClusterId();

// Reads `<data_dir>/meta.properties`, or writes a new one (cluster id from
// NewClusterId) when there is none. FailedPrecondition when the stored
// node.id differs from `node_id`; DataLoss when the file is unreadable or
// lacks cluster.id. The directory is created if missing.
absl::StatusOr<MetaProperties> LoadOrCreateMetaProperties(const std::string& data_dir,
                                                          int32_t node_id);

}  // namespace runnel::broker
