// runnel::Broker: wires storage (LogManager, TopicRegistry), the request
// router and its handlers, and the net server together.
#include "runnel/broker.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/broker_context.h"
#include "broker/broker_observability.h"
#include "broker/extensions.h"
#include "broker/group/group_coordinator.h"
#include "broker/group/group_registration.h"
#include "broker/meta_properties.h"
#include "broker/metadata_log.h"
#include "broker/producer_ids.h"
#include "broker/producer_state_append.h"
#include "broker/router.h"
#include "broker/server_config.h"
#include "broker/topic_registry.h"
#include "lib/broker/group/timer_service.h"
#include "common/logging.h"
#include "net/server.h"
#include "runnel/log_manager.h"

namespace runnel {
namespace {

using broker::BrokerContext;

class BrokerImpl : public Broker {
 public:
  ~BrokerImpl() override { (void)Stop(absl::Seconds(5)); }

  absl::Status Init(BrokerOptions options) {
    if (absl::Status s = broker::TakeObservabilityOptions(&options); !s.ok()) return s;
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
    logs_dir_ = config.data_dir;
    lm.default_log_options = config.log_defaults;
    absl::StatusOr<std::unique_ptr<storage::LogManager>> logs = storage::LogManager::Open(lm);
    if (!logs.ok()) return logs.status();
    logs_ = *std::move(logs);
    absl::StatusOr<std::unique_ptr<broker::MetadataLog>> metadata =
        broker::MetadataLog::Open(logs_.get());
    if (!metadata.ok()) return metadata.status();
    metadata_ = *std::move(metadata);
    // The coordinator creates the __consumer_offsets partitions before the
    // topic registry loads, which then lists them (as an internal topic) in
    // Metadata like any other.
    if (absl::Status s = StartGroupCoordinator(config); !s.ok()) return s;
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
    // Custom handlers last: they may replace built-in ones.
    if (absl::Status s = broker::RegisterCustomApis(&router_, options.custom_apis); !s.ok()) {
      return s;
    }
    topic_policy_ = options.topic_policy;
    ctx_.topic_policy = topic_policy_.get();
    observability_ = std::make_unique<broker::BrokerObservability>(&router_, options.hooks);
    // Producer ids continue after the last block the metadata log recorded.
    absl::StatusOr<broker::MetadataState> replayed = metadata_->Replay();
    if (!replayed.ok()) return replayed.status();
    producer_ids_ = std::make_unique<broker::ProducerIdManager>(
        metadata_.get(), ctx_.config.node_id, replayed->next_producer_id_block);
    ctx_.producer_ids = producer_ids_.get();
    broker::RegisterInitProducerIdHandler(&ctx_);
    broker::group::RegisterGroupHandlers(router_, coordinator_.get());

    net::ServerOptions so;
    so.host = config.listen_host;
    so.port = config.listen_port;
    so.io_threads = options.io_threads;
    so.max_frame_size = config.socket_request_max_bytes;
    so.idle_timeout = config.idle_timeout;
    // The advertised address is settled before the first request is served:
    // a client that connects at once must not be told the default port.
    so.on_listening = [this, set = config.advertised_set, host = so.host](uint16_t port) {
      if (set) return;
      // Clients cannot connect to a wildcard address: advertise loopback.
      ctx_.config.advertised_host = (host == "0.0.0.0" || host == "::") ? "127.0.0.1" : host;
      ctx_.config.advertised_port = port;
    };
    absl::StatusOr<std::unique_ptr<net::Server>> server = net::Server::Start(so, observability_->handler());
    if (!server.ok()) return server.status();
    server_ = *std::move(server);
    coordinator_->SetEndpoint(ctx_.config.node_id, ctx_.config.advertised_host,
                              ctx_.config.advertised_port);
    // Stop resets the coordinator only after it stopped the endpoint.
    observability_->SetSources({.net = &server_->stats(),
                                .topics = topics_.get(),
                                .groups = [this] {
                                  return coordinator_ != nullptr
                                             ? coordinator_->CountByState()
                                             : std::map<std::string, int64_t>();
                                }});
    if (absl::Status s = observability_->StartEndpoint(options.metrics_listen); !s.ok()) return s;
    RUNNEL_LOG(kInfo, "broker started",
               {{"bootstrap", bootstrap_address()},
                {"data_dir", config.data_dir},
                {"node_id", std::to_string(ctx_.config.node_id)},
                {"metrics", observability_->address()}});
    return absl::OkStatus();
  }

  std::string metrics_address() const override {
    return observability_ != nullptr ? observability_->address() : std::string();
  }
  std::string MetricsText() const override {
    return observability_ != nullptr ? observability_->Text() : std::string();
  }

  std::string bootstrap_address() const override {
    return absl::StrCat(ctx_.config.advertised_host, ":", ctx_.config.advertised_port);
  }

