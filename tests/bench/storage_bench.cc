// storage_bench: what the storage engine costs against the raw filesystem.
//
//   storage_bench [--dir DIR] [--quick] [--runs N] [--only append|read|partitions]
//
// Everything runs in DIR (default $TMPDIR or /tmp), and the baseline is
// measured there in the same run: sequential write() of the same bytes in the
// same chunk sizes (with and without an fsync per chunk) and read() of them
// back from the page cache. Figures (one core, the caller's thread):
//
//   append      records/s and MB/s of 100 B and 1 KiB records in batches of
//               1,000, through AppendRecords (the embedded path: encodes the
//               batch) and Append of a ready batch (a broker's produce path),
//               without fsync and with Flush() after every batch; % of raw.
//   read        sequential Log::Read of the whole log (1 MiB reads, page
//               cache hot) against read() of the raw file; GB/s.
//   allocations heap allocations (malloc and friends, which operator new
//               uses; both counted by this binary's replacements) per record
//               over steady-state appends.
//   partitions  RSS (VmRSS), open descriptors and mappings after creating
//               10,000 partitions with 50 records each, after reopening
//               them, and after an indexed read of each.
//
// The aims are printed beside the figures. Build optimised:
//   meson setup build-sbench -Dbuildtype=release && ninja -C build-sbench tests/bench/storage_bench
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "runnel/common/byte_buffer.h"
#include "runnel/log.h"
#include "runnel/log_manager.h"
#include "runnel/protocol/record_batch.h"

// ---------------------------------------------------------------------------
// Allocation counting: this binary replaces malloc (glibc lets a program
// interpose it; the real one is __libc_*) and the global operator new.

namespace {
std::atomic<uint64_t> g_mallocs{0};
std::atomic<uint64_t> g_news{0};
}  // namespace

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);

void* malloc(size_t n) {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
void* memalign(size_t align, size_t n) {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(align, n);
}
void* aligned_alloc(size_t align, size_t n) { return memalign(align, n); }
int posix_memalign(void** out, size_t align, size_t n) {
  void* p = memalign(align, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
void free(void* p) { __libc_free(p); }
}

void* operator new(size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  void* p = malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, size_t) noexcept { free(p); }
void operator delete[](void* p, size_t) noexcept { free(p); }

namespace {

using runnel::ByteBuffer;
using runnel::storage::Log;
using runnel::storage::LogManager;
using runnel::storage::Record;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// This thread's CPU time in seconds (CLOCK_THREAD_CPUTIME_ID: scheduler
// accounting in ns; getrusage's user/system split is tick-sampled, too
// coarse for runs of tens of milliseconds). On a machine shared with other
// work, wall time includes waiting for a core; CPU time is what the work
// costs one core.
struct CpuTime {
  double seconds = 0;
  double total() const { return seconds; }
};
CpuTime ThreadCpu() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return {static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9};
}
CpuTime CpuSince(const CpuTime& start) { return {ThreadCpu().seconds - start.seconds}; }

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "storage_bench: %s\n", what.c_str());
  std::exit(1);
}

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

// VmRSS in KiB.
int64_t RssKib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

int64_t CountEntries(const char* path) {
  int64_t n = 0;
  if (DIR* d = opendir(path)) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
    n -= 2;
  }
  return n;
}

int64_t CountMappings() {
  std::ifstream f("/proc/self/maps");
  std::string line;
  int64_t n = 0;
  while (std::getline(f, line)) ++n;
  return n;
}

std::unique_ptr<Log> OpenLog(const std::string& dir) {
  std::filesystem::remove_all(dir);
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open({.dir = dir});
  if (!log.ok()) Die("open " + dir + ": " + log.status().ToString());
  return *std::move(log);
}

// --- The baseline: the filesystem without the engine ----------------------

struct RawResult {
  double seconds = 0;
  CpuTime cpu;
};

