// Read-only access to the files of a data directory, for `runnel log dump`
// and `runnel log check`.
//
// These commands read the files as they are, without opening the Log: Open
// would run recovery and cut a corrupt tail, which is what a checker must
// report, not repair. Layouts are in storage/log_format.h and
// common/record_batch_format.h.
//
// Files are memory-mapped at their size when opened. Appends by a live writer
// are harmless (the mapping just ends earlier); truncation under a mapping
// (recovery, replica divergence) is not, so run these on a log that no
// process is recovering. Not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/record_batch_format.h"

namespace runnel::tools {

// The files of one segment; index paths are set even when the files are missing.
struct SegmentFiles {
  int64_t base_offset = 0;
  std::string log_path;
  std::string index_path;
  std::string time_index_path;
};

// The live segments of a partition directory (`*.deleted`, `.cleaned` and
// `.swap` files are not), oldest first.
absl::StatusOr<std::vector<SegmentFiles>> ListSegments(const std::string& partition_dir);

// Partition directories (`<topic>-<partition>`) of a data directory, sorted;
// directories being deleted (`-delete`) are left out.
absl::StatusOr<std::vector<std::string>> ListPartitionDirs(const std::string& data_dir);

// A whole file mapped read-only. Movable.
class MappedFile {
 public:
  // NotFound when missing.
  static absl::StatusOr<MappedFile> Open(const std::string& path);
  MappedFile() = default;
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// One batch found in a .log, framed (length and magic read). `valid` says
// whether ValidateBatch passed (CRC and the rest); header fields other than
// the length are not to be trusted when it did not.
struct ScannedBatch {
  int64_t position = 0;
  std::span<const uint8_t> bytes;
  record_batch::BatchHeader header;
  absl::Status valid;
};

// Walks the batches of a .log image from its start. A batch that cannot be
// framed (bad length or magic, or running past the end: a torn write) stops
// the walk and sets error(); a batch with a bad CRC is returned with
// `valid` set and the walk goes on, since its length still frames the next.
class BatchWalker {
 public:
  explicit BatchWalker(std::span<const uint8_t> file) : file_(file) {}

  std::optional<ScannedBatch> Next();
  // Where the walk stopped (the end of the file when error() is OK).
  int64_t position() const { return static_cast<int64_t>(pos_); }
  const absl::Status& error() const { return error_; }

 private:
  std::span<const uint8_t> file_;
  size_t pos_ = 0;
  absl::Status error_;
};

// Bytes as text: printable ASCII and UTF-8 as is, backslash, tab, newline and
// other control bytes escaped (\\, \t, \n, \xNN), so one record is one line.
std::string EscapeBytes(std::span<const uint8_t> bytes);

}  // namespace runnel::tools
