// Connection: one client socket. A reader coroutine reads the socket in
// bulk, cuts the frames out of its buffer and hands each request to the
// handler; every request gets a slot in an ordered response queue, and a
// writer coroutine sends filled slots from the front only (all that are
// ready in one gathered write), so responses leave in request order
// whatever order the handlers finish in. Record data in FileRange chunks
// goes out with sendfile(2).
//
// Threads: all state is touched on the connection's executor, an
// io_context that exactly one I/O thread runs (an implicit strand: see
// server.cc); handlers' completions may run on any thread and post back to
// it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>

#include "absl/time/time.h"
#include "net/request.h"
#include "net/server.h"

namespace runnel::net {

class Connection;

class ConnectionRegistry {
 public:
  virtual ~ConnectionRegistry() = default;
  virtual void Remove(Connection* c) = 0;
};

struct ConnectionOptions {
  size_t max_frame_size;
  absl::Duration idle_timeout;
  ServerStats* stats;  // not owned; outlives the connection
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  static constexpr size_t kMaxInFlight = 128;
  // Bytes a read asks the socket for (the read buffer's resting size).
  static constexpr size_t kReadChunk = 64 * 1024;
  // One gathered write takes at most this many responses or bytes, so a
  // burst of answers does not hold back reading (the reader waits for
  // slots) for long.
  static constexpr size_t kMaxGatheredResponses = 64;
  static constexpr size_t kMaxGatheredBytes = 4 * 1024 * 1024;

  Connection(asio::ip::tcp::socket socket, ConnectionOptions options, RequestHandler* handler,
             ConnectionRegistry* registry);

  void Start();
  // Thread-safe. No more requests are read; queued ones are still answered.
  void StopReading();
  // Thread-safe. True when every request read has been answered.
  bool Drained() const { return pending_.load() == 0; }
  // Thread-safe. Closes the socket; `why` goes into the log line.
  void Close(const std::string& why);
  // Closes the socket now, on the calling thread. Only once no thread runs
  // the connection's io_context (Server::Stop after joining the I/O
  // threads): then the caller is the only one touching its state.
  void CloseStopped(const std::string& why) { CloseOnExecutor(why); }

 private:
  struct Slot {
    std::optional<Response> response;
  };

  // Unparsed bytes read from the socket: data[begin, end).
  struct ReadBuffer {
    std::vector<uint8_t> data = std::vector<uint8_t>(kReadChunk);
    size_t begin = 0;
    size_t end = 0;
  };

  asio::awaitable<void> ReadLoop();
  // Reads once (at least one byte, or an error in `ec`: false) into the read
  // buffer, first making room for `want` bytes from its begin.
  asio::awaitable<bool> Fill(size_t want, asio::error_code& ec);
  asio::awaitable<void> WriteLoop();
  asio::awaitable<void> IdleWatchdog();
  asio::awaitable<bool> WriteFileRange(const FileRange& range);
  // On the executor.
  void Complete(uint64_t seq, absl::StatusOr<Response> response);
  void CloseOnExecutor(const std::string& why);

  asio::ip::tcp::socket socket_;
  // The socket's io_context's executor. One thread runs that context, so
  // handlers posted here never run concurrently: no strand needed (a
  // strand would add a mutex per handler for nothing).
  asio::any_io_executor executor_;
  const ConnectionOptions options_;
  RequestHandler* const handler_;
  ConnectionRegistry* const registry_;
  std::string peer_;
  std::string principal_ = "User:ANONYMOUS";  // until SASL exists

  // Executor state.
  ReadBuffer read_buffer_;  // the reader's only
  std::deque<Slot> slots_;   // slots_[0] is request number first_seq_
  uint64_t first_seq_ = 0;
  uint64_t next_seq_ = 0;
  bool writing_ = false;
  bool closed_ = false;
  asio::steady_timer idle_timer_;
  // The reader parks on it while kMaxInFlight requests await their
  // responses (a client cannot make us buffer without bound); the writer
  // cancels it after each response.
  asio::steady_timer read_resume_;
  std::chrono::steady_clock::time_point last_activity_;

  std::atomic<bool> stop_reading_{false};
  std::atomic<int64_t> pending_{0};
};

}  // namespace runnel::net
