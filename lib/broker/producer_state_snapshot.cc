#include "broker/producer_state_snapshot.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/crc32c.h"
#include "common/logging.h"
#include "runnel/common/endian.h"
#include "runnel/common/status_macros.h"
#include "storage/file_util.h"
#include "storage/log_format.h"

namespace runnel::broker {
namespace {

constexpr int32_t kNoSequence = -1;

// Kafka's DefaultRecordBatch.decrementSequence: the inverse of the wrap
// from INT32_MAX to 0.
int32_t DecrementSequence(int32_t sequence, int32_t decrement) {
  if (sequence < decrement) return std::numeric_limits<int32_t>::max() - (decrement - sequence) + 1;
  return sequence - decrement;
}

std::string SnapshotPath(const std::string& dir, int64_t offset) {
  return storage::JoinPath(dir, storage::SegmentFileName(offset, storage::kSnapshotFileSuffix));
}

absl::Status Corrupt(const std::string& path, size_t position, absl::string_view why) {
  return absl::DataLossError(
      absl::StrCat("producer snapshot ", path, " at byte ", position, ": ", why));
}

}  // namespace

std::vector<uint8_t> EncodeProducerSnapshot(const ProducerStateTable& table) {
  std::vector<std::pair<int64_t, const ProducerEntry*>> producers;
  size_t count = 0;
  for (const auto& [pid, entry] : table.producers()) {
    producers.emplace_back(pid, &entry);
    count += entry.batches.size();
  }
  std::sort(producers.begin(), producers.end());
  std::vector<uint8_t> out(kProducerSnapshotHeaderSize + count * kProducerSnapshotEntrySize);
  StoreBigEndian<int16_t>(out.data(), kProducerSnapshotVersion);
  StoreBigEndian<int32_t>(out.data() + kProducerSnapshotEntriesOffset, static_cast<int32_t>(count));
  uint8_t* p = out.data() + kProducerSnapshotHeaderSize;
  for (const auto& [pid, entry] : producers) {
    for (const ProducerBatchMetadata& b : entry->batches) {
      StoreBigEndian<int64_t>(p, pid);
      StoreBigEndian<int16_t>(p + 8, entry->epoch);
      StoreBigEndian<int32_t>(p + 10, b.last_sequence);
      StoreBigEndian<int64_t>(p + 14, b.last_offset);
      StoreBigEndian<int32_t>(p + 22, static_cast<int32_t>(b.last_offset - b.first_offset));
      StoreBigEndian<int64_t>(p + 26, b.timestamp_ms);
      StoreBigEndian<int32_t>(p + 34, -1);  // coordinator epoch
      StoreBigEndian<int64_t>(p + 38, -1);  // current transaction's first offset
      p += kProducerSnapshotEntrySize;
    }
  }
  const uint32_t crc = Crc32c(out.data() + kProducerSnapshotEntriesOffset,
                              out.size() - kProducerSnapshotEntriesOffset);
  StoreBigEndian<uint32_t>(out.data() + kProducerSnapshotCrcOffset, crc);
  return out;
}

absl::StatusOr<std::unique_ptr<ProducerStateTable>> DecodeProducerSnapshot(
    std::span<const uint8_t> bytes, const std::string& path) {
  if (bytes.size() < kProducerSnapshotHeaderSize) {
    return Corrupt(path, bytes.size(),
                   absl::StrCat("file of ", bytes.size(), " bytes is shorter than its header"));
  }
  const int16_t version = LoadBigEndian<int16_t>(bytes.data());
  if (version != kProducerSnapshotVersion) {
    return Corrupt(path, 0, absl::StrCat("unknown version ", version));
  }
  const uint32_t crc = LoadBigEndian<uint32_t>(bytes.data() + kProducerSnapshotCrcOffset);
  const uint32_t computed = Crc32c(bytes.data() + kProducerSnapshotEntriesOffset,
                                   bytes.size() - kProducerSnapshotEntriesOffset);
  if (crc != computed) {
    return Corrupt(path, kProducerSnapshotCrcOffset,
                   absl::StrCat("CRC mismatch (stored ", crc, ", computed ", computed, ")"));
  }
  const int32_t count = LoadBigEndian<int32_t>(bytes.data() + kProducerSnapshotEntriesOffset);
  const size_t body = bytes.size() - kProducerSnapshotHeaderSize;
  if (count < 0 || body != static_cast<size_t>(count) * kProducerSnapshotEntrySize) {
    return Corrupt(
        path, kProducerSnapshotEntriesOffset,
        absl::StrCat(count, " entries do not fill the ", body, " bytes after the header"));
  }
  auto table = std::make_unique<ProducerStateTable>();
  const uint8_t* p = bytes.data() + kProducerSnapshotHeaderSize;
  for (int32_t i = 0; i < count; ++i, p += kProducerSnapshotEntrySize) {
    const int64_t last_offset = LoadBigEndian<int64_t>(p + 14);
    const int32_t offset_delta = LoadBigEndian<int32_t>(p + 22);
    if (offset_delta < 0 || last_offset < offset_delta) {
      return Corrupt(
          path, static_cast<size_t>(p - bytes.data()) + 22,
          absl::StrCat("offset delta ", offset_delta, " with last offset ", last_offset));
    }
    const int32_t last_sequence = LoadBigEndian<int32_t>(p + 10);
    ProducerBatch b;
    b.producer_id = LoadBigEndian<int64_t>(p);
    b.producer_epoch = LoadBigEndian<int16_t>(p + 8);
    b.base_sequence =
        last_sequence == kNoSequence ? kNoSequence : DecrementSequence(last_sequence, offset_delta);
    b.last_offset_delta = offset_delta;
    b.max_timestamp_ms = LoadBigEndian<int64_t>(p + 26);
    // Entries come oldest first, so Update rebuilds each producer's last
    // batches in order (and keeps the newest five of a Kafka file's one).
    table->Update(b, last_offset - offset_delta, b.max_timestamp_ms);
  }
  return table;
}

absl::StatusOr<std::vector<int64_t>> ListProducerSnapshots(const std::string& dir) {
  RUNNEL_ASSIGN_OR_RETURN(std::vector<std::string> names, storage::ListDir(dir));
  std::vector<int64_t> offsets;
  for (const std::string& name : names) {
    std::optional<int64_t> offset =
        storage::ParseSegmentFileName(name, storage::kSnapshotFileSuffix);
    if (offset.has_value()) offsets.push_back(*offset);
  }
  std::sort(offsets.begin(), offsets.end());
  return offsets;
}

absl::Status WriteProducerSnapshot(const std::string& dir, int64_t offset,
                                   const ProducerStateTable& table) {
  std::vector<uint8_t> bytes = EncodeProducerSnapshot(table);
  RUNNEL_RETURN_IF_ERROR(storage::WriteFileAtomically(
      SnapshotPath(dir, offset),
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())));
  RUNNEL_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, ListProducerSnapshots(dir));
  // Oldest first: all but the newest kProducerSnapshotsKept go.
  for (size_t i = 0; i + kProducerSnapshotsKept < offsets.size(); ++i) {
    RUNNEL_RETURN_IF_ERROR(storage::RemoveFile(SnapshotPath(dir, offsets[i])));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ProducerSnapshot>> LoadLatestProducerSnapshot(const std::string& dir,
                                                                           int64_t min_offset,
                                                                           int64_t max_offset) {
  RUNNEL_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, ListProducerSnapshots(dir));
  for (auto it = offsets.rbegin(); it != offsets.rend(); ++it) {
    if (*it > max_offset || *it < min_offset) continue;
    const std::string path = SnapshotPath(dir, *it);
    absl::StatusOr<std::string> bytes = storage::ReadWholeFile(path);
    if (absl::IsNotFound(bytes.status())) continue;
    if (!bytes.ok()) return bytes.status();
    absl::StatusOr<std::unique_ptr<ProducerStateTable>> table = DecodeProducerSnapshot(
        std::span(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()), path);
    if (!table.ok()) {
      RUNNEL_LOG(kWarn, "producer snapshot unreadable, deleted; trying an older one",
                 {{"error", std::string(table.status().message())}});
      RUNNEL_RETURN_IF_ERROR(storage::RemoveFile(path));
      continue;
    }
    return ProducerSnapshot{*it, *std::move(table)};
  }
  return std::nullopt;
}

}  // namespace runnel::broker
