// The connection's TLS stream: ciphertext in (the bounded multishot recv, wolfSSL's handshake
// and decryption), plaintext out (encrypted in batches, one ordered send in flight, zero-copy
// for large ones), the backpressure that pauses reading, and a client that resets or stops
// reading.
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "ringgate/core/log.h"
#include "ringgate/core/uring_features.h"
#include "ringgate/proxy/client_connection.h"
#include "ringgate/proxy/upstream.h"
#include "ringgate/proxy/worker.h"

namespace ringgate {
namespace {

bool IsResetError(int error) { return error == -ECONNRESET || error == -EPIPE; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reading from the client

bool ClientConnection::WantsToRead() const { return !closing() && !recv_paused_ && !InputEnded(); }

void ClientConnection::ArmRecv() {
  if (recv_armed_ || !WantsToRead()) return;
  io_uring_sqe* sqe = worker_.Sqe();
  // Bounded: once reading pauses, at most this much more can arrive from a client that floods.
  PrepareBoundedRecv(sqe, fd_, worker_.buffers().group(), static_cast<uint32_t>(RecvLimit()));
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kClientRecv, generation_, slot_}));
  ops_.Started();
  recv_armed_ = true;
}

void ClientConnection::PauseRecv() {
  recv_paused_ = true;
  if (!recv_armed_ || cancel_in_flight_) return;
  io_uring_sqe* sqe = worker_.Sqe();
  io_uring_prep_cancel64(sqe, EncodeTag({Op::kClientRecv, generation_, slot_}), 0);
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kClientCancelRecv, generation_, slot_}));
  ops_.Started();
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
    ops_.Finished();
  }
  if (flags & IORING_CQE_F_BUFFER) {
    uint16_t bid = BufferRing::BufferId(flags);
    if (result > 0) {
      const std::string_view bytes = worker_.buffers().Data(bid, static_cast<size_t>(result));
      if (!awaiting_proxy_header_) {
        tls_->FeedCiphertext(bytes);
        cipher_bytes_in_ += static_cast<uint64_t>(result);
      } else if (!closing()) {  // (a refused header's later bytes are dropped)
        TakeProxyHeader(bytes);
      }
    }
    worker_.buffers().Return(bid);
  }
  if (result == 0) {
    // Not fed to wolfSSL as EOF: that would mark the session dead and refuse our close_notify,
    // yet a client that half-closed can still read it. The FIN is tracked here instead.
    NotePeerFin();
  } else if (result == -ENOBUFS) {
    if (WorkerMetrics* m = metrics()) m->uring_recv_enobufs.Add();
  } else if (result < 0 && result != -ECANCELED) {
    if (IsResetError(result)) {
      OnClientGone(result);
    } else {
      NoteIoError(result);
      RequestClose(CloseKind::kAbort, CloseInitiator::kServerError, TerminationCause::kError);
      return;
    }
  }
  if (closing()) {
    // Bytes that arrived after the close decision but before the recv stopped: nothing more
    // will be answered, but the TLS stream still has to be read so that a close_notify is seen.
    if (result > 0 || result == 0) DrainAfterCloseNotify({});
    return;
  }
  if (awaiting_proxy_header_) {  // still before TLS: nothing to decrypt yet
    if (InputEnded()) {
      ProxyHeaderCutShort();
      return;
    }
  } else if (result >= 0 || client_gone_) {
    ProcessCiphertext();
  }
  if (!recv_armed_) ArmRecv();
}

void ClientConnection::ProcessCiphertext() {
  if (!tls_->handshake_done()) {
    TlsStatus status = tls_->Handshake();
    FlushToClient();
    if (status == TlsStatus::kWantRead && peer_fin()) status = TlsStatus::kPeerEof;  // never coming
    if (status == TlsStatus::kWantRead) return;
    if (status != TlsStatus::kOk) {
      LogLine(spdlog::level::info, "handshake failed", id_)
          .With("reason", status == TlsStatus::kPeerEof ? "client closed" : "TLS error")
          .With("wolfssl_error", tls_->last_error());
      if (WorkerMetrics* m = metrics()) {
        m->handshakes[static_cast<int>(HandshakeResult::kFailed)]
                     [static_cast<int>(TlsVersionLabel::kUnknown)]
                         .Add();
      }
      RequestClose(
          CloseKind::kAbort,
          status == TlsStatus::kPeerEof ? CloseInitiator::kClient : CloseInitiator::kServerError,
          status == TlsStatus::kPeerEof ? TerminationCause::kPeerFin : TerminationCause::kError);
      return;
    }
    EnterState(LifecycleState::kDataTransfer, worker_.NowNs());
    Transition(ConnState::kOpen, "handshake done");
    tls_group_ = tls_->group();
    LogLine(spdlog::level::debug, "handshake done", id_)
        .With("version", tls_->version())
        .With("cipher", tls_->cipher())
        .With("group", TlsGroupName(tls_group_))
        .With("resumed", tls_->resumed())
        .With("sni", tls_->server_name())
        .With("certificate", tls_->certificate_path());
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
      NotePeerFin();
      break;
    case TlsStatus::kError:
      LogLine(spdlog::level::info, "TLS error while reading", id_)
          .With("wolfssl_error", tls_->last_error());
      FlushToClient();  // the alert wolfSSL queued
      RequestClose(CloseKind::kAbort, CloseInitiator::kServerError, TerminationCause::kError);
      return;
    default:
      break;
  }
  ProcessRequests();
  FlushToClient();
}

