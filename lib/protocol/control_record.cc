// Control records: the commit and abort markers a transaction coordinator
// writes into each partition a transaction touched. Key: version:int16
// type:int16. Value of a commit/abort marker (EndTxnMarker):
// version:int16 coordinatorEpoch:int32.
#include "absl/strings/str_format.h"
#include "runnel/common/endian.h"
#include "runnel/protocol/record_batch.h"

namespace runnel::protocol {
namespace {
constexpr size_t kControlKeySize = 4;
constexpr size_t kEndTxnMarkerValueSize = 6;
}  // namespace

absl::StatusOr<ControlRecord> ParseControlRecord(const Record& record) {
  if (record.key.is_null() || record.key.size() < kControlKeySize) {
    return absl::DataLossError(absl::StrFormat(
        "control record at offset %d: key of %d bytes is shorter than version + type (4)",
        record.offset, record.key.is_null() ? -1 : static_cast<int64_t>(record.key.size())));
  }
  ControlRecord c;
  c.version = LoadBigEndian<int16_t>(record.key.data());
  if (c.version < 0) {
    return absl::DataLossError(absl::StrFormat(
        "control record at offset %d: negative key version %d", record.offset, c.version));
  }
  c.type_code = LoadBigEndian<int16_t>(record.key.data() + 2);
  switch (c.type_code) {
    case 0:
      c.type = ControlRecordType::kAbort;
      break;
    case 1:
      c.type = ControlRecordType::kCommit;
      break;
    default:
      // Newer control types (e.g. KRaft's leader change) are skipped.
      c.type = ControlRecordType::kUnknown;
      return c;
  }
  if (record.value.is_null() || record.value.size() < kEndTxnMarkerValueSize) {
    return absl::DataLossError(absl::StrFormat(
        "control record at offset %d: end-transaction marker value of %d bytes is shorter "
        "than version + coordinator epoch (6)",
        record.offset, record.value.is_null() ? -1 : static_cast<int64_t>(record.value.size())));
  }
  c.coordinator_epoch = LoadBigEndian<int32_t>(record.value.data() + 2);
  return c;
}

std::array<uint8_t, 4> EncodeControlRecordKey(ControlRecordType type) {
  std::array<uint8_t, 4> key{};
  StoreBigEndian<int16_t>(key.data(), 0);  // key version
  StoreBigEndian<int16_t>(key.data() + 2, static_cast<int16_t>(type));
  return key;
}

std::array<uint8_t, 6> EncodeEndTxnMarkerValue(int32_t coordinator_epoch) {
  std::array<uint8_t, 6> value{};
  StoreBigEndian<int16_t>(value.data(), 0);  // value version
  StoreBigEndian<int32_t>(value.data() + 2, coordinator_epoch);
  return value;
}

}  // namespace runnel::protocol
