#include "ringgate/proxy/client_connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h>  // the kernel's tcp_info: glibc's lacks tcpi_notsent_bytes
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <cerrno>
#include <cstring>

#include "absl/time/clock.h"
#include "ringgate/core/uring_features.h"
#include "ringgate/proxy/worker.h"
#include "ringgate/proxy/upstream.h"
#include "ringgate/core/log.h"
#include "ringgate/shutdown/shutdown_chain.h"

namespace ringgate {
namespace {

// How much plaintext the request parser takes per step, so backpressure is checked in between.
constexpr size_t kParseStep = 64 << 10;
// The drain recv after our close_notify: a whole TLS record plus headroom.
constexpr size_t kDrainBufferBytes = 32 << 10;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

std::string PeerIp(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, buf, sizeof buf);
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

bool IsResetError(int error) { return error == -ECONNRESET || error == -EPIPE; }

// Methods a retry cannot turn into a second action at the backend (RFC 9110 9.2.1). PUT and
// DELETE are idempotent too, but a replay may still repeat their side effects in a backend that
// does not honour that.
bool IsSafeMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

// Runs `parser` over `bytes` only to learn where complete requests end; nothing is forwarded and
// bodies are discarded. Calls `on_complete(bytes consumed so far)` after each request, and stops
// when it returns false, when the bytes run out, at a parse error, or after an Upgrade request
// (what follows it is not HTTP); `stuck` says it stopped for one of the last two.
struct Skimmed {
  size_t consumed = 0;
  bool stuck = false;
};
template <class OnComplete>
Skimmed SkimRequests(HttpParser& parser, std::string_view bytes, OnComplete on_complete) {
  Skimmed result;
  std::string discarded_body;
  while (result.consumed < bytes.size()) {
    const size_t used = parser.Execute(bytes.substr(result.consumed), discarded_body);
    discarded_body.clear();
    result.consumed += used;
    if (parser.error() != HttpError::kNone) {
      result.stuck = true;
      break;
    }
    if (!parser.message_complete()) {
      if (used == 0) break;
      continue;
    }
    result.stuck = parser.head().upgrade;
    (void)parser.TakeHead();
    parser.StartNextMessage();
    if (!on_complete(result.consumed) || result.stuck) break;
  }
  return result;
}

}  // namespace

HttpLimits ClientConnection::RequestLimits() const {
  const Config& config = worker_.config();
  return HttpLimits{config.max_request_head_bytes, config.max_request_headers,
                    config.max_request_target_bytes, config.max_request_body_bytes};
}

size_t ClientConnection::BufferBudget() const {
  return worker_.config().max_conn_buffer_bytes;
}

// ---------------------------------------------------------------------------------------------
// Start and dispatch

void ClientConnection::Start(int fd, uint64_t id) {
  in_use_ = true;
  fd_ = fd;
  id_ = id;
  sockaddr_storage peer{};
  socklen_t peer_length = sizeof peer;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) == 0) {
    peer_ip_ = PeerIp(peer);
    peer_trusted_ = AddressInCidrs(peer, worker_.config().trusted_proxies);
  } else {
    peer_ip_ = "unknown";
    peer_trusted_ = false;
  }
  const int64_t now = worker_.NowNs();
  life_ = Lifecycle(now);
  initiator_ = CloseInitiator::kNone;
  tls_ = std::make_unique<TlsSession>(worker_.tls());
  request_parser_ = std::make_unique<HttpParser>(HttpParser::Kind::kRequest, RequestLimits());
  out_.Clear();
  plaintext_in_.clear();
  plaintext_offset_ = 0;
  stream_base_ = 0;
  read_ahead_parser_.reset();
  read_ahead_ends_.clear();
  read_ahead_to_ = 0;
  read_ahead_stuck_ = false;
  answered_after_input_end_ = 0;
  ops_in_flight_ = 0;
  zero_copy_result_ = 0;
  recv_armed_ = recv_paused_ = cancel_in_flight_ = false;
  peer_close_notify_ = peer_fin_ = client_gone_ = client_stalled_ = false;
  plain_out_.clear();
  exchange_active_ = request_complete_ = response_started_ = false;
  head_request_ = request_has_body_ = retried_ = close_after_response_ = client_http10_ = false;
  has_upstream_ = false;
  requests_ = 0;
  exchange_started_ns_ = 0;
  request_begun_ns_ = 0;
  response_status_ = 0;
  response_bytes_ = 0;
  close_notify_sent_ = false;
  observer_fd_ = -1;
  tcp_at_close_ = TcpCloseView{};
  timer_ = ClientTimer::kNone;
  timer_deadline_ns_ = 0;
  queued_wakeup_ns_ = 0;
  release_idle_memory_at_ns_ = 0;
  closing_ = chain_started_ = fd_closed_ = false;
  graceful_ = true;
  timed_out_ = reset_seen_ = error_seen_ = false;
  forced_cause_ = TerminationCause::kNone;
  chain_flush_.clear();
  chain_close_notify_.clear();
  bytes_pending_at_shutdown_ = bytes_drained_ = 0;
  drain_recv_result_ = 0;
  drain_recv_done_ns_ = 0;
  cipher_bytes_in_ = cipher_bytes_out_ = plain_bytes_in_ = plain_bytes_out_ = 0;

  if (WorkerMetrics* m = metrics()) m->connections_in_state[0].Add(1);  // kCreated
  EnterState(LifecycleState::kHandshake, now);
  SetTimer(ClientTimer::kHandshake, worker_.config().handshake_timeout);
  LogLine(spdlog::level::debug, "accepted", id_).With("peer", peer_ip_).With("worker", worker_.id());
  ArmRecv();
}

void ClientConnection::OnCompletion(Op op, int result, uint32_t flags) {
  switch (op) {
    case Op::kClientRecv:
      OnRecv(result, flags);
      break;
    case Op::kClientSend:
      if (flags & IORING_CQE_F_MORE) {
        // A zero-copy send finished but the kernel still holds its pages: the send counts as in
        // flight until the notification, so the buffer stays untouched and the slot alive.
        zero_copy_result_ = result;
        break;
      }
      --ops_in_flight_;
      if (flags & IORING_CQE_F_NOTIF) {
        if (WorkerMetrics* m = metrics(); m != nullptr && (result & IORING_NOTIF_USAGE_ZC_COPIED)) {
          m->send_zc_copied.Add();
        }
        result = zero_copy_result_;
      }
      OnSend(result);
      break;
    case Op::kClientCancelRecv:
      --ops_in_flight_;
      cancel_in_flight_ = false;
      break;
    case Op::kShutdownFlush:
    case Op::kShutdownCloseNotify:
    case Op::kShutdownHalfClose:
    case Op::kShutdownDrainRecv:
    case Op::kShutdownDeadline:
    case Op::kShutdownClose:
    case Op::kCloseAfterBrokenChain:
      --ops_in_flight_;
      OnShutdownStep(op, result);
      break;
    default:
      break;
  }
  if (closing_) MaybeStartShutdownChain();
  if (fd_closed_ && ops_in_flight_ == 0 && in_use_) Finalize();
}

// ---------------------------------------------------------------------------------------------
// Timers

void ClientConnection::SetTimer(ClientTimer kind, absl::Duration after) {
  timer_ = kind;
  if (kind == ClientTimer::kNone) return;
  timer_deadline_ns_ = worker_.NowNs() + absl::ToInt64Nanoseconds(after);
  // One queued wake-up per connection: only queue another if ours would come too late.
  if (queued_wakeup_ns_ == 0 || queued_wakeup_ns_ > timer_deadline_ns_) {
    queued_wakeup_ns_ = timer_deadline_ns_;
    worker_.ArmTimer(timer_deadline_ns_, slot_, generation_);
  }
}

