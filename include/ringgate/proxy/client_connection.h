// client_connection.h
// One TLS client connection and the exchanges it carries. Every completion for it, and every
// event from its backend connection or its timer, enters through one of the On* methods below
// and changes state only there. Requests are answered strictly in order; a pipelined request
// waits, unforwarded, until the response before it is complete (a read-ahead parser only counts
// the requests waiting, for the --max-pipelined window).
//
// Its control state is one ConnState (conn_state.h), changed only through Transition, which
// checks the table of legal moves. How it closes is the product: RequestClose names the kind of
// close, StartGracefulClose hands the socket to the shutdown chain (src/shutdown/), and
// Finalize reports the end from the termination events recorded on the way (src/diag/).
//
// The code is split by concern: client_connection.cc (start, dispatch, timers, the close
// sequence), tls_stream.cc (ciphertext in and out, backpressure toward the client),
// exchange.cc (requests, the backend, responses, the pipelining window), tunnel.cc (a WebSocket
// tunnel once the backend switched protocols), proxy_header.cc (the PROXY protocol header that
// comes before TLS under --proxy-protocol).
#ifndef RINGGATE_PROXY_CLIENT_CONNECTION_H_
#define RINGGATE_PROXY_CLIENT_CONNECTION_H_

#include <linux/time_types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "fmt/format.h"
#include "ringgate/core/ring.h"
#include "ringgate/core/send_queue.h"
#include "ringgate/core/user_data.h"
#include "ringgate/diag/close_report.h"
#include "ringgate/diag/closures.h"
#include "ringgate/diag/lifecycle.h"
#include "ringgate/diag/metrics.h"
#include "ringgate/http/http_codec.h"
#include "ringgate/proxy/conn_state.h"
#include "ringgate/shutdown/graceful_close.h"
#include "ringgate/tls/tls_session.h"

namespace ringgate {

class Worker;
class Upstream;

// What the connection's single timer is waiting for.
enum class ClientTimer : uint8_t {
  kNone,
  kHandshake,          // TLS handshake must finish
  kIdle,               // keep-alive: the next request must begin
  kRequestHead,        // a begun request head must complete
  kRequestBody,        // the next byte of a request body owed must arrive
  kUpstreamConnect,    // the backend must accept the connection
  kUpstreamResponse,   // the backend must send (more of) its response
  kClientSend,         // the client must accept some of the bytes we owe it
  kShutdownBackstop,   // the chain must have finished its current phase by now (see OnTimer)
  kDrainClose,         // draining: this idle connection's turn to close
  kTunnelIdle,         // a WebSocket tunnel must carry a byte either way
  kTunnelBackendSend,  // a tunnel's backend must take some of the client's bytes it owes
};

class ClientConnection {
 public:
  ClientConnection(Worker& worker, uint32_t slot) : worker_(worker), slot_(slot) {}

  void Start(int fd, uint64_t id);
  void OnCompletion(Op op, int result, uint32_t flags);
  // A queued wake-up at `queued_deadline_ns` came due.
  void OnTimer(int64_t queued_deadline_ns);

  // The process is stopping: close now if idle (after `idle_close_delay`), else after the
  // response in progress.
  void OnDrain(absl::Duration idle_close_delay);
  // Asks the connection to close; `cause` says why for the kinds that abort. Repeated requests
  // are fine: the first initiator named and the first abort's cause are the ones reported.
  void RequestClose(CloseKind kind, CloseInitiator initiator,
                    TerminationCause cause = TerminationCause::kNone);

  // Events from the bound backend connection.
  void OnUpstreamConnected();
  void OnUpstreamData(std::string_view bytes);
  void OnUpstreamEof();
  void OnUpstreamFailed(int error);
  void OnUpstreamDrained();

  uint32_t slot() const { return slot_; }
  uint32_t generation() const { return generation_; }
  ConnState state() const { return state_; }
  bool in_use() const { return state_ != ConnState::kFree; }
  const TerminationLog& termination() const { return termination_; }
  uint64_t id() const { return id_; }
  // This connection as a JSON object for /connections.
  void AppendJson(fmt::memory_buffer& out, int64_t now_ns) const;

