#include "storage/checkpoint_file.h"

#include <functional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "runnel/common/status_macros.h"
#include "storage/file_util.h"
#include "storage/log_format.h"

namespace runnel::storage {
namespace {

std::string Render(size_t count, const std::function<void(std::string&)>& entries) {
  std::string out = absl::StrCat(kCheckpointVersion, "\n", count, "\n");
  entries(out);
  return out;
}

absl::Status Malformed(const std::string& path, size_t line, absl::string_view why) {
  return absl::DataLossError(
      absl::StrCat("malformed checkpoint ", path, " line ", line, ": ", why));
}

// Reads `path`, checks the version and count lines and calls `parse` with the
// space-separated fields of each entry line; a missing file has no entries.
// An entry without `fields` fields or that `parse` rejects is DataLoss
// naming the line.
absl::Status ForEachEntry(const std::string& path, size_t fields,
                          const std::function<bool(const std::vector<absl::string_view>&)>& parse) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (absl::IsNotFound(text.status())) return absl::OkStatus();
  if (!text.ok()) return text.status();
  std::vector<absl::string_view> lines = absl::StrSplit(*text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.size() < 2) return Malformed(path, lines.size() + 1, "missing version or count");
  int version = -1;
  if (!absl::SimpleAtoi(lines[0], &version) || version != kCheckpointVersion) {
    return Malformed(path, 1, absl::StrCat("unsupported version '", lines[0], "'"));
  }
  size_t count = 0;
  if (!absl::SimpleAtoi(lines[1], &count)) return Malformed(path, 2, "bad count");
  if (count != lines.size() - 2) {
    return Malformed(path, 2, absl::StrCat("count ", count, " but ", lines.size() - 2, " entries"));
  }
  for (size_t i = 2; i < lines.size(); ++i) {
    std::vector<absl::string_view> f = absl::StrSplit(lines[i], ' ');
    if (f.size() != fields || !parse(f)) {
      return Malformed(path, i + 1, absl::StrCat("bad entry '", lines[i], "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteOffsetCheckpoint(const std::string& path,
                                   const std::map<TopicPartition, int64_t>& offsets) {
  return WriteFileAtomically(path, Render(offsets.size(), [&](std::string& out) {
                               for (const auto& [tp, offset] : offsets) {
                                 absl::StrAppend(&out, tp.topic, " ", tp.partition, " ", offset,
                                                 "\n");
                               }
                             }));
}

absl::StatusOr<std::map<TopicPartition, int64_t>> ReadOffsetCheckpoint(const std::string& path) {
  std::map<TopicPartition, int64_t> out;
  RUNNEL_RETURN_IF_ERROR(ForEachEntry(path, 3, [&](const std::vector<absl::string_view>& f) {
    TopicPartition tp;
    int64_t offset = 0;
    if (f[0].empty() || !absl::SimpleAtoi(f[1], &tp.partition) ||
        !absl::SimpleAtoi(f[2], &offset)) {
      return false;
    }
    tp.topic = std::string(f[0]);
    out[tp] = offset;
    return true;
  }));
  return out;
}

absl::Status WriteEpochCheckpoint(const std::string& path, const std::vector<EpochEntry>& entries) {
  return WriteFileAtomically(path, Render(entries.size(), [&](std::string& out) {
                               for (const EpochEntry& e : entries) {
                                 absl::StrAppend(&out, e.epoch, " ", e.start_offset, "\n");
                               }
                             }));
}

absl::StatusOr<std::vector<EpochEntry>> ReadEpochCheckpoint(const std::string& path) {
  std::vector<EpochEntry> out;
  RUNNEL_RETURN_IF_ERROR(ForEachEntry(path, 2, [&](const std::vector<absl::string_view>& f) {
    EpochEntry e;
    if (!absl::SimpleAtoi(f[0], &e.epoch) || !absl::SimpleAtoi(f[1], &e.start_offset)) {
      return false;
    }
    out.push_back(e);
    return true;
  }));
  return out;
}

}  // namespace runnel::storage
