// The request side of an exchange: parsing the client's plaintext in order, the pipelining
// window that bounds what is read ahead, starting an exchange on a backend connection (and one
// retry on a fresh one), finishing it, and the error answers we make ourselves.
#include <algorithm>

#include "ringgate/core/log.h"
#include "ringgate/proxy/client_connection.h"
#include "ringgate/proxy/upstream.h"
#include "ringgate/proxy/worker.h"

namespace ringgate {
namespace {

// How much plaintext the request parser takes per step, so backpressure is checked in between.
constexpr size_t kParseStep = 64 << 10;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

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

// Parses and forwards buffered plaintext: at most one exchange at a time, in order.
void ClientConnection::ProcessRequests() {
  if (in_tunnel()) {
    RelayTunnelFromClient();
    return;
  }
  while (!closing()) {
    if (exchange_active_ && request_complete_) break;  // the response comes first
    const bool have_input = plaintext_offset_ < plaintext_in_.size();
    if (!have_input) {
      // The client is done: once everything it sent before closing has been answered (or a
      // request it cut short is abandoned), close.
      if (InputEnded() && (!exchange_active_ || !request_complete_)) {
        RequestClose(CloseKind::kGraceful, CloseInitiator::kClient);
      }
      break;
    }
    if (!exchange_active_ && !RequestBegun() && InputEnded() &&
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
    HttpParser& parser = RequestParser();
    const bool was_in_message = parser.in_message();
    const size_t used = parser.Execute(input, body);
    if (!was_in_message && used > 0 && !exchange_active_) request_begun_ns_ = worker_.NowNs();
    plaintext_offset_ += used;
    if (parser.error() != HttpError::kNone) {
      LogLine(spdlog::level::info, "bad request", id_).With("reason", parser.error_reason());
      RespondWithError(RequestErrorStatus(parser.error()), CloseInitiator::kServerError);
      return;
    }
    if (parser.in_message() && !exchange_active_ &&
        (timer_ == ClientTimer::kIdle || timer_ == ClientTimer::kDrainClose)) {
      SetTimer(ClientTimer::kRequestHead, worker_.config().request_header_timeout);
    }
    if (parser.TakeHead()) {
      StartExchange();
      if (closing()) return;
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
    if (parser.message_complete() && exchange_active_) {
      request_complete_ = true;
      if (answered_without_backend_) {
        FinishExchangeAnsweredWithoutBackend();
        continue;  // a pipelined request may follow
      }
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
  if (closing()) return;
  if (WaitingForTurn()) CountRequestsReadAhead();
  if (ReadingOverLimits()) PauseRecv();
  NoteBufferedBytes();
}

void ClientConnection::ProcessRequestsAndReadOn() {
  ProcessRequests();
  if (recv_paused_ && !closing() && !ReadingOverLimits()) ResumeRecv();
}

// The pipelining window (--max-pipelined). While a response is owed, the request parser waits at
// a message boundary; a second parser runs over the bytes beyond it, only to learn where the
// complete requests in them end. Nothing is forwarded from here.
void ClientConnection::CountRequestsReadAhead() {
  const uint64_t answered_to = stream_base_ + plaintext_offset_;
  if (!read_ahead_ || read_ahead_->to < answered_to) {
    // The request parser has moved past what was read ahead: start again at its boundary.
    read_ahead_ = std::make_unique<ReadAhead>(RequestLimits());
    read_ahead_->to = answered_to;
  }
  ReadAhead& ahead = *read_ahead_;
  size_t reached = 0;
  while (reached < ahead.ends.size() && ahead.ends[reached] <= answered_to) ++reached;
  ahead.ends.erase(ahead.ends.begin(), ahead.ends.begin() + static_cast<long>(reached));
  const size_t window = worker_.config().max_pipelined;
  if (ahead.stuck || ahead.ends.size() >= window) return;
  const uint64_t from = ahead.to;
  // Stuck: the request parser will answer an error there, or an Upgrade ends HTTP; read no more.
  const Skimmed skimmed =
      SkimRequests(ahead.parser, std::string_view(plaintext_in_).substr(from - stream_base_),
                   [&](size_t consumed) {
                     ahead.ends.push_back(from + consumed);
                     return ahead.ends.size() < window;
                   });
  ahead.to += skimmed.consumed;
  ahead.stuck = skimmed.stuck;
}

bool ClientConnection::WaitingForTurn() const {
  if (exchange_active_) return request_complete_;
  // No exchange, yet input waits: the client owes us reading first (ProcessRequests).
  return plaintext_offset_ < plaintext_in_.size() && !RequestBegun();
}

size_t ClientConnection::RecvLimit() const {
  // A request body on its way to the backend is read an eighth of the budget at a time. Anything
  // else is request heads, which a few KiB hold many of: reading more at once would take in
  // hundreds of pipelined requests that the window cannot count yet (a client that floods from
  // its first byte filled an eighth of the budget with them before the window closed).
  if ((exchange_active_ && !request_complete_) || in_tunnel()) return UnparsedHigh();
  return std::min(UnparsedHigh(), kHeadRecvLimit);
}

bool ClientConnection::ReadingOverLimits() const {
  if (plaintext_in_.size() - plaintext_offset_ > UnparsedHigh()) return true;
  if (WaitingForTurn() && read_ahead_ &&
      (read_ahead_->stuck || read_ahead_->ends.size() >= worker_.config().max_pipelined)) {
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
  RequestClose(CloseKind::kGraceful, CloseInitiator::kClient);
}

void ClientConnection::StartExchange() {
  const HttpHead& head = RequestParser().head();
  ++requests_;
  exchange_active_ = true;
  request_complete_ = false;
  response_started_ = false;
  retried_ = false;
  answered_without_backend_ = false;
  head_request_ = head.method == "HEAD";
  request_has_body_ = head.chunked || head.content_length > 0;
  client_http10_ = head.http10();
  // Any Upgrade ends HTTP on this connection: a tunnel if the backend switches to WebSocket,
  // else a close after the response (what the client sends next is not HTTP we can read).
  close_after_response_ = !head.keep_alive || head.upgrade;
  // Draining: a tunnel opened now would only be cut at the deadline. The upgrade is dropped and
  // the request answered as an ordinary one, after which the connection closes.
  tunnel_requested_ = IsWebSocketUpgrade(head) && !worker_.draining();
  exchange_started_ns_ = worker_.NowNs();
  response_status_ = 0;
  response_bytes_ = 0;
  ExchangeText& text = Text();
  text.method = head.method;
  text.target = head.target;
  if (InputEnded()) ++answered_after_input_end_;
  const int backend = worker_.backends().Pick(peer_ip_, exchange_started_ns_);
  if (backend < 0) {
    AnswerNoBackendAvailable();
    return;
  }
  text.upstream_head = BuildUpstreamRequestHead(
      head, ForwardingContext{peer_ip_, peer_trusted_,
                              worker_.config().backends[static_cast<size_t>(backend)].text,
                              tunnel_requested_});
  Upstream* upstream = worker_.upstreams().Acquire(static_cast<size_t>(backend));
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
  upstream->Send(text.upstream_head);
  // An HTTP/1.0 client gets no interim response (RFC 9110 15.2): it sends its body anyway.
  if (head.expect_continue && request_has_body_ && !client_http10_) QueuePlaintext(kContinue);
}

// The pooled backend connection was closed by the backend before it answered, or a fresh one
// could not connect: try once more on a fresh one, if nothing of the request but its head had to
// be sent, and if sending it twice cannot make the backend act twice: nothing of it reached the
// backend, or its method is safe. The retry goes to another usable backend of the group when
// there is one, else (`may_reuse_backend`: not after a refused connect, which a second try at
// once would only repeat) to the same one if it is still usable.
bool ClientConnection::RetryOnFreshUpstream(bool request_reached_backend, size_t failed_backend,
                                            bool may_reuse_backend) {
  if (retried_ || response_started_ || request_has_body_ || !request_complete_) return false;
  ExchangeText& text = Text();
  if (request_reached_backend && !IsSafeMethod(text.method)) {
    LogLine(spdlog::level::info, "not replaying a request the backend may have acted on", id_)
        .With("method", text.method);
    return false;
  }
  const int64_t now = worker_.NowNs();
  int backend = worker_.backends().Pick(peer_ip_, now, static_cast<int>(failed_backend));
  if (backend < 0 && may_reuse_backend && worker_.backends().Usable(failed_backend, now)) {
    backend = static_cast<int>(failed_backend);
  }
  if (backend < 0) return false;
  retried_ = true;
  LogLine(spdlog::level::debug, "retrying the request on a fresh backend connection", id_)
      .With("failed_backend", worker_.config().backends[failed_backend].text)
      .With("backend", worker_.config().backends[static_cast<size_t>(backend)].text);
  Upstream* upstream = worker_.upstreams().Acquire(static_cast<size_t>(backend));
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
  upstream->Send(text.upstream_head);
  return true;
}

void ClientConnection::FinishExchange(bool upstream_reusable) {
  DetachUpstream(upstream_reusable);
  RecordExchange(response_status_);
  exchange_active_ = false;
  RequestParser().StartNextMessage();
  if (close_after_response_ || worker_.draining()) {
    RequestClose(CloseKind::kGraceful,
                 worker_.draining() ? CloseInitiator::kDrain : CloseInitiator::kServerPolicy);
    return;
  }
  SetTimer(ClientTimer::kIdle, worker_.config().idle_timeout);
  ProcessRequestsAndReadOn();  // a pipelined request may be waiting
  FlushToClient();
}

void ClientConnection::RespondWithError(int status_code, CloseInitiator initiator) {
  if (response_started_ && exchange_active_) {
    RequestClose(CloseKind::kAbort, initiator, TerminationCause::kError);
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
    ExchangeText& text = Text();
    text.method.assign(1, '-');
    text.target.assign(1, '-');
    response_bytes_ = 0;
    exchange_active_ = true;
  }
  QueuePlaintext(BuildErrorResponse(status_code));
  RecordExchange(status_code);
  exchange_active_ = false;
  FlushToClient();
  RequestClose(CloseKind::kGraceful, initiator);
}

// Every backend is down (active check) or skipped (this worker's passive check): 503 with the
// seconds until one may be back. Without a request body the connection serves its next request
// as after any response (ProcessRequests ends the exchange once the request is complete); a body
// is not read, so that connection closes after the answer.
void ClientConnection::AnswerNoBackendAvailable() {
  const int64_t retry_after_s = worker_.backends().RetryAfterSeconds(worker_.NowNs());
  if (WorkerMetrics* m = metrics()) m->backend_unavailable.Add();
  LogLine(spdlog::level::warn, "no backend available: every backend is down or skipped", id_)
      .With("method", Text().method)
      .With("target", Text().target)
      .With("retry_after_s", retry_after_s);
  const bool close = close_after_response_ || request_has_body_ || worker_.draining();
  QueuePlaintext(
      BuildServiceUnavailableResponse(retry_after_s, close, head_request_, client_http10_));
  response_started_ = true;
  response_status_ = 503;
  if (close) {
    RecordExchange(503);
    exchange_active_ = false;
    FlushToClient();
    RequestClose(CloseKind::kGraceful, CloseInitiator::kServerError);
    return;
  }
  answered_without_backend_ = true;
  FlushToClient();
}

void ClientConnection::FinishExchangeAnsweredWithoutBackend() {
  answered_without_backend_ = false;
  RecordExchange(response_status_);
  exchange_active_ = false;
  RequestParser().StartNextMessage();
  SetTimer(ClientTimer::kIdle, worker_.config().idle_timeout);
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
    const ExchangeText& text = Text();
    LogLine("request", id_, batch)
        .With("method", text.method)
        .With("target", text.target)
        .With("status", status)
        .With("bytes", response_bytes_)
        .WithMs("upstream_ms", now - exchange_started_ns_)
        .WithMs("total_ms",
                now - (request_begun_ns_ != 0 ? request_begun_ns_ : exchange_started_ns_))
        .With("peer", peer_ip_);
  }
}

}  // namespace ringgate
