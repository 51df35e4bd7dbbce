// libFuzzer target for RecordBatchReader over arbitrary bytes.
//
// Input: byte 0 picks the mode, the rest are the batches. Even modes read the
// bytes as they are, which mostly exercises framing and the CRC check. Odd
// modes first recompute the CRC-32C of every framed batch, so that mutated
// headers, record lengths, varints and compressed payloads reach the record
// parser instead of stopping at the checksum. Every batch, record and header
// is visited; control records are parsed. Any crash or sanitizer report is a
// bug: malformed input must end in a status.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined \
//     -Iinclude -Ilib tests/fuzz/fuzz_record_batch.cc \
//     lib/protocol/{record_batch_reader,record_batch_builder,control_record,compression,
//     bounded_sink,gzip_codec,snappy_codec,lz4_codec,zstd_codec}.cc \
//     lib/common/{crc32c,crc32c_sse42,record_batch_format}.cc \
//     $(pkg-config --cflags --libs absl_status absl_statusor absl_strings absl_str_format \
//       libzstd liblz4 snappy zlib)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "common/record_batch_format.h"
#include "runnel/common/endian.h"
#include "runnel/protocol/record_batch.h"

namespace {

namespace rb = runnel::record_batch;

// Patches the CRC of each batch the length fields frame, stopping at the
// first batch that does not fit.
void FixCrcs(std::vector<uint8_t>& bytes) {
  size_t pos = 0;
  while (bytes.size() - pos >= rb::kHeaderSize) {
    const int32_t length = runnel::LoadBigEndian<int32_t>(&bytes[pos + rb::kBatchLengthOffset]);
    if (length < rb::kMinBatchLength) return;
    const size_t size = rb::kLogOverhead + static_cast<size_t>(length);
    if (size > bytes.size() - pos) return;
    std::span<const uint8_t> batch(&bytes[pos], size);
    runnel::StoreBigEndian<uint32_t>(&bytes[pos + rb::kCrcOffset], rb::ComputeBatchCrc(batch));
    pos += size;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<uint8_t> bytes(data + 1, data + size);
  if (data[0] & 1) FixCrcs(bytes);

  runnel::protocol::RecordBatchReaderOptions options;
  options.max_decompressed_size = size_t{4} << 20;
  runnel::protocol::RecordBatchReader reader(bytes, options);
  uint64_t sink = 0;
  while (reader.NextBatch()) {
    const auto& header = reader.header();
    sink += static_cast<uint64_t>(header.last_offset()) + header.batch_length;
    while (reader.NextRecord()) {
      const runnel::protocol::Record& r = reader.record();
      sink += static_cast<uint64_t>(r.offset) + static_cast<uint64_t>(r.timestamp);
      if (!r.key.is_null() && r.key.size() > 0) sink += r.key.data()[r.key.size() - 1];
      if (!r.value.is_null() && r.value.size() > 0) sink += r.value.data()[r.value.size() - 1];
      for (const runnel::protocol::RecordHeader& h : r.headers) {
        sink += h.key.size();
        if (!h.value.is_null() && h.value.size() > 0) sink += h.value.data()[0];
      }
      if (header.is_control()) {
        auto control = runnel::protocol::ParseControlRecord(r);
        if (control.ok()) sink += static_cast<uint64_t>(control->type_code);
      }
    }
  }
  // Invariants a caller relies on.
  if (reader.consumed_bytes() > bytes.size()) std::abort();
  if (reader.has_incomplete_tail() && !reader.status().ok()) std::abort();
  // Keep the reads above from being optimised away.
  volatile uint64_t keep = sink;
  (void)keep;
  return 0;
}
