// Log: one partition of a durable, Kafka-format log, embeddable in-process.
//
// The files are Kafka's own (`<20-digit base offset>.log` with record batches
// v2 exactly as on the wire, `.index`, `.timeindex`, `leader-epoch-checkpoint`),
// so Kafka's tools read a Runnel log directory and Runnel opens Kafka's. The
// broker serves fetches from the same engine, handing file ranges to
// sendfile; an embedded application appends and reads directly:
//
//   RUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<runnel::storage::Log> log,
//                           runnel::storage::Log::Open({.dir = "/data/events-0"}));
//   runnel::storage::Record r{.key = "user-1", .value = "clicked"};
//   RUNNEL_ASSIGN_OR_RETURN(runnel::storage::AppendResult a,
//                           log->AppendRecords(std::span(&r, 1)));
//   RUNNEL_ASSIGN_OR_RETURN(runnel::storage::ReadResult got,
//                           log->Read(a.base_offset, {.max_bytes = 1 << 20}));
//   // got.bytes holds whole record batches; got.slices the same as file ranges.
//
// Durability: an append returns once its bytes are in the page cache (written
// with one pwritev). They survive a process crash at once, and a machine
// crash only once flushed: by Flush(), by flush.messages / flush.ms, by a
// segment roll (which fsyncs the segments it closes, as Kafka does), or by
// LogManager::Close (flush_on_close). With the defaults the active segment
// is not fsynced before it rolls or the log closes: as in Kafka, replication
// (or the application) carries durability for the newest data.
// recovery_point() is the offset below which data is known fsynced (the
// LogManager checkpoints it; a log opened alone keeps it in its own
// directory); Open() re-validates every batch after it and
// cuts a torn tail, so a crash loses at most unflushed appends, never the
// log's consistency. Leader-epoch and offset checkpoints are fsynced when
// written.
//
// Threads: one writer at a time (Append*, Truncate*, DeleteRecordsBefore,
// Flush, Roll and the leader-epoch mutators serialise on an internal mutex;
// calling them from several threads is safe but they do not run in parallel).
// Readers (Read, ReadByTimestamp, the offset getters, WaitForOffset) run from
// any number of threads at once, never block the writer and never see a
// partially written batch. A Log owns its files; ReadResult::slices keep the
// segment files they name open, even after retention deletes them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runnel/common/byte_buffer.h"
#include "runnel/log_options.h"