 private:
  // Reading.
  void ArmRecv();
  void PauseRecv();
  void ResumeRecv();
  bool WantsToRead() const;
  void OnRecv(int result, uint32_t flags);
  void ProcessCiphertext();
  void ProcessRequests();
  // ProcessRequests, then reading resumes if it was paused and nothing holds it back now: after
  // an exchange ends, the backend takes the body, or the client reads what it is owed.
  void ProcessRequestsAndReadOn();
  void CountRequestsReadAhead();
  // Unparsed input, the pipelining window or the backend's backlog says: stop reading.
  bool ReadingOverLimits() const;
  void AbandonUnansweredRequests();
  // --max-conn-buffer: what this connection holds in user space, and the marks derived from it.
  size_t BufferedBytes() const;
  void NoteBufferedBytes();
  // Bytes owed to one peer above which the other side's reading pauses (resumed below the low
  // mark); far above one TLS record, so that bulk transfers keep several in flight.
  size_t OwedHigh() const { return BufferBudget() / 4; }
  size_t OwedLow() const { return BufferBudget() / 16; }
  // Unparsed input (pipelined requests waiting their turn) above which reading pauses.
  size_t UnparsedHigh() const { return BufferBudget() / 8; }
  // The request parser waits at a message boundary with input beyond it: the request being
  // answered is complete, or the next one waits for the client to read what it is owed. What
  // follows in the input is counted against the pipelining window.
  bool WaitingForTurn() const;
  // What one armed recv may bring: UnparsedHigh while a request body is read, less otherwise.
  size_t RecvLimit() const;
  // The request parser, made on first use (see request_parser_).
  HttpParser& RequestParser() {
    if (!request_parser_) {
      request_parser_ = std::make_unique<HttpParser>(HttpParser::Kind::kRequest, RequestLimits());
    }
    return *request_parser_;
  }
  // A request's first bytes were parsed and its end not yet.
  bool RequestBegun() const { return request_parser_ && request_parser_->in_message(); }
  static constexpr size_t kHeadRecvLimit = 4096;
  // Answered requests' bytes kept at the front of the input before it is compacted: moving the
  // few unanswered bytes left is cheap, holding a flood's answered requests is not.
  static constexpr size_t kCompactInputAfter = 4096;
  size_t BufferBudget() const;
  HttpLimits RequestLimits() const;  // --max-request-* for every request parser here
  void StartExchange();
  void FinishExchange(bool upstream_reusable);
  bool RetryOnFreshUpstream(bool request_reached_backend, size_t failed_backend,
                            bool may_reuse_backend);
  // No backend is usable: 503 with Retry-After (backend_group.h).
  void AnswerNoBackendAvailable();
  void FinishExchangeAnsweredWithoutBackend();
  // WebSocket tunnels (tunnel.cc).
  // The backend answered the upgrade with `response` (101): the head goes to the client, and
  // from here on bytes pass unparsed; `backend_rest` followed the head in the backend's bytes.
  void StartTunnel(const HttpHead& response, std::string_view backend_rest);
  // Client plaintext to the backend; the client's close_notify or FIN half-closes the backend.
  void RelayTunnelFromClient();
  void RelayTunnelToClient(std::string_view bytes);
  void TouchTunnel();             // bytes moved: the idle deadline starts again
  void OnTunnelBackendDrained();  // the backend took some of the client's bytes
  // The backend's side of the tunnel ended: 0 for its FIN, else the error.
  void OnTunnelBackendEnded(int error);
  bool in_tunnel() const { return state_ == ConnState::kTunnel; }
  // Writing.
  // Queues plaintext for the client: small pieces wait in plain_out_ for the next flush, large
  // ones are encrypted at once (after what waits), straight from the caller's buffer.
  void QueuePlaintext(std::string_view plain);
  void EncryptPlainOut();  // encrypts what waits in plain_out_, as one batch of records
  // Encrypts `plain` onto the end of the send queue.
  void EncryptForClient(std::string_view plain);
  // Encrypts what waits and starts a send unless one is out.
  void FlushToClient();
  void SubmitSend(std::string_view bytes);
  void ScheduleIdleMemoryRelease();
  void ReleaseIdleMemory();
  void OnSend(int result);
  // The PROXY protocol header (--proxy-protocol), read before TLS within the handshake timer.
  // Takes received bytes until the header is complete; what follows it goes to TLS.
  void TakeProxyHeader(std::string_view bytes);
  // The client's input ended (FIN, reset) before the header did.
  void ProxyHeaderCutShort();
  // Counts, logs and closes (no alert: TLS never started).
  void RejectProxyHeader(ProxyProtocolRejection reason, std::string_view detail,
                         CloseInitiator initiator, TerminationCause cause);
  // Closing.
  // The one place the control state changes: checks kLegalMoves and records the change.
  void Transition(ConnState to, std::string_view reason);
  bool closing() const { return state_ >= ConnState::kClosing; }
  void RespondWithError(int status_code, CloseInitiator initiator);
  // kOpen/kHandshake -> kClosing: no new requests; what is owed is flushed first.
  void StartClosing(CloseInitiator initiator);
  // The close so far decided on an abort (no close_notify) for `cause`.
  void MarkAborted(TerminationCause cause);
  // kClosing -> kChainSubmitted once no recv or send of ours is in flight.
  void MaybeStartGracefulClose();
  void OnCloseStep(Op op, int result);
  void DrainAfterCloseNotify(std::string_view ciphertext);
  void Finalize();
  Upstream* BoundUpstream() const;
  // The bound backend connection's --backend entry, for log lines ("-" when none is bound).
  std::string_view BoundBackendName() const;
  void DetachUpstream(bool reusable);
  void SetTimer(ClientTimer kind, absl::Duration after);
  WorkerMetrics* metrics();
  // Records a lifecycle stage and moves the per-state connection gauge with it.
  void EnterState(LifecycleState state, int64_t now_ns);
  void NotePeerCloseNotify();
  void NotePeerFin();
  bool Idle() const;  // handshake done, no exchange, nothing unparsed
  // Cancels whatever the shutdown chain still has pending on the socket; the close follows.
  void CancelChain();
  // Gives up on a client that does not read: drops what is owed and cancels the stuck send.
  void GiveUpOnStalledClient();
  // One answered request: metrics and the access log.
  void RecordExchange(int status);
  void NoteIoError(int error);
  // The client's side is gone: stop writing to it, keep serving what it already sent.
  void OnClientGone(int error);
  bool peer_fin() const { return termination_.Has(TerminationEvent::kPeerFin); }
  bool peer_close_notify() const { return termination_.Has(TerminationEvent::kPeerCloseNotify); }
  // No close_notify will be sent: we chose to abort, or the client reset the connection.
  bool Aborted() const {
    return termination_.Has(TerminationEvent::kAborted) ||
           termination_.Has(TerminationEvent::kPeerReset);
  }
  bool InputEnded() const { return peer_fin() || peer_close_notify() || client_gone_; }