// Writes `chunks` chunks of `chunk` bytes sequentially with write(),
// fsyncing after each when `fsync_each`, else once at the end (not timed).
RawResult RawWrite(const std::string& path, size_t chunk, int64_t chunks, bool fsync_each) {
  std::vector<char> buf(chunk, 'r');
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Die("open " + path);
  const CpuTime cpu = ThreadCpu();
  Clock::time_point start = Clock::now();
  for (int64_t i = 0; i < chunks; ++i) {
    if (write(fd, buf.data(), chunk) != static_cast<ssize_t>(chunk)) Die("write " + path);
    if (fsync_each && fsync(fd) != 0) Die("fsync " + path);
  }
  RawResult r{Seconds(start), CpuSince(cpu)};
  if (!fsync_each) fsync(fd);
  close(fd);
  return r;
}

// Reads the whole file with read() into a 1 MiB buffer; returns GB/s.
// `cpu_gbs` (optional) receives GB per CPU-second of this thread.
double RawRead(const std::string& path, int64_t& bytes, double* cpu_gbs = nullptr) {
  std::vector<char> buf(1 << 20);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Die("open " + path);
  bytes = 0;
  const CpuTime cpu = ThreadCpu();
  Clock::time_point start = Clock::now();
  ssize_t n;
  while ((n = read(fd, buf.data(), buf.size())) > 0) bytes += n;
  double s = Seconds(start);
  if (cpu_gbs != nullptr) *cpu_gbs = static_cast<double>(bytes) / CpuSince(cpu).total() / 1e9;
  close(fd);
  return static_cast<double>(bytes) / s / 1e9;
}

// --- The engine -----------------------------------------------------------

struct AppendRun {
  int64_t records = 0;
  int64_t bytes = 0;  // log bytes written
  double seconds = 0;
  CpuTime cpu;
  uint64_t mallocs = 0;
  uint64_t news = 0;
};

enum class Path { kAppendRecords, kAppendBatch };

AppendRun RunAppends(Log& log, size_t value_bytes, int batch_records, int64_t batches, Path path,
                     bool flush_each) {
  std::string value(value_bytes, 'v');
  std::vector<Record> records(static_cast<size_t>(batch_records), Record{.value = value});
  ByteBuffer ready;
  if (path == Path::kAppendBatch) {
    runnel::protocol::RecordBatchBuilder builder;
    for (int i = 0; i < batch_records; ++i)
      Check(builder.Append(1'700'000'000'000 + i, nullptr, value), "build");
    Check(builder.Finish().status(), "finish");
    ready = builder.TakeBuffer();
  }
  auto one = [&]() -> int64_t {
    if (path == Path::kAppendRecords) {
      absl::StatusOr<runnel::storage::AppendResult> r = log.AppendRecords(records);
      Check(r.status(), "AppendRecords");
    } else {
      absl::StatusOr<runnel::storage::AppendResult> r =
          log.Append(std::span<uint8_t>(ready.data(), ready.size()));
      Check(r.status(), "Append");
    }
    if (flush_each) Check(log.Flush(), "Flush");
    return 0;
  };
  // Warm up: buffers grow to their steady size, the first index pages fault in.
  for (int i = 0; i < 3; ++i) one();
  const int64_t size_before = log.size_bytes();
  const uint64_t mallocs = g_mallocs.load(), news = g_news.load();
  const CpuTime cpu = ThreadCpu();
  Clock::time_point start = Clock::now();
  for (int64_t i = 0; i < batches; ++i) one();
  AppendRun run;
  run.seconds = Seconds(start);
  run.cpu = CpuSince(cpu);
  run.mallocs = g_mallocs.load() - mallocs;
  run.news = g_news.load() - news;
  run.records = batches * batch_records;
  run.bytes = log.size_bytes() - size_before;
  return run;
}