namespace runnel::storage {

// Where the writer's offsets come from.
enum class AppendOrigin : uint8_t {
  // The log assigns offsets from its end offset (a produce request, an
  // embedded writer). The base offset in the input is ignored and rewritten.
  kLeader = 0,
  // Offsets come from the batches (replication): the first must be at least
  // the end offset, and they must increase. Nothing is rewritten; a batch
  // whose partitionLeaderEpoch is newer than the cache's latest starts that
  // epoch in the leader-epoch cache.
  kReplica = 1,
};

struct AppendOptions {
  AppendOrigin origin = AppendOrigin::kLeader;
  // For kLeader: when >= 0, written into each batch's partitionLeaderEpoch
  // (outside the CRC) and recorded in the leader-epoch cache. -1 leaves the
  // batches' own field alone and records no epoch.
  int32_t leader_epoch = -1;
};

struct AppendResult {
  int64_t base_offset = -1;  // offset of the first record appended
  int64_t last_offset = -1;  // offset of the last record appended
  // The time stamped on the batches under LogAppendTime, else -1.
  int64_t log_append_time_ms = -1;
  int64_t log_start_offset = 0;
  int32_t record_count = 0;
  // This append started a new segment at this offset (segment.bytes,
  // segment.ms), before writing its batches; else -1. A layer that keeps
  // state beside the log (the broker's producer-state snapshots) takes its
  // checkpoint here, as Kafka does at a roll.
  int64_t rolled_at = -1;
};

// A record for AppendRecords. Views must stay valid for the call only.
struct RecordHeader {
  std::string_view key;
  std::optional<std::string_view> value;  // nullopt is a null header value
};
struct Record {
  std::optional<std::string_view> key;    // nullopt is a null key
  std::optional<std::string_view> value;  // nullopt is a tombstone
  std::span<const RecordHeader> headers;
  int64_t timestamp_ms = -1;  // -1: the log's clock at append time
};

// A run of whole record batches inside one segment file. Retention and
// DeleteLog never disturb the bytes under a held slice; only Truncate
// (replication divergence) can shorten the file, so a short sendfile means
// the tail was truncated away.
struct FileSlice {
  int fd = -1;                       // open for reading while `file` is held
  int64_t position = 0;              // byte position in the file
  int64_t length = 0;                // bytes; always whole batches
  std::string path;                  // for logs and error messages
  std::shared_ptr<const void> file;  // keeps `fd` open
};

struct ReadOptions {
  // Upper bound on bytes returned. At least the first batch is returned even
  // when larger, unless `strict_max_bytes` (Kafka's "minOneMessage" = false).
  int64_t max_bytes = 1 << 20;
  bool strict_max_bytes = false;
  // Exclusive upper offset; batches starting at or above it are not returned
  // (a broker passes its high watermark). -1: the log end offset.
  int64_t max_offset = -1;
  // Also copy the batches into ReadResult::bytes. Servers that sendfile the
  // slices leave this off.
  bool copy_bytes = true;
};

struct ReadResult {
  // Whole batches; the first contains the offset asked for (it may start
  // below it, as in Kafka). Empty at the end of the log.
  ByteBuffer bytes;
  std::vector<FileSlice> slices;
  int64_t total_bytes = 0;   // sum of the slices' lengths
  int64_t next_offset = -1;  // the offset after the last batch returned
  int64_t log_start_offset = 0;
  int64_t log_end_offset = 0;
};

struct TimestampAndOffset {
  int64_t timestamp_ms = -1;
  int64_t offset = -1;
  int32_t leader_epoch = -1;  // the batch's partitionLeaderEpoch
};

struct EpochEntry {
  int32_t epoch = 0;
  int64_t start_offset = 0;
};

struct LogOpenOptions {
  // The partition's directory (created if missing), e.g. /data/events-0.
  std::string dir;
  LogOptions log;
  // Data below this offset is known to have been fsynced; Open validates
  // every segment from the one holding it onwards. 0 validates everything.
  int64_t recovery_point = 0;
  // The log start offset last checkpointed (raised to the first segment's
  // base offset if lower).
  int64_t log_start_offset = 0;
  const Clock* clock = nullptr;  // nullptr: Clock::System()
};

// What recovery cut off: one per segment truncated.
struct RecoveryTruncation {
  std::string file;
  int64_t position = 0;       // the first bad byte
  int64_t bytes_dropped = 0;  // from there to the end of the file
  std::string reason;         // e.g. "CRC mismatch"
};

struct RecoveryReport {
  std::vector<RecoveryTruncation> truncations;
  std::vector<std::string> rebuilt_indexes;  // index files rebuilt
  int64_t segments_recovered = 0;            // segments scanned batch by batch
  int32_t segments_deleted = 0;              // empty or wholly after a cut
};

// A one-shot callback registered with WatchOffset.
using WatchId = uint64_t;

class Log {
 public:
  virtual ~Log() = default;

  // Opens (creating if needed) the log in `options.dir` and recovers it:
  // every segment from the recovery point on is scanned and cut at the first
  // batch whose length, magic or CRC is wrong; missing or corrupt indexes are
  // rebuilt. What was cut is in recovery_report(). A corrupt file is never
  // fatal; I/O errors are returned (a DataLoss status names file and byte).
  static absl::StatusOr<std::unique_ptr<Log>> Open(LogOpenOptions options);

  // --- Writing (one writer) ---

  // Appends one or more record batches v2 laid end to end, as in a produce
  // request. Each is checked first (length, magic 2, CRC, lastOffsetDelta,
  // max.message.bytes): a bad one fails the whole call with InvalidArgument
  // (bad CRC/magic/size, Kafka's CORRUPT_MESSAGE), OutOfRange (too large,
  // MESSAGE_TOO_LARGE) or FailedPrecondition (replica offsets out of order),
  // and nothing is written. For kLeader the base offsets (and, under
  // LogAppendTime, timestamps and CRC) are rewritten in `batches` in place.
  // An I/O error (ENOSPC: ResourceExhausted) leaves the log as before the call
  // and the log keeps taking appends; if the partial write cannot even be cut
  // back (DataLoss), every later write fails until the log is reopened, whose
  // recovery then cuts it.
  virtual absl::StatusOr<AppendResult> Append(std::span<uint8_t> batches,
                                              const AppendOptions& options = {}) = 0;

  // Builds one uncompressed batch from `records` and appends it (kLeader).
  virtual absl::StatusOr<AppendResult> AppendRecords(std::span<const Record> records,
                                                     const AppendOptions& options = {}) = 0;

  // fsyncs everything appended so far; afterwards recovery_point() equals
  // log_end_offset() as of the call. A failed fsync fails every later write
  // too (the kernel may have dropped the unsynced pages): reopen the log.
  virtual absl::Status Flush() = 0;

  // Starts a new segment at the end offset (no-op on an empty active segment)
  // and fsyncs the segments before it.
  virtual absl::Status Roll() = 0;

