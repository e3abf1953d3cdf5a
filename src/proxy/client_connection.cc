// The connection's core: start, the one dispatch of its completions, its single timer, drain,
// its control state (Transition) and what /connections shows of it. Reading and writing are in
// tls_stream.cc, requests and the backend in exchange.cc and backend_relay.cc, the close in
// client_close.cc.
#include "ringgate/proxy/client_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <iterator>

#include "ringgate/core/log.h"
#include "ringgate/proxy/upstream.h"
#include "ringgate/proxy/worker.h"

namespace ringgate {

HttpLimits ClientConnection::RequestLimits() const {
  const Config& config = worker_.config();
  return HttpLimits{config.max_request_head_bytes, config.max_request_headers,
                    config.max_request_target_bytes, config.max_request_body_bytes};
}

size_t ClientConnection::BufferBudget() const { return worker_.config().max_conn_buffer_bytes; }

// ---------------------------------------------------------------------------------------------
// Start and dispatch

void ClientConnection::Start(int fd, uint64_t id) {
  fd_ = fd;
  id_ = id;
  sockaddr_storage peer{};
  socklen_t peer_length = sizeof peer;
  // --proxy-protocol: only these peers (the L4 balancers) may send the header; it is read first.
  awaiting_proxy_header_ = worker_.config().proxy_protocol;
  proxy_header_in_.reset();
  bool may_send_proxy_header = false;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) == 0) {
    peer_ip_ = AddressText(peer);
    peer_trusted_ = AddressInCidrs(peer, worker_.config().trusted_proxies);
    may_send_proxy_header = AddressInCidrs(peer, worker_.config().proxy_protocol_from);
  } else {
    peer_ip_ = "unknown";
    peer_trusted_ = false;
  }
  const int64_t now = worker_.NowNs();
  life_ = Lifecycle(now);
  Transition(ConnState::kHandshake, "accepted");
  termination_.Clear();
  tls_group_ = TlsGroup::kNone;  // set again when the handshake completes
  tls_ = std::make_unique<TlsSession>(worker_.tls());
  request_parser_.reset();  // made with the first request byte (RequestParser)
  out_.Clear();
  plaintext_in_.clear();
  plaintext_offset_ = 0;
  stream_base_ = 0;
  read_ahead_.reset();
  answered_after_input_end_ = 0;
  ops_.Reset();
  zero_copy_result_ = 0;
  recv_armed_ = recv_paused_ = cancel_in_flight_ = false;
  client_gone_ = client_stalled_ = false;
  plain_out_.clear();
  exchange_active_ = request_complete_ = response_started_ = false;
  head_request_ = request_has_body_ = retried_ = close_after_response_ = client_http10_ = false;
  has_upstream_ = false;
  requests_ = 0;
  exchange_started_ns_ = 0;
  request_begun_ns_ = 0;
  response_status_ = 0;
  response_bytes_ = 0;
  tunnel_requested_ = false;
  exchange_text_.reset();
  tunnel_.reset();
  timer_ = ClientTimer::kNone;
  timer_deadline_ns_ = 0;
  queued_wakeup_ns_ = 0;
  release_idle_memory_at_ns_ = 0;
  bytes_pending_at_shutdown_ = bytes_drained_ = 0;
  cipher_bytes_in_ = cipher_bytes_out_ = plain_bytes_in_ = plain_bytes_out_ = 0;

  if (WorkerMetrics* m = metrics()) m->connections_in_state[0].Add(1);  // kCreated
  EnterState(LifecycleState::kHandshake, now);
  SetTimer(ClientTimer::kHandshake, worker_.config().handshake_timeout);
  LogLine(spdlog::level::debug, "accepted", id_)
      .With("peer", peer_ip_)
      .With("worker", worker_.id());
  if (awaiting_proxy_header_ && !may_send_proxy_header) {
    RejectProxyHeader(ProxyProtocolRejection::kNotAllowed, "peer not in --proxy-protocol-from",
                      CloseInitiator::kServerPolicy, TerminationCause::kError);
    return;
  }
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
      ops_.Finished();
      if (flags & IORING_CQE_F_NOTIF) {
        if (WorkerMetrics* m = metrics(); m != nullptr && (result & IORING_NOTIF_USAGE_ZC_COPIED)) {
          m->send_zc_copied.Add();
        }
        result = zero_copy_result_;
      }
      OnSend(result);
      break;
    case Op::kClientCancelRecv:
      ops_.Finished();
      cancel_in_flight_ = false;
      break;
    RINGGATE_SHUTDOWN_CHAIN_OP_CASES:
      ops_.Finished();
      OnCloseStep(op, result);
      break;
    RINGGATE_WORKER_OP_CASES:
    RINGGATE_UPSTREAM_OP_CASES:
      RINGGATE_CHECK(false, "the worker routed another owner's completion to a client connection");
      break;
  }
  if (state_ == ConnState::kClosing) MaybeStartGracefulClose();
  if (state_ == ConnState::kClosed && ops_.none()) Finalize();
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
    if (timer_ == ClientTimer::kIdle && !closing() && out_.empty() && !exchange_active_) {
      ReleaseIdleMemory();
    }
  }
  if (timer_ == ClientTimer::kNone) return;
  if (closing() && timer_ != ClientTimer::kShutdownBackstop) return;
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
      if (awaiting_proxy_header_) {
        RejectProxyHeader(ProxyProtocolRejection::kTimeout, "incomplete at --handshake-timeout",
                          CloseInitiator::kServerTimeout, TerminationCause::kTimeout);
        break;
      }
      LogLine(spdlog::level::info, "handshake timed out", id_);
      RequestClose(CloseKind::kAbort, CloseInitiator::kServerTimeout, TerminationCause::kTimeout);
      break;
    case ClientTimer::kIdle:
      LogLine(spdlog::level::debug, "idle timeout", id_);
      RequestClose(CloseKind::kGraceful, CloseInitiator::kServerTimeout);
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
            .With("backend", BoundBackendName());
        RespondWithError(504, CloseInitiator::kServerError);
        break;
      }
      LogLine(spdlog::level::info, "request body timed out", id_)
          .With("timeout", absl::FormatDuration(worker_.config().request_body_timeout));
      if (response_started_) {
        RequestClose(CloseKind::kAbort, CloseInitiator::kServerTimeout, TerminationCause::kTimeout);
      } else {
        RespondWithError(408, CloseInitiator::kServerTimeout);
      }
      break;
    case ClientTimer::kUpstreamConnect:
    case ClientTimer::kUpstreamResponse:
      LogLine(spdlog::level::warn, "backend timed out", id_)
          .With("phase", fired == ClientTimer::kUpstreamConnect ? "connect" : "response")
          .With("backend", BoundBackendName());
      if (Upstream* upstream = BoundUpstream()) {
        worker_.backends().OnFailure(upstream->backend(), BackendFailure::kTimeout,
                                     worker_.NowNs());
      }
      DetachUpstream(/*reusable=*/false);
      RespondWithError(504, CloseInitiator::kServerError);
      break;
    case ClientTimer::kClientSend:
      LogLine(spdlog::level::info, "client stopped reading", id_)
          .With("owed_bytes", out_.backlog())
          .With("send_timeout", absl::FormatDuration(worker_.config().send_timeout));
      RequestClose(CloseKind::kStalledClient, CloseInitiator::kServerTimeout,
                   TerminationCause::kTimeout);
      break;
    case ClientTimer::kShutdownBackstop:
      // The chain's current phase overran: a flush the client never reads (no deadline of its
      // own), or a drain recv whose linked timeout did not fire (before the chain put
      // IOSQE_ASYNC on that recv, kernel 6.18 did not start the deadline of a recv issued
      // blocking on an io-wq worker; see shutdown_chain.cc). Cancelling what is pending lets
      // the close run.
      if (state_ != ConnState::kClosed) {
        LogLine(spdlog::level::warn, "shutdown phase overran its deadline; cancelling", id_)
            .With("state", LifecycleStateName(life_.state()));
        if (state_ == ConnState::kChainSubmitted) {
          CancelChain();
        } else {  // still waiting for our last send: the client is not reading
          RequestClose(CloseKind::kStalledClient, CloseInitiator::kServerTimeout,
                       TerminationCause::kTimeout);
        }
      }
      break;
    case ClientTimer::kDrainClose:
      if (Idle()) {
        RequestClose(CloseKind::kGraceful, CloseInitiator::kDrain);
      } else {
        close_after_response_ = true;  // a request arrived meanwhile: answer it, then close
      }
      break;
    case ClientTimer::kTunnelIdle:
      LogLine(spdlog::level::info, "websocket tunnel idle; closing", id_)
          .With("timeout", absl::FormatDuration(worker_.config().tunnel_idle_timeout));
      RequestClose(CloseKind::kGraceful, CloseInitiator::kServerTimeout);
      break;
    case ClientTimer::kTunnelBackendSend:
      LogLine(spdlog::level::warn, "websocket backend stopped reading; closing the tunnel", id_)
          .With("owed_to_backend_bytes",
                BoundUpstream() != nullptr ? BoundUpstream()->send_backlog() : 0)
          .With("send_timeout", absl::FormatDuration(worker_.config().send_timeout));
      RequestClose(CloseKind::kAbort, CloseInitiator::kBackend, TerminationCause::kTimeout);
      break;
    case ClientTimer::kNone:
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Draining

