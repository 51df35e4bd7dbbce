// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78): the
// checksum of Kafka record batch v2, computed over every byte from the
// attributes field to the end of the batch.
//
// On x86-64 CPUs with SSE4.2 the crc32 instruction is used (three interleaved
// streams on large buffers, which is what hides the instruction's 3-cycle
// latency); elsewhere a portable slicing-by-8 table loop. The choice is made
// once, at the first call, and both paths give identical results.
//
//   uint32_t crc = runnel::Crc32c(batch + 21, size - 21);
//   // Same result in two pieces:
//   uint32_t c = runnel::Crc32c(p, k);
//   c = runnel::Crc32cExtend(c, p + k, n - k);
//
// Thread-safe; no allocation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace runnel {

// Returns the CRC-32C of `data` extended by `n` more bytes. `crc` is a value
// previously returned by Crc32c/Crc32cExtend (or 0 for an empty prefix): the
// pre- and post-inversion are handled inside, so chained calls equal one call
// over the concatenation.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

// Returns the CRC-32C of the `n` bytes at `data`.
inline uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }

namespace crc32c_internal {

// The implementations behind Crc32cExtend, exposed for tests and benchmarks.
// Both take and return the raw (non-inverted) register, like Crc32cExtend.
uint32_t ExtendPortable(uint32_t crc, const uint8_t* data, size_t n);
// Only callable when HardwareAvailable(); otherwise returns ExtendPortable.
uint32_t ExtendHardware(uint32_t crc, const uint8_t* data, size_t n);
bool HardwareAvailable();

// Makes Crc32cExtend use the portable path even when hardware is available,
// so tests and benchmarks can exercise it. Takes effect for calls that start
// after it returns (a relaxed atomic; safe to call from any thread).
void ForcePortableForTesting(bool force);

}  // namespace crc32c_internal
}  // namespace runnel