  // Removes every record at or above `offset` (replication divergence).
  // Offsets above the end are a no-op. Leader epochs starting at or above
  // `offset` are dropped, and so are <offset>.snapshot files in dir() named
  // above the new end (TruncateFully and recovery at Open remove them too).
  virtual absl::Status Truncate(int64_t offset) = 0;

  // Deletes every segment and restarts the log empty at `new_start_offset`
  // (a replica too far behind the leader's log start). Clears leader epochs.
  virtual absl::Status TruncateFully(int64_t new_start_offset) = 0;

  // Moves the log start offset up to `offset` (DeleteRecords); segments
  // wholly below it are deleted asynchronously. `offset` above the end offset
  // is OutOfRange; at or below the start offset a no-op.
  virtual absl::Status DeleteRecordsBefore(int64_t offset) = 0;

  // Deletes whole segments past retention.ms (by their newest timestamp) and
  // retention.bytes, oldest first and never the active segment, moving the
  // log start offset; the files go to *.deleted and are removed
  // file.delete.delay.ms later. Returns the number of segments deleted. The
  // LogManager calls this periodically; embedded users without one may too.
  virtual absl::StatusOr<int> ApplyRetention() = 0;

  // --- Reading (any thread) ---

  // Whole batches from the one containing `offset`. OutOfRange when `offset`
  // is below the log start or above the end offset; at the end offset an
  // empty result.
  virtual absl::StatusOr<ReadResult> Read(int64_t offset,
                                          const ReadOptions& options = {}) const = 0;

  // The first record whose timestamp is >= `timestamp_ms` (batch max
  // timestamps guide the search, then records are scanned); nullopt when
  // every record is older.
  virtual absl::StatusOr<std::optional<TimestampAndOffset>> ReadByTimestamp(
      int64_t timestamp_ms) const = 0;

  virtual int64_t log_start_offset() const = 0;
  // The offset the next record appended gets.
  virtual int64_t log_end_offset() const = 0;
  // Offsets below this are fsynced.
  virtual int64_t recovery_point() const = 0;
  // Bytes in all segments.
  virtual int64_t size_bytes() const = 0;
  virtual int32_t segment_count() const = 0;
  virtual const std::string& dir() const = 0;
  virtual LogOptions options() const = 0;
  // Applies new options (a config change); takes effect from the next append.
  virtual absl::Status UpdateOptions(const LogOptions& options) = 0;
  virtual const RecoveryReport& recovery_report() const = 0;

  // --- Waiting for data (long-poll fetch, tailing consumers) ---

  // Blocks until log_end_offset() > offset, the deadline passes
  // (DeadlineExceeded) or the log closes (Cancelled). Any thread.
  virtual absl::Status WaitForOffset(int64_t offset, absl::Time deadline) const = 0;

  // Calls `callback` once, when log_end_offset() > offset or the log closes
  // (with Cancelled). It runs on the appending thread after the append is
  // visible, or inline here when the data is already there; it must be quick
  // and must not call back into this Log's writer methods.
  virtual WatchId WatchOffset(int64_t offset, std::function<void(absl::Status)> callback) const = 0;
  // Returns true when the callback was removed before running.
  virtual bool CancelWatch(WatchId id) const = 0;

  // --- Leader epochs (persisted in leader-epoch-checkpoint) ---

  // Records that `epoch` starts at `start_offset`. Lower or equal epochs are
  // ignored if already present at a lower offset; entries at or after a
  // newer assignment's offset with smaller epochs are dropped, as in Kafka.
  virtual absl::Status AssignLeaderEpoch(int32_t epoch, int64_t start_offset) = 0;
  virtual std::vector<EpochEntry> LeaderEpochs() const = 0;
  virtual std::optional<int32_t> LatestLeaderEpoch() const = 0;
  // OffsetsForLeaderEpoch: the largest epoch <= `epoch` and the offset where
  // it ends (the next epoch's start, or the log end offset). {-1, -1} when
  // unknown.
  virtual EpochEntry EndOffsetForEpoch(int32_t epoch) const = 0;

  // --- Lifecycle ---

  // Writes the active segment's final time-index entry, stops its index
  // files taking entries, removes pending *.deleted files and wakes
  // waiters with Cancelled. It does not fsync: call Flush() first for that
  // (LogManager::Close does). A log opened with Log::Open (no LogManager)
  // writes its recovery point and start offset to
  // <dir>/standalone-log-checkpoint here (and on a Flush that reaches a new
  // segment, and on truncation), so the next Open re-validates only what
  // was not flushed. Further writes fail with FailedPrecondition; reads
  // keep working on the open files. The destructor closes too.
  virtual absl::Status Close() = 0;
};

}  // namespace runnel::storage