  // Fields are grouped so that no padding falls between them: a connection's size is paid for
  // every idle connection (docs/tuning.md, "Memory per connection").
  Worker& worker_;
  const uint32_t slot_;
  uint32_t generation_ = 1;
  ConnState state_ = ConnState::kFree;
  TlsGroup tls_group_ = TlsGroup::kNone;  // the handshake's key exchange group, for the close line
  bool peer_trusted_ = false;  // in --trusted-proxies: its forwarding headers are believed
  // --proxy-protocol: no TLS byte is read until the header is.
  bool awaiting_proxy_header_ = false;
  int fd_ = -1;
  uint64_t id_ = 0;
  std::string peer_ip_;
  // The header's first bytes when it came split over recvs (rare: made only then), kept until it
  // completes (bounded: the parser refuses what runs past kProxyV2MaxBytes).
  std::unique_ptr<std::string> proxy_header_in_;
  OpsInFlight ops_;
  // A zero-copy send's result, held until the kernel's notification says it no longer reads
  // the buffer: only then may the send queue reuse it or move on (SubmitSend, OnCompletion).
  int zero_copy_result_ = 0;
  Lifecycle life_;
  TerminationLog termination_;

  std::unique_ptr<TlsSession> tls_;
  std::string plain_out_;  // plaintext queued since the last flush: encrypted as one batch
  SendQueue out_;
  std::string plaintext_in_;
  size_t plaintext_offset_ = 0;
  // Null until the first request byte, and again while idle (ReleaseIdleMemory): an idle
  // connection need not keep a parser and the last request's header strings.
  std::unique_ptr<HttpParser> request_parser_;
  uint64_t stream_base_ = 0;  // offset of plaintext_in_[0] in everything the client sent
  // The pipelining window (CountRequestsReadAhead), made when a request is read ahead of the
  // one being answered and dropped while idle (ReleaseIdleMemory): none is as good as empty.
  struct ReadAhead {
    explicit ReadAhead(const HttpLimits& limits) : parser(HttpParser::Kind::kRequest, limits) {}
    HttpParser parser;
    std::vector<uint64_t> ends;  // where the complete requests end, as offsets in the stream
    uint64_t to = 0;             // how far the parser has read, as an offset in the stream
    bool stuck = false;          // an error or an Upgrade ahead: read no more
  };
  std::unique_ptr<ReadAhead> read_ahead_;
  uint32_t answered_after_input_end_ = 0;  // requests started after the client's FIN/close/reset

