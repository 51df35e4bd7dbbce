// Crash test: `runnel log append --sync` is SIGKILLed at random moments, a few
// hundred times; after each kill the log is reopened and must hold every
// record the tool printed as durable, with the right content, at contiguous
// offsets, and `runnel log check` must find every CRC and index sound.
//
//   crash_test RUNNEL_BINARY
//
// Environment: RUNNEL_CRASH_ITERATIONS (default 300), RUNNEL_CRASH_SECONDS
// (default 100: stop early rather than overrun the CI budget on a loaded
// machine; the count run is printed), RUNNEL_CRASH_SEED (default: the time,
// printed so a failure can be replayed), RUNNEL_CRASH_KEEP=1 keeps the
// directory of a failing run.
//
// The kill lands anywhere: while the tool opens and recovers the log, while
// it reads stdin, between write and fsync, during a segment roll (segments
// are 64 KiB), or while it prints. Records appended but not yet acknowledged
// may survive (the page cache outlives the process); the check accepts them
// only at the offsets and with the contents of the lines that were sent.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runnel/log.h"
#include "runnel/log_manager.h"
#include "runnel/protocol/record_batch.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kIterationsPerDirectory = 25;  // then a fresh directory, keeping reads short
constexpr const char* kSegmentBytes = "65536";

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoll(v, nullptr, 10) : fallback;
}

// The line sent as record `j` of directory round `round`: key, tab, value.
// The value's length varies so batches end at varied byte positions.
std::string Key(int round, int64_t j) { return absl::StrCat("r", round, "-", j); }
std::string Value(int round, int64_t j) {
  std::string v = absl::StrCat("value-", round, "-", j, "-");
  v.append(static_cast<size_t>((j * 7919) % 173), static_cast<char>('a' + j % 26));
  return v;
}

struct Child {
  pid_t pid = -1;
  int in = -1;   // its stdin
  int out = -1;  // its stdout
};

Child Spawn(const std::string& runnel, const std::string& dir) {
  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) {
    std::perror("pipe2");
    std::exit(1);
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);
    execl(runnel.c_str(), runnel.c_str(), "log", "append", "--dir", dir.c_str(), "--topic", "t",
          "--partition", "0", "--sync", "--segment-bytes", kSegmentBytes,
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
  fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  return {pid, in_pipe[1], out_pipe[0]};
}

// Feeds lines from `next_line` on until `deadline`, collecting the offsets
// the child prints; then kills it and reads what it printed before dying.
// Returns the acknowledged offsets in order.
std::vector<int64_t> FeedAndKill(Child& c, int round, int64_t& next_line,
                                 Clock::time_point deadline, std::mt19937_64& rng) {
  std::vector<int64_t> acked;
  std::string pending, out_buf;
  auto drain = [&](bool until_eof) {
    char buf[4096];
    while (true) {
      ssize_t n = read(c.out, buf, sizeof buf);
      if (n > 0) {
        out_buf.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EAGAIN && until_eof) {
        pollfd p{c.out, POLLIN, 0};
        poll(&p, 1, 100);
        continue;
      }
      break;
    }
    size_t pos;
    while ((pos = out_buf.find('\n')) != std::string::npos) {
      acked.push_back(std::strtoll(out_buf.substr(0, pos).c_str(), nullptr, 10));
      out_buf.erase(0, pos + 1);
    }
  };
  while (Clock::now() < deadline) {
    if (pending.empty()) {
      const int64_t burst = 1 + static_cast<int64_t>(rng() % 300);
      for (int64_t i = 0; i < burst; ++i, ++next_line) {
        absl::StrAppend(&pending, Key(round, next_line), "\t", Value(round, next_line), "\n");
      }
    }
    pollfd fds[2] = {{c.in, POLLOUT, 0}, {c.out, POLLIN, 0}};
    poll(fds, 2, 1);
    if (fds[0].revents & POLLOUT) {
      ssize_t n = write(c.in, pending.data(), pending.size());
      if (n > 0) pending.erase(0, static_cast<size_t>(n));
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) drain(false);
  }
  kill(c.pid, SIGKILL);
  int wstatus = 0;
  waitpid(c.pid, &wstatus, 0);
  close(c.in);
  drain(true);  // everything printed before the kill is in the pipe
  close(c.out);
  if (!WIFSIGNALED(wstatus)) {
    std::fprintf(stderr, "the append tool exited by itself (status %d) instead of being killed\n",
                 wstatus);
    std::exit(1);
  }
  return acked;
}

