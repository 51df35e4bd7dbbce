// Managing a cluster with runnel::Admin: create a topic, describe it and its
// configs, change a config, list the consumer groups, delete the topic.
//
//   ./admin                    # against a broker started in this process
//   ./admin 127.0.0.1:9092     # against a running Kafka or runnel-broker
//
// Every call returns the request's outcome (absl::StatusOr) and, inside it,
// one result per topic, config resource or group with its own status.
#include "runnel/admin.h"

#include <stdlib.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "runnel/broker.h"

namespace {

absl::Status Run(const std::string& bootstrap) {
  runnel::AdminOptions options;
  options.client.bootstrap_servers = bootstrap;
  absl::StatusOr<std::unique_ptr<runnel::Admin>> admin = runnel::Admin::Create(options);
  if (!admin.ok()) return admin.status();

  const std::string topic = "admin-example";
  auto created = (*admin)->CreateTopics({runnel::NewTopic{
      .name = topic, .partitions = 3, .configs = {{"retention.ms", "86400000"}}}});
  if (!created.ok()) return created.status();
  if (!(*created)[0].status.ok()) return (*created)[0].status;  // e.g. TOPIC_ALREADY_EXISTS
  std::cout << "created " << topic << "\n";

  auto described = (*admin)->DescribeTopics({topic});
  if (!described.ok()) return described.status();
  for (const runnel::PartitionInfo& p : (*described)[0].partitions) {
    std::cout << "  partition " << p.partition << " leader " << p.leader << "\n";
  }

  const runnel::ConfigResource resource{runnel::ConfigResourceType::kTopic, topic};
  auto configs = (*admin)->DescribeConfigs({resource}, {"retention.ms", "cleanup.policy"});
  if (!configs.ok()) return configs.status();
  for (const runnel::ConfigEntry& e : (*configs)[0].entries) {
    std::cout << "  " << e.name << " = " << e.value.value_or("(null)") << "\n";
  }

  auto altered = (*admin)->IncrementalAlterConfigs(
      {{resource,
        {runnel::AlterConfigOp{"retention.ms", runnel::AlterConfigOpType::kSet, "3600000"}}}});
  if (!altered.ok()) return altered.status();
  if (!(*altered)[0].status.ok()) return (*altered)[0].status;
  configs = (*admin)->DescribeConfigs({resource}, {"retention.ms"});
  if (!configs.ok()) return configs.status();
  const runnel::ConfigEntry* retention = (*configs)[0].Find("retention.ms");
  if (retention == nullptr || retention->value != "3600000") {
    return absl::InternalError("retention.ms was not altered");
  }
  std::cout << "altered retention.ms to " << *retention->value << "\n";

  auto groups = (*admin)->ListGroups();
  if (!groups.ok()) return groups.status();
  std::cout << groups->size() << " consumer group(s)\n";
  for (const runnel::GroupListing& g : *groups) {
    std::cout << "  " << g.group_id << " (" << g.state << ")\n";
  }

  auto deleted = (*admin)->DeleteTopics({topic});
  if (!deleted.ok()) return deleted.status();
  if (!(*deleted)[0].status.ok()) return (*deleted)[0].status;
  std::cout << "deleted " << topic << "\n";
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<runnel::Broker> broker;
  std::string dir;
  std::string bootstrap;
  if (argc > 1) {
    bootstrap = argv[1];
  } else {
    char tmpl[] = "/tmp/runnel-admin-example-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return 1;
    dir = tmpl;
    runnel::BrokerOptions options;
    options.port = 0;
    options.data_dir = dir;
    auto started = runnel::Broker::Start(options);
    if (!started.ok()) {
      std::cerr << started.status() << "\n";
      return 1;
    }
    broker = std::move(*started);
    bootstrap = broker->bootstrap_address();
  }
  absl::Status s = Run(bootstrap);
  if (broker != nullptr) {
    (void)broker->Stop(absl::Seconds(5));
    std::filesystem::remove_all(dir);
  }
  if (!s.ok()) {
    std::cerr << "admin example: " << s << "\n";
    return 1;
  }
  return 0;
}