  // Shutdown order: nothing may outlive what it calls into.
  //  1. The metrics endpoint and the net server stop: no new request, the
  //     requests read are answered (up to `timeout`), every socket closes
  //     and the I/O threads end. The server object stays until 6.
  //  2. The metrics sources are cleared, so a MetricsText racing with Stop
  //     reads no server statistics or coordinator after this.
  //  3. The timer thread stops and drops its timers: a parked fetch (held by
  //     its timer and its log watches) can no longer answer, and a log's
  //     Close below, which wakes its watchers, schedules nothing.
  //  4. The group coordinator goes (its pending joins hold connections).
  //  5. The logs flush and close (dropping their watches); then
  //     producer-state snapshots are written at each log's end, after the
  //     data they describe is durable.
  //  6. The server goes. Its connections (closed in 1, but still objects)
  //     live in its io_contexts, so it goes after every holder of a
  //     connection (parked requests' answer callbacks in 3-5). A connection
  //     released after the server touched an executor in freed memory:
  //     runnel-broker's rare glibc assertion on SIGTERM
  //     (__pthread_tpp_change_priority).
  absl::Status Stop(absl::Duration timeout) override {
    absl::MutexLock stop_lock(&stop_mu_);
    if (stopped_) return absl::OkStatus();
    stopped_ = true;
    if (server_ != nullptr) {
      RUNNEL_LOG(kInfo, "broker stopping", {{"bootstrap", bootstrap_address()}});
    }
    if (observability_ != nullptr) observability_->StopEndpoint();
    if (server_ != nullptr) server_->Stop(timeout);
    if (observability_ != nullptr) observability_->SetSources({});
    timers_.Shutdown();
    // No request is left to reach the coordinator; its last offsets are in
    // the log, which Close flushes.
    coordinator_.reset();
    if (logs_ == nullptr) {
      server_.reset();
      return absl::OkStatus();
    }
    // LogManager::Close flushes every log (flush_on_close) and writes the
    // recovery-point and log-start checkpoints.
    absl::Status s = logs_->Close();
    if (s.ok()) WriteProducerSnapshots();
    server_.reset();
    if (s.ok()) {
      RUNNEL_LOG(kInfo, "broker stopped", {{"data_dir", logs_dir_}});
    } else {
      RUNNEL_LOG(kError, "broker stopped with an error", {{"error", std::string(s.message())}});
    }
    return s;
  }

 private:
  // Idempotent producers' state, so the next start replays no log (a
  // failure only makes that replay longer).
  void WriteProducerSnapshots() {
    if (topics_ == nullptr) return;
    for (const std::shared_ptr<const broker::Topic>& t : topics_->List()) {
      for (const std::shared_ptr<broker::Partition>& p : t->partitions) {
        if (absl::Status s = broker::SnapshotProducerState(*p); !s.ok()) {
          RUNNEL_LOG(kWarn, "cannot write producer snapshot",
                     {{"partition", absl::StrCat(p->topic, "-", p->index)},
                      {"error", std::string(s.message())}});
        }
      }
    }
  }

  absl::Status StartGroupCoordinator(const broker::ServerConfig& config) {
    broker::group::GroupCoordinatorOptions go;
    go.node_id = config.broker.node_id;
    go.host = config.broker.advertised_host;
    go.port = config.broker.advertised_port;
    go.group.initial_rebalance_delay_ms = config.group_initial_rebalance_delay_ms;
    go.group.offsets_retention_ms = config.offsets_retention_minutes * 60 * 1000;
    // An existing __consumer_offsets keeps its partition count, as in Kafka:
    // groups hash to partitions by it.
    int32_t existing = 0;
    for (const storage::TopicPartition& tp : logs_->ListLogs()) {
      if (tp.topic == broker::group::kOffsetsTopicName) {
        existing = std::max(existing, tp.partition + 1);
      }
    }
    go.offsets_topic.num_partitions =
        existing > 0 ? existing : config.offsets_topic_num_partitions;
    // The coordinator appends to the log directly, not through Produce:
    // move the high watermark that Fetch reads up to it.
    go.offsets_topic.on_append = [this](int32_t partition, int64_t end_offset) {
      if (topics_ == nullptr) return;
      std::shared_ptr<broker::Partition> p =
          topics_->FindPartition(std::string(broker::group::kOffsetsTopicName), partition);
      if (p == nullptr) return;
      int64_t hw = p->high_watermark.load();
      while (hw < end_offset && !p->high_watermark.compare_exchange_weak(hw, end_offset)) {
      }
    };
    absl::StatusOr<std::unique_ptr<broker::group::GroupCoordinator>> coordinator =
        broker::group::GroupCoordinator::Create(logs_.get(), &timers_, go);
    if (!coordinator.ok()) return coordinator.status();
    coordinator_ = *std::move(coordinator);
    return coordinator_->Load();
  }

  absl::Mutex stop_mu_;  // a second Stop waits for the first to finish
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::string logs_dir_;
  broker::group::ThreadTimerService timers_;
  std::unique_ptr<storage::LogManager> logs_;
  std::unique_ptr<broker::group::GroupCoordinator> coordinator_;
  std::unique_ptr<broker::MetadataLog> metadata_;
  std::unique_ptr<broker::TopicRegistry> topics_;
  std::unique_ptr<broker::ProducerIdManager> producer_ids_;
  broker::RequestRouter router_;
  std::shared_ptr<TopicPolicy> topic_policy_;
  BrokerContext ctx_;
  std::unique_ptr<broker::BrokerObservability> observability_;
  std::unique_ptr<net::Server> server_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Broker>> Broker::Start(BrokerOptions options) {
  auto broker = std::make_unique<BrokerImpl>();
  if (absl::Status s = broker->Init(std::move(options)); !s.ok()) return s;
  return broker;
}

}  // namespace runnel