void ClientConnection::OnTimer(int64_t queued_deadline_ns) {
  if (queued_deadline_ns != queued_wakeup_ns_) return;  // superseded by an earlier wake-up
  queued_wakeup_ns_ = 0;
  const int64_t now = worker_.NowNs();
  if (release_idle_memory_at_ns_ != 0 && now >= release_idle_memory_at_ns_) {
    release_idle_memory_at_ns_ = 0;
    if (timer_ == ClientTimer::kIdle && !closing_ && out_.empty() && !exchange_active_) {
      ReleaseIdleMemory();
    }
  }
  if (timer_ == ClientTimer::kNone) return;
  if (closing_ && timer_ != ClientTimer::kShutdownBackstop) return;
  if (now < timer_deadline_ns_) {
    // The deadline moved later since this wake-up was queued (or this was the memory release's
    // wake-up): sleep again until the earlier of the two.
    queued_wakeup_ns_ = release_idle_memory_at_ns_ != 0
                            ? std::min(timer_deadline_ns_, release_idle_memory_at_ns_)
                            : timer_deadline_ns_;
    worker_.ArmTimer(queued_wakeup_ns_, slot_, generation_);
    return;
  }
  const ClientTimer fired = timer_;
  timer_ = ClientTimer::kNone;
  switch (fired) {
    case ClientTimer::kHandshake:
      LogLine(spdlog::level::info, "handshake timed out", id_);
      Abort(TerminationCause::kTimeout, CloseInitiator::kServerTimeout);
      break;
    case ClientTimer::kIdle:
      LogLine(spdlog::level::debug, "idle timeout", id_);
      BeginShutdown(CloseInitiator::kServerTimeout);
      break;
    case ClientTimer::kRequestHead:
      LogLine(spdlog::level::info, "request head timed out", id_);
      RespondWithError(408, CloseInitiator::kServerTimeout);
      break;
    case ClientTimer::kRequestBody:
      if (recv_paused_ && !InputEnded()) {
        // We stopped reading because the backend does not take the body we already have: the
        // backend is the one stalling.
        LogLine(spdlog::level::warn, "backend stopped reading the request body", id_)
            .With("backend", worker_.config().backend.text);
        RespondWithError(504, CloseInitiator::kServerError);
        break;
      }
      LogLine(spdlog::level::info, "request body timed out", id_)
          .With("timeout", absl::FormatDuration(worker_.config().request_body_timeout));
      if (response_started_) {
        Abort(TerminationCause::kTimeout, CloseInitiator::kServerTimeout);
      } else {
        RespondWithError(408, CloseInitiator::kServerTimeout);
      }
      break;
    case ClientTimer::kUpstreamConnect:
    case ClientTimer::kUpstreamResponse:
      LogLine(spdlog::level::warn, "backend timed out", id_)
          .With("phase", fired == ClientTimer::kUpstreamConnect ? "connect" : "response")
          .With("backend", worker_.config().backend.text);
      DetachUpstream(/*reusable=*/false);
      RespondWithError(504, CloseInitiator::kServerError);
      break;
    case ClientTimer::kClientSend:
      LogLine(spdlog::level::info, "client stopped reading", id_)
          .With("owed_bytes", out_.backlog())
          .With("send_timeout", absl::FormatDuration(worker_.config().send_timeout));
      Abort(TerminationCause::kTimeout, CloseInitiator::kServerTimeout);
      GiveUpOnStalledClient();
      break;
    case ClientTimer::kShutdownBackstop:
      // The chain's current phase overran: a flush the client never reads (no deadline of its
      // own), or a drain recv whose linked timeout did not fire (seen on rings without
      // DEFER_TASKRUN, kernel 6.18). Cancelling what is pending lets the close run.
      if (!fd_closed_) {
        LogLine(spdlog::level::warn, "shutdown phase overran its deadline; cancelling", id_)
            .With("state", LifecycleStateName(life_.state()));
        if (chain_started_) {
          CancelChain();
        } else {  // still waiting for our last send: the client is not reading
          if (forced_cause_ == TerminationCause::kNone) forced_cause_ = TerminationCause::kTimeout;
          graceful_ = false;
          GiveUpOnStalledClient();
        }
      }
      break;
    case ClientTimer::kDrainClose:
      if (Idle()) {
        BeginShutdown(CloseInitiator::kDrain);
      } else {
        close_after_response_ = true;  // a request arrived meanwhile: answer it, then close
      }
      break;
    case ClientTimer::kNone:
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading from the client

bool ClientConnection::WantsToRead() const {
  return !closing_ && !recv_paused_ && !InputEnded();
}

void ClientConnection::ArmRecv() {
  if (recv_armed_ || !WantsToRead()) return;
  io_uring_sqe* sqe = worker_.Sqe();
  // Bounded: once reading pauses, at most this much more can arrive from a client that floods.
  PrepareBoundedRecv(sqe, fd_, worker_.buffers().group(), static_cast<uint32_t>(RecvLimit()));
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kClientRecv, generation_, slot_}));
  ++ops_in_flight_;
  recv_armed_ = true;
}

void ClientConnection::PauseRecv() {
  recv_paused_ = true;
  if (!recv_armed_ || cancel_in_flight_) return;
  io_uring_sqe* sqe = worker_.Sqe();
  io_uring_prep_cancel64(sqe, EncodeTag({Op::kClientRecv, generation_, slot_}), 0);
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kClientCancelRecv, generation_, slot_}));
  ++ops_in_flight_;
  cancel_in_flight_ = true;
}

void ClientConnection::ResumeRecv() {
  if (!recv_paused_) return;
  recv_paused_ = false;
  ArmRecv();
}

void ClientConnection::OnRecv(int result, uint32_t flags) {
  if (!(flags & IORING_CQE_F_MORE)) {
    recv_armed_ = false;
    --ops_in_flight_;
  }
  if (flags & IORING_CQE_F_BUFFER) {
    uint16_t bid = BufferRing::BufferId(flags);
    if (result > 0) {
      tls_->FeedCiphertext(worker_.buffers().Data(bid, static_cast<size_t>(result)));
      cipher_bytes_in_ += static_cast<uint64_t>(result);
    }
    worker_.buffers().Return(bid);
  }
  if (result == 0) {
    // Not fed to wolfSSL as EOF: that would mark the session dead and refuse our close_notify,
    // yet a client that half-closed can still read it. The FIN is tracked here instead.
    peer_fin_ = true;
    EnterState(LifecycleState::kPeerClosed, worker_.NowNs());
  } else if (result == -ENOBUFS) {
    if (WorkerMetrics* m = metrics()) m->uring_recv_enobufs.Add();
  } else if (result < 0 && result != -ECANCELED) {
    if (IsResetError(result)) {
      OnClientGone(result);
    } else {
      NoteIoError(result);
      Abort(TerminationCause::kError, CloseInitiator::kServerError);
      return;
    }
  }
  if (closing_) {
    // Bytes that arrived after the close decision but before the recv stopped: nothing more
    // will be answered, but the TLS stream still has to be read so that a close_notify is seen.
    if (result > 0 || result == 0) DrainAfterCloseNotify({});
    return;
  }
  if (result >= 0 || client_gone_) ProcessCiphertext();
  if (!recv_armed_) ArmRecv();
}

