// libFuzzer target for the generated Kafka message decoders and the request
// header parser: the bytes a broker or client reads from the network.
//
// Input: byte 0 picks the API (index into AllApis(), one value past the end
// means an unknown key), byte 1 the version (offset from the API's minimum;
// the top of the range plus one is unsupported), byte 2 bit 0 request or
// response, bit 1 "starts with a request header". The rest is the message.
// Any crash, sanitizer report, or a decode that reports success for bytes it
// did not consume is a bug: decoders answer hostile input with a status.
//
// Built by hand (from the repository root, after a meson build in build-gen
// has generated the messages):
//
//   G=build-gen/include/runnel/protocol/messages
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined \
//     -Iinclude -Ibuild-gen/include -Ilib tests/fuzz/fuzz_messages.cc \
//     lib/protocol/{wire,header}.cc $(ls $G/*.cc | grep -v _testing.cc | grep -v registry) \
//     $(pkg-config --cflags --libs absl_status absl_statusor absl_strings absl_cord) \
//     -o fuzz_messages
//   ./fuzz_messages -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "runnel/protocol/api_keys.h"
#include "runnel/protocol/header.h"
#include "runnel/protocol/wire.h"

namespace {

using runnel::protocol::AllApis;
using runnel::protocol::ApiDescriptor;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const std::span<const ApiDescriptor> apis = AllApis();
  const size_t pick = data[0] % (apis.size() + 1);
  int16_t key = 9999;
  int16_t version = 0;
  if (pick < apis.size()) {
    const ApiDescriptor& api = apis[pick];
    key = api.key;
    version = static_cast<int16_t>(api.min_version +
                                   data[1] % (api.max_version - api.min_version + 2));
  }
  const bool request = (data[2] & 1) != 0;
  const bool with_header = (data[2] & 2) != 0;
  std::span<const uint8_t> body(data + 3, size - 3);

  if (with_header) {
    runnel::protocol::Reader r(body);
    absl::StatusOr<runnel::protocol::RequestHeader> h = runnel::protocol::DecodeRequestHeader(r);
    if (!h.ok()) return 0;
    if (r.offset() > body.size()) std::abort();
    key = h->api_key;
    version = h->api_version;
    body = body.subspan(r.offset());
  }
  const absl::Status s = request ? runnel::protocol::DecodeAnyRequest(key, version, body)
                                 : runnel::protocol::DecodeAnyResponse(key, version, body);
  if (!s.ok() && s.code() != absl::StatusCode::kInvalidArgument) std::abort();
  return 0;
}
