#include "client/broker_connection.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runnel/common/status_macros.h"
#include "runnel/protocol/api_keys.h"
#include "runnel/protocol/error_code.h"
#include "runnel/protocol/header.h"
#include "runnel/protocol/messages/api_versions.h"

namespace runnel::client {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
// Records values this large are written from their own buffers (one
// sendmsg with the request around them) instead of copied into out_; below
// it a copy costs less than an extra iovec.
constexpr size_t kGatherMinBytes = 4 * 1024;
// iovecs per sendmsg: well under IOV_MAX (1024 on Linux).
constexpr int kMaxIovecs = 64;

std::string Errno(const char* what) { return absl::StrCat(what, ": ", std::strerror(errno)); }

}  // namespace

BrokerConnection::BrokerConnection(int32_t node_id, HostPort address,
                                   const ClientOptions& options, ConnectionHooks hooks)
    : node_id_(node_id), address_(std::move(address)), options_(options), hooks_(std::move(hooks)) {}

BrokerConnection::~BrokerConnection() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status BrokerConnection::StartConnect(absl::Time now) {
  if (state_ != State::kDisconnected) return absl::OkStatus();
  if (std::optional<ResolveResult> numeric = ResolveNumeric(address_)) {
    return ConnectTo(*std::move(numeric), now);
  }
  if (!hooks_.resolve) return ConnectTo(ResolveBlocking(address_), now);
  state_ = State::kResolving;
  setup_deadline_ = now + options_.connection_setup_timeout;
  ++resolve_attempt_;
  RUNNEL_CLIENT_DEBUG(*hooks_.log, kBroker, "resolving broker address",
                      {{"broker", std::to_string(node_id_)}, {"address", address_.ToString()}});
  hooks_.resolve(node_id_, resolve_attempt_, address_);
  return absl::OkStatus();
}

absl::Status BrokerConnection::OnResolved(uint64_t attempt, ResolveResult addresses,
                                          absl::Time now) {
  if (state_ != State::kResolving || attempt != resolve_attempt_) return absl::OkStatus();
  state_ = State::kDisconnected;
  setup_deadline_ = absl::InfiniteFuture();
  return ConnectTo(std::move(addresses), now);
}

absl::Status BrokerConnection::ConnectTo(ResolveResult addresses, absl::Time now) {
  if (!addresses.ok()) {
    last_error_ = addresses.status();
    return last_error_;
  }
  RUNNEL_CLIENT_DEBUG(*hooks_.log, kBroker, "connecting to broker",
                      {{"broker", std::to_string(node_id_)}, {"address", address_.ToString()}});
  absl::Status status = absl::UnavailableError(absl::StrCat("no address for ", address_.ToString()));
  for (const ResolvedAddress& a : *addresses) {
    int fd = ::socket(a.family, a.socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a.protocol);
    if (fd < 0) {
      status = absl::UnavailableError(Errno("socket"));
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.addr_len) == 0 ||
        errno == EINPROGRESS) {
      fd_ = fd;
      state_ = State::kConnecting;
      setup_deadline_ = now + options_.connection_setup_timeout;
      status = absl::OkStatus();
      break;
    }
    status = absl::UnavailableError(
        absl::StrCat("connect to ", address_.ToString(), ": ", std::strerror(errno)));
    ::close(fd);
  }
  if (!status.ok()) last_error_ = status;
  return status;
}

short BrokerConnection::WantedEvents() const {
  switch (state_) {
    case State::kDisconnected:
    case State::kResolving:
      return 0;
    case State::kConnecting:
      return POLLOUT;
    default:
      return static_cast<short>(POLLIN | (WritePendingBytes() ? POLLOUT : 0));
  }
}

absl::Status BrokerConnection::FinishConnect(absl::Time now) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    return absl::UnavailableError(
        absl::StrCat("connect to ", address_.ToString(), ": ", std::strerror(err)));
  }
  state_ = State::kNegotiating;
  SendApiVersions(3, now);
  return absl::OkStatus();
}

void BrokerConnection::SendApiVersions(int16_t version, absl::Time now) {
  protocol::ApiVersionsRequest req;
  req.client_software_name = "runnel";
  req.client_software_version = "0.1.0";
  protocol::RequestHeader h;
  h.api_key = protocol::ApiVersionsRequest::kApiKey;
  h.api_version = version;
  h.correlation_id = next_correlation_id_++;
  h.client_id.emplace(options_.client_id);
  api_versions_correlation_ = h.correlation_id;
  api_versions_version_ = version;
  // Encoding our own fixed request cannot fail.
  (void)protocol::EncodeRequestFrame(h, req, &out_);
}

