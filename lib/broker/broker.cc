// runnel::Broker: wires storage (LogManager, TopicRegistry), the request
// router and its handlers, and the net server together.
#include "runnel/broker.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/broker_context.h"
#include "broker/meta_properties.h"
#include "broker/metadata_log.h"
#include "broker/router.h"
#include "broker/server_config.h"
#include "broker/topic_registry.h"
#include "lib/broker/group/timer_service.h"
#include "net/server.h"
#include "runnel/log_manager.h"

namespace runnel {
namespace {

using broker::BrokerContext;

class BrokerImpl : public Broker {
 public:
  ~BrokerImpl() override { (void)Stop(absl::Seconds(5)); }

  absl::Status Init(BrokerOptions options) {
    broker::ServerConfig config;
    config.listen_host = options.host;
    config.listen_port = options.port;
    config.data_dir = options.data_dir;
    config.broker.node_id = options.node_id;
    if (absl::Status s = broker::ApplyServerProperties(options.properties, &config); !s.ok()) {
      return s;
    }
    // meta.properties first, as Kafka checks it before loading any log.
    absl::StatusOr<broker::MetaProperties> meta =
        broker::LoadOrCreateMetaProperties(config.data_dir, config.broker.node_id);
    if (!meta.ok()) return meta.status();
    storage::LogManagerOptions lm;
    lm.data_dir = config.data_dir;
    lm.default_log_options = config.log_defaults;
    absl::StatusOr<std::unique_ptr<storage::LogManager>> logs = storage::LogManager::Open(lm);
    if (!logs.ok()) return logs.status();
    logs_ = *std::move(logs);
    absl::StatusOr<std::unique_ptr<broker::MetadataLog>> metadata =
        broker::MetadataLog::Open(logs_.get());
    if (!metadata.ok()) return metadata.status();
    metadata_ = *std::move(metadata);
    topics_ = std::make_unique<broker::TopicRegistry>(logs_.get(), metadata_.get(),
                                                      config.log_defaults);
    if (absl::Status s = topics_->Load(); !s.ok()) return s;

    ctx_.config = config.broker;
    ctx_.config.cluster_id = meta->cluster_id;
    ctx_.static_configs = options.properties;
    ctx_.static_configs["listeners"] =
        absl::StrCat("PLAINTEXT://", config.listen_host, ":", config.listen_port);
    ctx_.static_configs["log.dirs"] = config.data_dir;
    ctx_.static_configs["node.id"] = absl::StrCat(config.broker.node_id);
    ctx_.topics = topics_.get();
    ctx_.router = &router_;
    ctx_.timers = &timers_;
    broker::RegisterMetadataHandlers(&ctx_);
    broker::RegisterProduceHandler(&ctx_);
    broker::RegisterFetchHandler(&ctx_);
    broker::RegisterListOffsetsHandler(&ctx_);
    broker::RegisterDeleteRecordsHandler(&ctx_);
    broker::RegisterConfigHandlers(&ctx_);
    broker::RegisterTopicAdminHandlers(&ctx_);

    net::ServerOptions so;
    so.host = config.listen_host;
    so.port = config.listen_port;
    so.io_threads = options.io_threads;
    so.max_frame_size = config.socket_request_max_bytes;
    so.idle_timeout = config.idle_timeout;
    absl::StatusOr<std::unique_ptr<net::Server>> server = net::Server::Start(so, &router_);
    if (!server.ok()) return server.status();
    server_ = *std::move(server);
    if (!config.advertised_set) {
      // Clients cannot connect to a wildcard address: advertise loopback.
      ctx_.config.advertised_host =
          (so.host == "0.0.0.0" || so.host == "::") ? "127.0.0.1" : so.host;
      ctx_.config.advertised_port = server_->port();
    }
    return absl::OkStatus();
  }

  std::string bootstrap_address() const override {
    return absl::StrCat(ctx_.config.advertised_host, ":", ctx_.config.advertised_port);
  }

  absl::Status Stop(absl::Duration timeout) override {
    if (stopped_) return absl::OkStatus();
    stopped_ = true;
    if (server_ != nullptr) server_->Stop(timeout);
    server_.reset();
    if (logs_ == nullptr) return absl::OkStatus();
    // LogManager::Close flushes every log (flush_on_close) and writes the
    // recovery-point and log-start checkpoints.
    absl::Status s = logs_->Close();
    return s;
  }

 private:
  bool stopped_ = false;
  broker::group::ThreadTimerService timers_;
  std::unique_ptr<storage::LogManager> logs_;
  std::unique_ptr<broker::MetadataLog> metadata_;
  std::unique_ptr<broker::TopicRegistry> topics_;
  broker::RequestRouter router_;
  BrokerContext ctx_;
  std::unique_ptr<net::Server> server_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Broker>> Broker::Start(BrokerOptions options) {
  auto broker = std::make_unique<BrokerImpl>();
  if (absl::Status s = broker->Init(std::move(options)); !s.ok()) return s;
  return broker;
}

}  // namespace runnel
