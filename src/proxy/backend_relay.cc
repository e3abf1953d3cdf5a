// The response side of an exchange: events from the bound backend connection (connected, data,
// end, failure, drained), the response head rewritten for the client and streamed back in
// order, and what happens when the backend fails before or during its response.
#include <cstring>

#include "ringgate/core/log.h"
#include "ringgate/proxy/client_connection.h"
#include "ringgate/proxy/upstream.h"
#include "ringgate/proxy/worker.h"

namespace ringgate {

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
  if (upstream == nullptr || closing()) return;
  if (in_tunnel()) {
    RelayTunnelToClient(bytes);
    return;
  }
  if (request_complete_ && timer_ != ClientTimer::kClientSend) {
    SetTimer(ClientTimer::kUpstreamResponse, worker_.config().upstream_response_timeout);
  }
  HttpParser& parser = upstream->response_parser();
  // Once the head has gone out, body bytes pass straight to QueuePlaintext (large pieces are
  // encrypted where they lie, in the receive buffer); the bytes that come with a head wait in
  // `plain` until the head itself is queued.
  const BodySink to_client{[](void* client, std::string_view body) {
                             static_cast<ClientConnection*>(client)->QueuePlaintext(body);
                           },
                           this};
  std::string plain;
  while (!bytes.empty()) {
    const size_t used =
        response_started_ ? parser.Execute(bytes, to_client) : parser.Execute(bytes, plain);
    bytes.remove_prefix(used);
    if (parser.error() != HttpError::kNone) {
      LogLine(spdlog::level::warn, "bad response from backend", id_)
          .With("reason", parser.error_reason());
      DetachUpstream(false);
      // Body bytes in `plain` belong to a head parsed in this same call and never queued: the
      // client gets the 502 alone, not a backend's bytes ahead of it. (Once a head is out, its
      // body bytes went to the client as they were parsed.)
      if (response_started_) {
        RequestClose(CloseKind::kAbort, CloseInitiator::kServerError, TerminationCause::kError);
      } else {
        RespondWithError(502, CloseInitiator::kServerError);
      }
      return;
    }
    if (parser.TakeHead()) {
      const HttpHead& head = parser.head();
      if (head.status_code >= 100 && head.status_code < 200) {
        // Interim responses (103 Early Hints) pass through. A 101 opens a tunnel if the client
        // asked for WebSocket and the backend agreed to exactly that; otherwise the backend
        // switched to something the client cannot have asked for.
        if (head.status_code == 101 && tunnel_requested_ && request_complete_ &&
            IsWebSocketSwitch(head)) {
          StartTunnel(head, bytes);
          return;
        }
        if (head.status_code == 101) {
          LogLine(spdlog::level::warn, "backend switched protocols unasked", id_)
              .With("websocket_requested", tunnel_requested_);
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
      const bool reusable =
          parser.head().keep_alive && bytes.empty() && request_complete_ && !unread_body_declared;
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
  if (in_tunnel()) {
    OnTunnelBackendEnded(0);
    return;
  }
  Upstream* upstream = BoundUpstream();
  has_upstream_ = false;
  if (closing() || !exchange_active_) return;
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
        RetryOnFreshUpstream(upstream->request_bytes_submitted() > 0, upstream->backend(),
                             /*may_reuse_backend=*/true)) {
      return;
    }
    LogLine(spdlog::level::warn, "backend closed before responding", id_);
    RespondWithError(502, CloseInitiator::kServerError);
    return;
  }
  LogLine(spdlog::level::warn,
          "backend closed mid-response: aborting so the client sees truncation", id_);
  RequestClose(CloseKind::kAbort, CloseInitiator::kServerError, TerminationCause::kError);
}

void ClientConnection::OnUpstreamFailed(int error) {
  if (in_tunnel()) {
    OnTunnelBackendEnded(error);
    return;
  }
  Upstream* upstream = BoundUpstream();
  const bool was_reused = upstream != nullptr && upstream->reused();
  const bool request_reached_backend =
      upstream != nullptr && upstream->request_bytes_submitted() > 0;
  // A connect that failed sent nothing: the request may go to another backend.
  const bool connect_failed = upstream != nullptr && upstream->connect_failed();
  const size_t backend = upstream != nullptr ? upstream->backend() : 0;
  has_upstream_ = false;
  if (closing() || !exchange_active_) return;
  if (!response_started_) {
    if ((was_reused || connect_failed) &&
        RetryOnFreshUpstream(request_reached_backend, backend,
                             /*may_reuse_backend=*/!connect_failed)) {
      return;
    }
    LogLine(spdlog::level::warn, "backend failed", id_)
        .With("backend", worker_.config().backends[backend].text)
        .With("error", std::strerror(-error));
    RespondWithError(502, CloseInitiator::kServerError);
    return;
  }
  LogLine(spdlog::level::warn, "backend failed mid-response", id_)
      .With("error", std::strerror(-error));
  RequestClose(CloseKind::kAbort, CloseInitiator::kServerError, TerminationCause::kError);
}

void ClientConnection::OnUpstreamDrained() {
  if (closing()) return;
  if (in_tunnel()) {
    OnTunnelBackendDrained();
    return;
  }
  Upstream* upstream = BoundUpstream();
  if (upstream == nullptr || upstream->send_backlog() > OwedLow()) return;
  ProcessRequestsAndReadOn();
  FlushToClient();
}

Upstream* ClientConnection::BoundUpstream() const {
  return has_upstream_ ? worker_.upstreams().At(upstream_slot_, upstream_generation_) : nullptr;
}

std::string_view ClientConnection::BoundBackendName() const {
  const Upstream* upstream = BoundUpstream();
  return upstream != nullptr ? std::string_view(worker_.config().backends[upstream->backend()].text)
                             : std::string_view("-");
}

void ClientConnection::DetachUpstream(bool reusable) {
  Upstream* upstream = BoundUpstream();
  has_upstream_ = false;
  if (upstream != nullptr) worker_.upstreams().Release(upstream, reusable);
}

}  // namespace ringgate
