#include "ringgate/diag/close_report.h"

#include "ringgate/core/log.h"

namespace ringgate {

void TerminationLog::Record(TerminationEvent event, int64_t at_ns, TerminationCause abort_cause) {
  if (Has(event)) return;  // the first time counts (and the first abort's cause)
  entries_.push_back(Entry{event, at_ns, abort_cause});
  seen_ |= Bit(event);
}

TerminationCause TerminationLog::Cause() const {
  if (Has(TerminationEvent::kPeerReset)) return TerminationCause::kReset;
  for (const Entry& entry : entries_) {
    if (entry.event == TerminationEvent::kAborted) return entry.abort_cause;
  }
  if (Has(TerminationEvent::kIoError)) return TerminationCause::kError;
  if (Has(TerminationEvent::kPeerCloseNotify)) return TerminationCause::kClean;
  if (Has(TerminationEvent::kPeerFin)) return TerminationCause::kPeerFin;
  return TerminationCause::kTimeout;
}

void ReportClose(const ClosureRecord& r, const CloseContext& context, WorkerMetrics* m) {
  const Lifecycle& life = context.life;
  auto span_ns = [&](LifecycleState from, LifecycleState to) -> int64_t {
    const int64_t a = life.entered_ns(from);
    const int64_t b = life.entered_ns(to);
    return (a != 0 && b != 0 && b >= a) ? b - a : -1;
  };
  const int64_t created = life.entered_ns(LifecycleState::kCreated);
  const int64_t handshake_ns = span_ns(LifecycleState::kCreated, LifecycleState::kDataTransfer);
  const int64_t flush_ns =
      span_ns(LifecycleState::kShutdownInitiated, LifecycleState::kBufferFlushed);
  const int64_t peer_close_ns =
      span_ns(LifecycleState::kCloseNotifySent, LifecycleState::kPeerClosed);
  const int64_t shutdown_ns =
      span_ns(LifecycleState::kShutdownInitiated, LifecycleState::kTcpClosed);

  if (m != nullptr) {
    m->connections_in_state[static_cast<int>(context.last_state)].Add(-1);
    m->connections_closed[static_cast<int>(r.cause)][static_cast<int>(r.initiator)].Add();
    m->tls_bytes_received.Add(r.tls_bytes_in);
    m->tls_bytes_sent.Add(r.tls_bytes_out);
    m->http_bytes_received.Add(r.http_bytes_in);
    m->http_bytes_sent.Add(r.http_bytes_out);
    m->bytes_drained_after_close_notify.Add(r.drained_bytes);
    if (r.tcp.valid && r.tcp.unread_bytes > 0) m->released_with_unread_input.Add();
    if (flush_ns >= 0) m->shutdown_flush_seconds.Observe(static_cast<double>(flush_ns) / 1e9);
    if (peer_close_ns >= 0) {
      m->shutdown_peer_close_seconds.Observe(static_cast<double>(peer_close_ns) / 1e9);
    }
    if (shutdown_ns >= 0) m->shutdown_seconds.Observe(static_cast<double>(shutdown_ns) / 1e9);
  }

  LogLine(spdlog::level::debug, "TCP Socket Closed", r.id)
      .With("unacked_segments", r.tcp.unacked_segments)
      .With("notsent_bytes", r.tcp.notsent_bytes)
      .With("send_queue_bytes", r.tcp.send_queue_bytes)
      .With("unread_bytes", r.tcp.unread_bytes);
  if (shutdown_ns >= 0)
    LogLine(spdlog::level::debug, "Shutdown Duration", r.id).WithMs("ms", shutdown_ns);
  LogLine line(spdlog::level::info, "closed", r.id);
  line.With("cause", TerminationCauseName(r.cause))
      .With("initiator", CloseInitiatorName(r.initiator))
      .With("path", life.Path())
      .With("requests", r.requests)
      .With("tls_bytes_in", r.tls_bytes_in)
      .With("tls_bytes_out", r.tls_bytes_out)
      .With("http_bytes_in", r.http_bytes_in)
      .With("http_bytes_out", r.http_bytes_out)
      .With("pending_at_shutdown", r.pending_at_shutdown)
      .With("drained", r.drained_bytes)
      .With("close_notify_sent", r.close_notify_sent)
      .With("close_notify_received", r.close_notify_received);
  if (r.tunnel) {
    line.WithMs("tunnel_ms", r.tunnel_ns)
        .With("tunnel_bytes_to_backend", r.tunnel_bytes_to_backend)
        .With("tunnel_bytes_to_client", r.tunnel_bytes_to_client);
  }
  if (!r.server_name.empty()) line.With("sni", r.server_name);
  if (r.tcp.valid) {
    line.With("tcp_unacked", r.tcp.unacked_segments)
        .With("tcp_notsent", r.tcp.notsent_bytes)
        .With("tcp_unread", r.tcp.unread_bytes);
  }
  if (handshake_ns >= 0) {
    line.With("tls_group", TlsGroupName(context.tls_group)).WithMs("handshake_ms", handshake_ns);
  }
  if (flush_ns >= 0) line.WithMs("flush_ms", flush_ns);
  if (peer_close_ns >= 0) line.WithMs("peer_close_ms", peer_close_ns);
  if (shutdown_ns >= 0) line.WithMs("shutdown_ms", shutdown_ns);
  line.WithMs("duration_ms", context.now_ns - created);
}

}  // namespace ringgate