// Reads the whole log sequentially with 1 MiB reads; returns GB/s of batch bytes.
// `cpu_gbs` (optional) receives GB per CPU-second of this thread.
double ReadAll(const Log& log, int64_t& bytes, int64_t& reads, double* cpu_gbs = nullptr) {
  bytes = 0;
  reads = 0;
  int64_t offset = log.log_start_offset();
  const CpuTime cpu = ThreadCpu();
  Clock::time_point start = Clock::now();
  while (offset < log.log_end_offset()) {
    absl::StatusOr<runnel::storage::ReadResult> r = log.Read(offset, {.max_bytes = 1 << 20});
    Check(r.status(), "Read");
    bytes += static_cast<int64_t>(r->bytes.size());
    ++reads;
    offset = r->next_offset;
  }
  const double secs = Seconds(start);
  if (cpu_gbs != nullptr) *cpu_gbs = static_cast<double>(bytes) / CpuSince(cpu).total() / 1e9;
  return static_cast<double>(bytes) / secs / 1e9;
}

void PrintHeader(const std::string& dir) {
  struct statfs fs;
  const char* kind = "?";
  if (statfs(dir.c_str(), &fs) == 0) {
    switch (fs.f_type) {
      case 0xEF53:
        kind = "ext4";
        break;
      case 0x01021994:
        kind = "tmpfs";
        break;
      case 0x58465342:
        kind = "xfs";
        break;
      case 0x9123683E:
        kind = "btrfs";
        break;
      case 0x794c7630:
        kind = "overlayfs";
        break;
      default:
        kind = "other";
        break;
    }
  }
  std::printf("storage_bench in %s (%s), %ld online CPUs; one thread\n\n", dir.c_str(), kind,
              sysconf(_SC_NPROCESSORS_ONLN));
}

