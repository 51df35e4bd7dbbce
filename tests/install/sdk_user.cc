// A program built only from the installed headers and runnel.pc: proves that
// a C++ service can include the public API and link the SDK.
#include <cstdio>
#include <string>

#include "runnel/common/byte_buffer.h"
#include "runnel/protocol/compression.h"

int main() {
  std::string text(4096, 'r');
  runnel::ByteBuffer packed;
  runnel::ByteBuffer unpacked;
  auto input = std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  for (auto type : {runnel::protocol::CompressionType::kGzip,
                    runnel::protocol::CompressionType::kZstd}) {
    packed.Clear();
    unpacked.Clear();
    absl::Status s = runnel::protocol::Compress(
        type, runnel::protocol::kDefaultCompressionLevel, input, packed);
    if (s.ok()) s = runnel::protocol::Decompress(type, packed.span(), 1 << 20, unpacked);
    if (!s.ok() || unpacked.view() != text) {
      std::fprintf(stderr, "round trip through %s failed: %s\n",
                   std::string(runnel::protocol::CompressionTypeName(type)).c_str(),
                   s.ToString().c_str());
      return 1;
    }
  }
  std::printf("sdk_user: linked against the installed runnel and round-tripped data\n");
  return 0;
}
