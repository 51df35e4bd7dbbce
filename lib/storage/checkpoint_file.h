// Kafka's checkpoint files: a version line "0", a count line, then one entry
// a line (grammar in storage/log_format.h). Used for the recovery point and
// log start offset checkpoints of a data directory (entries "topic partition
// offset") and for leader-epoch-checkpoint (entries "epoch offset").
//
// Writes replace the file atomically; reads check version, count and every
// entry and report a malformed file as DataLoss naming the file and line.
// Thread-compatible (callers serialise writes to one path).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runnel/log_manager.h"

namespace runnel::storage {

// A checkpoint of "topic partition offset" lines.
absl::Status WriteOffsetCheckpoint(const std::string& path,
                                   const std::map<TopicPartition, int64_t>& offsets);
// A missing file reads as empty.
absl::StatusOr<std::map<TopicPartition, int64_t>> ReadOffsetCheckpoint(const std::string& path);

// A checkpoint of "epoch start_offset" lines, in order.
absl::Status WriteEpochCheckpoint(const std::string& path, const std::vector<EpochEntry>& entries);
// A missing file reads as empty.
absl::StatusOr<std::vector<EpochEntry>> ReadEpochCheckpoint(const std::string& path);

}  // namespace runnel::storage