bool ClientConnection::Idle() const {
  // A tunnel is never idle in this sense: the drain lets it run until the deadline cuts it.
  return tls_ && tls_->handshake_done() && !exchange_active_ && state_ == ConnState::kOpen &&
         plaintext_offset_ == plaintext_in_.size() && !RequestBegun();
}

void ClientConnection::OnDrain(absl::Duration idle_close_delay) {
  if (closing() || in_tunnel()) return;  // a tunnel runs until the drain deadline cuts it
  if (Idle()) {
    SetTimer(ClientTimer::kDrainClose, idle_close_delay);
  } else {
    // Busy or still in its handshake: the response in progress (or the first one) carries
    // Connection: close, and FinishExchange closes after it.
    close_after_response_ = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Control state and diagnostics

void ClientConnection::Transition(ConnState to, std::string_view reason) {
  RINGGATE_CHECK(IsLegalMove(state_, to), "connection state move not in kLegalMoves");
  // At trace level only: a list of moves kept per connection cost every connection a heap
  // block that nothing read.
  LogLine(spdlog::level::trace, "state", id_)
      .With("from", ConnStateName(state_))
      .With("to", ConnStateName(to))
      .With("reason", reason);
  state_ = to;
}

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
  if (peer_close_notify()) return;
  termination_.Record(TerminationEvent::kPeerCloseNotify, worker_.NowNs());
  if (WorkerMetrics* m = metrics()) m->close_notify_received.Add();
}

void ClientConnection::NotePeerFin() {
  const int64_t now = worker_.NowNs();
  termination_.Record(TerminationEvent::kPeerFin, now);
  EnterState(LifecycleState::kPeerClosed, now);
}

void ClientConnection::AppendJson(fmt::memory_buffer& out, int64_t now_ns) const {
  fmt::format_to(std::back_inserter(out),
                 "{{\"conn\":\"{}\",\"worker\":{},\"peer\":\"{}\",\"state\":\"{}\","
                 "\"control_state\":\"{}\",\"sni\":\"{}\","
                 "\"age_ms\":{:.3f},\"requests\":{},\"tls_bytes_in\":{},\"tls_bytes_out\":{},"
                 "\"http_bytes_in\":{},\"http_bytes_out\":{},\"send_queue_bytes\":{},"
                 "\"buffered_bytes\":{},\"unanswered_input_bytes\":{}}}",
                 FormatConnectionId(id_), worker_.id(), peer_ip_, LifecycleStateName(life_.state()),
                 ConnStateName(state_), tls_ ? tls_->server_name() : std::string(),
                 static_cast<double>(now_ns - life_.entered_ns(LifecycleState::kCreated)) / 1e6,
                 requests_, cipher_bytes_in_, cipher_bytes_out_, plain_bytes_in_, plain_bytes_out_,
                 out_.backlog(), BufferedBytes(), plaintext_in_.size() - plaintext_offset_);
}

}  // namespace ringgate
