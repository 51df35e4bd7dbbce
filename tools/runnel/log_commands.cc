// `runnel log`: the command table, and `runnel log append`, which appends
// stdin lines to a partition and prints each one's offset once durable.
#include "tools/runnel/log_commands.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runnel/log.h"
#include "runnel/log_manager.h"
#include "tools/runnel/command.h"
#include "tools/runnel/flags.h"

namespace runnel::tools {
namespace {

constexpr Command kLogCommands[] = {
    {"append", "append stdin lines to a partition, printing their offsets", RunLogAppend},
    {"dump", "print the records of a partition (read-only)", RunLogDump},
    {"check", "verify every segment and index in a data directory (read-only)", RunLogCheck},
};

constexpr char kAppendHelp[] =
    "Appends each line of stdin to partition --partition of topic --topic in the\n"
    "data directory --dir (created if missing) as one record: the text before the\n"
    "first tab is the key and the rest the value; a line without a tab has a null\n"
    "key. Lines available together (up to 1000, or 512 KiB) go in one batch.\n"
    "\n"
    "Each line's offset is printed, one a line, once it is durable:\n"
    "  --sync     after the batch is fsynced: the record survives a machine crash.\n"
    "  default    after the batch is written to the page cache: it survives this\n"
    "             tool being killed, but not a machine crash until flushed (the\n"
    "             tool fsyncs everything when stdin ends and it exits normally).\n"
    "\n"
    "Exit status: 0 when every line was appended, 1 on an error (offsets printed\n"
    "before it stand), 2 on a bad command line.";

constexpr size_t kMaxBatchLines = 1000;
// Well under max.message.bytes (1 MiB by default) with the records' overhead.
constexpr size_t kMaxBatchBytes = 512 * 1024;
constexpr size_t kReadChunk = 64 * 1024;

// Reads stdin in batches of lines: blocks until some input arrives, then
// takes whatever more is already readable, up to the batch limits, so an
// interactive writer sees each line appended at once and a pipe is batched.
class LineBatcher {
 public:
  explicit LineBatcher(int fd) : fd_(fd) {}

  // The next batch of lines (views into the reader's buffer, valid until the
  // next call). Empty at the end of input; an error on a read failure.
  absl::StatusOr<std::vector<std::string_view>> Next() {
    buf_.erase(0, start_);  // drop the lines handed out last time
    start_ = 0;
    std::vector<std::string_view> lines;
    size_t scan = 0, bytes = 0;
    while (true) {
      // Complete lines already buffered.
      while (lines.size() < kMaxBatchLines && bytes < kMaxBatchBytes) {
        size_t nl = buf_.find('\n', scan);
        if (nl == std::string::npos) break;
        lines.emplace_back(buf_.data() + scan, nl - scan);
        bytes += nl - scan;
        scan = nl + 1;
      }
      if (lines.size() >= kMaxBatchLines || bytes >= kMaxBatchBytes) break;
      if (eof_) {
        if (scan < buf_.size()) {  // a last line without a newline
          lines.emplace_back(buf_.data() + scan, buf_.size() - scan);
          scan = buf_.size();
        }
        break;
      }
      if (!lines.empty() && !Readable()) break;
      // Offsets into buf_ survive its growth; the views are rebuilt below.
      absl::Status read = ReadMore();
      if (!read.ok()) return read;
      lines.clear();
      scan = 0;
      bytes = 0;
    }
    start_ = scan;
    return lines;
  }

 private:
  bool Readable() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  absl::Status ReadMore() {
    const size_t old = buf_.size();
    buf_.resize(old + kReadChunk);
    while (true) {
      ssize_t n = ::read(fd_, buf_.data() + old, kReadChunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        buf_.resize(old);
        return absl::InternalError(absl::StrCat("reading stdin: ", std::strerror(errno)));
      }
      buf_.resize(old + static_cast<size_t>(n));
      if (n == 0) eof_ = true;
      return absl::OkStatus();
    }
  }

  int fd_;
  std::string buf_;
  size_t start_ = 0;  // bytes of buf_ handed out by the last Next()
  bool eof_ = false;
};

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "runnel log append: %s\n", std::string(status.ToString()).c_str());
  return kExitFailure;
}

}  // namespace

int RunLogCommand(std::span<const std::string> args) {
  return RunCommandTable("runnel log", kLogCommands, args);
}

int RunLogAppend(std::span<const std::string> args) {
  FlagSet flags("runnel log append", kAppendHelp);
  flags.AddString("dir", "DIR", "the data directory", /*required=*/true);
  flags.AddString("topic", "TOPIC", "the topic", /*required=*/true);
  flags.AddInt("partition", "N", "the partition", /*required=*/true);
  flags.AddBool("sync", "fsync each batch before printing its offsets");
  flags.AddInt("segment-bytes", "BYTES",
               "segment.bytes for the partition (default: Kafka's 1 GiB)");
  if (absl::Status s = flags.Parse(args); !s.ok()) return ReportParseResult(flags, s);
  const int64_t partition = flags.GetInt("partition");
  if (partition < 0 || partition > INT32_MAX) {
    return ReportParseResult(
        flags, absl::InvalidArgumentError(
                   absl::StrCat("--partition must be 0..", INT32_MAX, ", got ", partition)));
  }
  const bool sync = flags.GetBool("sync");
  std::optional<storage::LogOptions> options;
  if (flags.Has("segment-bytes")) {
    options.emplace();
    options->segment_bytes = flags.GetInt("segment-bytes");
    if (absl::Status s = options->Validate(); !s.ok()) return ReportParseResult(flags, s);
  }

  // The manager, not a bare Log, so the data directory's recovery-point
  // checkpoint is kept and the next open re-validates only unflushed data.
  absl::StatusOr<std::unique_ptr<storage::LogManager>> mgr =
      storage::LogManager::Open({.data_dir = flags.GetString("dir"), .background_thread = false});
  if (!mgr.ok()) return Fail(mgr.status());
  absl::StatusOr<std::shared_ptr<storage::Log>> log =
      (*mgr)->GetOrCreateLog({flags.GetString("topic"), static_cast<int32_t>(partition)}, options);
  if (!log.ok()) return Fail(log.status());

  LineBatcher input(STDIN_FILENO);
  std::vector<storage::Record> records;
  std::string out;
  while (true) {
    absl::StatusOr<std::vector<std::string_view>> lines = input.Next();
    if (!lines.ok()) return Fail(lines.status());
    if (lines->empty()) break;
    records.clear();
    for (std::string_view line : *lines) {
      storage::Record r;
      if (size_t tab = line.find('\t'); tab != std::string_view::npos) {
        r.key = line.substr(0, tab);
        r.value = line.substr(tab + 1);
      } else {
        r.value = line;
      }
      records.push_back(r);
    }
    absl::StatusOr<storage::AppendResult> appended = (*log)->AppendRecords(records);
    if (!appended.ok()) return Fail(appended.status());
    if (sync) {
      if (absl::Status s = (*log)->Flush(); !s.ok()) return Fail(s);
    }
    out.clear();
    for (int64_t o = appended->base_offset; o <= appended->last_offset; ++o) {
      absl::StrAppend(&out, o, "\n");
    }
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
      return Fail(absl::InternalError(absl::StrCat("writing stdout: ", std::strerror(errno))));
    }
  }
  if (absl::Status s = (*mgr)->Close(); !s.ok()) return Fail(s);
  return kExitOk;
}

}  // namespace runnel::tools
