// A tour of Runnel's public protocol layer: what a client puts on the wire to
// produce records, and what a broker does to read it back.
//
//   1. build a record batch (zstd-compressed, with keys and headers),
//   2. wrap it in a Produce v9 request frame,
//   3. parse the frame as a broker would: size, header, body,
//   4. validate the batch and iterate its records,
//   5. answer with a Produce response frame and decode that as a client.
//
// Build and run: ninja -C build examples/protocol_tour && build/examples/protocol_tour
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/common/status_macros.h"
#include "runnel/protocol/api_keys.h"
#include "runnel/protocol/compression.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/header.h"
#include "runnel/protocol/messages/produce.h"
#include "runnel/protocol/record_batch.h"
#include "runnel/protocol/wire.h"

namespace rp = runnel::protocol;

namespace {

constexpr int16_t kProduceVersion = 9;

absl::Status BuildProduceFrame(runnel::ByteBuffer* frame) {
  rp::RecordBatchBuilder builder({.compression = rp::CompressionType::kZstd});
  const rp::RecordHeader headers[] = {{"source", "protocol_tour"}};
  for (int i = 0; i < 3; ++i) {
    std::string key = "user-" + std::to_string(i);
    std::string value = "{\"clicks\":" + std::to_string(10 * i) + "}";
    RUNNEL_RETURN_IF_ERROR(builder.Append(1'700'000'000'000 + i, key, value, headers));
  }
  RUNNEL_ASSIGN_OR_RETURN(std::span<const uint8_t> batch, builder.Finish());

  rp::ProduceRequest request;
  request.acks = -1;
  request.timeout_ms = 30'000;
  rp::ProduceRequest::TopicProduceData topic;
  topic.name = "clicks";
  rp::ProduceRequest::PartitionProduceData partition;
  partition.index = 0;
  partition.records = std::vector<uint8_t>(batch.begin(), batch.end());
  topic.partition_data.push_back(std::move(partition));
  request.topic_data.push_back(std::move(topic));

  rp::RequestHeader header{.api_key = rp::ProduceRequest::kApiKey,
                           .api_version = kProduceVersion,
                           .correlation_id = 42,
                           .client_id = "protocol-tour"};
  RUNNEL_RETURN_IF_ERROR(rp::EncodeRequestFrame(header, request, frame));
  std::printf("client: Produce v%d frame of %zu bytes (%zu-byte zstd batch of 3 records)\n",
              kProduceVersion, frame->size(), batch.size());
  return absl::OkStatus();
}

// What a broker does with one frame; returns the response frame.
absl::Status HandleFrame(std::span<const uint8_t> frame, runnel::ByteBuffer* response) {
  RUNNEL_ASSIGN_OR_RETURN(size_t size, rp::ParseFrameSize(frame));
  rp::Reader reader(frame.subspan(rp::kFrameSizeBytes, size));
  RUNNEL_ASSIGN_OR_RETURN(rp::RequestHeader header, rp::DecodeRequestHeader(reader));
  const rp::ApiDescriptor* api = rp::FindApi(header.api_key);
  if (api == nullptr || !api->SupportsVersion(header.api_version)) {
    return absl::InvalidArgumentError("unsupported API or version");
  }
  std::printf("broker: %.*s v%d from client '%s', correlation id %d\n",
              static_cast<int>(api->name.size()), api->name.data(), header.api_version,
              header.client_id.value_or("").c_str(), header.correlation_id);
  RUNNEL_ASSIGN_OR_RETURN(rp::ProduceRequest request,
                          rp::ProduceRequest::Decode(reader, header.api_version));

  rp::ProduceResponse answer;
  for (const auto& topic : request.topic_data) {
    rp::ProduceResponse::TopicProduceResponse topic_answer;
    topic_answer.name = topic.name;
    for (const auto& partition : topic.partition_data) {
      rp::RecordBatchReader batches(*partition.records);
      while (batches.NextBatch()) {
        std::printf("broker: batch codec=%.*s records=%d (CRC-32C verified)\n",
                    static_cast<int>(rp::CompressionTypeName(batches.header().compression()).size()),
                    rp::CompressionTypeName(batches.header().compression()).data(),
                    batches.header().record_count);
        while (batches.NextRecord()) {
          const rp::Record& r = batches.record();
          std::printf("  %s[%d] offset %lld key=%.*s value=%.*s\n", topic.name.c_str(),
                      partition.index, static_cast<long long>(r.offset),
                      static_cast<int>(r.key.size()), r.key.str().data(),
                      static_cast<int>(r.value.size()), r.value.str().data());
        }
      }
      RUNNEL_RETURN_IF_ERROR(batches.status());
      rp::ProduceResponse::PartitionProduceResponse partition_answer;
      partition_answer.index = partition.index;
      partition_answer.error_code = static_cast<int16_t>(rp::ErrorCode::kNone);
      partition_answer.base_offset = 0;
      topic_answer.partition_responses.push_back(partition_answer);
    }
    answer.responses.push_back(std::move(topic_answer));
  }
  return rp::EncodeResponseFrame(header.correlation_id, header.api_version, answer, response);
}

absl::Status ReadResponse(std::span<const uint8_t> frame) {
  RUNNEL_ASSIGN_OR_RETURN(size_t size, rp::ParseFrameSize(frame));
  rp::Reader reader(frame.subspan(rp::kFrameSizeBytes, size));
  RUNNEL_ASSIGN_OR_RETURN(
      rp::ResponseHeader header,
      rp::ResponseHeader::Decode(
          reader, rp::ResponseHeaderVersion(rp::ProduceResponse::kApiKey, kProduceVersion)));
  RUNNEL_ASSIGN_OR_RETURN(rp::ProduceResponse response,
                          rp::ProduceResponse::Decode(reader, kProduceVersion));
  for (const auto& topic : response.responses) {
    for (const auto& p : topic.partition_responses) {
      std::printf("client: correlation id %d: %s[%d] error=%.*s base offset %lld\n",
                  header.correlation_id, topic.name.c_str(), p.index,
                  static_cast<int>(rp::ErrorCodeName(static_cast<rp::ErrorCode>(p.error_code)).size()),
                  rp::ErrorCodeName(static_cast<rp::ErrorCode>(p.error_code)).data(),
                  static_cast<long long>(p.base_offset));
    }
  }
  return absl::OkStatus();
}

absl::Status Tour() {
  runnel::ByteBuffer request_frame;
  RUNNEL_RETURN_IF_ERROR(BuildProduceFrame(&request_frame));
  runnel::ByteBuffer response_frame;
  RUNNEL_RETURN_IF_ERROR(HandleFrame(request_frame.span(), &response_frame));
  return ReadResponse(response_frame.span());
}

}  // namespace

int main() {
  std::printf("Runnel speaks %zu Kafka APIs\n", rp::AllApis().size());
  absl::Status status = Tour();
  if (!status.ok()) {
    std::fprintf(stderr, "protocol_tour: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
