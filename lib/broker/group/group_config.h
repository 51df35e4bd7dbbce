// GroupConfig: the broker settings the group coordinator obeys, with
// Kafka's names and defaults.
#pragma once

#include <cstdint>

namespace runnel::broker::group {

struct GroupConfig {
  // group.initial.rebalance.delay.ms: how long the first rebalance of an
  // empty group waits for more members (extended by each newcomer, up to
  // the rebalance timeout). Fewer rebalances when a whole fleet starts at
  // once, against a later start for a lone consumer. Tests use 0.
  int64_t initial_rebalance_delay_ms = 3000;
  // group.min/max.session.timeout.ms: the session timeouts members may ask
  // for (INVALID_SESSION_TIMEOUT outside). The minimum bounds how often the
  // coordinator may have to expire members; the maximum how long a dead
  // member may hold partitions.
  int32_t min_session_timeout_ms = 6000;
  int32_t max_session_timeout_ms = 1800000;
  // group.max.size: GROUP_MAX_SIZE_REACHED beyond it.
  int32_t max_group_size = 0x7fffffff;
  // offset.metadata.max.bytes: longer commit metadata is refused with
  // OFFSET_METADATA_TOO_LARGE.
  int32_t offset_metadata_max_bytes = 4096;
  // offsets.retention.minutes (7 days): offsets of an empty group older
  // than this are deleted.
  int64_t offsets_retention_ms = 7LL * 24 * 60 * 60 * 1000;
  // offsets.retention.check.interval.ms (10 minutes).
  int64_t offsets_retention_check_interval_ms = 10 * 60 * 1000;
};

}  // namespace runnel::broker::group