void ClientConnection::ProcessCiphertext() {
  if (!tls_->handshake_done()) {
    TlsStatus status = tls_->Handshake();
    FlushToClient();
    if (status == TlsStatus::kWantRead && peer_fin_) status = TlsStatus::kPeerEof;  // never coming
    if (status == TlsStatus::kWantRead) return;
    if (status != TlsStatus::kOk) {
      LogLine(spdlog::level::info, "handshake failed", id_)
          .With("reason", status == TlsStatus::kPeerEof ? "client closed" : "TLS error")
          .With("wolfssl_error", tls_->last_error());
      if (WorkerMetrics* m = metrics()) {
        m->handshakes[static_cast<int>(HandshakeResult::kFailed)]
                     [static_cast<int>(TlsVersionLabel::kUnknown)].Add();
      }
      Abort(status == TlsStatus::kPeerEof ? TerminationCause::kPeerFin : TerminationCause::kError,
            status == TlsStatus::kPeerEof ? CloseInitiator::kClient : CloseInitiator::kServerError);
      return;
    }
    EnterState(LifecycleState::kDataTransfer, worker_.NowNs());
    tls_group_ = tls_->group();
    LogLine(spdlog::level::debug, "handshake done", id_)
        .With("version", tls_->version())
        .With("cipher", tls_->cipher())
        .With("group", TlsGroupName(tls_group_))
        .With("resumed", tls_->resumed());
    if (WorkerMetrics* m = metrics()) {
      const TlsVersionLabel v = tls_->version() == "TLSv1.3"   ? TlsVersionLabel::kTls13
                                : tls_->version() == "TLSv1.2" ? TlsVersionLabel::kTls12
                                                               : TlsVersionLabel::kUnknown;
      m->handshakes[static_cast<int>(HandshakeResult::kOk)][static_cast<int>(v)].Add();
      m->handshakes_by_group[static_cast<int>(tls_group_)].Add();
      m->handshake_seconds.Observe(
          static_cast<double>(worker_.NowNs() - life_.entered_ns(LifecycleState::kCreated)) / 1e9);
    }
    if (worker_.draining()) {
      // Handshake finished during a drain: a short grace for its first request, then close.
      SetTimer(ClientTimer::kDrainClose, absl::Milliseconds(500));
    } else {
      SetTimer(ClientTimer::kIdle, worker_.config().idle_timeout);
    }
  }
  const size_t before = plaintext_in_.size();
  TlsStatus status = tls_->ReadPlaintext(plaintext_in_);
  plain_bytes_in_ += plaintext_in_.size() - before;
  switch (status) {
    case TlsStatus::kPeerCloseNotify:
      NotePeerCloseNotify();
      EnterState(LifecycleState::kPeerClosed, worker_.NowNs());
      LogLine(spdlog::level::debug, "client sent close_notify", id_);
      break;
    case TlsStatus::kPeerEof:
      peer_fin_ = true;
      EnterState(LifecycleState::kPeerClosed, worker_.NowNs());
      break;
    case TlsStatus::kError:
      LogLine(spdlog::level::info, "TLS error while reading", id_)
          .With("wolfssl_error", tls_->last_error());
      FlushToClient();  // the alert wolfSSL queued
      Abort(TerminationCause::kError, CloseInitiator::kServerError);
      return;
    default:
      break;
  }
  ProcessRequests();
  FlushToClient();
}

// Parses and forwards buffered plaintext: at most one exchange at a time, in order.
void ClientConnection::ProcessRequests() {
  while (!closing_) {
    if (exchange_active_ && request_complete_) break;  // the response comes first
    const bool have_input = plaintext_offset_ < plaintext_in_.size();
    if (!have_input) {
      // The client is done: once everything it sent before closing has been answered (or a
      // request it cut short is abandoned), close.
      if (InputEnded() && (!exchange_active_ || !request_complete_)) {
        BeginShutdown(CloseInitiator::kClient);
      }
      break;
    }
    if (!exchange_active_ && !request_parser_->in_message() && InputEnded() &&
        answered_after_input_end_ >= worker_.config().max_pipelined) {
      AbandonUnansweredRequests();
      return;
    }
    if (!exchange_active_ && out_.backlog() > OwedHigh()) {
      // The client is not reading the responses it already has: its next request waits, or every
      // exchange would add a response to what it owes (OnSend resumes once it reads).
      if (timer_ != ClientTimer::kClientSend) {
        SetTimer(ClientTimer::kClientSend, worker_.config().send_timeout);
      }
      break;
    }
    Upstream* upstream = BoundUpstream();
    if (upstream != nullptr && upstream->send_backlog() > OwedHigh()) {
      PauseRecv();  // OnUpstreamDrained resumes
      break;
    }
    std::string_view input(plaintext_in_);
    input = input.substr(plaintext_offset_, kParseStep);
    std::string body;
    const bool was_in_message = request_parser_->in_message();
    const size_t used = request_parser_->Execute(input, body);
    if (!was_in_message && used > 0 && !exchange_active_) request_begun_ns_ = worker_.NowNs();
    plaintext_offset_ += used;
    if (request_parser_->error() != HttpError::kNone) {
      LogLine(spdlog::level::info, "bad request", id_)
          .With("reason", request_parser_->error_reason());
      RespondWithError(RequestErrorStatus(request_parser_->error()), CloseInitiator::kServerError);
      return;
    }
    if (request_parser_->in_message() && !exchange_active_ &&
        (timer_ == ClientTimer::kIdle || timer_ == ClientTimer::kDrainClose)) {
      SetTimer(ClientTimer::kRequestHead, worker_.config().request_header_timeout);
    }
    if (request_parser_->TakeHead()) {
      StartExchange();
      if (closing_) return;
    }
    if (!body.empty()) {
      if (Upstream* u = BoundUpstream()) {
        u->SendOwned(body);
      }
      // A byte of the body owed came: the client gets the whole deadline again.
      if (timer_ == ClientTimer::kRequestBody) {
        SetTimer(ClientTimer::kRequestBody, worker_.config().request_body_timeout);
      }
    }
    if (request_parser_->message_complete() && exchange_active_) {
      request_complete_ = true;
      if (timer_ == ClientTimer::kNone || timer_ == ClientTimer::kRequestBody) {
        SetTimer(ClientTimer::kUpstreamResponse, worker_.config().upstream_response_timeout);
      }
    }
    if (used == 0) break;
  }
  // Compact what the parser consumed; pause reading if pipelined input piles up.
  if (plaintext_offset_ == plaintext_in_.size()) {
    stream_base_ += plaintext_in_.size();
    EmptyBuffer(plaintext_in_);
    plaintext_offset_ = 0;
  } else if (plaintext_offset_ > kCompactInputAfter) {
    stream_base_ += plaintext_offset_;
    plaintext_in_.erase(0, plaintext_offset_);
    plaintext_offset_ = 0;
  }
  if (closing_) return;
  if (WaitingForTurn()) CountRequestsReadAhead();
  if (ReadingOverLimits()) PauseRecv();
  NoteBufferedBytes();
}

void ClientConnection::ProcessRequestsAndReadOn() {
  ProcessRequests();
  if (recv_paused_ && !closing_ && !ReadingOverLimits()) ResumeRecv();
}

// The pipelining window (--max-pipelined). While a response is owed, the request parser waits at
// a message boundary; a second parser runs over the bytes beyond it, only to learn where the
// complete requests in them end. Nothing is forwarded from here.
void ClientConnection::CountRequestsReadAhead() {
  const uint64_t answered_to = stream_base_ + plaintext_offset_;
  size_t reached = 0;
  while (reached < read_ahead_ends_.size() && read_ahead_ends_[reached] <= answered_to) ++reached;
  read_ahead_ends_.erase(read_ahead_ends_.begin(),
                         read_ahead_ends_.begin() + static_cast<long>(reached));
  if (!read_ahead_parser_ || read_ahead_to_ < answered_to) {
    // The request parser has moved past what was read ahead: start again at its boundary.
    read_ahead_parser_ = std::make_unique<HttpParser>(HttpParser::Kind::kRequest, RequestLimits());
    read_ahead_to_ = answered_to;
    read_ahead_ends_.clear();
    read_ahead_stuck_ = false;
  }
  const size_t window = worker_.config().max_pipelined;
  if (read_ahead_stuck_ || read_ahead_ends_.size() >= window) return;
  const uint64_t from = read_ahead_to_;
  // Stuck: the request parser will answer an error there, or an Upgrade ends HTTP; read no more.
  const Skimmed skimmed = SkimRequests(
      *read_ahead_parser_, std::string_view(plaintext_in_).substr(from - stream_base_),
      [&](size_t consumed) {
        read_ahead_ends_.push_back(from + consumed);
        return read_ahead_ends_.size() < window;
      });
  read_ahead_to_ += skimmed.consumed;
  read_ahead_stuck_ = skimmed.stuck;
}

bool ClientConnection::WaitingForTurn() const {
  if (exchange_active_) return request_complete_;
  // No exchange, yet input waits: the client owes us reading first (ProcessRequests).
  return plaintext_offset_ < plaintext_in_.size() && !request_parser_->in_message();
}

size_t ClientConnection::RecvLimit() const {
  // A request body on its way to the backend is read an eighth of the budget at a time. Anything
  // else is request heads, which a few KiB hold many of: reading more at once would take in
  // hundreds of pipelined requests that the window cannot count yet (a client that floods from
  // its first byte filled an eighth of the budget with them before the window closed).
  if (exchange_active_ && !request_complete_) return UnparsedHigh();
  return std::min(UnparsedHigh(), kHeadRecvLimit);
}

