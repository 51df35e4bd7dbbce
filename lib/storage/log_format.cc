#include "storage/log_format.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace runnel::storage {

std::string SegmentFileName(int64_t base_offset, absl::string_view suffix) {
  return absl::StrFormat("%020d%s", base_offset, suffix);
}

std::optional<int64_t> ParseSegmentFileName(absl::string_view name, absl::string_view suffix) {
  if (name.size() != kBaseOffsetDigits + suffix.size()) return std::nullopt;
  if (name.substr(kBaseOffsetDigits) != suffix) return std::nullopt;
  absl::string_view digits = name.substr(0, kBaseOffsetDigits);
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  int64_t v = 0;
  if (!absl::SimpleAtoi(digits, &v) || v < 0) return std::nullopt;
  return v;
}

}  // namespace runnel::storage
