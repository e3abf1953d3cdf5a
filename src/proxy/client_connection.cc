#include "proxy/client_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/worker.h"
#include "proxy/upstream.h"
#include "ringgate/shutdown_chain.h"
#include "spdlog/spdlog.h"

namespace ringgate {
namespace {

// Reading from one side stops while the other side owes more than this; it resumes below the
// low mark. Both are far above one TLS record so that bulk transfers keep several in flight.
constexpr size_t kBacklogHigh = 1 << 20;
constexpr size_t kBacklogLow = 256 << 10;
// Unparsed plaintext (pipelined requests waiting their turn) above which reading pauses.
constexpr size_t kUnparsedHigh = 1 << 20;
// How much plaintext the request parser takes per step, so backpressure is checked in between.
constexpr size_t kParseStep = 64 << 10;
// The drain recv after our close_notify: a whole TLS record plus headroom.
constexpr size_t kDrainBufferBytes = 32 << 10;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

std::string PeerIp(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "unknown";
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, buf, sizeof buf);
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

std::string ConnId(uint64_t id) { return absl::StrCat(id >> 48, "-", id & ((1ull << 48) - 1)); }

bool IsResetError(int error) { return error == -ECONNRESET || error == -EPIPE; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Start and dispatch

void ClientConnection::Start(int fd, uint64_t id) {
  in_use_ = true;
  fd_ = fd;
  id_ = id;
  peer_ip_ = PeerIp(fd);
  const int64_t now = Worker::NowNs();
  life_ = Lifecycle(now);
  initiator_ = CloseInitiator::kNone;
  tls_ = std::make_unique<TlsSession>(worker_.tls());
  request_parser_ = std::make_unique<HttpParser>(HttpParser::Kind::kRequest,
                                                 worker_.config().max_request_head_bytes);
  out_.Clear();
  plaintext_in_.clear();
  plaintext_offset_ = 0;
  ops_in_flight_ = 0;
  recv_armed_ = recv_paused_ = cancel_in_flight_ = false;
  peer_close_notify_ = peer_fin_ = client_gone_ = false;
  plain_out_.clear();
  exchange_active_ = request_complete_ = response_started_ = false;
  head_request_ = request_has_body_ = retried_ = close_after_response_ = false;
  has_upstream_ = false;
  requests_ = 0;
  timer_ = ClientTimer::kNone;
  timer_deadline_ns_ = 0;
  queued_wakeup_ns_ = 0;
  closing_ = chain_started_ = fd_closed_ = false;
  graceful_ = true;
  timed_out_ = reset_seen_ = error_seen_ = false;
  forced_cause_ = TerminationCause::kNone;
  chain_flush_.clear();
  chain_close_notify_.clear();
  bytes_pending_at_shutdown_ = bytes_drained_ = 0;
  drain_recv_result_ = 0;
  drain_recv_done_ns_ = 0;
  unread_input_possible_ = false;
  cipher_bytes_in_ = cipher_bytes_out_ = plain_bytes_in_ = plain_bytes_out_ = 0;

  life_.Enter(LifecycleState::kHandshake, now);
  SetTimer(ClientTimer::kHandshake, worker_.config().handshake_timeout);
  spdlog::debug("conn={} accepted from {}", ConnId(id_), peer_ip_);
  ArmRecv();
}

void ClientConnection::OnCompletion(Op op, int result, uint32_t flags) {
  switch (op) {
    case Op::kClientRecv:
      OnRecv(result, flags);
      break;
    case Op::kClientSend:
      --ops_in_flight_;
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
  timer_deadline_ns_ = Worker::NowNs() + absl::ToInt64Nanoseconds(after);
  // One queued wake-up per connection: only queue another if ours would come too late.
  if (queued_wakeup_ns_ == 0 || queued_wakeup_ns_ > timer_deadline_ns_) {
    queued_wakeup_ns_ = timer_deadline_ns_;
    worker_.ArmTimer(timer_deadline_ns_, slot_, generation_);
  }
}

void ClientConnection::OnTimer(int64_t queued_deadline_ns) {
  if (queued_deadline_ns != queued_wakeup_ns_) return;  // superseded by an earlier wake-up
  queued_wakeup_ns_ = 0;
  if (timer_ == ClientTimer::kNone) return;
  if (closing_ && timer_ != ClientTimer::kShutdownBackstop) return;
  if (Worker::NowNs() < timer_deadline_ns_) {
    // The deadline moved later since this wake-up was queued: sleep again until then.
    queued_wakeup_ns_ = timer_deadline_ns_;
    worker_.ArmTimer(timer_deadline_ns_, slot_, generation_);
    return;
  }
  const ClientTimer fired = timer_;
  timer_ = ClientTimer::kNone;
  switch (fired) {
    case ClientTimer::kHandshake:
      spdlog::info("conn={} handshake timed out", ConnId(id_));
      Abort(TerminationCause::kTimeout, CloseInitiator::kServerTimeout);
      break;
    case ClientTimer::kIdle:
      spdlog::debug("conn={} idle keep-alive timeout", ConnId(id_));
      BeginShutdown(CloseInitiator::kServerTimeout);
      break;
    case ClientTimer::kRequestHead:
      spdlog::info("conn={} request head timed out", ConnId(id_));
      RespondWithError(408, CloseInitiator::kServerTimeout);
      break;
    case ClientTimer::kUpstreamConnect:
    case ClientTimer::kUpstreamResponse:
      spdlog::warn("conn={} backend {} timed out", ConnId(id_),
                   fired == ClientTimer::kUpstreamConnect ? "connect" : "response");
      DetachUpstream(/*reusable=*/false);
      RespondWithError(504, CloseInitiator::kServerError);
      break;
    case ClientTimer::kShutdownBackstop:
      // On rings without DEFER_TASKRUN, a linked timeout on a recv that follows shutdown(2) in
      // a chain was seen never to fire (kernel 6.18). Cancelling the drain recv ourselves ends
      // it the same way: the hard-linked close behind it runs.
      if (!fd_closed_ && drain_recv_done_ns_ == 0) {
        spdlog::warn("conn={} close_notify deadline did not fire; cancelling the drain recv",
                     ConnId(id_));
        io_uring_sqe* sqe = worker_.Sqe();
        io_uring_prep_cancel64(sqe, EncodeTag({Op::kShutdownDrainRecv, generation_, slot_}), 0);
        io_uring_sqe_set_data64(sqe, EncodeTag({Op::kClientCancelRecv, generation_, slot_}));
        ++ops_in_flight_;
        timed_out_ = true;
        life_.Enter(LifecycleState::kTimedOut, Worker::NowNs());
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
  io_uring_prep_recv_multishot(sqe, fd_, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = worker_.buffers().group();
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
    peer_fin_ = true;
    tls_->FeedEof();
  } else if (result == -ENOBUFS) {
    ++worker_.counters().recv_enobufs;
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
    if (status == TlsStatus::kWantRead) return;
    if (status != TlsStatus::kOk) {
      spdlog::info("conn={} handshake failed: {}", ConnId(id_),
                   status == TlsStatus::kPeerEof ? "client closed" : "TLS error");
      Abort(status == TlsStatus::kPeerEof ? TerminationCause::kPeerFin : TerminationCause::kError,
            status == TlsStatus::kPeerEof ? CloseInitiator::kClient : CloseInitiator::kServerError);
      return;
    }
    life_.Enter(LifecycleState::kDataTransfer, Worker::NowNs());
    spdlog::debug("conn={} handshake done {} {}", ConnId(id_), tls_->version(), tls_->cipher());
    SetTimer(ClientTimer::kIdle, worker_.config().idle_timeout);
  }
  const size_t before = plaintext_in_.size();
  TlsStatus status = tls_->ReadPlaintext(plaintext_in_);
  plain_bytes_in_ += plaintext_in_.size() - before;
  switch (status) {
    case TlsStatus::kPeerCloseNotify:
      peer_close_notify_ = true;
      life_.Enter(LifecycleState::kPeerClosed, Worker::NowNs());
      spdlog::debug("conn={} client sent close_notify", ConnId(id_));
      break;
    case TlsStatus::kPeerEof:
      peer_fin_ = true;
      life_.Enter(LifecycleState::kPeerClosed, Worker::NowNs());
      break;
    case TlsStatus::kError:
      spdlog::info("conn={} TLS error {} while reading", ConnId(id_), tls_->last_error());
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
    Upstream* upstream = BoundUpstream();
    if (upstream != nullptr && upstream->send_backlog() > kBacklogHigh) {
      PauseRecv();  // OnUpstreamDrained resumes
      break;
    }
    std::string_view input(plaintext_in_);
    input = input.substr(plaintext_offset_, kParseStep);
    std::string body;
    const size_t used = request_parser_->Execute(input, body);
    plaintext_offset_ += used;
    if (request_parser_->error() != HttpError::kNone) {
      spdlog::info("conn={} bad request: {}", ConnId(id_), request_parser_->error_reason());
      RespondWithError(request_parser_->error() == HttpError::kHeadTooLarge ? 431 : 400,
                       CloseInitiator::kServerError);
      return;
    }
    if (request_parser_->in_message() && !exchange_active_ && timer_ == ClientTimer::kIdle) {
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
    }
    if (request_parser_->message_complete() && exchange_active_) {
      request_complete_ = true;
      if (timer_ == ClientTimer::kNone) {
        SetTimer(ClientTimer::kUpstreamResponse, worker_.config().upstream_response_timeout);
      }
    }
    if (used == 0) break;
  }
  // Compact what the parser consumed; pause reading if pipelined input piles up.
  if (plaintext_offset_ == plaintext_in_.size()) {
    plaintext_in_.clear();
    plaintext_offset_ = 0;
  } else if (plaintext_offset_ > (64 << 10)) {
    plaintext_in_.erase(0, plaintext_offset_);
    plaintext_offset_ = 0;
  }
  if (plaintext_in_.size() - plaintext_offset_ > kUnparsedHigh) PauseRecv();
}

void ClientConnection::StartExchange() {
  const HttpHead& head = request_parser_->head();
  ++requests_;
  exchange_active_ = true;
  request_complete_ = false;
  response_started_ = false;
  retried_ = false;
  head_request_ = head.method == "HEAD";
  request_has_body_ = head.chunked || !head.Find("content-length").empty();
  close_after_response_ = !head.keep_alive || head.upgrade;
  upstream_request_head_ = BuildUpstreamRequestHead(head, peer_ip_);
  spdlog::debug("conn={} request {} {}", ConnId(id_), head.method, head.target);

  Upstream* upstream = worker_.AcquireUpstream();
  if (upstream == nullptr) {
    RespondWithError(502, CloseInitiator::kServerError);
    return;
  }
  upstream->Bind(slot_, generation_, head_request_);
  upstream_slot_ = upstream->slot();
  upstream_generation_ = upstream->generation();
  has_upstream_ = true;
  if (upstream->state() == Upstream::State::kConnecting) {
    SetTimer(ClientTimer::kUpstreamConnect, worker_.config().upstream_connect_timeout);
  } else {
    SetTimer(ClientTimer::kNone, absl::ZeroDuration());
  }
  upstream->Send(upstream_request_head_);
  if (head.expect_continue && request_has_body_) QueuePlaintext(kContinue);
}

// The pooled backend connection was closed by the backend before it answered: try once more on
// a fresh one, if nothing of the request but its head had to be sent.
bool ClientConnection::RetryOnFreshUpstream() {
  if (retried_ || response_started_ || request_has_body_ || !request_complete_) return false;
  retried_ = true;
  Upstream* upstream = worker_.AcquireUpstream();
  if (upstream == nullptr) return false;
  upstream->Bind(slot_, generation_, head_request_);
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
      SetTimer(ClientTimer::kNone, absl::ZeroDuration());
    }
  }
}

void ClientConnection::OnUpstreamData(std::string_view bytes) {
  Upstream* upstream = BoundUpstream();
  if (upstream == nullptr || closing_) return;
  if (request_complete_) {
    SetTimer(ClientTimer::kUpstreamResponse, worker_.config().upstream_response_timeout);
  }
  HttpParser& parser = upstream->response_parser();
  std::string plain;
  while (!bytes.empty()) {
    const size_t used = parser.Execute(bytes, plain);
    bytes.remove_prefix(used);
    if (parser.error() != HttpError::kNone) {
      spdlog::warn("conn={} bad response from backend: {}", ConnId(id_), parser.error_reason());
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
        std::string interim = BuildClientResponseHead(head, false);
        QueuePlaintext(interim);
      } else {
        response_started_ = true;
        if (parser.needs_eof() || !request_complete_) close_after_response_ = true;
        std::string response_head = BuildClientResponseHead(head, close_after_response_);
        QueuePlaintext(response_head);
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
      const bool reusable = parser.head().keep_alive && bytes.empty() && request_complete_;
      FlushToClient();
      FinishExchange(reusable);
      return;
    }
    if (used == 0) break;
  }
  FlushToClient();
  if (out_.backlog() > kBacklogHigh) upstream->PauseRecv();  // OnSend resumes
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
    if (upstream != nullptr && upstream->reused() && RetryOnFreshUpstream()) return;
    spdlog::warn("conn={} backend closed before responding", ConnId(id_));
    RespondWithError(502, CloseInitiator::kServerError);
    return;
  }
  spdlog::warn("conn={} backend closed mid-response: aborting so the client sees truncation",
               ConnId(id_));
  Abort(TerminationCause::kError, CloseInitiator::kServerError);
}

void ClientConnection::OnUpstreamFailed(int error) {
  Upstream* upstream = BoundUpstream();
  const bool was_reused = upstream != nullptr && upstream->reused();
  has_upstream_ = false;
  if (closing_ || !exchange_active_) return;
  if (!response_started_) {
    if (was_reused && RetryOnFreshUpstream()) return;
    spdlog::warn("conn={} backend {}: {}", ConnId(id_), worker_.config().backend.text,
                 std::strerror(-error));
    RespondWithError(502, CloseInitiator::kServerError);
    return;
  }
  spdlog::warn("conn={} backend failed mid-response: {}", ConnId(id_), std::strerror(-error));
  Abort(TerminationCause::kError, CloseInitiator::kServerError);
}

void ClientConnection::OnUpstreamDrained() {
  if (closing_) return;
  Upstream* upstream = BoundUpstream();
  if (upstream == nullptr || upstream->send_backlog() > kBacklogLow) return;
  if (recv_paused_ && plaintext_in_.size() - plaintext_offset_ <= kUnparsedHigh) ResumeRecv();
  ProcessRequests();
  FlushToClient();
}

Upstream* ClientConnection::BoundUpstream() {
  return has_upstream_ ? worker_.UpstreamAt(upstream_slot_, upstream_generation_) : nullptr;
}

void ClientConnection::DetachUpstream(bool reusable) {
  Upstream* upstream = BoundUpstream();
  has_upstream_ = false;
  if (upstream != nullptr) worker_.ReleaseUpstream(upstream, reusable);
}

void ClientConnection::FinishExchange(bool upstream_reusable) {
  DetachUpstream(upstream_reusable);
  exchange_active_ = false;
  request_parser_->StartNextMessage();
  if (close_after_response_) {
    BeginShutdown(CloseInitiator::kServerPolicy);
    return;
  }
  SetTimer(ClientTimer::kIdle, worker_.config().idle_timeout);
  if (recv_paused_) ResumeRecv();
  ProcessRequests();  // a pipelined request may be waiting
  FlushToClient();
}

// ---------------------------------------------------------------------------------------------
// Writing to the client

void ClientConnection::QueuePlaintext(std::string_view plain) {
  if (client_gone_) return;  // nobody to read it
  plain_out_.append(plain);
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
    plain_out_.clear();
  }
  std::string& cipher = tls_->pending_ciphertext();
  if (!cipher.empty() && !chain_started_) out_.AppendOwned(cipher);
  if (chain_started_ || fd_closed_) return;
  SubmitSend(out_.StartSend());
}

void ClientConnection::SubmitSend(std::string_view bytes) {
  if (bytes.empty()) return;
  io_uring_sqe* sqe = worker_.Sqe();
  io_uring_prep_send(sqe, fd_, bytes.data(), bytes.size(), MSG_WAITALL | MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kClientSend, generation_, slot_}));
  ++ops_in_flight_;
}

