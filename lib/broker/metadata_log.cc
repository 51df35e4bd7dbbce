#include "broker/metadata_log.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cluster_metadata.pb.h"
#include "runnel/protocol/record_batch.h"

namespace runnel::broker {

absl::StatusOr<std::unique_ptr<MetadataLog>> MetadataLog::Open(storage::LogManager* logs) {
  absl::StatusOr<std::shared_ptr<storage::Log>> log =
      logs->GetOrCreateLog(storage::TopicPartition{kMetadataTopic, 0});
  if (!log.ok()) return log.status();
  return std::unique_ptr<MetadataLog>(new MetadataLog(*std::move(log)));
}

absl::Status MetadataLog::AppendBytes(const std::string& value) {
  storage::Record record;
  record.value = std::string_view(value);
  absl::StatusOr<storage::AppendResult> r =
      log_->AppendRecords(std::span<const storage::Record>(&record, 1));
  if (!r.ok()) return r.status();
  // Metadata changes are rare and must survive power loss: fsync each.
  return log_->Flush();
}

absl::Status MetadataLog::AppendTopic(const std::string& name, const TopicMetadata& topic) {
  metadata::MetadataRecord rec;
  metadata::TopicRecord* t = rec.mutable_topic();
  t->set_name(name);
  t->set_topic_id(std::string(reinterpret_cast<const char*>(topic.id.bytes.data()),
                              topic.id.bytes.size()));
  t->set_partitions(topic.partitions);
  for (const auto& [k, v] : topic.configs) (*t->mutable_configs())[k] = v;
  return AppendBytes(rec.SerializeAsString());
}

absl::Status MetadataLog::AppendPartitionCount(const std::string& name, int32_t partitions) {
  metadata::MetadataRecord rec;
  rec.mutable_partition_count()->set_name(name);
  rec.mutable_partition_count()->set_partitions(partitions);
  return AppendBytes(rec.SerializeAsString());
}

absl::Status MetadataLog::AppendRemoveTopic(const std::string& name) {
  metadata::MetadataRecord rec;
  rec.mutable_remove_topic()->set_name(name);
  return AppendBytes(rec.SerializeAsString());
}

absl::Status MetadataLog::AppendProducerIdBlock(int32_t broker_id, int64_t next_block_start) {
  metadata::MetadataRecord rec;
  rec.mutable_producer_ids()->set_broker_id(broker_id);
  rec.mutable_producer_ids()->set_next_producer_id_block_start(next_block_start);
  return AppendBytes(rec.SerializeAsString());
}

absl::StatusOr<MetadataState> MetadataLog::Replay() const {
  MetadataState state;
  int64_t offset = log_->log_start_offset();
  while (offset < log_->log_end_offset()) {
    storage::ReadOptions ro;
    ro.max_bytes = 1 << 20;
    absl::StatusOr<storage::ReadResult> r = log_->Read(offset, ro);
    if (!r.ok()) return r.status();
    if (r->bytes.empty()) break;
    protocol::RecordBatchReader reader(r->bytes.span());
    while (reader.NextBatch()) {
      while (reader.NextRecord()) {
        const protocol::Record& rec = reader.record();
        if (rec.offset < offset) continue;
        metadata::MetadataRecord m;
        std::string_view v = rec.value.str();
        if (!m.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
          return absl::DataLossError(absl::StrCat(log_->dir(), ": metadata record at offset ",
                                                  rec.offset, " does not parse"));
        }
        if (m.has_topic()) {
          TopicMetadata t;
          const std::string& id = m.topic().topic_id();
          if (id.size() == t.id.bytes.size()) std::memcpy(t.id.bytes.data(), id.data(), id.size());
          t.partitions = m.topic().partitions();
          for (const auto& [k, val] : m.topic().configs()) t.configs[k] = val;
          state.topics[m.topic().name()] = std::move(t);
          state.removed.erase(m.topic().name());
        } else if (m.has_partition_count()) {
          auto it = state.topics.find(m.partition_count().name());
          if (it != state.topics.end()) it->second.partitions = m.partition_count().partitions();
        } else if (m.has_remove_topic()) {
          state.topics.erase(m.remove_topic().name());
          state.removed[m.remove_topic().name()] = true;
        } else if (m.has_producer_ids()) {
          state.next_producer_id_block = std::max(
              state.next_producer_id_block, m.producer_ids().next_producer_id_block_start());
        }
      }
    }
    if (!reader.status().ok()) return reader.status();
    if (r->next_offset <= offset) break;
    offset = r->next_offset;
  }
  return state;
}

}  // namespace runnel::broker
