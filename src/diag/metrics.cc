#include "ringgate/diag/metrics.h"

#include <cmath>
#include <iterator>

#include "fmt/format.h"

namespace ringgate {

Histogram::Histogram(std::initializer_list<double> upper_bounds) {
  for (double b : upper_bounds) {
    if (bucket_count_ == kMaxBuckets) break;
    bounds_[bucket_count_++] = b;
  }
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bucket_count_ && value > bounds_[i]) ++i;
  counts_[i].Add();
  total_.Add();
  if (value > 0) sum_micro_.Add(static_cast<uint64_t>(std::llround(value * 1e6)));
}

namespace {

using Out = fmt::memory_buffer;

template <typename F>
uint64_t SumOver(const std::vector<const WorkerMetrics*>& shards, F get) {
  uint64_t total = 0;
  for (const WorkerMetrics* m : shards) total += get(*m);
  return total;
}

void Header(Out& out, const char* name, const char* type, const char* help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <typename F>
void SimpleCounter(Out& out, const std::vector<const WorkerMetrics*>& shards, const char* name,
                   const char* help, F get) {
  Header(out, name, "counter", help);
  fmt::format_to(std::back_inserter(out), "{} {}\n", name, SumOver(shards, get));
}

template <typename F>
void HistogramMetric(Out& out, const std::vector<const WorkerMetrics*>& shards, const char* name,
                     const char* help, F get) {
  Header(out, name, "histogram", help);
  const Histogram& first = get(*shards.front());
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= first.bucket_count(); ++i) {
    for (const WorkerMetrics* m : shards) cumulative += get(*m).count_at(i);
    if (i < first.bucket_count()) {
      fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"{}\"}} {}\n", name,
                     first.upper_bound(i), cumulative);
    } else {
      fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
    }
  }
  double sum = 0;
  uint64_t count = 0;
  for (const WorkerMetrics* m : shards) {
    sum += get(*m).sum();
    count += get(*m).count();
  }
  fmt::format_to(std::back_inserter(out), "{}_sum {}\n{}_count {}\n", name, sum, name, count);
}

const char* VersionName(int v) {
  switch (static_cast<TlsVersionLabel>(v)) {
    case TlsVersionLabel::kTls12: return "TLSv1.2";
    case TlsVersionLabel::kTls13: return "TLSv1.3";
    case TlsVersionLabel::kUnknown: return "unknown";
  }
  return "unknown";
}

const char* NoCloseNotifyReasonName(int r) {
  switch (static_cast<NoCloseNotifyReason>(r)) {
    case NoCloseNotifyReason::kAbort: return "abort";
    case NoCloseNotifyReason::kPeerReset: return "peer_reset";
    case NoCloseNotifyReason::kNoHandshake: return "no_handshake";
  }
  return "unknown";
}

}  // namespace

