// protocol_bench: throughput of the record batch hot paths.
//
// Prints, for JSON-like records of 100 bytes and 1 KiB:
//   - batch build and batch read (records/s, MB/s of batch bytes), uncompressed
//     and with each codec;
//   - CRC-32C (hardware and portable) beside memcpy of the same buffer;
//   - each codec's compress / decompress MB/s and ratio on a batch payload.
// A program, not a test: it measures and checks nothing. Build with
// optimisation (buildtype=release or debugoptimized):
//
//   meson setup build-rel -Dbuildtype=release && ninja -C build-rel tests/bench/protocol_bench
//   build-rel/tests/bench/protocol_bench [seconds_per_case, default 0.5]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/protocol/compression.h"
#include "runnel/protocol/record_batch.h"

namespace {

using Clock = std::chrono::steady_clock;
using runnel::ByteBuffer;
using runnel::protocol::CompressionType;

double g_seconds = 0.5;
uint64_t g_sink = 0;  // results fold into this, printed at the end, so no work is dead

// Tells the compiler that `p`'s memory is read and written here: memcpy into
// a buffer nobody reads would otherwise be removed.
inline void Clobber(void* p) { asm volatile("" : : "r"(p) : "memory"); }

// Runs `body` (which does `units` of work per call) until g_seconds have
// passed, after one warm-up call; returns units per second.
template <typename F>
double Rate(double units, F body) {
  body();
  uint64_t calls = 0;
  const auto start = Clock::now();
  auto now = start;
  do {
    body();
    ++calls;
    now = Clock::now();
  } while (std::chrono::duration<double>(now - start).count() < g_seconds);
  return units * static_cast<double>(calls) / std::chrono::duration<double>(now - start).count();
}

// Event-like JSON, each value different, padded to `size` bytes: compresses
// about as well as real application payloads (field names repeat, values
// vary).
std::vector<std::string> JsonValues(size_t count, size_t size, uint32_t seed) {
  static const char* const kEvents[] = {"page_view", "add_to_cart", "checkout",
                                        "search",    "login",       "logout"};
  static const char* const kCountries[] = {"DE", "FR", "US", "JP", "BR", "IN", "GB"};
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    char head[256];
    std::snprintf(head, sizeof(head),
                  "{\"user_id\":%llu,\"event\":\"%s\",\"ts\":%llu,\"country\":\"%s\","
                  "\"session\":\"%08llx\",\"items\":[",
                  static_cast<unsigned long long>(rng() % 10000000), kEvents[rng() % 6],
                  static_cast<unsigned long long>(1700000000000 + i * 3), kCountries[rng() % 7],
                  static_cast<unsigned long long>(rng() & 0xffffffff));
    std::string v = head;
    while (v.size() + 40 < size) {
      char item[64];
      std::snprintf(item, sizeof(item), "{\"sku\":\"A%05llu\",\"qty\":%llu},",
                    static_cast<unsigned long long>(rng() % 100000),
                    static_cast<unsigned long long>(rng() % 9 + 1));
      v += item;
    }
    v += "{}]}";
    v.resize(size, ' ');
    out.push_back(std::move(v));
  }
  return out;
}

constexpr size_t kBatchBytes = 256 << 10;  // a large producer batch (batch.size)

// Builds one batch of `values` keyed "key-<i>"; returns its bytes.
ByteBuffer BuildBatch(runnel::protocol::RecordBatchBuilder& builder,
                      const runnel::protocol::RecordBatchBuilderOptions& options,
                      const std::vector<std::string>& values,
                      const std::vector<std::string>& keys) {
  builder.Reset(options);
  for (size_t i = 0; i < values.size(); ++i) {
    (void)builder.Append(1700000000000 + static_cast<int64_t>(i), std::string_view(keys[i]),
                         std::string_view(values[i]));
  }
  auto batch = builder.Finish();
  if (!batch.ok()) {
    std::fprintf(stderr, "Finish failed: %s\n", std::string(batch.status().message()).c_str());
    std::exit(1);
  }
  ByteBuffer copy;
  copy.Append(*batch);
  return copy;
}

void BenchBatches(size_t record_size) {
  const size_t per_batch = kBatchBytes / record_size;
  const auto values = JsonValues(per_batch, record_size, record_size);
  std::vector<std::string> keys;
  for (size_t i = 0; i < per_batch; ++i) keys.push_back("key-" + std::to_string(i));

  for (CompressionType codec :
       {CompressionType::kNone, CompressionType::kGzip, CompressionType::kSnappy,
        CompressionType::kLz4, CompressionType::kZstd}) {
    runnel::protocol::RecordBatchBuilderOptions options;
    options.compression = codec;
    runnel::protocol::RecordBatchBuilder builder(options);
    const ByteBuffer one = BuildBatch(builder, options, values, keys);
    const double batch_bytes = static_cast<double>(one.size());

    const double builds = Rate(1, [&] {
      builder.Reset(options);
      for (size_t i = 0; i < per_batch; ++i) {
        (void)builder.Append(1700000000000 + static_cast<int64_t>(i), std::string_view(keys[i]),
                             std::string_view(values[i]));
      }
      auto batch = builder.Finish();
      g_sink += batch.ok() ? batch->size() : 0;
    });

    // Read 32 copies back to back, as a fetch response or a segment holds them.
    ByteBuffer many;
    for (int i = 0; i < 32; ++i) many.Append(one.span());
    const double reads = Rate(32, [&] {
      runnel::protocol::RecordBatchReader reader(many.span());
      while (reader.NextBatch()) {
        while (reader.NextRecord()) {
          const auto& r = reader.record();
          g_sink += static_cast<uint64_t>(r.offset) + r.value.size() + r.key.size();
        }
      }
      if (!reader.status().ok()) std::abort();
    });

    std::printf(
        "  %-6s %4zu B records, %5zu/batch, batch %7.0f B | build %8.2f Mrec/s %8.1f MB/s"
        " | read %8.2f Mrec/s %8.1f MB/s\n",
        std::string(runnel::protocol::CompressionTypeName(codec)).c_str(), record_size, per_batch,
        batch_bytes, builds * per_batch / 1e6, builds * batch_bytes / 1e6, reads * per_batch / 1e6,
        reads * batch_bytes / 1e6);
  }
}

