// WebSocket tunnels: once the backend answers a WebSocket upgrade with 101, the connection stops
// being HTTP. Bytes are relayed as they come, both ways, through the same ordered send queues
// and the same backpressure as a response body (each side's reading pauses while the other owes
// more than OwedHigh), with one idle deadline for the pair (--tunnel-idle-timeout).
//
// How a tunnel ends: the client's close_notify or FIN is passed on as a FIN to the backend
// (Upstream::HalfCloseWhenSent) and the backend's remaining bytes still reach the client; the
// backend's FIN closes the client side gracefully (flush, close_notify, FIN, drain); a reset on
// either side aborts the other; an idle tunnel closes gracefully; a drain cuts it at its deadline.
#include <cstring>

#include "ringgate/core/log.h"
#include "ringgate/proxy/client_connection.h"
#include "ringgate/proxy/upstream.h"
#include "ringgate/proxy/worker.h"

namespace ringgate {

void ClientConnection::StartTunnel(const HttpHead& response, std::string_view backend_rest) {
  Upstream* upstream = BoundUpstream();
  const int64_t now = worker_.NowNs();
  response_started_ = true;
  response_status_ = 101;
  QueuePlaintext(BuildSwitchingProtocolsHead(response));
  RecordExchange(101);
  exchange_active_ = false;
  Transition(ConnState::kTunnel, "backend switched to websocket");
  tunnel_ = std::make_unique<TunnelRecord>();
  tunnel_->started_ns = now;
  if (WorkerMetrics* m = metrics()) m->tunnels.Add(1);
  LogLine(spdlog::level::info, "websocket tunnel open", id_)
      .With("backend_conn", upstream != nullptr ? static_cast<int64_t>(upstream->slot()) : -1)
      .With("target", Text().target);
  // What either side sent after its head already belongs to the tunnel. The pipelining window's
  // read-ahead (which stopped at the upgrade) has nothing more to count.
  read_ahead_.reset();
  // The heads are done with: a tunnel lives for hours and must not keep up to a request head's
  // limit each. (No parser: code asking whether a request is begun sees none.)
  exchange_text_.reset();
  request_parser_.reset();
  SetTimer(ClientTimer::kTunnelIdle, worker_.config().tunnel_idle_timeout);
  if (!backend_rest.empty()) RelayTunnelToClient(backend_rest);
  RelayTunnelFromClient();
  FlushToClient();
  if (recv_paused_ && !closing() && !ReadingOverLimits()) ResumeRecv();
}

void ClientConnection::RelayTunnelFromClient() {
  Upstream* upstream = BoundUpstream();
  if (upstream == nullptr) {
    // The backend side has already ended (OnUpstreamEof/Failed decide how the client closes).
    return;
  }
  const size_t waiting = plaintext_in_.size() - plaintext_offset_;
  if (waiting > 0) {
    stream_base_ += plaintext_in_.size();
    if (plaintext_offset_ == 0) {
      upstream->SendOwned(plaintext_in_);  // hands the buffer over, no copy
    } else {
      upstream->Send(std::string_view(plaintext_in_).substr(plaintext_offset_));
    }
    plaintext_in_.clear();
    plaintext_offset_ = 0;
    tunnel_->bytes_to_backend += waiting;
    TouchTunnel();
  }
  if (client_gone_) {
    // A reset: nothing can reach the client any more, and the backend gets our FIN at the close.
    RequestClose(CloseKind::kGraceful, CloseInitiator::kClient);
    return;
  }
  if (InputEnded() && !tunnel_->client_done) {
    tunnel_->client_done = true;
    termination_.NoteInitiator(
        CloseInitiator::kClient);  // the backend's FIN that follows answers it
    LogLine(spdlog::level::debug, "websocket client finished sending; half-closing the backend",
            id_);
    upstream->HalfCloseWhenSent();
  }
  if (upstream->send_backlog() > OwedHigh()) {
    PauseRecv();  // OnUpstreamDrained resumes
    // The backend must take what the client sent: the backend's own bytes coming the other way
    // do not count as progress here (they would keep a tunnel with a stuck reader forever).
    if (timer_ == ClientTimer::kTunnelIdle) {
      SetTimer(ClientTimer::kTunnelBackendSend, worker_.config().send_timeout);
    }
  }
  NoteBufferedBytes();
}

void ClientConnection::RelayTunnelToClient(std::string_view bytes) {
  QueuePlaintext(bytes);
  tunnel_->bytes_to_client += bytes.size();
  TouchTunnel();
  FlushToClient();
  NoteBufferedBytes();
  if (out_.backlog() > OwedHigh()) {
    if (Upstream* upstream = BoundUpstream()) upstream->PauseRecv();  // OnSend resumes
    if (timer_ != ClientTimer::kClientSend) {
      SetTimer(ClientTimer::kClientSend, worker_.config().send_timeout);
    }
  }
}

void ClientConnection::OnTunnelBackendDrained() {
  Upstream* upstream = BoundUpstream();
  if (upstream == nullptr) return;
  if (timer_ == ClientTimer::kTunnelBackendSend) {
    // Progress: the backend read some. Below the low mark the tunnel is only idle-timed again.
    SetTimer(upstream->send_backlog() <= OwedLow() ? ClientTimer::kTunnelIdle
                                                   : ClientTimer::kTunnelBackendSend,
             upstream->send_backlog() <= OwedLow() ? worker_.config().tunnel_idle_timeout
                                                   : worker_.config().send_timeout);
  }
  if (upstream->send_backlog() > OwedLow()) return;
  ProcessRequestsAndReadOn();
  FlushToClient();
}

void ClientConnection::TouchTunnel() {
  // Only the idle deadline moves: while the client is not reading, the send deadline holds.
  if (timer_ == ClientTimer::kTunnelIdle) {
    SetTimer(ClientTimer::kTunnelIdle, worker_.config().tunnel_idle_timeout);
  }
}

void ClientConnection::OnTunnelBackendEnded(int error) {
  has_upstream_ = false;
  if (closing()) return;
  if (error == 0) {
    LogLine(spdlog::level::debug, "websocket backend closed the tunnel", id_);
    RequestClose(CloseKind::kGraceful, CloseInitiator::kBackend);
    return;
  }
  // A reset is not a clean end: the client must not read it as one (no close_notify).
  LogLine(spdlog::level::info, "websocket backend failed", id_)
      .With("error", std::strerror(-error));
  RequestClose(CloseKind::kAbort, CloseInitiator::kBackend, TerminationCause::kError);
}

}  // namespace ringgate