  // Reading state.
  bool recv_armed_ = false;
  bool recv_paused_ = false;
  bool cancel_in_flight_ = false;
  // The client reset the connection or can no longer receive (EPIPE). Requests that fully
  // arrived before that are still forwarded; their responses are discarded.
  bool client_gone_ = false;
  // The client read nothing for --send-timeout: what we owe it is dropped, sends are cancelled.
  bool client_stalled_ = false;

  // The exchange in progress (at most one).
  bool exchange_active_ = false;
  bool request_complete_ = false;
  bool response_started_ = false;
  bool head_request_ = false;
  bool request_has_body_ = false;
  bool retried_ = false;
  bool answered_without_backend_ = false;  // a 503 is queued; the exchange ends with the request
  bool close_after_response_ = false;
  bool client_http10_ = false;  // no chunked coding, no interim responses
  bool has_upstream_ = false;
  // WebSocket: the exchange in progress asked for a tunnel (IsWebSocketUpgrade).
  bool tunnel_requested_ = false;
  ClientTimer timer_ = ClientTimer::kNone;
  int response_status_ = 0;
  uint32_t upstream_slot_ = 0;
  uint32_t upstream_generation_ = 0;
  uint64_t requests_ = 0;
  int64_t exchange_started_ns_ = 0;  // head parsed, backend asked
  int64_t request_begun_ns_ = 0;     // first byte of the request parsed
  uint64_t response_bytes_ = 0;
  // The exchange's text: its method and target (the access log's) and the head sent to the
  // backend (kept for one retry on a stale pooled connection). Made with the first exchange and
  // dropped with the idle connection's other buffers (ReleaseIdleMemory).
  struct ExchangeText {
    std::string method;
    std::string target;
    std::string upstream_head;
  };
  ExchangeText& Text() {
    if (!exchange_text_) exchange_text_ = std::make_unique<ExchangeText>();
    return *exchange_text_;
  }
  std::unique_ptr<ExchangeText> exchange_text_;
  // A WebSocket tunnel's figures for the close record, made when the tunnel opens.
  struct TunnelRecord {
    int64_t started_ns = 0;
    uint64_t bytes_to_backend = 0;
    uint64_t bytes_to_client = 0;
    bool client_done = false;  // the client's input ended; the backend was half-closed
  };
  std::unique_ptr<TunnelRecord> tunnel_;

  // Timer.
  int64_t timer_deadline_ns_ = 0;          // when timer_ fires
  int64_t queued_wakeup_ns_ = 0;           // our one entry in the worker's timer heap; 0 = none
  int64_t release_idle_memory_at_ns_ = 0;  // ScheduleIdleMemoryRelease; 0 = none pending

  // Shutdown.
  // Made when the connection starts to close (or its sends are cancelled): an open connection
  // does not carry the chain's 184 bytes.
  GracefulClose& Chain() {
    if (!close_) close_ = std::make_unique<GracefulClose>();
    return *close_;
  }
  std::unique_ptr<GracefulClose> close_;
  uint64_t bytes_pending_at_shutdown_ = 0;
  uint64_t bytes_drained_ = 0;

  // Counters for the close summary.
  uint64_t cipher_bytes_in_ = 0;
  uint64_t cipher_bytes_out_ = 0;
  uint64_t plain_bytes_in_ = 0;
  uint64_t plain_bytes_out_ = 0;
};

}  // namespace ringgate

#endif  // RINGGATE_PROXY_CLIENT_CONNECTION_H_