void BenchCrc(size_t size) {
  std::vector<uint8_t> src(size), dst(size);
  std::mt19937_64 rng(1);
  for (auto& b : src) b = static_cast<uint8_t>(rng());
  const double bytes = static_cast<double>(size);
  const double copy = Rate(bytes, [&] {
    std::memcpy(dst.data(), src.data(), size);
    Clobber(dst.data());
  });
  const double hw =
      runnel::crc32c_internal::HardwareAvailable()
          ? Rate(bytes,
                 [&] { g_sink += runnel::crc32c_internal::ExtendHardware(0, src.data(), size); })
          : 0.0;
  const double sw =
      Rate(bytes, [&] { g_sink += runnel::crc32c_internal::ExtendPortable(0, src.data(), size); });
  std::printf(
      "  %8zu B buffer | memcpy %6.2f GB/s | CRC-32C sse4.2 %6.2f GB/s (%3.0f%% of memcpy)"
      " | slicing-by-8 %5.2f GB/s\n",
      size, copy / 1e9, hw / 1e9, 100.0 * hw / copy, sw / 1e9);
}

void BenchCodecs(size_t record_size) {
  const size_t per_batch = kBatchBytes / record_size;
  const auto values = JsonValues(per_batch, record_size, record_size + 7);
  std::vector<std::string> keys;
  for (size_t i = 0; i < per_batch; ++i) keys.push_back("key-" + std::to_string(i));
  runnel::protocol::RecordBatchBuilderOptions options;
  runnel::protocol::RecordBatchBuilder builder(options);
  const ByteBuffer batch = BuildBatch(builder, options, values, keys);
  // The codecs see the records section, exactly what a batch compresses.
  const std::span<const uint8_t> raw = batch.span().subspan(61);
  const double raw_bytes = static_cast<double>(raw.size());

  for (CompressionType codec : {CompressionType::kGzip, CompressionType::kSnappy,
                                CompressionType::kLz4, CompressionType::kZstd}) {
    ByteBuffer packed;
    if (!runnel::protocol::Compress(codec, runnel::protocol::kDefaultCompressionLevel, raw, packed)
             .ok()) {
      std::printf("  %-6s unavailable\n",
                  std::string(runnel::protocol::CompressionTypeName(codec)).c_str());
      continue;
    }
    ByteBuffer out;
    const double c = Rate(raw_bytes, [&] {
      out.Clear();
      (void)runnel::protocol::Compress(codec, runnel::protocol::kDefaultCompressionLevel, raw, out);
      g_sink += out.size();
    });
    const double d = Rate(raw_bytes, [&] {
      out.Clear();
      (void)runnel::protocol::Decompress(codec, packed.span(), raw.size(), out);
      g_sink += out.size();
    });
    std::printf(
        "  %-6s %4zu B records | compress %8.1f MB/s | decompress %8.1f MB/s |"
        " ratio %5.2f (%zu -> %zu B)\n",
        std::string(runnel::protocol::CompressionTypeName(codec)).c_str(), record_size, c / 1e6,
        d / 1e6, raw_bytes / static_cast<double>(packed.size()), raw.size(), packed.size());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) g_seconds = std::atof(argv[1]);
  if (g_seconds <= 0) g_seconds = 0.5;
  std::printf("protocol_bench: %.2f s per case; MB = 1e6 bytes; batches of ~%zu KiB\n", g_seconds,
              kBatchBytes >> 10);
  std::printf("\nCRC-32C (hardware available: %s)\n",
              runnel::crc32c_internal::HardwareAvailable() ? "yes" : "no");
  for (size_t size : {size_t{4} << 10, size_t{64} << 10, size_t{1} << 20}) BenchCrc(size);
  std::printf("\nRecord batches (MB/s counts batch bytes, compressed where a codec is set)\n");
  for (size_t record_size : {size_t{100}, size_t{1024}}) BenchBatches(record_size);
  std::printf("\nCodecs on a batch's records section (JSON-like records, default levels)\n");
  for (size_t record_size : {size_t{100}, size_t{1024}}) BenchCodecs(record_size);
  std::printf("\n(sink %llu)\n", static_cast<unsigned long long>(g_sink));
  return 0;
}
