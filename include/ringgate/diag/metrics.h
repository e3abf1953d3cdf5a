// metrics.h
// Per-worker metric shards, merged when scraped. A worker is the only writer of its shard, so
// an increment is a relaxed load and store (a plain add on x86: no lock prefix, no fence); the
// admin thread reads with relaxed loads and may see a value one update old, never a torn one.
//
// Every metric is declared once, in RINGGATE_WORKER_METRICS or RINGGATE_PROCESS_METRICS below:
// its member, its Prometheus name (with its unit: _total, _seconds, _bytes), its help text and
// its C++ type, which says its kind (Counter, Gauge, a BucketedHistogram) and its labels
// (Labeled<Cell, Label...>). WorkerMetrics, RenderPrometheus and MetricFamilies() (the list the
// docs table is checked against, tests/unit/diag/metrics_test.cc) are all generated from them.
//
//   WorkerMetrics& m = ...;
//   m.connections_accepted.Add();
//   m.handshake_seconds.Observe(0.0021);
//   std::string text = RenderPrometheus({&worker0_metrics, &worker1_metrics});
#ifndef RINGGATE_DIAG_METRICS_H_
#define RINGGATE_DIAG_METRICS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ringgate/diag/lifecycle.h"
#include "ringgate/tls/tls_group.h"

namespace ringgate {

// One metric value written by one thread (its worker) and read by others (the admin thread).
template <typename T>
class RelaxedCell {
 public:
  void Add(T n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  T Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<T> value_{0};
};
using Counter = RelaxedCell<uint64_t>;  // summed over the workers when rendered
using Gauge = RelaxedCell<int64_t>;     // rendered per worker (label `worker`)

// Cumulative histogram with fixed upper bounds (Prometheus `le`), plus +Inf, sum and count.
class Histogram {
 public:
  static constexpr size_t kMaxBuckets = 16;
  explicit Histogram(std::initializer_list<double> upper_bounds);
  template <size_t N>
  explicit Histogram(const std::array<double, N>& upper_bounds) {
    static_assert(N <= kMaxBuckets);
    for (double b : upper_bounds) bounds_[bucket_count_++] = b;
  }
  void Observe(double value);
  size_t bucket_count() const { return bucket_count_; }
  double upper_bound(size_t i) const { return bounds_[i]; }
  uint64_t count_at(size_t i) const { return counts_[i].Get(); }  // i == bucket_count(): +Inf
  double sum() const { return static_cast<double>(sum_micro_.Get()) / 1e6; }
  uint64_t count() const { return total_.Get(); }

