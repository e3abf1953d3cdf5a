// How a client connection closes: RequestClose names the kind of close, StartClosing stops new
// requests, MaybeStartGracefulClose hands the socket to the shutdown chain (the mechanics are in
// src/shutdown/graceful_close.cc) once our own I/O is quiet, OnCloseStep follows the chain, and
// Finalize reports the end (src/diag/close_report.cc) and frees the slot.
#include <cstring>

#include "absl/time/clock.h"
#include "ringgate/core/log.h"
#include "ringgate/proxy/client_connection.h"
#include "ringgate/proxy/worker.h"

namespace ringgate {

void ClientConnection::RequestClose(CloseKind kind, CloseInitiator initiator,
                                    TerminationCause cause) {
  switch (kind) {
    case CloseKind::kGraceful:
      if (!closing()) StartClosing(initiator);
      return;
    case CloseKind::kAbort:
    case CloseKind::kStalledClient:
      MarkAborted(cause);
      if (!closing()) {
        StartClosing(initiator);
      } else {
        MaybeStartGracefulClose();
      }
      if (kind == CloseKind::kStalledClient) GiveUpOnStalledClient();
      return;
    case CloseKind::kDrainCut:
      LogLine(spdlog::level::warn, "cut at drain deadline", id_)
          .With("state", LifecycleStateName(life_.state()))
          .With("requests", requests_);
      if (WorkerMetrics* m = metrics()) m->drain_cut.Add();
      if (state_ >= ConnState::kChainSubmitted) {
        if (state_ != ConnState::kClosed) CancelChain();
        return;
      }
      RequestClose(CloseKind::kAbort, initiator, cause);
      return;
  }
}

// Stops taking requests and starts the polite close: once no recv or send of ours is in
// flight, MaybeStartGracefulClose submits flush -> close_notify -> FIN -> drain -> close.
void ClientConnection::StartClosing(CloseInitiator initiator) {
  const int64_t now = worker_.NowNs();
  const LifecycleState state_before_shutdown = life_.state();
  Transition(ConnState::kClosing, CloseInitiatorName(initiator));
  termination_.NoteInitiator(initiator);
  timer_ = ClientTimer::kNone;
  DetachUpstream(false);
  EnterState(LifecycleState::kShutdownInitiated, now);
  FlushToClient();
  bytes_pending_at_shutdown_ = out_.backlog();
  const size_t unanswered = plaintext_in_.size() - plaintext_offset_;
  if (unanswered > 0) {
    bytes_drained_ += unanswered;
    LogLine(spdlog::level::debug, "discarding unanswered requests", id_).With("bytes", unanswered);
  }
  LogLine(spdlog::level::debug, "Shutdown Initiated", id_)
      .With("initiator", CloseInitiatorName(termination_.initiator_so_far()))
      .With("state", LifecycleStateName(state_before_shutdown))
      .With("pending_bytes", bytes_pending_at_shutdown_);
  if (WorkerMetrics* m = metrics()) {
    m->shutdown_pending_bytes.Observe(static_cast<double>(bytes_pending_at_shutdown_));
  }
  if (recv_armed_) PauseRecv();
  // The chain waits for our last send; a client that never reads must not make that forever.
  if (out_.busy()) {
    SetTimer(ClientTimer::kShutdownBackstop,
             worker_.config().send_timeout + absl::Milliseconds(500));
  }
  MaybeStartGracefulClose();
}

// An abort ends the connection without close_notify, so that a client reading a cut response
// sees an unclean end rather than a falsely complete one. What we already owed is still flushed.
void ClientConnection::MarkAborted(TerminationCause cause) {
  termination_.Record(TerminationEvent::kAborted, worker_.NowNs(), cause);
}

void ClientConnection::MaybeStartGracefulClose() {
  if (state_ != ConnState::kClosing) return;
  if (recv_armed_ || out_.busy()) return;  // wait: the chain must own the socket alone
  Transition(ConnState::kChainSubmitted, Aborted() ? "abort" : "graceful");

  std::string& tls_pending = tls_->pending_ciphertext();
  out_.AppendOwned(tls_pending);
  GracefulClose::Plan plan;
  plan.fd = fd_;
  plan.generation = generation_;
  plan.slot = slot_;
  plan.flush = out_.TakeWaiting();
  const bool reset = termination_.Has(TerminationEvent::kPeerReset);
  const bool send_close_notify = !Aborted() && tls_->handshake_done();
  if (send_close_notify && tls_->QueueCloseNotify() == TlsStatus::kOk) {
    plan.close_notify.swap(tls_->pending_ciphertext());
  }
  if (plan.close_notify.empty()) {
    const NoCloseNotifyReason why = !tls_->handshake_done()   ? NoCloseNotifyReason::kNoHandshake
                                    : (client_gone_ || reset) ? NoCloseNotifyReason::kPeerReset
                                                              : NoCloseNotifyReason::kAbort;
    if (WorkerMetrics* m = metrics()) m->close_notify_not_sent[static_cast<int>(why)].Add();
  }
  plan.observe_tcp = worker_.config().diagnostics;
  plan.half_close = !reset;
  // After the peer's close_notify nothing more may legally arrive, so there is nothing to
  // drain; an abort does not wait either. With a FIN already in, waiting would return at once;
  // ours is still sent so that the peer's read ends.
  plan.wait_for_peer = !plan.close_notify.empty() && !peer_close_notify() && !peer_fin();
  plan.peer_deadline = worker_.config().close_notify_timeout;
  const size_t flush_bytes = plan.flush.size();
  const bool close_notify = !plan.close_notify.empty();
  const bool wait_for_peer = plan.wait_for_peer;
  ops_.Started(Chain().Start(worker_.ring(), std::move(plan)));
  // The flush and close_notify sends have no deadline of their own: a client that reads
  // nothing would hold them forever. The drain recv's deadline is re-armed once they are out.
  SetTimer(ClientTimer::kShutdownBackstop, worker_.config().send_timeout + absl::Milliseconds(500));
  if (flush_bytes == 0) EnterState(LifecycleState::kBufferFlushed, worker_.NowNs());
  LogLine(spdlog::level::debug, "shutdown chain submitted", id_)
      .With("flush_bytes", flush_bytes)
      .With("close_notify", close_notify)
      .With("wait_for_peer", wait_for_peer);
}

void ClientConnection::OnCloseStep(Op op, int result) {
  const int64_t now = worker_.NowNs();
  const GracefulClose::Step step = Chain().OnCompletion(worker_.ring(), op, result, now);
  ops_.Started(step.submitted);
  if (step.io_error != 0) {
    NoteIoError(step.io_error);
    if (op == Op::kShutdownFlush) {
      LogLine(spdlog::level::debug, "Flush Failed", id_)
          .With("error", std::strerror(-step.io_error));
    }
  }
  switch (step.kind) {
    case GracefulClose::StepKind::kFlushed:
      cipher_bytes_out_ += static_cast<uint64_t>(step.result);
      EnterState(LifecycleState::kBufferFlushed, now);
      LogLine(spdlog::level::debug, "Flush Completed", id_)
          .With("bytes", step.result)
          .WithMs("after_ms", now - life_.entered_ns(LifecycleState::kShutdownInitiated));
      break;
    case GracefulClose::StepKind::kCloseNotifySent:
      cipher_bytes_out_ += static_cast<uint64_t>(step.result);
      EnterState(LifecycleState::kBufferFlushed, now);
      EnterState(LifecycleState::kCloseNotifySent, now);
      LogLine(spdlog::level::debug, "TLS Close Notify Sent", id_)
          .WithMs("after_ms", now - life_.entered_ns(LifecycleState::kShutdownInitiated));
      if (WorkerMetrics* m = metrics()) m->close_notify_sent.Add();
      if (Chain().waits_for_peer()) {  // now waiting for the peer: its own deadline, plus a margin
        SetTimer(ClientTimer::kShutdownBackstop,
                 worker_.config().close_notify_timeout + absl::Milliseconds(500));
      }
      break;
    case GracefulClose::StepKind::kDrained:
      DrainAfterCloseNotify(step.drained);
      break;
    case GracefulClose::StepKind::kDeadlineFired:
      termination_.Record(TerminationEvent::kDeadline, now);
      EnterState(LifecycleState::kTimedOut, now);
      LogLine(spdlog::level::debug, "Close Notify Timeout", id_)
          .With("timeout", absl::FormatDuration(worker_.config().close_notify_timeout));
      break;
    case GracefulClose::StepKind::kClosed:
      Transition(ConnState::kClosed, "close completed");
      break;
    case GracefulClose::StepKind::kNone:
      break;
  }
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
  // Not NotePeerFin: the timeline's peer-closed stage is set from the drain recv in Finalize.
  if (status == TlsStatus::kPeerEof)
    termination_.Record(TerminationEvent::kPeerFin, worker_.NowNs());
}

void ClientConnection::CancelChain() {
  io_uring_sqe* sqe = worker_.Sqe();
  io_uring_prep_cancel_fd(sqe, fd_, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kClientCancelRecv, generation_, slot_}));
  ops_.Started();
  Chain().NoteCancelledByOwner();
  termination_.Record(TerminationEvent::kDeadline, worker_.NowNs());
  EnterState(LifecycleState::kTimedOut, worker_.NowNs());
}