absl::Status BrokerConnection::OnApiVersions(absl::StatusOr<RawResponse> response,
                                             absl::Time now) {
  RUNNEL_RETURN_IF_ERROR(response.status());
  // A broker that does not know our version answers UNSUPPORTED_VERSION
  // with the versions it does know, in v0 (KIP-511) or, for some brokers
  // (librdkafka's mock), in a form of their own: when the answer does not
  // decode, step down one version.
  auto decoded = protocol::ApiVersionsResponse::Decode(response->body(), api_versions_version_);
  if (!decoded.ok() && api_versions_version_ != 0) {
    decoded = protocol::ApiVersionsResponse::Decode(response->body(), 0);
  }
  if (!decoded.ok()) {
    protocol::Reader r(response->body());
    auto code = static_cast<protocol::ErrorCode>(r.Int16("error_code"));
    if (r.ok() && code == protocol::ErrorCode::kUnsupportedVersion && api_versions_version_ > 0) {
      SendApiVersions(static_cast<int16_t>(api_versions_version_ - 1), now);
      return absl::OkStatus();
    }
    return absl::UnavailableError(absl::StrCat("broker ", address_.ToString(),
                                               ": bad ApiVersions response: ",
                                               decoded.status().message()));
  }
  auto ec = static_cast<protocol::ErrorCode>(decoded->error_code);
  if (ec == protocol::ErrorCode::kUnsupportedVersion && api_versions_version_ != 0) {
    int16_t v = 0;
    for (const auto& k : decoded->api_keys) {
      if (k.api_key == protocol::ApiVersionsRequest::kApiKey) v = std::min<int16_t>(k.max_version, 3);
    }
    if (v >= api_versions_version_) v = 0;
    SendApiVersions(v, now);
    return absl::OkStatus();
  }
  if (ec != protocol::ErrorCode::kNone) {
    return protocol::ErrorCodeToStatus(ec, absl::StrCat("ApiVersions from ", address_.ToString()));
  }
  versions_.clear();
  for (const auto& k : decoded->api_keys) versions_[k.api_key] = {k.min_version, k.max_version};
  api_versions_correlation_ = -1;
  state_ = State::kReady;
  setup_deadline_ = absl::InfiniteFuture();
  RUNNEL_CLIENT_LOG(*hooks_.log, kInfo, "connected to broker",
                    {{"broker", std::to_string(node_id_)},
                     {"address", address_.ToString()},
                     {"api_versions", std::to_string(api_versions_version_)},
                     {"apis", std::to_string(versions_.size())}});
  return absl::OkStatus();
}