 private:
  std::array<double, kMaxBuckets> bounds_{};
  size_t bucket_count_ = 0;
  std::array<Counter, kMaxBuckets + 1> counts_;  // non-cumulative; cumulated when rendered
  Counter sum_micro_;                            // sum in millionths, to stay an integer
  Counter total_;
};

// A histogram whose bucket bounds are part of its type, so that a metric's declaration names them.
template <const auto& kBounds>
class BucketedHistogram : public Histogram {
 public:
  BucketedHistogram() : Histogram(kBounds) {}
};
inline constexpr std::array<double, 14> kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
inline constexpr std::array<double, 15> kRequestBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
inline constexpr std::array<double, 10> kFlushBuckets = {0.0001, 0.0005, 0.001, 0.005, 0.01,
                                                         0.05,   0.1,    0.5,   1,     5};
inline constexpr std::array<double, 12> kCloseBuckets = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05,
                                                         0.1,    0.5,    1,     2.5,   5,    10};
inline constexpr std::array<double, 9> kPendingBytesBuckets = {
    0, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216};

// Label values that are not lifecycle names, each list written once like lifecycle.h's.
#define RINGGATE_HANDSHAKE_RESULTS(X) \
  X(kOk, "ok")                        \
  X(kFailed, "failed")
#define RINGGATE_TLS_VERSION_LABELS(X) \
  X(kTls12, "TLSv1.2")                 \
  X(kTls13, "TLSv1.3")                 \
  X(kUnknown, "unknown")
// Why our close_notify was not sent.
#define RINGGATE_NO_CLOSE_NOTIFY_REASONS(X)                             \
  /* a cut response or an error: the client must not see a clean end */ \
  X(kAbort, "abort")                                                    \
  /* the client reset the connection */                                 \
  X(kPeerReset, "peer_reset")                                           \
  /* the handshake never completed */                                   \
  X(kNoHandshake, "no_handshake")

// Why an attempt on a backend counted against its passive health (--backend-max-fails).
#define RINGGATE_BACKEND_FAILURE_KINDS(X)                                         \
  /* the connect failed (refused, unreachable) */                                 \
  X(kRefused, "refused")                                                          \
  /* a fresh connection was closed or reset before any of the response arrived */ \
  X(kReset, "reset")                                                              \
  /* no connect, or no response, within --upstream-connect/response-timeout */    \
  X(kTimeout, "timeout")
// Why a connection was closed before TLS under --proxy-protocol (docs/operations.md). A peer
// that closes before sending a byte (a balancer's TCP health check) is not counted.
#define RINGGATE_PROXY_PROTOCOL_REJECTIONS(X)                                     \
  /* the peer is not in --proxy-protocol-from */                                  \
  X(kNotAllowed, "not_allowed")                                                   \
  /* its first bytes are not a PROXY header (a client that connected directly) */ \
  X(kMissing, "missing")                                                          \
  /* a PROXY header that breaks the spec (the log line says how) */               \
  X(kMalformed, "malformed")                                                      \
  /* v1 without CRLF within 107 bytes, v2 over 4096 bytes */                      \
  X(kOversized, "oversized")                                                      \
  /* not complete at --handshake-timeout */                                       \
  X(kTimeout, "timeout")                                                          \
  /* the peer closed or reset after part of a header */                           \
  X(kTruncated, "truncated")
enum class ProxyProtocolRejection : uint8_t {
  RINGGATE_PROXY_PROTOCOL_REJECTIONS(RINGGATE_ENUM_VALUE)
};
inline constexpr std::string_view kProxyProtocolRejectionNames[] = {
    RINGGATE_PROXY_PROTOCOL_REJECTIONS(RINGGATE_ENUM_NAME)};
static_assert(NamesAreDistinct(kProxyProtocolRejectionNames) &&
              NamesAreSnakeCase(kProxyProtocolRejectionNames));
constexpr std::string_view ProxyProtocolRejectionName(ProxyProtocolRejection reason) {
  return kProxyProtocolRejectionNames[static_cast<size_t>(reason)];
}

enum class HandshakeResult : uint8_t { RINGGATE_HANDSHAKE_RESULTS(RINGGATE_ENUM_VALUE) };
enum class TlsVersionLabel : uint8_t { RINGGATE_TLS_VERSION_LABELS(RINGGATE_ENUM_VALUE) };
enum class NoCloseNotifyReason : uint8_t { RINGGATE_NO_CLOSE_NOTIFY_REASONS(RINGGATE_ENUM_VALUE) };
enum class BackendFailure : uint8_t { RINGGATE_BACKEND_FAILURE_KINDS(RINGGATE_ENUM_VALUE) };
inline constexpr std::string_view kBackendFailureNames[] = {
    RINGGATE_BACKEND_FAILURE_KINDS(RINGGATE_ENUM_NAME)};
inline constexpr std::string_view kHandshakeResultNames[] = {
    RINGGATE_HANDSHAKE_RESULTS(RINGGATE_ENUM_NAME)};
inline constexpr std::string_view kTlsVersionLabelNames[] = {
    RINGGATE_TLS_VERSION_LABELS(RINGGATE_ENUM_NAME)};
inline constexpr std::string_view kNoCloseNotifyReasonNames[] = {
    RINGGATE_NO_CLOSE_NOTIFY_REASONS(RINGGATE_ENUM_NAME)};
inline constexpr std::string_view kStatusClassNames[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

inline constexpr int kHandshakeResults = static_cast<int>(std::size(kHandshakeResultNames));
inline constexpr int kTlsVersionLabels = static_cast<int>(std::size(kTlsVersionLabelNames));
inline constexpr int kNoCloseNotifyReasons = static_cast<int>(std::size(kNoCloseNotifyReasonNames));
inline constexpr int kTerminationCauses = kTerminationCauseCount;
inline constexpr int kCloseInitiators = kCloseInitiatorCount;
static_assert(static_cast<int>(TlsVersionLabel::kUnknown) + 1 == kTlsVersionLabels);
static_assert(static_cast<int>(NoCloseNotifyReason::kNoHandshake) + 1 == kNoCloseNotifyReasons);
static_assert(NamesAreDistinct(kHandshakeResultNames) && NamesAreDistinct(kTlsVersionLabelNames) &&
              NamesAreDistinct(kNoCloseNotifyReasonNames) && NamesAreDistinct(kStatusClassNames));

// A label: its name, how many values it has (the cells a shard keeps) and, from kFirst on, the
// value each index is rendered as. Indices below kFirst (a kNone) are kept but never rendered.
template <const std::string_view& kLabelName, const auto& kValueNames, int kFirstIndex = 0>
struct NamedLabel {
  static constexpr std::string_view kName = kLabelName;
  static constexpr int kCount = static_cast<int>(std::size(kValueNames));
  static constexpr int kFirst = kFirstIndex;
  static int Count() { return kCount; }  // values rendered: all of them
  static std::string_view Value(int i) { return kValueNames[i]; }
};
namespace label_names {
inline constexpr std::string_view kCause = "cause";
inline constexpr std::string_view kInitiator = "initiator";
inline constexpr std::string_view kResult = "result";
inline constexpr std::string_view kVersion = "version";
inline constexpr std::string_view kReason = "reason";
inline constexpr std::string_view kStatusClass = "status_class";
inline constexpr std::string_view kState = "state";
inline constexpr std::string_view kKind = "kind";
}  // namespace label_names
// kNone is never a closed connection's cause or initiator.
using CauseLabel = NamedLabel<label_names::kCause, kTerminationCauseNames, 1>;
using InitiatorLabel = NamedLabel<label_names::kInitiator, kCloseInitiatorNames, 1>;
using HandshakeResultLabel = NamedLabel<label_names::kResult, kHandshakeResultNames>;
using TlsVersionLabelLabel = NamedLabel<label_names::kVersion, kTlsVersionLabelNames>;
using NoCloseNotifyReasonLabel = NamedLabel<label_names::kReason, kNoCloseNotifyReasonNames>;
using StatusClassLabel = NamedLabel<label_names::kStatusClass, kStatusClassNames>;
using LifecycleStateLabel = NamedLabel<label_names::kState, kLifecycleStateNames>;
using BackendFailureLabel = NamedLabel<label_names::kKind, kBackendFailureNames>;
using ProxyProtocolRejectionLabel = NamedLabel<label_names::kReason, kProxyProtocolRejectionNames>;
struct TlsGroupLabel {  // TlsGroupName lives in the tls module
  static constexpr std::string_view kName = "group";
  static constexpr int kCount = kTlsGroupLabels;
  static constexpr int kFirst = 0;
  static int Count() { return kCount; }
  static std::string_view Value(int i) { return TlsGroupName(static_cast<TlsGroup>(i)); }
};

// The backends (--backend), each named as the user wrote it. Its values are known only at
// start-up: main sets them once, before any worker or the admin endpoint runs, and they never
// change (a SIGHUP resolves the names again; the names stay). A shard keeps kMaxBackendLabels
// cells (config.h's kMaxBackends); only the first Count() are rendered.
inline constexpr int kMaxBackendLabels = 64;
void SetBackendLabelValues(std::vector<std::string> names);
struct BackendLabel {
  static constexpr std::string_view kName = "backend";
  static constexpr int kCount = kMaxBackendLabels;
  static constexpr int kFirst = 0;
  static int Count();
  static std::string_view Value(int i);
};

// Cells by label: Labeled<Counter, CauseLabel, InitiatorLabel> is indexed [cause][initiator].
template <typename Cell, typename... Labels>
struct NestedCells {
  using type = Cell;
};
template <typename Cell, typename First, typename... Rest>
struct NestedCells<Cell, First, Rest...> {
  using type = std::array<typename NestedCells<Cell, Rest...>::type, First::kCount>;
};
template <typename Cell, typename... Labels>
struct Labeled : NestedCells<Cell, Labels...>::type {
  static_assert(sizeof...(Labels) > 0);
  using CellType = Cell;
};

// Each worker's metrics, in the order /metrics shows them:
//   X(member, "prometheus_name", "help text", Type)
// The type comes last because it may hold commas.
#define RINGGATE_WORKER_METRICS(X)                                                                 \
  X(connections_accepted, "ringgate_connections_accepted_total",                                   \
    "TLS client connections accepted.", Counter)                                                   \
  X(connections_refused, "ringgate_connections_refused_total",                                     \
    "Connections closed right after accept because the worker was at --max-conns.", Counter)       \
  X(proxy_protocol_rejected, "ringgate_proxy_protocol_rejected_total",                             \
    "Connections closed before TLS for want of a valid PROXY header from a peer in "               \
    "--proxy-protocol-from, by reason.",                                                           \
    Labeled<Counter, ProxyProtocolRejectionLabel>)                                                 \
  X(accept_pauses, "ringgate_accept_pauses_total",                                                 \
    "Times a worker paused accepting because accept(2) ran out of descriptors or memory "          \
    "(EMFILE, ENFILE, ENOBUFS, ENOMEM); it retries after a back-off.",                             \
    Counter)                                                                                       \
  X(connections_closed, "ringgate_connections_closed_total",                                       \
    "Client connections closed, by how they ended and who started the close.",                     \
    Labeled<Counter, CauseLabel, InitiatorLabel>)                                                  \
  X(handshakes, "ringgate_tls_handshakes_total",                                                   \
    "TLS handshakes, by result and protocol version.",                                             \
    Labeled<Counter, HandshakeResultLabel, TlsVersionLabelLabel>)                                  \
  X(handshakes_by_group, "ringgate_tls_handshakes_by_group_total",                                 \
    "Completed TLS handshakes, by the key exchange group negotiated (none: a TLS 1.2 resumption, " \
    "which exchanges no key, or a TLS 1.2 curve outside --tls-groups such as P-521).",             \
    Labeled<Counter, TlsGroupLabel>)                                                               \
  X(requests_by_status_class, "ringgate_http_requests_total",                                      \
    "Requests answered, by status class (including the proxy's own 4xx/5xx).",                     \
    Labeled<Counter, StatusClassLabel>)                                                            \
  X(tls_bytes_received, "ringgate_tls_received_bytes_total",                                       \
    "Ciphertext bytes received from clients.", Counter)                                            \
  X(tls_bytes_sent, "ringgate_tls_sent_bytes_total", "Ciphertext bytes sent to clients.", Counter) \
  X(http_bytes_received, "ringgate_http_received_bytes_total",                                     \
    "Plaintext bytes decrypted from clients.", Counter)                                            \
  X(http_bytes_sent, "ringgate_http_sent_bytes_total", "Plaintext bytes encrypted for clients.",   \
    Counter)                                                                                       \
  X(close_notify_sent, "ringgate_close_notify_sent_total",                                         \
    "Our close_notify alerts that were sent.", Counter)                                            \
  X(close_notify_received, "ringgate_close_notify_received_total",                                 \
    "close_notify alerts received from clients.", Counter)                                         \
  X(close_notify_not_sent, "ringgate_close_notify_not_sent_total",                                 \
    "Connections closed without our close_notify, by reason.",                                     \
    Labeled<Counter, NoCloseNotifyReasonLabel>)                                                    \
  X(released_with_unread_input, "ringgate_connections_released_with_unread_input_total",           \
    "Connections whose socket still held unread input at the final close (the kernel answers "     \
    "with RST).",                                                                                  \
    Counter)                                                                                       \
  X(drain_cut, "ringgate_drain_cut_connections_total",                                             \
    "Connections still open at the --drain-timeout deadline of a graceful stop, cut.", Counter)    \
  X(bytes_drained_after_close_notify, "ringgate_drained_after_close_notify_bytes_total",           \
    "Plaintext bytes read and discarded after the close decision (requests left unanswered, and "  \
    "whatever the client sent afterwards).",                                                       \
    Counter)                                                                                       \
  X(uring_cq_overflows, "ringgate_uring_cq_overflows_total",                                       \
    "Loop iterations that found the completion queue overflowed (completions parked by the "       \
    "kernel until there was room; none is lost). Raise --ring-entries if this grows steadily.",    \
    Counter)                                                                                       \
  X(uring_submissions, "ringgate_uring_submissions_total", "io_uring_submit calls.", Counter)      \
  X(uring_completions, "ringgate_uring_completions_total", "Completions reaped.", Counter)         \
  X(uring_stale_completions, "ringgate_uring_stale_completions_total",                             \
    "Completions for a connection that had already ended (stale generation), dropped.", Counter)   \
  X(uring_recv_enobufs, "ringgate_uring_recv_enobufs_total",                                       \
    "Multishot recvs (from clients or backends) ended because the provided-buffer ring ran dry; "  \
    "each is re-armed.",                                                                           \
    Counter)                                                                                       \
  X(send_zc, "ringgate_send_zc_total",                                                             \
    "Client sends submitted as zero-copy sends (--send-zc-threshold).", Counter)                   \
  X(send_zc_copied, "ringgate_send_zc_copied_total",                                               \
    "Zero-copy sends whose bytes the kernel copied anyway (always so over loopback).", Counter)    \
  X(requests_abandoned, "ringgate_requests_abandoned_total",                                       \
    "Requests already read that were not forwarded because the client had gone and "               \
    "--max-pipelined requests had been answered since.",                                           \
    Counter)                                                                                       \
  X(memory_trims, "ringgate_memory_trims_total",                                                   \
    "Times a worker handed free heap memory back to the kernel after its connections fell to "     \
    "half their peak.",                                                                            \
    Counter)                                                                                       \
  X(backend_requests, "ringgate_backend_requests_total",                                           \
    "Requests sent to each backend (a retry counts again, on the backend it went to).",            \
    Labeled<Counter, BackendLabel>)                                                                \
  X(backend_failures, "ringgate_backend_failures_total",                                           \
    "Attempts on a backend that counted against its passive health, by kind: refused (connect "    \
    "failed), reset (a fresh connection ended before the response began), timeout.",               \
    Labeled<Counter, BackendLabel, BackendFailureLabel>)                                           \
  X(backend_unavailable, "ringgate_backend_unavailable_total",                                     \
    "Requests answered 503 (with Retry-After) because every backend was down or skipped.",         \
    Counter)                                                                                       \
  X(backend_in_flight, "ringgate_backend_in_flight_requests",                                      \
    "Requests in flight on each backend, by worker.", Labeled<Gauge, BackendLabel>)                \
  X(connection_buffered_bytes_max, "ringgate_connection_buffered_bytes_max",                       \
    "The most user-space bytes one connection has held since start (unparsed input, bytes owed "   \
    "to the client and the backend, TLS records), by worker; bounded by --max-conn-buffer.",       \
    Gauge)                                                                                         \
  X(tunnels, "ringgate_tunnels",                                                                   \
    "Open WebSocket tunnels (a backend answered 101 Switching Protocols), by worker.", Gauge)      \
  X(connections_in_state, "ringgate_connections",                                                  \
    "Open client connections, by worker and lifecycle state.",                                     \
    Labeled<Gauge, LifecycleStateLabel>)                                                           \
  X(handshake_seconds, "ringgate_tls_handshake_duration_seconds",                                  \
    "From accept to the end of the TLS handshake.", BucketedHistogram<kLatencyBuckets>)            \
  X(request_seconds, "ringgate_http_request_duration_seconds",                                     \
    "From a request's head to the end of its response.", BucketedHistogram<kRequestBuckets>)       \
  X(shutdown_flush_seconds, "ringgate_shutdown_flush_duration_seconds",                            \
    "From the close decision until every byte owed to the client was sent.",                       \
    BucketedHistogram<kFlushBuckets>)                                                              \
  X(shutdown_peer_close_seconds, "ringgate_shutdown_peer_close_duration_seconds",                  \
    "From our close_notify until the client's close_notify or FIN.",                               \
    BucketedHistogram<kCloseBuckets>)                                                              \
  X(shutdown_seconds, "ringgate_shutdown_duration_seconds",                                        \
    "From the close decision until close(2) completed.", BucketedHistogram<kCloseBuckets>)         \
  X(shutdown_pending_bytes, "ringgate_shutdown_pending_bytes",                                     \
    "Bytes still owed to the client when the close was decided.",                                  \
    BucketedHistogram<kPendingBytesBuckets>)

// Metrics of the whole process, not of a worker; rendered after the workers'. Counters, or
// gauges by backend (no `worker` label: the value is the process's).
#define RINGGATE_PROCESS_METRICS(X)                                                       \
  X(log_lines_dropped, "ringgate_log_lines_dropped_total",                                \
    "Log lines dropped because the async queue was full.", Counter)                       \
  X(backend_up, "ringgate_backend_up",                                                    \
    "1 while a backend takes traffic: the active health check (if any) has it up and no " \
    "worker's passive check skips it; else 0.",                                           \
    Labeled<Gauge, BackendLabel>)

#define RINGGATE_METRIC_MEMBER(member, name, help, ...) __VA_ARGS__ member;
struct WorkerMetrics {
  RINGGATE_WORKER_METRICS(RINGGATE_METRIC_MEMBER)
};
#undef RINGGATE_METRIC_MEMBER
// Read once per scrape, so plain values: a number for a counter, one per backend for a gauge.
template <typename T>
struct ProcessValue {
  static_assert(std::is_same_v<T, Counter>);
  using type = uint64_t;
};
template <>
struct ProcessValue<Labeled<Gauge, BackendLabel>> {
  using type = std::array<int64_t, kMaxBackendLabels>;
};
#define RINGGATE_PROCESS_METRIC_VALUE(member, name, help, ...) \
  typename ProcessValue<__VA_ARGS__>::type member{};
struct ProcessMetrics {
  RINGGATE_PROCESS_METRICS(RINGGATE_PROCESS_METRIC_VALUE)
};
#undef RINGGATE_PROCESS_METRIC_VALUE

// The process-wide values the diag module knows (log lines dropped by the async logger); the
// backends' states are filled in by whoever knows them (AdminServer, through BackendsView).
ProcessMetrics ReadProcessMetrics();

// Prometheus text exposition (version 0.0.4) of all shards, then the process metrics: counters
// and histograms summed, gauges per worker.
std::string RenderPrometheus(const std::vector<const WorkerMetrics*>& shards,
                             const ProcessMetrics& process = {});

// One metric family as /metrics shows it: what docs/diagnostics.md's table must list.
struct MetricFamily {
  std::string_view name;
  std::string_view type;  // counter, gauge or histogram
  std::string_view help;
  std::vector<std::string_view> labels;  // `worker` first for gauges; none for `le`
};
// Every family, in the order RenderPrometheus writes them.
const std::vector<MetricFamily>& MetricFamilies();

}  // namespace ringgate

#endif  // RINGGATE_DIAG_METRICS_H_