void ClientConnection::Finalize() {
  const int64_t now = worker_.NowNs();
  const GracefulClose* chain = close_.get();  // none if the close never got as far
  if (chain && chain->PeerFinEndedDrain()) termination_.Record(TerminationEvent::kPeerFin, now);
  if ((peer_close_notify() || peer_fin()) && chain && chain->drain_done_ns() != 0 &&
      !chain->deadline_fired()) {
    EnterState(LifecycleState::kPeerClosed, chain->drain_done_ns());
  }
  const LifecycleState last_state = life_.state();
  ClosureRecord record;
  record.cause = termination_.Cause();
  record.initiator = termination_.Initiator();
  life_.End(record.cause, now);
  record.id = id_;
  record.peer = peer_ip_;
  if (tls_ && tls_->handshake_done()) record.tls_version = std::string(tls_->version());
  if (tls_) record.server_name = tls_->server_name();
  record.requests = requests_;
  record.tls_bytes_in = cipher_bytes_in_;
  record.tls_bytes_out = cipher_bytes_out_;
  record.http_bytes_in = plain_bytes_in_;
  record.http_bytes_out = plain_bytes_out_;
  record.pending_at_shutdown = bytes_pending_at_shutdown_;
  record.drained_bytes = bytes_drained_;
  record.close_notify_sent = chain && chain->close_notify_sent();
  record.close_notify_received = peer_close_notify();
  if (chain) record.tcp = chain->tcp_at_close();
  if (tunnel_) {
    record.tunnel = true;
    record.tunnel_ns = now - tunnel_->started_ns;
    record.tunnel_bytes_to_backend = tunnel_->bytes_to_backend;
    record.tunnel_bytes_to_client = tunnel_->bytes_to_client;
    if (WorkerMetrics* m = metrics()) m->tunnels.Add(-1);
  }
  record.entered_ns = life_.timeline();
  record.closed_unix_ms = absl::ToUnixMillis(absl::Now());
  ReportClose(record, CloseContext{life_, last_state, tls_group_, now}, metrics());
  if (worker_.config().diagnostics) worker_.RecordClosure(std::move(record));

  Transition(ConnState::kFree, "finalized");
  generation_ = (generation_ + 1) & kGenerationMask;
  tls_.reset();
  request_parser_.reset();
  read_ahead_.reset();
  close_.reset();
  // A free slot keeps no buffer: after a flood of connections, capacity kept here would stay
  // resident however long the slot waits for its next connection.
  out_.Clear();
  out_.ReleaseIfEmpty();
  std::string().swap(plaintext_in_);
  std::string().swap(plain_out_);
  exchange_text_.reset();
  tunnel_.reset();
  worker_.FreeClientSlot(slot_);
}

}  // namespace ringgate