std::optional<std::pair<int16_t, int16_t>> BrokerConnection::BrokerVersions(
    int16_t api_key) const {
  auto it = versions_.find(api_key);
  if (it == versions_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<int32_t> BrokerConnection::Enqueue(int16_t api_key, int16_t version,
                                                  Encoder& encode) {
  if (state_ != State::kReady) {
    return absl::FailedPreconditionError("BrokerConnection::Enqueue before the connection is ready");
  }
  protocol::RequestHeader h;
  h.api_key = api_key;
  h.api_version = version;
  h.correlation_id = next_correlation_id_++;
  h.client_id.emplace(options_.client_id);
  const size_t start = protocol::BeginFrame(out_);
  const size_t gathered_before = gathered_.size();
  protocol::Writer w(&out_, &gathered_, kGatherMinBytes);
  h.Encode(w, protocol::RequestHeaderVersion(api_key, version));
  encode(w, version);
  size_t gathered_bytes = 0;
  for (size_t i = gathered_before; i < gathered_.size(); ++i) {
    gathered_bytes += gathered_[i].bytes.size();
  }
  absl::Status framed = w.status();
  if (framed.ok()) framed = protocol::FinishFrame(out_, start, gathered_bytes);
  if (!framed.ok()) {
    out_.Truncate(start);
    gathered_.resize(gathered_before);
    return framed;
  }
  return h.correlation_id;
}

void BrokerConnection::Track(int32_t correlation_id, InFlight in_flight) {
  in_flight_.emplace(correlation_id, std::move(in_flight));
}

absl::Status BrokerConnection::WritePending() {
  while (WritePendingBytes()) {
    // The next stretch of the stream, as iovecs: out_ up to the next
    // gathered value, the value, out_ on to the one after, and so on.
    iovec iov[kMaxIovecs];
    int count = 0;
    size_t pos = out_pos_;
    size_t next = gather_next_;
    size_t sent = gather_sent_;
    while (count < kMaxIovecs) {
      const size_t until = next < gathered_.size() ? gathered_[next].at : out_.size();
      if (pos < until) {
        iov[count++] = {out_.data() + pos, until - pos};
        pos = until;
        continue;
      }
      if (next == gathered_.size()) break;
      const SharedBytes& value = gathered_[next].bytes;
      // sendmsg only reads through iov_base.
      iov[count++] = {const_cast<uint8_t*>(value.data()) + sent, value.size() - sent};
      ++next;
      sent = 0;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return absl::OkStatus();
      if (errno == EINTR) continue;
      return absl::UnavailableError(
          absl::StrCat("write to ", address_.ToString(), ": ", std::strerror(errno)));
    }
    AdvanceWritten(static_cast<size_t>(n));
  }
  out_.Clear();
  out_pos_ = 0;
  gathered_.clear();
  gather_next_ = 0;
  return absl::OkStatus();
}

void BrokerConnection::AdvanceWritten(size_t n) {
  while (n > 0) {
    const size_t until = gather_next_ < gathered_.size() ? gathered_[gather_next_].at : out_.size();
    if (out_pos_ < until) {
      const size_t k = std::min(n, until - out_pos_);
      out_pos_ += k;
      n -= k;
      continue;
    }
    SharedBytes& value = gathered_[gather_next_].bytes;
    const size_t k = std::min(n, value.size() - gather_sent_);
    gather_sent_ += k;
    n -= k;
    if (gather_sent_ == value.size()) {
      value = SharedBytes();  // written: its owner may reuse the buffer now
      ++gather_next_;
      gather_sent_ = 0;
    }
  }
}

absl::Status BrokerConnection::ReadFrames(absl::Time now, Completions* completions) {
  for (;;) {
    // Read into the large frame under way, else a chunk into in_.
    ByteBuffer& into = large_frame_.has_value() ? *large_frame_ : in_;
    const size_t want = large_frame_.has_value() ? large_frame_size_ - into.size() : kReadChunk;
    const size_t old = into.size();
    uint8_t* p = into.AppendUninitialized(want);
    ssize_t n = ::recv(fd_, p, want, 0);
    if (n < 0) {
      into.Truncate(old);
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return absl::UnavailableError(
          absl::StrCat("read from ", address_.ToString(), ": ", std::strerror(errno)));
    }
    into.Truncate(old + static_cast<size_t>(n));
    if (n == 0) {
      return absl::UnavailableError(
          absl::StrCat("broker ", address_.ToString(), " closed the connection"));
    }
    if (large_frame_.has_value() && large_frame_->size() == large_frame_size_) {
      ByteBuffer frame = std::move(*large_frame_);
      large_frame_.reset();
      RUNNEL_RETURN_IF_ERROR(CompleteFrame(std::move(frame), now, completions));
    } else if (!large_frame_.has_value()) {
      RUNNEL_RETURN_IF_ERROR(TakeBufferedFrames(now, completions));
    }
    if (static_cast<size_t>(n) < want) break;
  }
  return absl::OkStatus();
}

absl::Status BrokerConnection::TakeBufferedFrames(absl::Time now, Completions* completions) {
  size_t pos = 0;
  while (in_.size() - pos >= protocol::kFrameSizeBytes) {
    RUNNEL_ASSIGN_OR_RETURN(size_t size,
                            protocol::ParseFrameSize(in_.span().subspan(pos),
                                                     static_cast<size_t>(options_.max_response_bytes)));
    const size_t have = in_.size() - pos - protocol::kFrameSizeBytes;
    if (have < size) {
      if (size > kReadChunk) {
        // The rest is read in place (ReadFrames); what came so far moves once.
        large_frame_.emplace(size);
        large_frame_->Append(in_.data() + pos + protocol::kFrameSizeBytes, have);
        large_frame_size_ = size;
        pos = in_.size();
      }
      break;
    }
    ByteBuffer frame(size);
    frame.Append(in_.data() + pos + protocol::kFrameSizeBytes, size);
    pos += protocol::kFrameSizeBytes + size;
    RUNNEL_RETURN_IF_ERROR(CompleteFrame(std::move(frame), now, completions));
  }
  if (pos > 0) {
    size_t rest = in_.size() - pos;
    if (rest > 0) std::memmove(in_.data(), in_.data() + pos, rest);
    in_.Truncate(rest);
  }
  return absl::OkStatus();
}

absl::Status BrokerConnection::CompleteFrame(ByteBuffer frame, absl::Time now,
                                             Completions* completions) {
  if (frame.size() < 4) {
    return absl::UnavailableError(absl::StrCat("broker ", address_.ToString(),
                                               ": response frame shorter than its header"));
  }
  protocol::Reader peek(frame.span());
  int32_t correlation_id = peek.Int32("correlation_id");
  if (correlation_id == api_versions_correlation_) {
    RawResponse raw{node_id_, protocol::ApiVersionsRequest::kApiKey, api_versions_version_,
                    std::move(frame), 4};
    return OnApiVersions(std::move(raw), now);
  }
  auto it = in_flight_.find(correlation_id);
  if (it == in_flight_.end()) {
    // Kafka answers in order on a connection; an id we did not send means
    // the stream is not what we think it is.
    return absl::UnavailableError(absl::StrCat("broker ", address_.ToString(),
                                               ": response with unknown correlation id ",
                                               correlation_id));
  }
  InFlight req = std::move(it->second);
  in_flight_.erase(it);
  if (hooks_.log->DebugEnabled(ClientDebugContext::kProtocol)) {
    const protocol::ApiDescriptor* api = protocol::FindApi(req.api_key);
    hooks_.log->Debug(ClientDebugContext::kProtocol, "response received",
                      {{"broker", std::to_string(node_id_)},
                       {"api", api ? std::string(api->name) : std::to_string(req.api_key)},
                       {"version", std::to_string(req.api_version)},
                       {"correlation_id", std::to_string(correlation_id)},
                       {"bytes", std::to_string(frame.size())},
                       {"rtt_us", std::to_string(absl::ToInt64Microseconds(now - req.sent))}});
  }
  protocol::Reader r(frame.span());
  auto header = protocol::ResponseHeader::Decode(
      r, protocol::ResponseHeaderVersion(req.api_key, req.api_version));
  if (!header.ok()) {
    completions->push_back({std::move(req.done), header.status()});
    return absl::OkStatus();
  }
  size_t body = r.offset();
  completions->push_back(
      {std::move(req.done),
       RawResponse{node_id_, req.api_key, req.api_version, std::move(frame), body}});
  return absl::OkStatus();
}

absl::Status BrokerConnection::HandleEvents(short revents, absl::Time now,
                                            Completions* completions) {
  if (state_ == State::kDisconnected || state_ == State::kResolving) return absl::OkStatus();
  if (state_ == State::kConnecting) {
    if ((revents & (POLLOUT | POLLERR | POLLHUP)) == 0) return absl::OkStatus();
    RUNNEL_RETURN_IF_ERROR(FinishConnect(now));
  }
  if (revents & (POLLIN | POLLHUP | POLLERR)) {
    RUNNEL_RETURN_IF_ERROR(ReadFrames(now, completions));
  }
  return WritePending();
}

void BrokerConnection::Close(const absl::Status& status, Completions* completions) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  state_ = State::kDisconnected;
  last_error_ = status;
  for (auto& [id, req] : in_flight_) completions->push_back({std::move(req.done), status});
  in_flight_.clear();
  out_.Clear();
  out_pos_ = 0;
  gathered_.clear();
  gather_next_ = 0;
  gather_sent_ = 0;
  in_.Clear();
  large_frame_.reset();
  versions_.clear();
  api_versions_correlation_ = -1;
  setup_deadline_ = absl::InfiniteFuture();
}

absl::Time BrokerConnection::NextDeadline() const {
  absl::Time t = setup_deadline_;
  for (const auto& [id, req] : in_flight_) t = std::min(t, req.deadline);
  return t;
}

bool BrokerConnection::TimedOut(absl::Time now) const { return NextDeadline() <= now; }

}  // namespace runnel::client