bool ClientConnection::ReadingOverLimits() const {
  if (plaintext_in_.size() - plaintext_offset_ > UnparsedHigh()) return true;
  if (WaitingForTurn() &&
      (read_ahead_stuck_ || read_ahead_ends_.size() >= worker_.config().max_pipelined)) {
    return true;
  }
  Upstream* upstream = BoundUpstream();
  return upstream != nullptr && upstream->send_backlog() > OwedHigh();
}

// The client has gone (or finished sending) and --max-pipelined requests have been answered
// since: what it left behind is not forwarded. Without this bound one client could have the
// backend serve tens of thousands of requests after it left.
void ClientConnection::AbandonUnansweredRequests() {
  const std::string_view rest = std::string_view(plaintext_in_).substr(plaintext_offset_);
  HttpParser counter(HttpParser::Kind::kRequest, RequestLimits());
  uint64_t complete = 0;
  SkimRequests(counter, rest, [&](size_t) {
    ++complete;
    return true;
  });
  if (WorkerMetrics* m = metrics()) m->requests_abandoned.Add(complete);
  LogLine(spdlog::level::info, "client gone: requests beyond the pipelining window not forwarded",
          id_)
      .With("answered_after_input_ended", answered_after_input_end_)
      .With("abandoned_requests", complete)
      .With("abandoned_bytes", rest.size());
  BeginShutdown(CloseInitiator::kClient);
}

size_t ClientConnection::BufferedBytes() const {
  size_t bytes = plaintext_in_.size() - plaintext_offset_ + plain_out_.size() + out_.backlog();
  if (tls_) bytes += tls_->pending_ciphertext().size();
  if (Upstream* upstream = BoundUpstream()) bytes += upstream->send_backlog();
  return bytes;
}

void ClientConnection::NoteBufferedBytes() {
  WorkerMetrics* m = metrics();
  if (m == nullptr) return;
  const int64_t bytes = static_cast<int64_t>(BufferedBytes());
  const int64_t most = m->connection_buffered_bytes_max.Get();
  if (bytes > most) m->connection_buffered_bytes_max.Add(bytes - most);
}

void ClientConnection::StartExchange() {
  const HttpHead& head = request_parser_->head();
  ++requests_;
  exchange_active_ = true;
  request_complete_ = false;
  response_started_ = false;
  retried_ = false;
  head_request_ = head.method == "HEAD";
  request_has_body_ = head.chunked || head.content_length > 0;
  client_http10_ = head.http10();
  close_after_response_ = !head.keep_alive || head.upgrade;
  upstream_request_head_ = BuildUpstreamRequestHead(
      head, ForwardingContext{peer_ip_, peer_trusted_, worker_.config().backend.text});
  exchange_started_ns_ = worker_.NowNs();
  response_status_ = 0;
  response_bytes_ = 0;
  request_method_ = head.method;
  request_target_ = head.target;
  if (InputEnded()) ++answered_after_input_end_;
  Upstream* upstream = worker_.upstreams().Acquire();
  LogLine(spdlog::level::debug, "request", id_)
      .With("method", head.method)
      .With("target", head.target)
      .With("backend_conn", upstream != nullptr ? static_cast<int64_t>(upstream->slot()) : -1)
      .With("reused", upstream != nullptr && upstream->reused());
  if (upstream == nullptr) {
    // No socket for the backend (out of descriptors or memory): our shortage, not the backend's.
    RespondWithError(503, CloseInitiator::kServerError);
    return;
  }
  upstream->Bind(slot_, generation_, head_request_, client_http10_);
  upstream_slot_ = upstream->slot();
  upstream_generation_ = upstream->generation();
  has_upstream_ = true;
  if (upstream->state() == Upstream::State::kConnecting) {
    SetTimer(ClientTimer::kUpstreamConnect, worker_.config().upstream_connect_timeout);
  } else {
    // Until the request is complete its body is owed (ProcessRequests moves on to the response
    // timer once it is).
    SetTimer(ClientTimer::kRequestBody, worker_.config().request_body_timeout);
  }
  upstream->Send(upstream_request_head_);
  // An HTTP/1.0 client gets no interim response (RFC 9110 15.2): it sends its body anyway.
  if (head.expect_continue && request_has_body_ && !client_http10_) QueuePlaintext(kContinue);
}

