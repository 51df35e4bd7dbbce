#include "runnel/protocol/header.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "runnel/common/endian.h"
#include "runnel/protocol/api_keys.h"

namespace runnel::protocol {
namespace {

// ControlledShutdown v0 predates the client id: the one request header v0.
constexpr int16_t kControlledShutdownKey = 7;
constexpr int16_t kApiVersionsKey = 18;

// Reads a header's tagged-field section; headers know no tags of their own
// (Kafka's client id tag is not used on the wire by clients), so all are kept.
void ReadTaggedFields(Reader& r, UnknownTaggedFields* unknown) {
  const uint32_t n = r.TaggedFieldCount("header tagged fields");
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    const Reader::TaggedFieldScope t = r.BeginTaggedField("header tagged fields");
    r.SkipTaggedField(t, unknown);
  }
}

}  // namespace

int16_t RequestHeaderVersion(int16_t api_key, int16_t api_version) {
  if (api_key == kControlledShutdownKey && api_version == 0) return 0;
  const ApiDescriptor* api = FindApi(api_key);
  return api != nullptr && api->IsFlexible(api_version) ? 2 : 1;
}

int16_t ResponseHeaderVersion(int16_t api_key, int16_t api_version) {
  if (api_key == kApiVersionsKey) return 0;
  const ApiDescriptor* api = FindApi(api_key);
  return api != nullptr && api->IsFlexible(api_version) ? 1 : 0;
}

void RequestHeader::Encode(Writer& w, int16_t header_version) const {
  w.Int16(api_key);
  w.Int16(api_version);
  w.Int32(correlation_id);
  if (header_version >= 1) w.NullableString(client_id, /*flexible=*/false);
  if (header_version >= 2) w.TaggedFields({}, unknown_tagged_fields);
}

absl::StatusOr<RequestHeader> DecodeRequestHeader(Reader& r) {
  RequestHeader h;
  h.api_key = r.Int16("api_key");
  h.api_version = r.Int16("api_version");
  h.correlation_id = r.Int32("correlation_id");
  const int16_t version = RequestHeaderVersion(h.api_key, h.api_version);
  r.SetContext("RequestHeader", version);
  if (version >= 1) h.client_id = r.NullableString("client_id", /*flexible=*/false);
  if (version >= 2) ReadTaggedFields(r, &h.unknown_tagged_fields);
  if (!r.ok()) return r.status();
  return h;
}

void ResponseHeader::Encode(Writer& w, int16_t header_version) const {
  w.Int32(correlation_id);
  if (header_version >= 1) w.TaggedFields({}, unknown_tagged_fields);
}

absl::StatusOr<ResponseHeader> ResponseHeader::Decode(Reader& r, int16_t header_version) {
  r.SetContext("ResponseHeader", header_version);
  ResponseHeader h;
  h.correlation_id = r.Int32("correlation_id");
  if (header_version >= 1) ReadTaggedFields(r, &h.unknown_tagged_fields);
  if (!r.ok()) return r.status();
  return h;
}

absl::StatusOr<size_t> ParseFrameSize(std::span<const uint8_t> prefix, size_t max_frame_size) {
  if (prefix.size() < kFrameSizeBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame size needs 4 bytes, got ", prefix.size()));
  }
  const int32_t size = LoadBigEndian<int32_t>(prefix.data());
  if (size < 0) return absl::InvalidArgumentError(absl::StrCat("negative frame size ", size));
  if (static_cast<size_t>(size) > max_frame_size) {
    return absl::ResourceExhaustedError(
        absl::StrCat("frame of ", size, " bytes exceeds the limit of ", max_frame_size));
  }
  return static_cast<size_t>(size);
}

size_t BeginFrame(ByteBuffer& out) {
  const size_t start = out.size();
  out.AppendUninitialized(kFrameSizeBytes);
  return start;
}

absl::Status FinishFrame(ByteBuffer& out, size_t frame_start, size_t gathered_bytes) {
  const size_t size = out.size() - frame_start - kFrameSizeBytes + gathered_bytes;
  if (size > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    out.Truncate(frame_start);
    return absl::InvalidArgumentError(absl::StrCat("frame of ", size, " bytes is too large"));
  }
  StoreBigEndian<int32_t>(out.data() + frame_start, static_cast<int32_t>(size));
  return absl::OkStatus();
}

}  // namespace runnel::protocol
