// `runnel log dump`: prints the records of a partition from its files, like
// Kafka's kafka-dump-log. Read-only: the log is not opened, so nothing is
// recovered or cut, and a corrupt batch is reported rather than hidden.
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "runnel/protocol/record_batch.h"
#include "storage/file_util.h"
#include "tools/runnel/command.h"
#include "tools/runnel/flags.h"
#include "tools/runnel/log_commands.h"
#include "tools/runnel/log_files.h"

namespace runnel::tools {
namespace {

namespace rb = runnel::record_batch;

constexpr char kDumpHelp[] =
    "Prints every record of the partition from --from on, one a line:\n"
    "  offset: 5 CreateTime: 1700000000000 key: user-1 value: clicked\n"
    "(the key or value part is left out when null; headers follow as\n"
    "headers: k=v,...). Bytes are printed as text with \\\\, \\t, \\n and \\xNN\n"
    "escapes. --verbose also prints a line for each segment file and each batch\n"
    "(base offset, position, size, codec, CRC and whether it checks), like\n"
    "kafka-dump-log --deep-iteration.\n"
    "\n"
    "Reads the segment files directly and changes nothing, so it is safe on a\n"
    "log a process is appending to. Exit status: 0, or 1 when a batch is corrupt\n"
    "(reported on stderr; the dump goes on past a bad CRC, stops at bad framing).";

const char* TimestampTypeName(int16_t attributes) {
  return (attributes & rb::kTimestampTypeBit) ? "LogAppendTime" : "CreateTime";
}

std::string FormatRecord(const protocol::Record& r, int16_t attributes, bool verbose) {
  std::string line = absl::StrCat(verbose ? "| " : "", "offset: ", r.offset, " ",
                                  TimestampTypeName(attributes), ": ", r.timestamp);
  if (verbose) {
    absl::StrAppend(&line, " keySize: ", r.key.is_null() ? -1 : static_cast<int64_t>(r.key.size()),
                    " valueSize: ", r.value.is_null() ? -1 : static_cast<int64_t>(r.value.size()));
  }
  if (!r.key.is_null()) absl::StrAppend(&line, " key: ", EscapeBytes(r.key.span()));
  if (!r.value.is_null()) absl::StrAppend(&line, " value: ", EscapeBytes(r.value.span()));
  if (!r.headers.empty()) {
    absl::StrAppend(&line, " headers: ");
    bool first = true;
    for (const protocol::RecordHeader& h : r.headers) {
      absl::StrAppend(&line, first ? "" : ",",
                      EscapeBytes({reinterpret_cast<const uint8_t*>(h.key.data()), h.key.size()}),
                      "=", h.value.is_null() ? "null" : EscapeBytes(h.value.span()));
      first = false;
    }
  }
  line += '\n';
  return line;
}

std::string FormatBatch(const ScannedBatch& b) {
  const rb::BatchHeader& h = b.header;
  const auto codec = static_cast<protocol::CompressionType>(h.attributes & rb::kCompressionMask);
  return absl::StrCat(
      "baseOffset: ", h.base_offset,
      " lastOffset: ", h.base_offset + static_cast<int64_t>(h.last_offset_delta),
      " count: ", h.record_count, " position: ", b.position, " size: ", b.bytes.size(), " ",
      TimestampTypeName(h.attributes), ": ", h.max_timestamp,
      " partitionLeaderEpoch: ", h.partition_leader_epoch, " producerId: ", h.producer_id,
      " producerEpoch: ", h.producer_epoch, " baseSequence: ", h.base_sequence,
      " isTransactional: ", (h.attributes & rb::kTransactionalBit) ? "true" : "false",
      " isControl: ", (h.attributes & rb::kControlBit) ? "true" : "false",
      " compresscodec: ", std::string(protocol::CompressionTypeName(codec)), " crc: ", h.crc,
      " isvalid: ", b.valid.ok() ? "true" : "false", "\n");
}

}  // namespace

int RunLogDump(std::span<const std::string> args) {
  FlagSet flags("runnel log dump", kDumpHelp);
  flags.AddString("dir", "DIR", "the data directory", /*required=*/true);
  flags.AddString("topic", "TOPIC", "the topic", /*required=*/true);
  flags.AddInt("partition", "N", "the partition", /*required=*/true);
  flags.AddInt("from", "OFFSET", "the first offset to print", false, 0);
  flags.AddBool("verbose", "also print segment files and batch headers");
  if (absl::Status s = flags.Parse(args); !s.ok()) return ReportParseResult(flags, s);
  const int64_t from = flags.GetInt("from");
  const bool verbose = flags.GetBool("verbose");
  const std::string dir =
      storage::JoinPath(flags.GetString("dir"),
                        absl::StrCat(flags.GetString("topic"), "-", flags.GetInt("partition")));
  if (!storage::IsDirectory(dir)) {
    std::fprintf(stderr, "runnel log dump: no partition directory %s\n", dir.c_str());
    return kExitFailure;
  }
  absl::StatusOr<std::vector<SegmentFiles>> segments = ListSegments(dir);
  if (!segments.ok()) {
    std::fprintf(stderr, "runnel log dump: %s\n", std::string(segments.status().message()).c_str());
    return kExitFailure;
  }

  int exit_code = kExitOk;
  auto problem = [&](const std::string& path, const absl::Status& s) {
    std::fflush(stdout);
    std::fprintf(stderr, "runnel log dump: %s: %s\n", path.c_str(),
                 std::string(s.message()).c_str());
    exit_code = kExitFailure;
  };
  std::string out;
  for (size_t i = 0; i < segments->size(); ++i) {
    const SegmentFiles& seg = (*segments)[i];
    // Segments wholly below --from are skipped by name alone.
    if (i + 1 < segments->size() && (*segments)[i + 1].base_offset <= from) continue;
    absl::StatusOr<MappedFile> file = MappedFile::Open(seg.log_path);
    if (!file.ok()) {
      problem(seg.log_path, file.status());
      continue;
    }
    if (verbose) std::printf("Dumping %s\n", seg.log_path.c_str());
    BatchWalker walker(file->bytes());
    while (std::optional<ScannedBatch> b = walker.Next()) {
      if (b->header.base_offset + static_cast<int64_t>(b->header.last_offset_delta) < from &&
          b->valid.ok()) {
        continue;
      }
      out.clear();
      if (verbose) out = FormatBatch(*b);
      if (!b->valid.ok()) {
        std::fputs(out.c_str(), stdout);
        problem(seg.log_path, b->valid);
        continue;
      }
      protocol::RecordBatchReader reader(b->bytes,
                                         {.base_position = static_cast<uint64_t>(b->position)});
      if (reader.NextBatch()) {
        while (reader.NextRecord()) {
          if (reader.record().offset >= from) {
            out += FormatRecord(reader.record(), b->header.attributes, verbose);
          }
        }
      }
      std::fputs(out.c_str(), stdout);
      if (!reader.status().ok()) problem(seg.log_path, reader.status());
    }
    if (!walker.error().ok()) problem(seg.log_path, walker.error());
  }
  if (std::fflush(stdout) != 0) return kExitFailure;
  return exit_code;
}

}  // namespace runnel::tools