void ClientConnection::OnSend(int result) {
  if (result < 0) {
    if (IsResetError(result)) {
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
  if (out_.backlog() <= kBacklogLow) {
    if (Upstream* u = BoundUpstream()) u->ResumeRecv();
  }
}

// ---------------------------------------------------------------------------------------------
// Closing: the graceful TLS shutdown sequence

void ClientConnection::OnClientGone(int error) {
  if (!client_gone_) {
    spdlog::debug("conn={} client gone ({}): finishing {} buffered request bytes without replies",
                  ConnId(id_), std::strerror(-error), plaintext_in_.size() - plaintext_offset_);
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
  spdlog::info("conn={} responding {} {}", ConnId(id_), status_code, StatusReason(status_code));
  QueuePlaintext(BuildErrorResponse(status_code));
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
  const int64_t now = Worker::NowNs();
  life_.Enter(LifecycleState::kShutdownInitiated, now);
  FlushToClient();
  bytes_pending_at_shutdown_ = out_.backlog();
  const size_t unanswered = plaintext_in_.size() - plaintext_offset_;
  if (unanswered > 0) {
    bytes_drained_ += unanswered;
    spdlog::debug("conn={} discarding {} bytes of unanswered requests", ConnId(id_), unanswered);
  }
  spdlog::debug("conn={} shutdown initiated by {}, pending={} bytes", ConnId(id_),
                CloseInitiatorName(initiator_), bytes_pending_at_shutdown_);
  if (recv_armed_) PauseRecv();
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
  if (wait_for_peer) {
    SetTimer(ClientTimer::kShutdownBackstop,
             worker_.config().close_notify_timeout + absl::Milliseconds(500));
  }
  if (chain_flush_.empty()) life_.Enter(LifecycleState::kBufferFlushed, Worker::NowNs());
  spdlog::debug("conn={} shutdown chain submitted: flush={} close_notify={} wait={}",
                ConnId(id_), chain_flush_.size(), !chain_close_notify_.empty(), wait_for_peer);
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
  if (status == TlsStatus::kPeerCloseNotify) peer_close_notify_ = true;
  if (status == TlsStatus::kPeerEof) peer_fin_ = true;
}

void ClientConnection::OnShutdownStep(Op op, int result) {
  const int64_t now = Worker::NowNs();
  switch (op) {
    case Op::kShutdownFlush:
      if (result >= 0) {
        cipher_bytes_out_ += static_cast<uint64_t>(result);
        life_.Enter(LifecycleState::kBufferFlushed, now);
        spdlog::debug("conn={} shutdown: flush completed ({} bytes)", ConnId(id_), result);
      } else if (result != -ECANCELED) {
        NoteIoError(result);
        spdlog::debug("conn={} shutdown: flush failed: {}", ConnId(id_), std::strerror(-result));
      }
      break;
    case Op::kShutdownCloseNotify:
      if (result >= 0) {
        cipher_bytes_out_ += static_cast<uint64_t>(result);
        life_.Enter(LifecycleState::kBufferFlushed, now);
        life_.Enter(LifecycleState::kCloseNotifySent, now);
        spdlog::debug("conn={} shutdown: TLS close_notify sent", ConnId(id_));
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
        if (static_cast<size_t>(result) == kDrainBufferBytes) unread_input_possible_ = true;
      } else if (result < 0 && result != -ECANCELED && result != -EINTR) {
        NoteIoError(result);
      }
      break;
    case Op::kShutdownDeadline:
      if (result == -ETIME) {
        timed_out_ = true;
        life_.Enter(LifecycleState::kTimedOut, now);
        spdlog::debug("conn={} shutdown: peer did not close within {}", ConnId(id_),
                      absl::FormatDuration(worker_.config().close_notify_timeout));
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
      break;
    case Op::kCloseAfterBrokenChain:
      fd_closed_ = true;
      break;
    default:
      break;
  }
}

void ClientConnection::Finalize() {
  const int64_t now = Worker::NowNs();
  // MSG_WAITALL makes the drain recv return short only at the peer's FIN, or when the deadline
  // cancelled it, which only the deadline's own completion tells; both are in by now.
  if (drain_recv_done_ns_ != 0 && !timed_out_ && drain_recv_result_ >= 0 &&
      static_cast<size_t>(drain_recv_result_) < kDrainBufferBytes) {
    peer_fin_ = true;
  }
  if ((peer_close_notify_ || peer_fin_) && drain_recv_done_ns_ != 0 && !timed_out_) {
    life_.Enter(LifecycleState::kPeerClosed, drain_recv_done_ns_);
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
  life_.End(cause, now);
  const double total_ms = static_cast<double>(now - life_.entered_ns(LifecycleState::kCreated)) / 1e6;
  const int64_t shutdown_start = life_.entered_ns(LifecycleState::kShutdownInitiated);
  const double shutdown_ms =
      shutdown_start != 0 ? static_cast<double>(now - shutdown_start) / 1e6 : 0.0;
  spdlog::info(
      "conn={} closed cause={} initiator={} path={} requests={} bytes_in={} bytes_out={} "
      "pending_at_shutdown={} drained={} unread_input_possible={} shutdown_ms={:.3f} "
      "duration_ms={:.3f}",
      ConnId(id_), TerminationCauseName(cause), CloseInitiatorName(initiator_), life_.Path(),
      requests_, cipher_bytes_in_, cipher_bytes_out_, bytes_pending_at_shutdown_, bytes_drained_,
      unread_input_possible_, shutdown_ms, total_ms);
  in_use_ = false;
  generation_ = (generation_ + 1) & kGenerationMask;
  tls_.reset();
  request_parser_.reset();
  drain_buffer_.reset();
  out_.Clear();
  std::string().swap(plaintext_in_);
  std::string().swap(chain_flush_);
  std::string().swap(chain_close_notify_);
  worker_.FreeClientSlot(slot_);
}

}  // namespace ringgate