// The pooled backend connection was closed by the backend before it answered: try once more on
// a fresh one, if nothing of the request but its head had to be sent, and if sending it twice
// cannot make the backend act twice: nothing of it reached the backend, or its method is safe.
bool ClientConnection::RetryOnFreshUpstream(bool request_reached_backend) {
  if (retried_ || response_started_ || request_has_body_ || !request_complete_) return false;
  if (request_reached_backend && !IsSafeMethod(request_method_)) {
    LogLine(spdlog::level::info, "not replaying a request the backend may have acted on", id_)
        .With("method", request_method_);
    return false;
  }
  retried_ = true;
  Upstream* upstream = worker_.upstreams().Acquire();
  if (upstream == nullptr) return false;
  upstream->Bind(slot_, generation_, head_request_, client_http10_);
  upstream_slot_ = upstream->slot();
  upstream_generation_ = upstream->generation();
  has_upstream_ = true;
  SetTimer(upstream->state() == Upstream::State::kConnecting ? ClientTimer::kUpstreamConnect
                                                             : ClientTimer::kUpstreamResponse,
           upstream->state() == Upstream::State::kConnecting
               ? worker_.config().upstream_connect_timeout
               : worker_.config().upstream_response_timeout);
  upstream->Send(upstream_request_head_);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Events from the backend

void ClientConnection::OnUpstreamConnected() {
  if (timer_ == ClientTimer::kUpstreamConnect) {
    if (request_complete_) {
      SetTimer(ClientTimer::kUpstreamResponse, worker_.config().upstream_response_timeout);
    } else {
      SetTimer(ClientTimer::kRequestBody, worker_.config().request_body_timeout);
    }
  }
}

void ClientConnection::OnUpstreamData(std::string_view bytes) {
  Upstream* upstream = BoundUpstream();
  if (upstream == nullptr || closing_) return;
  if (request_complete_ && timer_ != ClientTimer::kClientSend) {
    SetTimer(ClientTimer::kUpstreamResponse, worker_.config().upstream_response_timeout);
  }
  HttpParser& parser = upstream->response_parser();
  std::string plain;
  while (!bytes.empty()) {
    const size_t used = parser.Execute(bytes, plain);
    bytes.remove_prefix(used);
    if (parser.error() != HttpError::kNone) {
      LogLine(spdlog::level::warn, "bad response from backend", id_)
          .With("reason", parser.error_reason());
      DetachUpstream(false);
      QueuePlaintext(plain);
      if (response_started_) {
        Abort(TerminationCause::kError, CloseInitiator::kServerError);
      } else {
        RespondWithError(502, CloseInitiator::kServerError);
      }
      return;
    }
    if (parser.TakeHead()) {
      const HttpHead& head = parser.head();
      if (head.status_code >= 100 && head.status_code < 200) {
        // Interim responses (103 Early Hints) pass through; 101 would need a tunnel.
        if (head.status_code == 101) {
          DetachUpstream(false);
          RespondWithError(502, CloseInitiator::kServerError);
          return;
        }
        if (!client_http10_) {  // HTTP/1.0 has no interim responses
          QueuePlaintext(BuildClientResponseHead(head, BodyFraming::kNone, false));
        }
      } else {
        response_started_ = true;
        response_status_ = head.status_code;
        const BodyFraming framing = ChooseResponseFraming(head, head_request_, client_http10_);
        if (framing == BodyFraming::kUntilClose || !request_complete_ || worker_.draining()) {
          close_after_response_ = true;
        }
        QueuePlaintext(
            BuildClientResponseHead(head, framing, close_after_response_, client_http10_));
      }
    }
    if (!plain.empty()) {
      QueuePlaintext(plain);
      plain.clear();
    }
    if (parser.message_complete()) {
      if (!response_started_) {  // an interim response: the final one follows
        parser.StartNextMessage();
        continue;
      }
      // A response that ended at its head although it declared a body (HEAD, 204, 304): a backend
      // that sends that body anyway, in a later segment, would have it read as the next
      // client's response. Such a connection is not pooled.
      const bool unread_body_declared =
          parser.ended_at_head() && (parser.head().chunked || parser.head().content_length > 0);
      const bool reusable = parser.head().keep_alive && bytes.empty() && request_complete_ &&
                            !unread_body_declared;
      FlushToClient();
      FinishExchange(reusable);
      return;
    }
    if (used == 0) break;
  }
  FlushToClient();
  NoteBufferedBytes();
  if (out_.backlog() > OwedHigh()) {
    upstream->PauseRecv();  // OnSend resumes
    SetTimer(ClientTimer::kClientSend, worker_.config().send_timeout);
  }
}

void ClientConnection::OnUpstreamEof() {
  Upstream* upstream = BoundUpstream();
  has_upstream_ = false;
  if (closing_ || !exchange_active_) return;
  if (upstream != nullptr && response_started_) {
    std::string plain;
    if (upstream->response_parser().Finish(plain)) {
      QueuePlaintext(plain);
      FlushToClient();
      close_after_response_ = true;
      FinishExchange(false);
      return;
    }
  }
  if (!response_started_) {
    if (upstream != nullptr && upstream->reused() &&
        RetryOnFreshUpstream(upstream->request_bytes_submitted() > 0)) {
      return;
    }
    LogLine(spdlog::level::warn, "backend closed before responding", id_);
    RespondWithError(502, CloseInitiator::kServerError);
    return;
  }
  LogLine(spdlog::level::warn, "backend closed mid-response: aborting so the client sees truncation",
          id_);
  Abort(TerminationCause::kError, CloseInitiator::kServerError);
}

void ClientConnection::OnUpstreamFailed(int error) {
  Upstream* upstream = BoundUpstream();
  const bool was_reused = upstream != nullptr && upstream->reused();
  const bool request_reached_backend =
      upstream != nullptr && upstream->request_bytes_submitted() > 0;
  has_upstream_ = false;
  if (closing_ || !exchange_active_) return;
  if (!response_started_) {
    if (was_reused && RetryOnFreshUpstream(request_reached_backend)) return;
    LogLine(spdlog::level::warn, "backend failed", id_)
        .With("backend", worker_.config().backend.text)
        .With("error", std::strerror(-error));
    RespondWithError(502, CloseInitiator::kServerError);
    return;
  }
  LogLine(spdlog::level::warn, "backend failed mid-response", id_).With("error", std::strerror(-error));
  Abort(TerminationCause::kError, CloseInitiator::kServerError);
}

void ClientConnection::OnUpstreamDrained() {
  if (closing_) return;
  Upstream* upstream = BoundUpstream();
  if (upstream == nullptr || upstream->send_backlog() > OwedLow()) return;
  ProcessRequestsAndReadOn();
  FlushToClient();
}

Upstream* ClientConnection::BoundUpstream() const {
  return has_upstream_ ? worker_.upstreams().At(upstream_slot_, upstream_generation_) : nullptr;
}

void ClientConnection::DetachUpstream(bool reusable) {
  Upstream* upstream = BoundUpstream();
  has_upstream_ = false;
  if (upstream != nullptr) worker_.upstreams().Release(upstream, reusable);
}

void ClientConnection::FinishExchange(bool upstream_reusable) {
  DetachUpstream(upstream_reusable);
  RecordExchange(response_status_);
  exchange_active_ = false;
  request_parser_->StartNextMessage();
  if (close_after_response_ || worker_.draining()) {
    BeginShutdown(worker_.draining() ? CloseInitiator::kDrain : CloseInitiator::kServerPolicy);
    return;
  }
  SetTimer(ClientTimer::kIdle, worker_.config().idle_timeout);
  ProcessRequestsAndReadOn();  // a pipelined request may be waiting
  FlushToClient();
}

// ---------------------------------------------------------------------------------------------
// Writing to the client

void ClientConnection::QueuePlaintext(std::string_view plain) {
  if (client_gone_) return;  // nobody to read it
  plain_out_.append(plain);
  if (exchange_active_) response_bytes_ += plain.size();
}

void ClientConnection::FlushToClient() {
  if (client_gone_) {
    plain_out_.clear();
    tls_->pending_ciphertext().clear();
    return;
  }
  if (!plain_out_.empty()) {
    // One wolfSSL write per batch: a response head and the body bytes that came with it share
    // records instead of each costing a record of their own.
    plain_bytes_out_ += plain_out_.size();
    if (tls_->WritePlaintext(plain_out_) != TlsStatus::kOk) error_seen_ = true;
    EmptyBuffer(plain_out_);
  }
  std::string& cipher = tls_->pending_ciphertext();
  if (!cipher.empty() && !chain_started_) out_.AppendOwned(cipher);
  if (chain_started_ || fd_closed_) return;
  SubmitSend(out_.StartSend());
}

void ClientConnection::SubmitSend(std::string_view bytes) {
  if (bytes.empty()) return;
  io_uring_sqe* sqe = worker_.Sqe();
  const uint32_t zero_copy_threshold = worker_.config().send_zc_threshold;
  if (zero_copy_threshold != 0 && bytes.size() >= zero_copy_threshold) {
    // The kernel sends from our pages instead of copying them (it still copies where the
    // route needs it, loopback among them: ringgate_send_zc_copied_total says how often).
    io_uring_prep_send_zc(sqe, fd_, bytes.data(), bytes.size(), MSG_WAITALL | MSG_NOSIGNAL,
                          IORING_SEND_ZC_REPORT_USAGE);
    if (WorkerMetrics* m = metrics()) m->send_zc.Add();
  } else {
    io_uring_prep_send(sqe, fd_, bytes.data(), bytes.size(), MSG_WAITALL | MSG_NOSIGNAL);
  }
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kClientSend, generation_, slot_}));
  ++ops_in_flight_;
}

void ClientConnection::OnSend(int result) {
  if (client_stalled_ || result == -ECANCELED) {  // given up on this client's reading
    if (result > 0) cipher_bytes_out_ += static_cast<uint64_t>(result);
    out_.Clear();
    return;
  }
  if (result < 0) {
    if (IsResetError(result)) {
      out_.Clear();  // this send has completed (with an error): nothing of ours is in flight
      OnClientGone(result);
      if (!closing_) ProcessRequests();
      return;
    }
    NoteIoError(result);
    out_.Clear();
    Abort(TerminationCause::kError, CloseInitiator::kServerError);
    return;
  }
  cipher_bytes_out_ += static_cast<uint64_t>(result);
  std::string_view rest = out_.OnSent(static_cast<size_t>(result));
  if (client_gone_) {
    out_.Clear();  // nothing in flight any more
    return;
  }
  if (!rest.empty()) {  // short send: the rest goes before anything newer
    SubmitSend(rest);
    return;
  }
  if (closing_) return;  // OnCompletion moves the shutdown on
  FlushToClient();
  const bool drained = out_.backlog() <= OwedLow();
  if (timer_ == ClientTimer::kClientSend) {
    // Progress: the client is reading. Back to waiting on the backend (or for the next request)
    // once it may send again.
    if (!drained) {
      SetTimer(ClientTimer::kClientSend, worker_.config().send_timeout);
    } else if (exchange_active_ && !request_complete_) {  // the body is still owed
      SetTimer(ClientTimer::kRequestBody, worker_.config().request_body_timeout);
    } else if (exchange_active_) {
      SetTimer(ClientTimer::kUpstreamResponse, worker_.config().upstream_response_timeout);
    } else {
      SetTimer(ClientTimer::kIdle, worker_.config().idle_timeout);
    }
  }
  if (drained) {
    if (Upstream* u = BoundUpstream()) u->ResumeRecv();
    if (!exchange_active_) {  // a pipelined request may have waited for the client to read
      ProcessRequestsAndReadOn();
      FlushToClient();
    }
  }
  if (out_.empty() && !exchange_active_ && timer_ == ClientTimer::kIdle) {
    ScheduleIdleMemoryRelease();
  }
}

// A busy keep-alive client's next request follows within a millisecond or so: releasing the
// buffers at once would only allocate them all again for it (four of the ten allocations a
// keep-alive request used to cost). So they go when the connection is still idle a little later.
void ClientConnection::ScheduleIdleMemoryRelease() {
  constexpr int64_t kGraceNs = 200'000'000;
  release_idle_memory_at_ns_ = worker_.NowNs() + kGraceNs;
  if (queued_wakeup_ns_ == 0 || queued_wakeup_ns_ > release_idle_memory_at_ns_) {
    queued_wakeup_ns_ = release_idle_memory_at_ns_;
    worker_.ArmTimer(queued_wakeup_ns_, slot_, generation_);
  }
}

