// AdminImpl: runnel::Admin on the client core (client/client_core.h).
//
// Every call runs on its caller's thread: it builds the request, hands it to
// the core and waits on the future (the core's I/O thread does the sending).
// No state is shared between calls except the core, which is thread-safe,
// so calls from several threads at once need no locks here.
//
// The operations are split by the broker they go to:
//   admin.cc         Create, routing helpers (controller, coordinator,
//                    leaders), ListTopics, DescribeTopics, DescribeCluster
//   admin_topics.cc  CreateTopics, DeleteTopics, CreatePartitions, configs
//   admin_groups.cc  ListGroups, DescribeGroups, DeleteGroups, group offsets
//   admin_offsets.cc ListOffsets, DeleteRecords
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/client_core.h"
#include "runnel/admin.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/messages/metadata.h"

namespace runnel::client {

class AdminImpl : public Admin {
 public:
  AdminImpl(const AdminOptions& options, std::unique_ptr<ClientCore> core);
  ~AdminImpl() override;

  absl::StatusOr<std::vector<TopicResult>> CreateTopics(const std::vector<NewTopic>& topics,
                                                        bool validate_only) override;
  absl::StatusOr<std::vector<TopicResult>> DeleteTopics(
      const std::vector<std::string>& topics) override;
  absl::StatusOr<std::vector<TopicResult>> CreatePartitions(
      const std::map<std::string, int32_t>& total, bool validate_only) override;
  absl::StatusOr<std::vector<TopicListing>> ListTopics(bool include_internal) override;
  absl::StatusOr<std::vector<TopicDescription>> DescribeTopics(
      const std::vector<std::string>& topics) override;
  absl::StatusOr<ClusterDescription> DescribeCluster() override;

  absl::StatusOr<std::vector<ConfigResult>> DescribeConfigs(
      const std::vector<ConfigResource>& resources, const std::vector<std::string>& keys,
      bool include_synonyms) override;
  absl::StatusOr<std::vector<ConfigResourceResult>> AlterConfigs(
      const std::map<ConfigResource, std::map<std::string, std::string>>& configs,
      bool validate_only) override;
  absl::StatusOr<std::vector<ConfigResourceResult>> IncrementalAlterConfigs(
      const std::map<ConfigResource, std::vector<AlterConfigOp>>& ops, bool validate_only) override;

  absl::StatusOr<std::vector<GroupListing>> ListGroups(
      const std::vector<std::string>& states) override;
  absl::StatusOr<std::vector<GroupDescription>> DescribeGroups(
      const std::vector<std::string>& groups) override;
  absl::StatusOr<std::vector<GroupResult>> DeleteGroups(
      const std::vector<std::string>& groups) override;
  absl::StatusOr<std::map<TopicPartition, CommittedOffset>> ListConsumerGroupOffsets(
      const std::string& group,
      const std::optional<std::vector<TopicPartition>>& partitions) override;
  absl::StatusOr<std::map<TopicPartition, absl::Status>> AlterConsumerGroupOffsets(
      const std::string& group, const TopicPartitionOffsets& offsets) override;

  absl::StatusOr<std::map<TopicPartition, ListOffsetsResult>> ListOffsets(
      const std::map<TopicPartition, OffsetSpec>& specs, IsolationLevel isolation) override;
  absl::StatusOr<std::map<TopicPartition, DeleteRecordsResult>> DeleteRecords(
      const std::map<TopicPartition, int64_t>& before) override;

 private:
  // --- Routing helpers (admin.cc)
  // A fresh Metadata response (not the core's cache: admin answers must see
  // the cluster as it is now). `topics` nullopt: every topic.
  absl::StatusOr<protocol::MetadataResponse> FetchMetadata(
      const std::optional<std::vector<std::string>>& topics);
  // Where controller requests go: the controller's node, or any broker when
  // the cluster names no broker as controller (librdkafka's mock says 0).
  absl::StatusOr<Target> Controller();
  // The coordinator of consumer group `group`.
  absl::StatusOr<int32_t> Coordinator(const std::string& group);

  // Sends `request` to `target` and waits. `what` names the call in errors.
  template <typename Response, typename Request>
  absl::StatusOr<Reply<Response>> Call(const Target& target, const Request& request,
                                       const char* what, const RequestOptions& ro = {}) {
    auto reply = core_->Call<Response>(target, request, ro).get();
    if (!reply.ok()) return Annotate(reply.status(), what);
    return reply;
  }
  // Sends to the controller, looking it up again and retrying while the
  // request fails as a whole with a retriable error or `not_controller`
  // says the answer came from a broker that no longer is the controller.
  template <typename Response, typename Request>
  absl::StatusOr<Reply<Response>> CallController(
      const Request& request, const char* what, bool (*not_controller)(const Response&) = nullptr) {
    absl::Status last;
    for (int attempt = 0; attempt <= options_.retries; ++attempt) {
      if (attempt > 0) Backoff();
      absl::StatusOr<Target> controller = Controller();
      if (!controller.ok()) {
        last = controller.status();
        if (!IsRetriable(last)) return last;
        continue;
      }
      auto reply = Call<Response>(*controller, request, what);
      if (!reply.ok()) {
        last = reply.status();
        if (!IsRetriable(last)) return last;
        continue;
      }
      if (not_controller != nullptr && not_controller(reply->response)) {
        last = absl::UnavailableError(std::string(what) + ": NOT_CONTROLLER");
        continue;
      }
      return reply;
    }
    return last;
  }
  // As CallController, to the coordinator of `group`; `coordinator_error`
  // reads the response's retriable group error (NOT_COORDINATOR,
  // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE) if any.
  template <typename Response, typename Request>
  absl::StatusOr<Reply<Response>> CallCoordinator(
      const std::string& group, const Request& request, const char* what,
      protocol::ErrorCode (*coordinator_error)(const Response&), const RequestOptions& ro = {}) {
    absl::Status last;
    for (int attempt = 0; attempt <= options_.retries; ++attempt) {
      if (attempt > 0) Backoff();
      absl::StatusOr<int32_t> coordinator = Coordinator(group);
      if (!coordinator.ok()) {
        last = coordinator.status();
        if (!IsRetriable(last)) return last;
        continue;
      }
      auto reply = Call<Response>(Target::Node(*coordinator), request, what, ro);
      if (!reply.ok()) {
        last = reply.status();
        if (!IsRetriable(last)) return last;
        continue;
      }
      protocol::ErrorCode ec = coordinator_error(reply->response);
      if (IsCoordinatorError(ec)) {
        last = protocol::ErrorCodeToStatus(ec, what);
        continue;
      }
      return reply;
    }
    return last;
  }

  static bool IsRetriable(const absl::Status& s);
  static bool IsCoordinatorError(protocol::ErrorCode ec);
  static absl::Status Annotate(const absl::Status& s, const char* what);
  void Backoff() const;

  const AdminOptions options_;
  std::unique_ptr<ClientCore> core_;
};

// A per-item status from a response's error code and message: OK for 0,
// otherwise the Kafka error (code kept for ErrorCodeFromStatus) with
// `context` and the broker's message.
absl::Status ItemStatus(int16_t error_code, const std::optional<std::string>& message,
                        const std::string& context);

}  // namespace runnel::client