std::string RenderPrometheus(const std::vector<const WorkerMetrics*>& shards) {
  Out out;
  auto sink = std::back_inserter(out);
  if (shards.empty()) return {};

  SimpleCounter(out, shards, "ringgate_connections_accepted_total", "TLS client connections accepted.",
                [](const WorkerMetrics& m) { return m.connections_accepted.Get(); });

  SimpleCounter(out, shards, "ringgate_connections_refused_total",
                "Connections closed right after accept because the worker was at --max-conns.",
                [](const WorkerMetrics& m) { return m.connections_refused.Get(); });

  SimpleCounter(out, shards, "ringgate_accept_pauses_total",
                "Times a worker paused accepting because accept(2) ran out of descriptors or "
                "memory (EMFILE, ENFILE, ENOBUFS, ENOMEM); it retries after a back-off.",
                [](const WorkerMetrics& m) { return m.accept_pauses.Get(); });
  Header(out, "ringgate_connections_closed_total", "counter",
         "Client connections closed, by how they ended and who started the close.");
  for (int c = 1; c < kTerminationCauses; ++c) {
    for (int i = 1; i < kCloseInitiators; ++i) {
      uint64_t v = SumOver(shards, [&](const WorkerMetrics& m) { return m.connections_closed[c][i].Get(); });
      fmt::format_to(sink, "ringgate_connections_closed_total{{cause=\"{}\",initiator=\"{}\"}} {}\n",
                     TerminationCauseName(static_cast<TerminationCause>(c)),
                     CloseInitiatorName(static_cast<CloseInitiator>(i)), v);
    }
  }

  Header(out, "ringgate_tls_handshakes_total", "counter", "TLS handshakes, by result and protocol version.");
  for (int r = 0; r < 2; ++r) {
    for (int v = 0; v < kTlsVersionLabels; ++v) {
      uint64_t n = SumOver(shards, [&](const WorkerMetrics& m) { return m.handshakes[r][v].Get(); });
      fmt::format_to(sink, "ringgate_tls_handshakes_total{{result=\"{}\",version=\"{}\"}} {}\n",
                     r == 0 ? "ok" : "failed", VersionName(v), n);
    }
  }

  Header(out, "ringgate_tls_handshakes_by_group_total", "counter",
         "Completed TLS handshakes, by the key exchange group negotiated (none: a TLS 1.2 "
         "resumption, which exchanges no key).");
  for (int g = 0; g < kTlsGroupLabels; ++g) {
    uint64_t n =
        SumOver(shards, [&](const WorkerMetrics& m) { return m.handshakes_by_group[g].Get(); });
    fmt::format_to(sink, "ringgate_tls_handshakes_by_group_total{{group=\"{}\"}} {}\n",
                   TlsGroupName(static_cast<TlsGroup>(g)), n);
  }

  Header(out, "ringgate_http_requests_total", "counter",
         "Requests answered, by status class (including the proxy's own 4xx/5xx).");
  for (int s = 0; s < 5; ++s) {
    uint64_t n = SumOver(shards, [&](const WorkerMetrics& m) { return m.requests_by_status_class[s].Get(); });
    fmt::format_to(sink, "ringgate_http_requests_total{{status_class=\"{}xx\"}} {}\n", s + 1, n);
  }

  SimpleCounter(out, shards, "ringgate_tls_received_bytes_total", "Ciphertext bytes received from clients.",
                [](const WorkerMetrics& m) { return m.tls_bytes_received.Get(); });
  SimpleCounter(out, shards, "ringgate_tls_sent_bytes_total", "Ciphertext bytes sent to clients.",
                [](const WorkerMetrics& m) { return m.tls_bytes_sent.Get(); });
  SimpleCounter(out, shards, "ringgate_http_received_bytes_total", "Plaintext bytes decrypted from clients.",
                [](const WorkerMetrics& m) { return m.http_bytes_received.Get(); });
  SimpleCounter(out, shards, "ringgate_http_sent_bytes_total", "Plaintext bytes encrypted for clients.",
                [](const WorkerMetrics& m) { return m.http_bytes_sent.Get(); });
  SimpleCounter(out, shards, "ringgate_close_notify_sent_total", "Our close_notify alerts that were sent.",
                [](const WorkerMetrics& m) { return m.close_notify_sent.Get(); });
  SimpleCounter(out, shards, "ringgate_close_notify_received_total", "close_notify alerts received from clients.",
                [](const WorkerMetrics& m) { return m.close_notify_received.Get(); });

  Header(out, "ringgate_close_notify_not_sent_total", "counter",
         "Connections closed without our close_notify, by reason.");
  for (int r = 0; r < kNoCloseNotifyReasons; ++r) {
    uint64_t n = SumOver(shards, [&](const WorkerMetrics& m) { return m.close_notify_not_sent[r].Get(); });
    fmt::format_to(sink, "ringgate_close_notify_not_sent_total{{reason=\"{}\"}} {}\n",
                   NoCloseNotifyReasonName(r), n);
  }

  SimpleCounter(out, shards, "ringgate_connections_released_with_unread_input_total",
                "Connections whose socket still held unread input at the final close (the kernel answers with RST).",
                [](const WorkerMetrics& m) { return m.released_with_unread_input.Get(); });
  SimpleCounter(out, shards, "ringgate_drain_cut_connections_total",
                "Connections still open at the --drain-timeout deadline of a graceful stop, cut.",
                [](const WorkerMetrics& m) { return m.drain_cut.Get(); });
  SimpleCounter(out, shards, "ringgate_drained_after_close_notify_bytes_total",
                "Plaintext bytes received after our close_notify, read and discarded.",
                [](const WorkerMetrics& m) { return m.bytes_drained_after_close_notify.Get(); });
  SimpleCounter(out, shards, "ringgate_uring_cq_overflows_total",
                "Loop iterations that found the completion queue overflowed (completions parked "
                "by the kernel until there was room; none is lost). Raise --ring-entries if this "
                "grows steadily.",
                [](const WorkerMetrics& m) { return m.uring_cq_overflows.Get(); });
  SimpleCounter(out, shards, "ringgate_uring_submissions_total", "io_uring_submit calls.",
                [](const WorkerMetrics& m) { return m.uring_submissions.Get(); });
  SimpleCounter(out, shards, "ringgate_uring_completions_total", "Completions reaped.",
                [](const WorkerMetrics& m) { return m.uring_completions.Get(); });
  SimpleCounter(out, shards, "ringgate_uring_stale_completions_total",
                "Completions for a connection that had already ended (stale generation), dropped.",
                [](const WorkerMetrics& m) { return m.uring_stale_completions.Get(); });
  SimpleCounter(out, shards, "ringgate_uring_recv_enobufs_total",
                "Multishot recvs ended because the provided-buffer ring ran dry.",
                [](const WorkerMetrics& m) { return m.uring_recv_enobufs.Get(); });
  SimpleCounter(out, shards, "ringgate_send_zc_total",
                "Client sends submitted as zero-copy sends (--send-zc-threshold).",
                [](const WorkerMetrics& m) { return m.send_zc.Get(); });
  SimpleCounter(out, shards, "ringgate_send_zc_copied_total",
                "Zero-copy sends whose bytes the kernel copied anyway (always so over loopback).",
                [](const WorkerMetrics& m) { return m.send_zc_copied.Get(); });

  SimpleCounter(out, shards, "ringgate_requests_abandoned_total",
                "Requests already read that were not forwarded because the client had gone and "
                "--max-pipelined requests had been answered since.",
                [](const WorkerMetrics& m) { return m.requests_abandoned.Get(); });
  SimpleCounter(out, shards, "ringgate_memory_trims_total",
                "Times a worker handed free heap memory back to the kernel after its connections "
                "fell to half their peak.",
                [](const WorkerMetrics& m) { return m.memory_trims.Get(); });
  Header(out, "ringgate_connection_buffered_bytes_max", "gauge",
         "The most user-space bytes one connection has held since start (unparsed input, bytes "
         "owed to the client and the backend, TLS records), by worker; bounded by --max-conn-buffer.");
  for (size_t w = 0; w < shards.size(); ++w) {
    fmt::format_to(sink, "ringgate_connection_buffered_bytes_max{{worker=\"{}\"}} {}\n", w,
                   shards[w]->connection_buffered_bytes_max.Get());
  }

  Header(out, "ringgate_connections", "gauge", "Open client connections, by worker and lifecycle state.");
  for (size_t w = 0; w < shards.size(); ++w) {
    for (int s = 0; s < kLifecycleStateCount; ++s) {
      fmt::format_to(sink, "ringgate_connections{{worker=\"{}\",state=\"{}\"}} {}\n", w,
                     LifecycleStateName(static_cast<LifecycleState>(s)),
                     shards[w]->connections_in_state[s].Get());
    }
  }

  HistogramMetric(out, shards, "ringgate_tls_handshake_duration_seconds",
                  "From accept to the end of the TLS handshake.",
                  [](const WorkerMetrics& m) -> const Histogram& { return m.handshake_seconds; });
  HistogramMetric(out, shards, "ringgate_http_request_duration_seconds",
                  "From a request's head to the end of its response.",
                  [](const WorkerMetrics& m) -> const Histogram& { return m.request_seconds; });
  HistogramMetric(out, shards, "ringgate_shutdown_flush_duration_seconds",
                  "From the close decision until every byte owed to the client was sent.",
                  [](const WorkerMetrics& m) -> const Histogram& { return m.shutdown_flush_seconds; });
  HistogramMetric(out, shards, "ringgate_shutdown_peer_close_duration_seconds",
                  "From our close_notify until the client's close_notify or FIN.",
                  [](const WorkerMetrics& m) -> const Histogram& { return m.shutdown_peer_close_seconds; });
  HistogramMetric(out, shards, "ringgate_shutdown_duration_seconds",
                  "From the close decision until close(2) completed.",
                  [](const WorkerMetrics& m) -> const Histogram& { return m.shutdown_seconds; });
  HistogramMetric(out, shards, "ringgate_shutdown_pending_bytes",
                  "Bytes still owed to the client when the close was decided.",
                  [](const WorkerMetrics& m) -> const Histogram& { return m.shutdown_pending_bytes; });
  return fmt::to_string(out);
}

}  // namespace ringgate