int RunTool(const std::string& runnel, const std::string& dir, std::string& output) {
  std::string cmd = absl::StrCat(runnel, " log check --dir ", dir, " 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Reopens the log and checks it against what was sent and acknowledged.
// Returns "" or what is wrong; `end` gets the log end offset.
std::string Verify(const std::string& dir, int round, int64_t sent, int64_t acked_end,
                   int64_t& end) {
  absl::StatusOr<std::unique_ptr<runnel::storage::LogManager>> mgr =
      runnel::storage::LogManager::Open({.data_dir = dir, .background_thread = false});
  if (!mgr.ok()) return absl::StrCat("reopen failed: ", mgr.status().ToString());
  std::shared_ptr<runnel::storage::Log> log = (*mgr)->GetLog({"t", 0});
  end = log == nullptr ? 0 : log->log_end_offset();
  if (end < acked_end) {
    return absl::StrCat("log ends at offset ", end, " but offsets up to ", acked_end - 1,
                        " were acknowledged as durable");
  }
  if (end > sent)
    return absl::StrCat("log ends at offset ", end, " but only ", sent, " lines were sent");
  int64_t next = 0;
  while (next < end) {
    absl::StatusOr<runnel::storage::ReadResult> r = log->Read(next);
    if (!r.ok()) return absl::StrCat("read at ", next, ": ", r.status().ToString());
    runnel::protocol::RecordBatchReader reader(r->bytes.span());
    while (reader.NextBatch()) {
      while (reader.NextRecord()) {
        const runnel::protocol::Record& rec = reader.record();
        if (rec.offset < next) continue;
        if (rec.offset != next)
          return absl::StrCat("offset ", next, " missing (next is ", rec.offset, ")");
        if (rec.key.str() != Key(round, next) || rec.value.str() != Value(round, next)) {
          return absl::StrCat("offset ", next, " holds '", std::string(rec.key.str()), "'/'",
                              std::string(rec.value.str()), "', expected '", Key(round, next), "'");
        }
        ++next;
      }
    }
    if (!reader.status().ok()) return absl::StrCat("decoding: ", reader.status().ToString());
    if (r->bytes.empty())
      return absl::StrCat("read at ", next, " returned nothing below the end ", end);
  }
  if (absl::Status s = (*mgr)->Close(); !s.ok()) return absl::StrCat("close: ", s.ToString());
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: crash_test RUNNEL_BINARY\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  const std::string runnel = argv[1];
  const int64_t iterations = EnvInt("RUNNEL_CRASH_ITERATIONS", 300);
  const int64_t budget_s = EnvInt("RUNNEL_CRASH_SECONDS", 100);
  const uint64_t seed = static_cast<uint64_t>(
      EnvInt("RUNNEL_CRASH_SEED", std::chrono::system_clock::now().time_since_epoch().count()));
  std::printf("crash test: %lld iterations, %lld s budget, seed %llu\n",
              static_cast<long long>(iterations), static_cast<long long>(budget_s),
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  const char* tmp = getenv("TMPDIR");
  std::string root = std::string(tmp != nullptr ? tmp : "/tmp") + "/runnel-crash-XXXXXX";
  if (mkdtemp(root.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }

  const Clock::time_point stop_at = Clock::now() + std::chrono::seconds(budget_s);
  int64_t done = 0, total_acked = 0, kills_before_ack = 0, unacked_survivors = 0;
  int round = -1;
  std::string dir;
  int64_t sent = 0, end = 0;
  for (int64_t it = 0; it < iterations && Clock::now() < stop_at; ++it) {
    if (it % kIterationsPerDirectory == 0) {
      ++round;
      dir = absl::StrCat(root, "/d", round);
      sent = end = 0;
    }
    // Kill after 0-60 ms: early kills hit open and recovery, later ones appends.
    const auto delay = std::chrono::microseconds(rng() % 60000);
    Child child = Spawn(runnel, dir);
    int64_t next_line = end;  // lines sent before this run but never stored are sent again
    std::vector<int64_t> acked = FeedAndKill(child, round, next_line, Clock::now() + delay, rng);
    sent = next_line;
    for (size_t i = 0; i < acked.size(); ++i) {
      if (acked[i] != end + static_cast<int64_t>(i)) {
        std::fprintf(stderr, "FAIL iteration %lld: acknowledged offset %lld, expected %lld\n",
                     static_cast<long long>(it), static_cast<long long>(acked[i]),
                     static_cast<long long>(end + static_cast<int64_t>(i)));
        return 1;
      }
    }
    const int64_t acked_end = end + static_cast<int64_t>(acked.size());
    int64_t new_end = 0;
    std::string problem = Verify(dir, round, sent, acked_end, new_end);
    std::string check_output;
    if (problem.empty()) {
      int rc = RunTool(runnel, dir, check_output);
      if (rc != 0) problem = absl::StrCat("runnel log check exited ", rc, ":\n", check_output);
    }
    if (!problem.empty()) {
      std::fprintf(stderr, "FAIL iteration %lld (seed %llu, kill after %lld us, dir %s): %s\n",
                   static_cast<long long>(it), static_cast<unsigned long long>(seed),
                   static_cast<long long>(delay.count()), dir.c_str(), problem.c_str());
      if (getenv("RUNNEL_CRASH_KEEP") == nullptr) std::filesystem::remove_all(root);
      return 1;
    }
    total_acked += static_cast<int64_t>(acked.size());
    if (acked.empty()) ++kills_before_ack;
    unacked_survivors += new_end - acked_end;
    end = new_end;
    ++done;
  }
  std::filesystem::remove_all(root);
  std::printf(
      "ok: %lld kills; %lld records acknowledged, all present after reopen; "
      "%lld kills before any acknowledgement; %lld unacknowledged records survived "
      "(in the page cache, at their right offsets)\n",
      static_cast<long long>(done), static_cast<long long>(total_acked),
      static_cast<long long>(kills_before_ack), static_cast<long long>(unacked_survivors));
  if (done < 20) {
    std::fprintf(stderr, "FAIL: only %lld kills ran within the budget; too few to mean anything\n",
                 static_cast<long long>(done));
    return 1;
  }
  return 0;
}