// Waiting for the next request (past ScheduleIdleMemoryRelease's grace), a connection keeps next
// to nothing: the buffers that grew for the handshake or the last exchange go back (an idle TLS
// connection is then mostly wolfSSL's own session state).
void ClientConnection::ReleaseIdleMemory() {
  if (plaintext_offset_ == plaintext_in_.size()) {
    stream_base_ += plaintext_in_.size();
    std::string().swap(plaintext_in_);
    plaintext_offset_ = 0;
  }
  read_ahead_parser_.reset();
  if (plain_out_.empty()) std::string().swap(plain_out_);
  out_.ReleaseIfEmpty();
  tls_->ReleaseIdleMemory();
}

// ---------------------------------------------------------------------------------------------
// Closing: the graceful TLS shutdown sequence

void ClientConnection::OnClientGone(int error) {
  if (!client_gone_) {
    LogLine(spdlog::level::debug, "client gone: finishing buffered requests without replies", id_)
        .With("error", std::strerror(-error))
        .With("buffered_bytes", plaintext_in_.size() - plaintext_offset_);
  }
  client_gone_ = true;
  reset_seen_ = true;
  graceful_ = false;
  if (initiator_ == CloseInitiator::kNone) initiator_ = CloseInitiator::kClient;
  // A send may still be in flight: its buffer stays until its completion; the rest goes now.
  (void)out_.TakeWaiting();
  plain_out_.clear();
  tls_->pending_ciphertext().clear();
  if (recv_armed_) PauseRecv();
  // A backend read paused for this client's backlog has nothing left to wait for: the rest of
  // the response is read and discarded, so the exchange can end and the next request go out.
  if (Upstream* upstream = BoundUpstream()) upstream->ResumeRecv();
  if (timer_ == ClientTimer::kClientSend) {
    SetTimer(ClientTimer::kUpstreamResponse, worker_.config().upstream_response_timeout);
  }
}

void ClientConnection::NoteIoError(int error) {
  if (IsResetError(error)) {
    reset_seen_ = true;
  } else {
    error_seen_ = true;
  }
}

void ClientConnection::RespondWithError(int status_code, CloseInitiator initiator) {
  if (response_started_ && exchange_active_) {
    Abort(TerminationCause::kError, initiator);
    return;
  }
  DetachUpstream(false);
  LogLine(spdlog::level::info, "responding with an error", id_)
      .With("status", status_code)
      .With("reason", StatusReason(status_code));
  if (!exchange_active_) {  // refused before a request was understood: still one answered request
    ++requests_;
    exchange_started_ns_ = worker_.NowNs();
    // (Not `= "-"`: GCC 12 reports a false -Wrestrict on short literal assignment, bug 105329.)
    request_method_.assign(1, '-');
    request_target_.assign(1, '-');
    response_bytes_ = 0;
    exchange_active_ = true;
  }
  QueuePlaintext(BuildErrorResponse(status_code));
  RecordExchange(status_code);
  exchange_active_ = false;
  FlushToClient();
  BeginShutdown(initiator);
}

// Stops taking requests and starts the polite close: once no recv or send of ours is in
// flight, MaybeStartShutdownChain submits flush -> close_notify -> FIN -> drain -> close.
void ClientConnection::BeginShutdown(CloseInitiator initiator) {
  if (closing_) return;
  closing_ = true;
  if (initiator_ == CloseInitiator::kNone) initiator_ = initiator;
  timer_ = ClientTimer::kNone;
  DetachUpstream(false);
  const int64_t now = worker_.NowNs();
  const LifecycleState state_before_shutdown = life_.state();
  EnterState(LifecycleState::kShutdownInitiated, now);
  FlushToClient();
  bytes_pending_at_shutdown_ = out_.backlog();
  const size_t unanswered = plaintext_in_.size() - plaintext_offset_;
  if (unanswered > 0) {
    bytes_drained_ += unanswered;
    LogLine(spdlog::level::debug, "discarding unanswered requests", id_).With("bytes", unanswered);
  }
  LogLine(spdlog::level::debug, "Shutdown Initiated", id_)
      .With("initiator", CloseInitiatorName(initiator_))
      .With("state", LifecycleStateName(state_before_shutdown))
      .With("pending_bytes", bytes_pending_at_shutdown_);
  if (WorkerMetrics* m = metrics()) {
    m->shutdown_pending_bytes.Observe(static_cast<double>(bytes_pending_at_shutdown_));
  }
  if (recv_armed_) PauseRecv();
  // The chain waits for our last send; a client that never reads must not make that forever.
  if (out_.busy()) {
    SetTimer(ClientTimer::kShutdownBackstop, worker_.config().send_timeout + absl::Milliseconds(500));
  }
  MaybeStartShutdownChain();
}

// Ends the connection without close_notify, so that a client reading a cut response sees an
// unclean end rather than a falsely complete one. What we already owed is still flushed.
void ClientConnection::Abort(TerminationCause cause, CloseInitiator initiator) {
  graceful_ = false;
  if (forced_cause_ == TerminationCause::kNone) forced_cause_ = cause;
  if (!closing_) {
    BeginShutdown(initiator);
  } else {
    MaybeStartShutdownChain();
  }
}

void ClientConnection::MaybeStartShutdownChain() {
  if (!closing_ || chain_started_ || fd_closed_) return;
  if (recv_armed_ || out_.busy()) return;  // wait: the chain must own the socket alone
  chain_started_ = true;

  std::string& tls_pending = tls_->pending_ciphertext();
  out_.AppendOwned(tls_pending);
  chain_flush_ = out_.TakeWaiting();
  const bool send_close_notify = graceful_ && tls_->handshake_done() && !reset_seen_;
  if (send_close_notify && tls_->QueueCloseNotify() == TlsStatus::kOk) {
    chain_close_notify_.swap(tls_->pending_ciphertext());
  }
  if (chain_close_notify_.empty()) {
    const NoCloseNotifyReason why = !tls_->handshake_done() ? NoCloseNotifyReason::kNoHandshake
                                    : (client_gone_ || reset_seen_) ? NoCloseNotifyReason::kPeerReset
                                                                    : NoCloseNotifyReason::kAbort;
    if (WorkerMetrics* m = metrics()) m->close_notify_not_sent[static_cast<int>(why)].Add();
  }
  if (worker_.config().diagnostics) observer_fd_ = fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  // After the peer's close_notify nothing more may legally arrive, so there is nothing to
  // drain; an abort does not wait either.
  const bool wait_for_peer = !chain_close_notify_.empty() && !peer_close_notify_ && !peer_fin_;
  // With a FIN already in, waiting would return at once; still send ours so the peer's read ends.
  if (wait_for_peer) {
    drain_buffer_.reset(new char[kDrainBufferBytes]);
    const absl::Duration timeout = worker_.config().close_notify_timeout;
    drain_deadline_.tv_sec = absl::ToInt64Seconds(timeout);
    drain_deadline_.tv_nsec = absl::ToInt64Nanoseconds(timeout - absl::Seconds(drain_deadline_.tv_sec));
  }
  ShutdownChainSpec spec;
  spec.fd = fd_;
  spec.generation = generation_;
  spec.slot = slot_;
  spec.flush = chain_flush_;
  spec.close_notify = chain_close_notify_;
  spec.half_close = !reset_seen_;
  spec.wait_for_peer = wait_for_peer;
  spec.drain_buffer = drain_buffer_.get();
  spec.drain_buffer_size = kDrainBufferBytes;
  spec.deadline = &drain_deadline_;
  ops_in_flight_ += PrepareShutdownChain(worker_.ring(), spec);
  // The flush and close_notify sends have no deadline of their own: a client that reads
  // nothing would hold them forever. The drain recv's deadline is re-armed once they are out.
  SetTimer(ClientTimer::kShutdownBackstop, worker_.config().send_timeout + absl::Milliseconds(500));
  if (chain_flush_.empty()) EnterState(LifecycleState::kBufferFlushed, worker_.NowNs());
  LogLine(spdlog::level::debug, "shutdown chain submitted", id_)
      .With("flush_bytes", chain_flush_.size())
      .With("close_notify", !chain_close_notify_.empty())
      .With("wait_for_peer", wait_for_peer);
}

