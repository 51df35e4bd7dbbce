#include "net/connection.h"

#include <sys/sendfile.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "runnel/protocol/header.h"
#include "runnel/protocol/wire.h"

namespace runnel::net {

using asio::ip::tcp;

namespace {

std::string PeerName(const tcp::socket& socket) {
  asio::error_code ec;
  tcp::endpoint ep = socket.remote_endpoint(ec);
  if (ec) return "unknown peer";
  return absl::StrCat(ep.address().to_string(), ":", ep.port());
}

// Connection trouble is the client's doing far more often than ours: warn.
void LogLine(const std::string& peer, const std::string& what) {
  RUNNEL_LOG(kWarn, what, {{"peer", peer}});
}

}  // namespace

Connection::Connection(tcp::socket socket, ConnectionOptions options, RequestHandler* handler,
                       ConnectionRegistry* registry)
    : socket_(std::move(socket)),
      executor_(socket_.get_executor()),
      options_(options),
      handler_(handler),
      registry_(registry),
      peer_(PeerName(socket_)),
      idle_timer_(executor_),
      read_resume_(executor_),
      last_activity_(std::chrono::steady_clock::now()) {}

void Connection::Start() {
  auto self = shared_from_this();
  asio::co_spawn(executor_, [self]() { return self->ReadLoop(); }, asio::detached);
  asio::co_spawn(executor_, [self]() { return self->IdleWatchdog(); }, asio::detached);
}

void Connection::StopReading() {
  stop_reading_ = true;
  asio::post(executor_, [self = shared_from_this()] {
    asio::error_code ec;
    self->socket_.shutdown(tcp::socket::shutdown_receive, ec);
  });
}

void Connection::Close(const std::string& why) {
  asio::post(executor_, [self = shared_from_this(), why] { self->CloseOnExecutor(why); });
}

void Connection::CloseOnExecutor(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  if (!why.empty()) LogLine(peer_, absl::StrCat("closing connection: ", why));
  asio::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  idle_timer_.cancel();
  read_resume_.cancel();
  pending_ = 0;
  slots_.clear();
  options_.stats->connections_active.fetch_sub(1, std::memory_order_relaxed);
  registry_->Remove(this);
}

asio::awaitable<void> Connection::ReadLoop() {
  auto self = shared_from_this();
  // Frames are read in bulk: one read takes whatever the socket holds (many
  // small pipelined requests, or as much of a large one as has arrived), so
  // a request costs no syscall of its own.
  ReadBuffer& in = read_buffer_;
  while (!closed_ && !stop_reading_) {
    asio::error_code ec;
    while (slots_.size() >= kMaxInFlight && !closed_) {
      read_resume_.expires_at(std::chrono::steady_clock::time_point::max());
      co_await read_resume_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (closed_) co_return;
    bool ok = true;
    while (ok && in.end - in.begin < protocol::kFrameSizeBytes) {
      ok = co_await Fill(protocol::kFrameSizeBytes, ec);
    }
    if (!ok) break;  // EOF or reset: the client went away
    absl::StatusOr<size_t> size = protocol::ParseFrameSize(
        std::span<const uint8_t>(in.data.data() + in.begin, protocol::kFrameSizeBytes),
        options_.max_frame_size);
    if (!size.ok()) {
      CloseOnExecutor(absl::StrCat("bad frame size: ", size.status().message()));
      co_return;
    }
    const size_t frame = protocol::kFrameSizeBytes + *size;
    while (ok && in.end - in.begin < frame) ok = co_await Fill(frame, ec);
    if (!ok) {
      if (ec != asio::error::eof) LogLine(peer_, absl::StrCat("read failed: ", ec.message()));
      else LogLine(peer_, "connection closed inside a frame");
      break;
    }
    std::span<const uint8_t> payload(in.data.data() + in.begin + protocol::kFrameSizeBytes, *size);
    in.begin += frame;
    last_activity_ = std::chrono::steady_clock::now();
    options_.stats->bytes_in.fetch_add(static_cast<int64_t>(frame), std::memory_order_relaxed);
    protocol::Reader r(payload);
    absl::StatusOr<protocol::RequestHeader> header = protocol::DecodeRequestHeader(r);
    if (!header.ok()) {
      CloseOnExecutor(absl::StrCat("unparsable request header: ", header.status().message()));
      co_return;
    }
    // Server::Stop counts the requests handed over once this thread has run
    // past its StopReading: none may follow.
    if (stop_reading_) break;
    uint64_t seq = next_seq_++;
    slots_.emplace_back();
    ++pending_;
    // `payload` stays put until the handler returns: the buffer changes only
    // in Fill, on this coroutine.
    Request request{*std::move(header), payload.subspan(r.offset()), peer_, principal_};
    handler_->Handle(request, [self, seq](absl::StatusOr<Response> response) {
      asio::post(self->executor_, [self, seq, response = std::move(response)]() mutable {
        self->Complete(seq, std::move(response));
      });
    });
  }
  // Answer what was read, then close (Stop closes drained connections; a
  // client that half-closed gets its answers first).
  // Once the writer has sent what is queued it closes the connection.
  stop_reading_ = true;
  if (slots_.empty()) CloseOnExecutor("");
}

asio::awaitable<bool> Connection::Fill(size_t want, asio::error_code& ec) {
  ReadBuffer& in = read_buffer_;
  if (in.begin == in.end) in.begin = in.end = 0;
  if (in.data.size() - in.begin < want || in.data.size() - in.end < kReadChunk / 4) {
    std::memmove(in.data.data(), in.data.data() + in.begin, in.end - in.begin);
    in.end -= in.begin;
    in.begin = 0;
    // Grown for the largest frame seen and kept (as the per-frame buffer
    // was before): a stream of 1 MB produce requests reallocates nothing.
    if (in.data.size() < want) in.data.resize(std::max(want, kReadChunk));
  }
  size_t n = co_await socket_.async_read_some(
      asio::buffer(in.data.data() + in.end, in.data.size() - in.end),
      asio::redirect_error(asio::use_awaitable, ec));
  in.end += n;
  co_return !ec;
}

void Connection::Complete(uint64_t seq, absl::StatusOr<Response> response) {
  if (closed_ || seq < first_seq_) return;
  if (!response.ok()) {
    CloseOnExecutor(std::string(response.status().message()));
    return;
  }
  slots_[seq - first_seq_].response = *std::move(response);
  if (!writing_) {
    writing_ = true;
    auto self = shared_from_this();
    asio::co_spawn(executor_, [self]() { return self->WriteLoop(); }, asio::detached);
  }
}

asio::awaitable<void> Connection::WriteLoop() {
  auto self = shared_from_this();
  std::vector<Response> batch;
  std::vector<asio::const_buffer> gather;
  while (!closed_ && !slots_.empty() && slots_.front().response.has_value()) {
    // Every answered request at the front goes out together: the in-memory
    // chunks of consecutive responses in one gathered write (writev), so
    // pipelined small responses cost one syscall, not one each. File ranges
    // go out with sendfile between them, in order.
    batch.clear();
    size_t bytes = 0;
    while (!slots_.empty() && slots_.front().response.has_value() &&
           batch.size() < kMaxGatheredResponses && bytes < kMaxGatheredBytes) {
      batch.push_back(std::move(*slots_.front().response));
      bytes += static_cast<size_t>(batch.back().size());
      slots_.pop_front();
      ++first_seq_;
    }
    read_resume_.cancel();
    gather.clear();
    asio::error_code ec;
    for (const Response& response : batch) {
      for (const Response::Chunk& chunk : response.chunks) {
        if (const auto* buf = std::get_if<ByteBuffer>(&chunk)) {
          if (buf->size() > 0) gather.emplace_back(buf->data(), buf->size());
          continue;
        }
        if (!gather.empty()) {
          co_await asio::async_write(socket_, gather, asio::redirect_error(asio::use_awaitable, ec));
          gather.clear();
          if (ec) break;
        }
        if (closed_ || !co_await WriteFileRange(std::get<FileRange>(chunk))) co_return;
      }
      if (ec) break;
    }
    if (!ec && !gather.empty()) {
      co_await asio::async_write(socket_, gather, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (closed_) co_return;
    if (ec) {
      CloseOnExecutor(absl::StrCat("write failed: ", ec.message()));
      co_return;
    }
    options_.stats->bytes_out.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
    pending_ -= static_cast<int64_t>(batch.size());
    last_activity_ = std::chrono::steady_clock::now();
  }
  writing_ = false;
  if (!closed_ && slots_.empty() && stop_reading_) CloseOnExecutor("");
}

asio::awaitable<bool> Connection::WriteFileRange(const FileRange& range) {
  socket_.native_non_blocking(true);
  off_t offset = static_cast<off_t>(range.offset);
  int64_t left = range.length;
  while (left > 0) {
    ssize_t n = ::sendfile(socket_.native_handle(), range.fd, &offset, static_cast<size_t>(left));
    if (n > 0) {
      left -= n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      asio::error_code ec;
      co_await socket_.async_wait(tcp::socket::wait_write,
                                  asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        CloseOnExecutor(absl::StrCat("write failed: ", ec.message()));
        co_return false;
      }
      continue;
    }
    // n == 0: the file is shorter than the range (truncated under us); the
    // frame size already went out, so the connection cannot continue.
    CloseOnExecutor(n == 0 ? std::string("segment file shorter than the fetched range")
                         : absl::StrCat("sendfile failed: ", std::strerror(errno)));
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> Connection::IdleWatchdog() {
  auto self = shared_from_this();
  auto idle = std::chrono::milliseconds(absl::ToInt64Milliseconds(options_.idle_timeout));
  while (!closed_) {
    idle_timer_.expires_at(last_activity_ + idle);
    asio::error_code ec;
    co_await idle_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (closed_) co_return;
    if (slots_.empty() && std::chrono::steady_clock::now() >= last_activity_ + idle) {
      CloseOnExecutor("idle for connections.max.idle.ms");
      co_return;
    }
    if (std::chrono::steady_clock::now() >= last_activity_ + idle) {
      last_activity_ = std::chrono::steady_clock::now();  // busy: check again later
    }
  }
}

}  // namespace runnel::net
