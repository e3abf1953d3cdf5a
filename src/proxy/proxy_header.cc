// The PROXY protocol header before TLS (--proxy-protocol): an L4 balancer in
// --proxy-protocol-from writes it first on every connection it passes on, to say whose
// connection it is. Its source address then replaces the balancer's as the connection's peer
// everywhere: logs, /connections, /closures, X-Forwarded-For and the --trusted-proxies decision.
// The header is read within the handshake's state and timer; anything wrong with it closes the
// connection without a word (TLS has not started: there is no one to send an alert to).
#include <arpa/inet.h>
#include <netinet/in.h>

#include "ringgate/core/log.h"
#include "ringgate/core/proxy_protocol.h"
#include "ringgate/proxy/client_connection.h"
#include "ringgate/proxy/worker.h"

namespace ringgate {
namespace {

ProxyProtocolRejection RejectionFor(ProxyHeaderError error) {
  switch (error) {
    case ProxyHeaderError::kNotProxyHeader:
      return ProxyProtocolRejection::kMissing;
    case ProxyHeaderError::kOversized:
      return ProxyProtocolRejection::kOversized;
    default:
      return ProxyProtocolRejection::kMalformed;
  }
}

}  // namespace

void ClientConnection::TakeProxyHeader(std::string_view bytes) {
  // Usually the whole header comes in one recv, often with the ClientHello behind it; only a
  // header split over recvs is copied.
  std::string_view received = bytes;
  if (proxy_header_in_) {
    proxy_header_in_->append(bytes);
    received = *proxy_header_in_;
  }
  const ProxyHeaderParse parse = ParseProxyHeader(received);
  switch (parse.status) {
    case ProxyHeaderStatus::kNeedMore:
      if (!proxy_header_in_) proxy_header_in_ = std::make_unique<std::string>(bytes);
      return;
    case ProxyHeaderStatus::kMalformed:
      RejectProxyHeader(RejectionFor(parse.error), ProxyHeaderErrorName(parse.error),
                        CloseInitiator::kServerError, TerminationCause::kError);
      return;
    case ProxyHeaderStatus::kDone:
      break;
  }
  awaiting_proxy_header_ = false;
  const ProxyHeader& header = parse.header;
  const std::string balancer = peer_ip_;
  if (!header.local) {
    // From here on the client the balancer accepted is the peer: --trusted-proxies is asked about
    // it, not about the balancer (whose own address only --proxy-protocol-from decides on).
    peer_ip_ = AddressText(header.source);
    peer_trusted_ = AddressInCidrs(header.source, worker_.config().trusted_proxies);
  }
  LogLine(spdlog::level::debug, "PROXY header", id_)
      .With("version", header.version)
      .With("command", header.local ? "local" : "proxy")
      .With("peer", peer_ip_)
      .With("balancer", balancer);
  // Bytes after the header in the same read are the client's first TLS bytes.
  const std::string_view tls_start = received.substr(parse.consumed);
  if (!tls_start.empty()) {
    tls_->FeedCiphertext(tls_start);
    cipher_bytes_in_ += tls_start.size();
  }
  proxy_header_in_.reset();
}

void ClientConnection::ProxyHeaderCutShort() {
  const CloseInitiator initiator = CloseInitiator::kClient;
  const TerminationCause cause =
      client_gone_ ? TerminationCause::kReset : TerminationCause::kPeerFin;
  if (!proxy_header_in_) {
    // Not a byte sent: a balancer's TCP health check, or a port scan. Nothing was refused.
    LogLine(spdlog::level::debug, "closed before the PROXY header", id_);
    RequestClose(CloseKind::kAbort, initiator, cause);
    return;
  }
  RejectProxyHeader(ProxyProtocolRejection::kTruncated,
                    client_gone_ ? "reset within the header" : "FIN within the header", initiator,
                    cause);
}

void ClientConnection::RejectProxyHeader(ProxyProtocolRejection reason, std::string_view detail,
                                         CloseInitiator initiator, TerminationCause cause) {
  if (WorkerMetrics* m = metrics()) m->proxy_protocol_rejected[static_cast<int>(reason)].Add();
  LogLine(spdlog::level::info, "PROXY header refused", id_)
      .With("reason", ProxyProtocolRejectionName(reason))
      .With("detail", detail)
      .With("peer", peer_ip_);
  proxy_header_in_.reset();
  RequestClose(CloseKind::kAbort, initiator, cause);
}

}  // namespace ringgate