// Input that arrives after our close_notify: decrypted (a close_notify in it ends the wait
// cleanly), counted, and never answered.
void ClientConnection::DrainAfterCloseNotify(std::string_view ciphertext) {
  if (!ciphertext.empty()) {
    tls_->FeedCiphertext(ciphertext);
    cipher_bytes_in_ += ciphertext.size();
  }
  std::string discarded;
  TlsStatus status = tls_->ReadPlaintext(discarded);
  bytes_drained_ += discarded.size();
  if (status == TlsStatus::kPeerCloseNotify) NotePeerCloseNotify();
  if (status == TlsStatus::kPeerEof) peer_fin_ = true;
}

void ClientConnection::OnShutdownStep(Op op, int result) {
  const int64_t now = worker_.NowNs();
  switch (op) {
    case Op::kShutdownFlush:
      if (result >= 0) {
        cipher_bytes_out_ += static_cast<uint64_t>(result);
        EnterState(LifecycleState::kBufferFlushed, now);
        LogLine(spdlog::level::debug, "Flush Completed", id_)
            .With("bytes", result)
            .WithMs("after_ms", now - life_.entered_ns(LifecycleState::kShutdownInitiated));
      } else if (result != -ECANCELED) {
        NoteIoError(result);
        LogLine(spdlog::level::debug, "Flush Failed", id_).With("error", std::strerror(-result));
      }
      break;
    case Op::kShutdownCloseNotify:
      if (result >= 0) {
        cipher_bytes_out_ += static_cast<uint64_t>(result);
        EnterState(LifecycleState::kBufferFlushed, now);
        EnterState(LifecycleState::kCloseNotifySent, now);
        LogLine(spdlog::level::debug, "TLS Close Notify Sent", id_)
            .WithMs("after_ms", now - life_.entered_ns(LifecycleState::kShutdownInitiated));
        close_notify_sent_ = true;
        if (WorkerMetrics* m = metrics()) m->close_notify_sent.Add();
        if (drain_buffer_) {  // now waiting for the peer: its own deadline, plus a margin
          SetTimer(ClientTimer::kShutdownBackstop,
                   worker_.config().close_notify_timeout + absl::Milliseconds(500));
        }
      } else if (result != -ECANCELED) {
        NoteIoError(result);
      }
      break;
    case Op::kShutdownHalfClose:
      if (result < 0 && result != -ECANCELED && result != -ENOTCONN) NoteIoError(result);
      break;
    case Op::kShutdownDrainRecv:
      drain_recv_result_ = result;
      drain_recv_done_ns_ = now;
      if (result > 0) {
        DrainAfterCloseNotify({drain_buffer_.get(), static_cast<size_t>(result)});
      } else if (result < 0 && result != -ECANCELED && result != -EINTR) {
        NoteIoError(result);
      }
      break;
    case Op::kShutdownDeadline:
      if (result == -ETIME) {
        timed_out_ = true;
        EnterState(LifecycleState::kTimedOut, now);
        LogLine(spdlog::level::debug, "Close Notify Timeout", id_)
            .With("timeout", absl::FormatDuration(worker_.config().close_notify_timeout));
      }
      break;
    case Op::kShutdownClose:
      if (result == -ECANCELED) {
        // An earlier step failed and broke the chain: the descriptor is still open.
        io_uring_sqe* sqe = worker_.Sqe();
        io_uring_prep_close(sqe, fd_);
        io_uring_sqe_set_data64(sqe, EncodeTag({Op::kCloseAfterBrokenChain, generation_, slot_}));
        ++ops_in_flight_;
        break;
      }
      fd_closed_ = true;
      ReadTcpCloseView();
      break;
    case Op::kCloseAfterBrokenChain:
      fd_closed_ = true;
      ReadTcpCloseView();
      break;
    default:
      break;
  }
}

void ClientConnection::Finalize() {
  const int64_t now = worker_.NowNs();
  // MSG_WAITALL makes the drain recv return short only at the peer's FIN, or when the deadline
  // cancelled it, which only the deadline's own completion tells; both are in by now.
  if (drain_recv_done_ns_ != 0 && !timed_out_ && drain_recv_result_ >= 0 &&
      static_cast<size_t>(drain_recv_result_) < kDrainBufferBytes) {
    peer_fin_ = true;
  }
  if ((peer_close_notify_ || peer_fin_) && drain_recv_done_ns_ != 0 && !timed_out_) {
    EnterState(LifecycleState::kPeerClosed, drain_recv_done_ns_);
  }
  TerminationCause cause;
  if (reset_seen_) {
    cause = TerminationCause::kReset;
  } else if (forced_cause_ != TerminationCause::kNone) {
    cause = forced_cause_;
  } else if (error_seen_) {
    cause = TerminationCause::kError;
  } else if (peer_close_notify_) {
    cause = TerminationCause::kClean;
  } else if (peer_fin_) {
    cause = TerminationCause::kPeerFin;
  } else {
    cause = TerminationCause::kTimeout;
  }
  if (initiator_ == CloseInitiator::kNone) initiator_ = CloseInitiator::kClient;
  const LifecycleState last_state = life_.state();
  life_.End(cause, now);
  if (observer_fd_ >= 0) {  // the chain's close was not reached (cannot happen after fd_closed_)
    close(observer_fd_);
    observer_fd_ = -1;
  }

  auto span_ns = [&](LifecycleState from, LifecycleState to) -> int64_t {
    const int64_t a = life_.entered_ns(from);
    const int64_t b = life_.entered_ns(to);
    return (a != 0 && b != 0 && b >= a) ? b - a : -1;
  };
  const int64_t created = life_.entered_ns(LifecycleState::kCreated);
  const int64_t handshake_ns = span_ns(LifecycleState::kCreated, LifecycleState::kDataTransfer);
  const int64_t flush_ns = span_ns(LifecycleState::kShutdownInitiated, LifecycleState::kBufferFlushed);
  const int64_t peer_close_ns = span_ns(LifecycleState::kCloseNotifySent, LifecycleState::kPeerClosed);
  const int64_t shutdown_ns = span_ns(LifecycleState::kShutdownInitiated, LifecycleState::kTcpClosed);

  if (WorkerMetrics* m = metrics()) {
    m->connections_in_state[static_cast<int>(last_state)].Add(-1);
    m->connections_closed[static_cast<int>(cause)][static_cast<int>(initiator_)].Add();
    m->tls_bytes_received.Add(cipher_bytes_in_);
    m->tls_bytes_sent.Add(cipher_bytes_out_);
    m->http_bytes_received.Add(plain_bytes_in_);
    m->http_bytes_sent.Add(plain_bytes_out_);
    m->bytes_drained_after_close_notify.Add(bytes_drained_);
    if (tcp_at_close_.valid && tcp_at_close_.unread_bytes > 0) m->released_with_unread_input.Add();
    if (flush_ns >= 0) m->shutdown_flush_seconds.Observe(static_cast<double>(flush_ns) / 1e9);
    if (peer_close_ns >= 0) m->shutdown_peer_close_seconds.Observe(static_cast<double>(peer_close_ns) / 1e9);
    if (shutdown_ns >= 0) m->shutdown_seconds.Observe(static_cast<double>(shutdown_ns) / 1e9);
  }

  LogLine(spdlog::level::debug, "TCP Socket Closed", id_)
      .With("unacked_segments", tcp_at_close_.unacked_segments)
      .With("notsent_bytes", tcp_at_close_.notsent_bytes)
      .With("send_queue_bytes", tcp_at_close_.send_queue_bytes)
      .With("unread_bytes", tcp_at_close_.unread_bytes);
  if (shutdown_ns >= 0) LogLine(spdlog::level::debug, "Shutdown Duration", id_).WithMs("ms", shutdown_ns);
  {
    LogLine line(spdlog::level::info, "closed", id_);
    line.With("cause", TerminationCauseName(cause))
        .With("initiator", CloseInitiatorName(initiator_))
        .With("path", life_.Path())
        .With("requests", requests_)
        .With("tls_bytes_in", cipher_bytes_in_)
        .With("tls_bytes_out", cipher_bytes_out_)
        .With("http_bytes_in", plain_bytes_in_)
        .With("http_bytes_out", plain_bytes_out_)
        .With("pending_at_shutdown", bytes_pending_at_shutdown_)
        .With("drained", bytes_drained_)
        .With("close_notify_sent", close_notify_sent_)
        .With("close_notify_received", peer_close_notify_);
    if (tcp_at_close_.valid) {
      line.With("tcp_unacked", tcp_at_close_.unacked_segments)
          .With("tcp_notsent", tcp_at_close_.notsent_bytes)
          .With("tcp_unread", tcp_at_close_.unread_bytes);
    }
    if (handshake_ns >= 0) {
      line.With("tls_group", TlsGroupName(tls_group_)).WithMs("handshake_ms", handshake_ns);
    }
    if (flush_ns >= 0) line.WithMs("flush_ms", flush_ns);
    if (peer_close_ns >= 0) line.WithMs("peer_close_ms", peer_close_ns);
    if (shutdown_ns >= 0) line.WithMs("shutdown_ms", shutdown_ns);
    line.WithMs("duration_ms", now - created);
  }

  if (worker_.config().diagnostics) {
    ClosureRecord record;
    record.id = id_;
    record.peer = peer_ip_;
    record.cause = cause;
    record.initiator = initiator_;
    if (tls_ && tls_->handshake_done()) record.tls_version = std::string(tls_->version());
    record.requests = requests_;
    record.tls_bytes_in = cipher_bytes_in_;
    record.tls_bytes_out = cipher_bytes_out_;
    record.http_bytes_in = plain_bytes_in_;
    record.http_bytes_out = plain_bytes_out_;
    record.pending_at_shutdown = bytes_pending_at_shutdown_;
    record.drained_bytes = bytes_drained_;
    record.close_notify_sent = close_notify_sent_;
    record.close_notify_received = peer_close_notify_;
    record.tcp = tcp_at_close_;
    record.entered_ns = life_.timeline();
    record.closed_unix_ms = absl::ToUnixMillis(absl::Now());
    worker_.RecordClosure(std::move(record));
  }
  in_use_ = false;
  generation_ = (generation_ + 1) & kGenerationMask;
  tls_.reset();
  request_parser_.reset();
  read_ahead_parser_.reset();
  std::vector<uint64_t>().swap(read_ahead_ends_);
  drain_buffer_.reset();
  // A free slot keeps no buffer: after a flood of connections, capacity kept here would stay
  // resident however long the slot waits for its next connection.
  out_.Clear();
  out_.ReleaseIfEmpty();
  std::string().swap(plaintext_in_);
  std::string().swap(plain_out_);
  std::string().swap(upstream_request_head_);
  std::string().swap(chain_flush_);
  std::string().swap(chain_close_notify_);
  worker_.FreeClientSlot(slot_);
}