void AppendSection(const std::string& dir, bool quick, int runs) {
  std::printf(
      "append: batches of 1,000 records; MB = 10^6 bytes of log written; raw = write() of\n"
      "the same bytes in the same chunks to a file in the same directory\n");
  std::printf("  %-38s %12s %9s %9s %8s\n", "", "records/s", "MB/s", "raw MB/s", "of raw");
  struct Case {
    size_t value_bytes;
    int64_t batches;         // without fsync
    int64_t synced_batches;  // with a Flush per batch
  };
  // ~64 MB a run, below the kernel's dirty-page throttling, and each run
  // starts after sync() with no writeback pending; best of `runs` runs (3
  // with an fsync a batch) each for the engine and for raw, interleaved, so
  // a neighbour's burst does not decide. A run without fsync costs ~15 ms of
  // CPU, so three were too few on a shared machine: the same build printed
  // 69% to 101% of raw from one run of the program to the next.
  const Case cases[] = {{100, quick ? 150 : 600, quick ? 20 : 100},
                        {1024, quick ? 16 : 64, quick ? 10 : 50}};
  std::printf(
      "  (best of %d runs each without fsync, of 3 with; per-CPU-second figures are\n"
      "  the runs with the least CPU time)\n",
      runs);
  for (const Case& c : cases) {
    for (bool sync_each : {false, true}) {
      for (Path path : {Path::kAppendRecords, Path::kAppendBatch}) {
        AppendRun best, cpu_best;
        double raw_best = 0;
        RawResult raw_cpu_best;  // the run with the least CPU time
        for (int run_no = 0; run_no < (sync_each ? 3 : runs); ++run_no) {
          std::unique_ptr<Log> log = OpenLog(dir + "/append-0");
          sync();
          AppendRun run = RunAppends(*log, c.value_bytes, 1000,
                                     sync_each ? c.synced_batches : c.batches, path, sync_each);
          Check(log->Close(), "Close");
          log.reset();
          std::filesystem::remove_all(dir + "/append-0");
          if (best.seconds == 0 || run.seconds < best.seconds) best = run;
          if (cpu_best.cpu.total() == 0 || run.cpu.total() < cpu_best.cpu.total()) cpu_best = run;
          const size_t chunk = static_cast<size_t>(run.bytes / (run.records / 1000));
          sync();
          RawResult raw = RawWrite(dir + "/raw", chunk, run.records / 1000, sync_each);
          std::filesystem::remove(dir + "/raw");
          if (raw_best == 0 || raw.seconds < raw_best) raw_best = raw.seconds;
          if (raw_cpu_best.cpu.total() == 0 || raw.cpu.total() < raw_cpu_best.cpu.total()) {
            raw_cpu_best = raw;
          }
        }
        const AppendRun& run = best;
        const double mbs = static_cast<double>(run.bytes) / run.seconds / 1e6;
        const double raw_mbs = static_cast<double>(run.bytes) / raw_best / 1e6;
        char label[64];
        std::snprintf(label, sizeof label, "%4zu B %s%s", c.value_bytes,
                      path == Path::kAppendRecords ? "AppendRecords" : "Append(ready batch)",
                      sync_each ? " + fsync" : "");
        std::printf("  %-38s %12.0f %9.0f %9.0f %7.0f%%\n", label,
                    static_cast<double>(run.records) / run.seconds, mbs, raw_mbs,
                    100.0 * mbs / raw_mbs);
        if (!sync_each) {
          // Per CPU-second of this thread: the figure a loaded machine
          // disturbs least (one core's worth of work, whoever else runs).
          const double cpu_mbs = static_cast<double>(cpu_best.bytes) / cpu_best.cpu.total() / 1e6;
          const double raw_cpu_mbs =
              static_cast<double>(cpu_best.bytes) / raw_cpu_best.cpu.total() / 1e6;
          std::printf(
              "  %-38s per CPU-second: %.0f records/s, %.0f MB/s (%.3f s); raw write()\n"
              "  %-38s %.0f MB/s per CPU-second -> %.0f%% of raw\n",
              "", static_cast<double>(cpu_best.records) / cpu_best.cpu.total(), cpu_mbs,
              cpu_best.cpu.total(), "", raw_cpu_mbs, 100.0 * cpu_mbs / raw_cpu_mbs);
          std::printf("  %-38s allocations per record: %.4f (operator new: %.4f)\n", "",
                      static_cast<double>(run.mallocs) / static_cast<double>(run.records),
                      static_cast<double>(run.news) / static_cast<double>(run.records));
        }
      }
    }
  }
  std::filesystem::remove_all(dir + "/append-0");
  std::filesystem::remove(dir + "/raw");
  std::printf(
      "  aims: 1 KiB appends >= 80%% of raw write; 100 B >= 5,000,000 records/s;\n"
      "        no per-record heap allocation (well under 1 per record)\n\n");
}

void ReadSection(const std::string& dir, bool quick) {
  std::unique_ptr<Log> log = OpenLog(dir + "/read-0");
  RunAppends(*log, 1024, 1000, quick ? 100 : 500, Path::kAppendBatch, false);
  int64_t bytes = 0, reads = 0;
  ReadAll(*log, bytes, reads);  // warm: every page in the cache
  double cpu_gbs = 0;
  const double gbs = ReadAll(*log, bytes, reads, &cpu_gbs);
  const uint64_t mallocs = g_mallocs.load();
  ReadAll(*log, bytes, reads);
  const double allocs_per_read =
      static_cast<double>(g_mallocs.load() - mallocs) / static_cast<double>(reads);
  Check(log->Close(), "Close");
  log.reset();
  RawWrite(dir + "/raw", 1 << 20, bytes >> 20, false);
  int64_t raw_bytes = 0;
  RawRead(dir + "/raw", raw_bytes);  // warm
  double raw_cpu_gbs = 0;
  const double raw_gbs = RawRead(dir + "/raw", raw_bytes, &raw_cpu_gbs);
  std::printf("read: sequential, page cache hot, 1 MiB per call\n");
  std::printf(
      "  Log::Read (copy_bytes)  %6.2f GB/s over %lld MB in %lld reads (%.1f allocations a read)\n",
      gbs, static_cast<long long>(bytes / 1000000), static_cast<long long>(reads), allocs_per_read);
  std::printf("  raw read()              %6.2f GB/s   -> Log::Read at %.0f%% of raw\n", raw_gbs,
              100.0 * gbs / raw_gbs);
  std::printf("  per CPU-second: Log::Read %.2f GB/s, raw read() %.2f GB/s -> %.0f%% of raw\n",
              cpu_gbs, raw_cpu_gbs, 100.0 * cpu_gbs / raw_cpu_gbs);
  std::printf("  aim: > 2 GB/s from the page cache\n\n");
  std::filesystem::remove_all(dir + "/read-0");
  std::filesystem::remove(dir + "/raw");
}