// ---------------------------------------------------------------------------------------------
// Writing to the client

void ClientConnection::QueuePlaintext(std::string_view plain) {
  if (client_gone_) return;  // nobody to read it
  if (exchange_active_) response_bytes_ += plain.size();
  // Small pieces (a head, a 1 KiB body, chunk framing) wait in the batch to share records with
  // what follows them, and so does a piece that fits in one record with what already waits. A
  // large piece (a body's receive buffer, a tunnel's bytes) is encrypted where it lies, after
  // what waits, instead of being copied into the batch: for pieces up to a record (the receive
  // buffer's default size) that costs no more records than the copy would.
  constexpr size_t kEncryptWhereItLies = 4096;
  constexpr size_t kRecordPlaintext = 16384;
  const bool fits_with_batch =
      !plain_out_.empty() && plain_out_.size() + plain.size() <= kRecordPlaintext;
  if (plain.size() < kEncryptWhereItLies || fits_with_batch) {
    plain_out_.append(plain);
    return;
  }
  EncryptPlainOut();
  EncryptForClient(plain);
}

void ClientConnection::EncryptPlainOut() {
  if (plain_out_.empty()) return;
  // One wolfSSL write per batch: a response head and the body bytes that came with it share
  // records instead of each costing a record of their own.
  EncryptForClient(plain_out_);
  EmptyBuffer(plain_out_);
}

void ClientConnection::EncryptForClient(std::string_view plain) {
  plain_bytes_out_ += plain.size();
  std::string& cipher = tls_->pending_ciphertext();
  // wolfSSL appends each record to the pending ciphertext: started on the send queue's own
  // waiting bytes, the records land where they are sent from without a second copy. (Once the
  // shutdown chain has taken what was owed, the ciphertext stays the session's.)
  const bool onto_send_queue = cipher.empty() && state_ < ConnState::kChainSubmitted;
  if (onto_send_queue) out_.MoveWaitingTo(cipher);
  if (tls_->WritePlaintext(plain) != TlsStatus::kOk) {
    termination_.Record(TerminationEvent::kIoError, worker_.NowNs());
  }
  if (onto_send_queue) out_.AppendOwned(cipher);
}

void ClientConnection::FlushToClient() {
  if (client_gone_) {
    plain_out_.clear();
    tls_->pending_ciphertext().clear();
    return;
  }
  EncryptPlainOut();
  std::string& cipher = tls_->pending_ciphertext();
  if (state_ >= ConnState::kChainSubmitted) return;  // the chain took what was owed
  if (!cipher.empty()) out_.AppendOwned(cipher);     // an alert or handshake bytes
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
  ops_.Started();
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
      if (!closing()) ProcessRequests();
      return;
    }
    NoteIoError(result);
    out_.Clear();
    RequestClose(CloseKind::kAbort, CloseInitiator::kServerError, TerminationCause::kError);
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
  if (closing()) return;  // OnCompletion moves the shutdown on
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
    } else if (in_tunnel()) {
      Upstream* upstream = BoundUpstream();
      if (upstream != nullptr && upstream->send_backlog() > OwedHigh()) {
        SetTimer(ClientTimer::kTunnelBackendSend, worker_.config().send_timeout);
      } else {
        SetTimer(ClientTimer::kTunnelIdle, worker_.config().tunnel_idle_timeout);
      }
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
  read_ahead_.reset();
  if (!exchange_active_ && !RequestBegun()) {
    request_parser_.reset();
    exchange_text_.reset();
  }
  if (plain_out_.empty()) std::string().swap(plain_out_);
  out_.ReleaseIfEmpty();
  tls_->ReleaseIdleMemory();
}

// ---------------------------------------------------------------------------------------------
// Buffered bytes, a client that is gone or stalled, I/O errors

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

void ClientConnection::OnClientGone(int error) {
  if (!client_gone_) {
    LogLine(spdlog::level::debug, "client gone: finishing buffered requests without replies", id_)
        .With("error", std::strerror(-error))
        .With("buffered_bytes", plaintext_in_.size() - plaintext_offset_);
  }
  client_gone_ = true;
  termination_.Record(TerminationEvent::kPeerReset, worker_.NowNs());
  termination_.NoteInitiator(CloseInitiator::kClient);
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

void ClientConnection::GiveUpOnStalledClient() {
  client_stalled_ = true;
  (void)out_.TakeWaiting();
  tls_->pending_ciphertext().clear();
  plain_out_.clear();
  if (out_.busy()) CancelChain();  // OnSend sees -ECANCELED; then the abort chain runs
}

void ClientConnection::NoteIoError(int error) {
  termination_.Record(
      IsResetError(error) ? TerminationEvent::kPeerReset : TerminationEvent::kIoError,
      worker_.NowNs());
}

}  // namespace ringgate
