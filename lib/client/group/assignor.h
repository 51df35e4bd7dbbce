// Partition assignors for the classic consumer group protocol: the group
// leader runs one over every member's subscription after JoinGroup and sends
// the result with SyncGroup. Names and results follow Kafka's Java client
// (and librdkafka), so a Runnel consumer can lead a group of Java or
// librdkafka consumers and the other way round:
//
//   "range"               per topic, consecutive ranges to members sorted by
//                         group.instance.id (static members first), then
//                         member id; the first P % N members get one more.
//   "roundrobin"          every partition of every subscribed topic, sorted by
//                         topic then partition, dealt in turn to the sorted
//                         members, skipping members not subscribed to it.
//   "cooperative-sticky"  balanced (within one partition when subscriptions
//                         are equal), keeps what members own, and, being
//                         cooperative, never hands a partition to a new
//                         owner in the rebalance that takes it from the old
//                         one: the old owner revokes it, rejoins, and the
//                         next rebalance assigns it.
//
//   auto assignor = MakeAssignor("cooperative-sticky");
//   GroupMembers members = {{"m1", std::nullopt, sub1}, {"m2", std::nullopt, sub2}};
//   absl::StatusOr<GroupAssignment> a =
//       (*assignor)->Assign({{"orders", 6}}, members);
//   // a->at("m1") holds m1's partitions, sorted by topic then partition.
//
// Assignors are stateless and thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "client/group/consumer_protocol.h"

namespace runnel::client::group {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

enum class RebalanceProtocol {
  kEager,        // every member revokes everything before a rebalance
  kCooperative,  // members revoke only what moves
};

struct GroupMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  Subscription subscription;
};
using GroupMembers = std::vector<GroupMember>;

// Partition count of every topic the members subscribe to that exists.
using TopicPartitionCounts = std::map<std::string, int32_t>;
// member id -> its partitions, sorted. Every member appears, maybe empty.
using GroupAssignment = std::map<std::string, std::vector<TopicPartition>>;

class Assignor {
 public:
  virtual ~Assignor() = default;
  // The protocol name in JoinGroup ("range", ...).
  virtual std::string_view name() const = 0;
  virtual RebalanceProtocol protocol() const = 0;
  // Topics a member subscribes to that are missing from `partitions` are
  // skipped. InvalidArgument when two members share a member id.
  virtual absl::StatusOr<GroupAssignment> Assign(const TopicPartitionCounts& partitions,
                                                 const GroupMembers& members) const = 0;
};

// "range", "roundrobin" or "cooperative-sticky"; InvalidArgument otherwise.
absl::StatusOr<std::unique_ptr<Assignor>> MakeAssignor(std::string_view name);

std::unique_ptr<Assignor> MakeRangeAssignor();
std::unique_ptr<Assignor> MakeRoundRobinAssignor();
std::unique_ptr<Assignor> MakeCooperativeStickyAssignor();

// Converts between the flat form and the wire's per-topic lists (topics and
// partitions in ascending order).
std::vector<TopicPartitions> GroupByTopic(const std::vector<TopicPartition>& tps);
std::vector<TopicPartition> Flatten(const std::vector<TopicPartitions>& tps);

namespace internal {

// Members sorted as Kafka sorts them: by group.instance.id when both have
// one, members with one before members without, then by member id.
std::vector<const GroupMember*> SortedMembers(const GroupMembers& members);
// An empty assignment for every member; InvalidArgument on a duplicate id.
absl::StatusOr<GroupAssignment> EmptyAssignment(const GroupMembers& members);
bool Subscribes(const GroupMember& m, std::string_view topic);

}  // namespace internal
}  // namespace runnel::client::group