void PartitionsSection(const std::string& dir, int partitions) {
  const std::string data = dir + "/many";
  std::filesystem::remove_all(data);
  // A partition holds one descriptor a segment (its .log; index files are
  // opened only within an append or a mapping call). Raise the limit anyway
  // so that a regression shows as a count, not as a failure (raising the
  // hard limit needs root; otherwise the soft one goes to it).
  rlimit nofile;
  getrlimit(RLIMIT_NOFILE, &nofile);
  const rlim_t want = static_cast<rlim_t>(partitions) * 2 + 1024;
  if (nofile.rlim_max < want) {
    rlimit raised{want, want};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) nofile = raised;
  }
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);
  const int wanted = partitions;
  const int64_t fits = static_cast<int64_t>(nofile.rlim_cur) - CountEntries("/proc/self/fd") - 64;
  if (fits < partitions) partitions = static_cast<int>(fits);
  std::printf(
      "partitions: %d, 5 appends of 10 records of 100 B each (~6 KB, so each has index\n"
      "  entries), then one indexed read of each (fd limit %llu)\n",
      partitions, static_cast<unsigned long long>(nofile.rlim_cur));
  if (partitions < wanted) {
    std::printf(
        "  NOTE: %d partitions need ~%d descriptors (one a segment) and the limit cannot\n"
        "  be raised here; %d partitions are measured and the figures per partition scaled\n",
        wanted, wanted, partitions);
  }
  malloc_trim(0);
  const int64_t rss0 = RssKib(), fds0 = CountEntries("/proc/self/fd"), maps0 = CountMappings();
  std::string value(100, 'p');
  std::vector<Record> records(10, Record{.value = value});
  {
    absl::StatusOr<std::unique_ptr<LogManager>> mgr =
        LogManager::Open({.data_dir = data, .background_thread = false});
    Check(mgr.status(), "LogManager::Open");
    Clock::time_point start = Clock::now();
    int created = 0;
    absl::Status failed;
    for (; created < partitions; ++created) {
      absl::StatusOr<std::shared_ptr<Log>> log = (*mgr)->GetOrCreateLog({"p", created});
      if (!log.ok()) {
        failed = log.status();
        break;
      }
      absl::Status s;
      for (int i = 0; i < 5 && s.ok(); ++i) s = (*log)->AppendRecords(records).status();
      if (!s.ok()) {
        failed = s;
        break;
      }
    }
    const double secs = Seconds(start);
    const int64_t rss = RssKib(), fds = CountEntries("/proc/self/fd"), maps = CountMappings();
    const double per = static_cast<double>(rss - rss0) / std::max(created, 1);
    std::printf(
        "  created %d in %.1f s: RSS +%lld KiB (%.1f KiB a partition, %.0f MiB for %d),\n"
        "    %lld fds, %lld mappings\n",
        created, secs, static_cast<long long>(rss - rss0), per, per * wanted / 1024, wanted,
        static_cast<long long>(fds - fds0), static_cast<long long>(maps - maps0));
    if (!failed.ok())
      std::printf("  FAILED at partition %d: %s\n", created, failed.ToString().c_str());
    Check((*mgr)->Close(), "LogManager::Close");
  }
  malloc_trim(0);
  const int64_t rss1 = RssKib();
  {
    Clock::time_point start = Clock::now();
    absl::StatusOr<std::unique_ptr<LogManager>> mgr =
        LogManager::Open({.data_dir = data, .background_thread = false});
    if (!mgr.ok()) {
      std::printf("  reopen FAILED: %s\n", mgr.status().ToString().c_str());
    } else {
      const double secs = Seconds(start);
      const int64_t rss = RssKib(), fds = CountEntries("/proc/self/fd"), maps = CountMappings();
      std::printf(
          "  reopened %zu in %.1f s: RSS +%lld KiB (%.1f KiB a partition), %lld fds, %lld "
          "mappings\n",
          (*mgr)->ListLogs().size(), secs, static_cast<long long>(rss - rss1),
          static_cast<double>(rss - rss1) /
              static_cast<double>(std::max<size_t>((*mgr)->ListLogs().size(), 1)),
          static_cast<long long>(fds - fds0), static_cast<long long>(maps - maps0));
      // An indexed read of every partition: each maps its offset index
      // once; the mapped indexes stay capped (1,024 by default).
      start = Clock::now();
      int64_t read_bytes = 0;
      for (const runnel::storage::TopicPartition& tp : (*mgr)->ListLogs()) {
        std::shared_ptr<Log> log = (*mgr)->GetLog(tp);
        absl::StatusOr<runnel::storage::ReadResult> r = log->Read(45, {.max_bytes = 1 << 16});
        Check(r.status(), "Read");
        read_bytes += static_cast<int64_t>(r->bytes.size());
      }
      const double read_secs = Seconds(start);
      std::printf("  read all in %.1f s (%lld KB): RSS +%lld KiB, %lld fds, %lld mappings\n",
                  read_secs, static_cast<long long>(read_bytes / 1000),
                  static_cast<long long>(RssKib() - rss1),
                  static_cast<long long>(CountEntries("/proc/self/fd") - fds0),
                  static_cast<long long>(CountMappings() - maps0));
      Check((*mgr)->Close(), "LogManager::Close");
    }
  }
  std::printf(
      "  aim: bounded memory with 10,000 partitions (fds: one a segment; mappings:\n"
      "  at most 1,024 index files)\n");
  std::filesystem::remove_all(data);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // figures appear as measured, even in a pipe
  const char* tmp = getenv("TMPDIR");
  std::string base = tmp != nullptr ? tmp : "/tmp";
  bool quick = false;
  int runs = 0;  // of each no-fsync append case; 0: 9, or 3 with --quick
  // One section alone: repeated runs on a loaded machine, or a profile.
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--runs" && i + 1 < argc && std::atoi(argv[i + 1]) > 0) {
      runs = std::atoi(argv[++i]);
    } else if (a == "--dir" && i + 1 < argc) {
      base = argv[++i];
    } else if (a == "--only" && i + 1 < argc &&
               (std::string(argv[i + 1]) == "append" || std::string(argv[i + 1]) == "read" ||
                std::string(argv[i + 1]) == "partitions")) {
      only = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: storage_bench [--dir DIR] [--quick] [--runs N] "
                   "[--only append|read|partitions]\n");
      return 2;
    }
  }
  std::string dir = base + "/storage-bench-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) Die("mkdtemp in " + base);
  PrintHeader(dir);
  if (only.empty() || only == "append") AppendSection(dir, quick, runs > 0 ? runs : quick ? 3 : 9);
  if (only.empty() || only == "read") ReadSection(dir, quick);
  if (only.empty() || only == "partitions") PartitionsSection(dir, 10000);
  std::filesystem::remove_all(dir);
  return 0;
}
