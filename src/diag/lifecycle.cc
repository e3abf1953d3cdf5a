#include "ringgate/diag/lifecycle.h"

namespace ringgate {

std::string_view LifecycleStateName(LifecycleState state) {
  switch (state) {
    case LifecycleState::kCreated: return "created";
    case LifecycleState::kHandshake: return "handshake";
    case LifecycleState::kDataTransfer: return "data_transfer";
    case LifecycleState::kShutdownInitiated: return "shutdown_initiated";
    case LifecycleState::kBufferFlushed: return "buffer_flushed";
    case LifecycleState::kCloseNotifySent: return "close_notify_sent";
    case LifecycleState::kPeerClosed: return "peer_closed";
    case LifecycleState::kTimedOut: return "timed_out";
    case LifecycleState::kTcpClosed: return "tcp_closed";
  }
  return "unknown";
}

std::string_view TerminationCauseName(TerminationCause cause) {
  switch (cause) {
    case TerminationCause::kNone: return "none";
    case TerminationCause::kClean: return "clean";
    case TerminationCause::kPeerFin: return "peer_fin";
    case TerminationCause::kTimeout: return "timeout";
    case TerminationCause::kReset: return "reset";
    case TerminationCause::kError: return "error";
  }
  return "unknown";
}

std::string_view CloseInitiatorName(CloseInitiator initiator) {
  switch (initiator) {
    case CloseInitiator::kNone: return "none";
    case CloseInitiator::kClient: return "client";
    case CloseInitiator::kServerTimeout: return "server_timeout";
    case CloseInitiator::kServerError: return "server_error";
    case CloseInitiator::kServerPolicy: return "server_policy";
    case CloseInitiator::kDrain: return "drain";
  }
  return "unknown";
}

void Lifecycle::Enter(LifecycleState state, int64_t now_ns) {
  if (state > state_) state_ = state;
  auto& slot = entered_ns_[static_cast<int>(state)];
  if (slot == 0) slot = now_ns;
}

void Lifecycle::End(TerminationCause cause, int64_t now_ns) {
  if (cause_ == TerminationCause::kNone) cause_ = cause;
  Enter(LifecycleState::kTcpClosed, now_ns);
}

std::string Lifecycle::Path() const {
  std::string path;
  for (int i = 0; i < kLifecycleStateCount; ++i) {
    if (entered_ns_[i] == 0) continue;
    if (!path.empty()) path += '>';
    path += LifecycleStateName(static_cast<LifecycleState>(i));
  }
  return path;
}

}  // namespace ringgate