// ---------------------------------------------------------------------------------------------
// Draining

bool ClientConnection::Idle() const {
  return tls_ && tls_->handshake_done() && !exchange_active_ && !closing_ &&
         plaintext_offset_ == plaintext_in_.size() && !request_parser_->in_message();
}

void ClientConnection::OnDrain(absl::Duration idle_close_delay) {
  if (closing_) return;
  if (Idle()) {
    SetTimer(ClientTimer::kDrainClose, idle_close_delay);
  } else {
    // Busy or still in its handshake: the response in progress (or the first one) carries
    // Connection: close, and FinishExchange closes after it.
    close_after_response_ = true;
  }
}

void ClientConnection::CutAtDrainDeadline() {
  LogLine(spdlog::level::warn, "cut at drain deadline", id_)
      .With("state", LifecycleStateName(life_.state()))
      .With("requests", requests_);
  if (WorkerMetrics* m = metrics()) m->drain_cut.Add();
  if (chain_started_) {
    if (!fd_closed_) CancelChain();
    return;
  }
  if (initiator_ == CloseInitiator::kNone) initiator_ = CloseInitiator::kDrain;
  Abort(TerminationCause::kTimeout, CloseInitiator::kDrain);
}

void ClientConnection::GiveUpOnStalledClient() {
  client_stalled_ = true;
  (void)out_.TakeWaiting();
  tls_->pending_ciphertext().clear();
  plain_out_.clear();
  if (out_.busy()) CancelChain();  // OnSend sees -ECANCELED; then the abort chain runs
}

void ClientConnection::CancelChain() {
  io_uring_sqe* sqe = worker_.Sqe();
  io_uring_prep_cancel_fd(sqe, fd_, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kClientCancelRecv, generation_, slot_}));
  ++ops_in_flight_;
  timed_out_ = true;
  EnterState(LifecycleState::kTimedOut, worker_.NowNs());
}

// ---------------------------------------------------------------------------------------------
// Diagnostics

WorkerMetrics* ClientConnection::metrics() { return worker_.metrics(); }

void ClientConnection::EnterState(LifecycleState state, int64_t now_ns) {
  const LifecycleState before = life_.state();
  life_.Enter(state, now_ns);
  if (life_.state() == before) return;
  if (WorkerMetrics* m = metrics()) {
    m->connections_in_state[static_cast<int>(before)].Add(-1);
    m->connections_in_state[static_cast<int>(life_.state())].Add(1);
  }
}

void ClientConnection::NotePeerCloseNotify() {
  if (peer_close_notify_) return;
  peer_close_notify_ = true;
  if (WorkerMetrics* m = metrics()) m->close_notify_received.Add();
}

void ClientConnection::RecordExchange(int status) {
  const int64_t now = worker_.NowNs();
  if (WorkerMetrics* m = metrics()) {
    if (status >= 100 && status < 600) m->requests_by_status_class[status / 100 - 1].Add();
    if (exchange_started_ns_ != 0) {
      m->request_seconds.Observe(static_cast<double>(now - exchange_started_ns_) / 1e9);
    }
  }
  if (fmt::memory_buffer* batch = worker_.access_batch()) {
    LogLine("request", id_, batch)
        .With("method", request_method_)
        .With("target", request_target_)
        .With("status", status)
        .With("bytes", response_bytes_)
        .WithMs("upstream_ms", now - exchange_started_ns_)
        .WithMs("total_ms", now - (request_begun_ns_ != 0 ? request_begun_ns_ : exchange_started_ns_))
        .With("peer", peer_ip_);
  }
}

void ClientConnection::ReadTcpCloseView() {
  if (observer_fd_ < 0) return;
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(observer_fd_, IPPROTO_TCP, TCP_INFO, &info, &len) == 0) {
    tcp_at_close_.valid = true;
    tcp_at_close_.unacked_segments = info.tcpi_unacked;
    tcp_at_close_.notsent_bytes = info.tcpi_notsent_bytes;
    int outq = 0;
    int inq = 0;
    if (ioctl(observer_fd_, SIOCOUTQ, &outq) == 0) tcp_at_close_.send_queue_bytes = outq;
    if (ioctl(observer_fd_, SIOCINQ, &inq) == 0) tcp_at_close_.unread_bytes = inq;
  }
  close(observer_fd_);  // the socket's last reference: FIN already went out with shutdown(2)
  observer_fd_ = -1;
}

void ClientConnection::AppendJson(fmt::memory_buffer& out, int64_t now_ns) const {
  fmt::format_to(std::back_inserter(out),
                 "{{\"conn\":\"{}\",\"worker\":{},\"peer\":\"{}\",\"state\":\"{}\","
                 "\"age_ms\":{:.3f},\"requests\":{},\"tls_bytes_in\":{},\"tls_bytes_out\":{},"
                 "\"http_bytes_in\":{},\"http_bytes_out\":{},\"send_queue_bytes\":{},"
                 "\"buffered_bytes\":{},\"unanswered_input_bytes\":{}}}",
                 FormatConnectionId(id_), worker_.id(), peer_ip_, LifecycleStateName(life_.state()),
                 static_cast<double>(now_ns - life_.entered_ns(LifecycleState::kCreated)) / 1e6,
                 requests_, cipher_bytes_in_, cipher_bytes_out_, plain_bytes_in_, plain_bytes_out_,
                 out_.backlog(), BufferedBytes(), plaintext_in_.size() - plaintext_offset_);
}

}  // namespace ringgate
