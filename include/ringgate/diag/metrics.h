// metrics.h
// Per-worker metric shards, merged when scraped. A worker is the only writer of its shard, so
// an increment is a relaxed load and store (a plain add on x86: no lock prefix, no fence); the
// admin thread reads with relaxed loads and may see a value one update old, never a torn one.
//
// Every metric has a help string and its unit in its name (_total, _seconds, _bytes), and the
// whole list is in this file.
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
#include <string>
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
using Counter = RelaxedCell<uint64_t>;
using Gauge = RelaxedCell<int64_t>;

// Cumulative histogram with fixed upper bounds (Prometheus `le`), plus +Inf, sum and count.
class Histogram {
 public:
  static constexpr size_t kMaxBuckets = 16;
  explicit Histogram(std::initializer_list<double> upper_bounds);
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

enum class HandshakeResult : uint8_t { kOk, kFailed };
enum class TlsVersionLabel : uint8_t { kTls12, kTls13, kUnknown };
inline constexpr int kTlsVersionLabels = 3;
// Why our close_notify was not sent.
enum class NoCloseNotifyReason : uint8_t {
  kAbort,        // a cut response or an error: the client must not see a clean end
  kPeerReset,    // the client reset the connection
  kNoHandshake,  // the handshake never completed
};
inline constexpr int kNoCloseNotifyReasons = 3;
inline constexpr int kTerminationCauses = 6;
inline constexpr int kCloseInitiators = 6;

struct WorkerMetrics {
  Counter connections_accepted;
  Counter connections_refused;  // over --max-conns
  Counter accept_pauses;        // accepting paused: out of descriptors or memory
  std::array<std::array<Counter, kCloseInitiators>, kTerminationCauses> connections_closed;
  std::array<std::array<Counter, kTlsVersionLabels>, 2> handshakes;  // [result][version]
  std::array<Counter, kTlsGroupLabels> handshakes_by_group;         // completed, by TlsGroup
  std::array<Counter, 5> requests_by_status_class;                  // 1xx..5xx
  Counter tls_bytes_received;
  Counter tls_bytes_sent;
  Counter http_bytes_received;
  Counter http_bytes_sent;
  Counter close_notify_sent;
  Counter close_notify_received;
  std::array<Counter, kNoCloseNotifyReasons> close_notify_not_sent;
  Counter released_with_unread_input;
  Counter drain_cut;  // connections still open at --drain-timeout
  Counter bytes_drained_after_close_notify;
  Counter uring_submissions;
  Counter uring_completions;
  Counter uring_cq_overflows;  // loop iterations that found completions waiting in the overflow list
  Counter uring_stale_completions;
  Counter uring_recv_enobufs;
  Counter send_zc;         // client sends submitted as zero-copy (--send-zc-threshold)
  Counter send_zc_copied;  // of those, the ones the kernel reported it copied after all
  // The most user-space bytes one connection of this worker has held (--max-conn-buffer).
  Gauge connection_buffered_bytes_max;
  Counter requests_abandoned;  // requests left unanswered after the client went: over --max-pipelined
  Counter memory_trims;        // free heap memory handed back to the kernel after connections ended
  std::array<Gauge, kLifecycleStateCount> connections_in_state;

  Histogram handshake_seconds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  Histogram request_seconds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  Histogram shutdown_flush_seconds{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};
  Histogram shutdown_peer_close_seconds{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10};
  Histogram shutdown_seconds{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10};
  Histogram shutdown_pending_bytes{0, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216};
};

// Prometheus text exposition (version 0.0.4) of all shards: counters and histograms summed,
// gauges per worker.
std::string RenderPrometheus(const std::vector<const WorkerMetrics*>& shards);

}  // namespace ringgate

#endif  // RINGGATE_DIAG_METRICS_H_
