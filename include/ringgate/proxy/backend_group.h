// backend_group.h
// The backends a request may go to (--backend), how each worker chooses one (--lb), and what it
// knows of their health. Nothing here is locked on the data path:
//
//   BackendHealthBoard  one per process: the active health check (health_checker.h) writes its
//                       verdicts, workers read them (one atomic per backend).
//   BackendSelector     one per worker, used by that worker's thread only: the choice (p2c,
//                       round robin, ip_hash), requests in flight, and passive health: a backend
//                       that fails --backend-max-fails times in a row (refused, reset before
//                       answering, timed out) is skipped for --backend-fail-timeout, then tried
//                       again; one answer resets its count. The counters /backends shows are
//                       relaxed atomics with this one writer, read racily by the admin thread.
//   BackendGroupView    /backends and the ringgate_backend_up gauge for the admin endpoint.
//
//   BackendSelector& selector = worker.backends();
//   const int b = selector.Pick(client_ip, now_ns);   // -1: every backend down or skipped
//   selector.OnRequestStarted(b);
//   ... selector.OnFailure(b, BackendFailure::kRefused, now_ns) or selector.OnSuccess(b) ...
//   selector.OnRequestEnded(b);
#ifndef RINGGATE_PROXY_BACKEND_GROUP_H_
#define RINGGATE_PROXY_BACKEND_GROUP_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/config/config.h"
#include "ringgate/diag/admin_server.h"
#include "ringgate/diag/metrics.h"

namespace ringgate {

static_assert(kMaxBackends == static_cast<size_t>(kMaxBackendLabels),
              "every backend needs its metric cells");

// A value one thread writes and others read without tearing (relaxed: nothing is ordered by it).
template <typename T>
class SingleWriterValue {
 public:
  T Get() const { return value_.load(std::memory_order_relaxed); }
  void Set(T value) { value_.store(value, std::memory_order_relaxed); }
  void Add(T n) { Set(Get() + n); }

 private:
  std::atomic<T> value_{0};
};

// The active health check's view of each backend, shared by every thread.
class BackendHealthBoard {
 public:
  // Failures (and successes) in a row that turn a backend down (and up again).
  static constexpr uint32_t kChecksToFlip = 2;
  struct Entry {
    std::atomic<bool> down{false};  // until the first verdict a backend counts as up
    SingleWriterValue<int64_t> last_check_unix_ms;  // 0: not checked yet
    SingleWriterValue<int> last_status;             // the last answer's HTTP status; 0: none
    SingleWriterValue<int> last_error;  // why there was none: an errno (ETIMEDOUT, EPROTO...)
    SingleWriterValue<uint32_t> failures_in_a_row;
    SingleWriterValue<uint32_t> successes_in_a_row;
  };

  BackendHealthBoard(std::vector<SocketAddress> backends, bool checks_enabled);
  size_t size() const { return size_; }
  bool checks_enabled() const { return checks_enabled_; }
  bool down(size_t backend) const { return entries_[backend].down.load(std::memory_order_relaxed); }
  const Entry& entry(size_t backend) const { return entries_[backend]; }
  // One probe's outcome (the checker's thread only): `status` the HTTP status (0 if none came),
  // `error` an errno when none came. True when the backend's state changed.
  bool RecordCheck(size_t backend, int status, int error, int64_t unix_ms);

  // The addresses as last resolved (start-up, then each SIGHUP). Not the data path: workers keep
  // their own copy; the checker and /backends read this one.
  std::vector<SocketAddress> addresses() const;
  void set_addresses(std::vector<SocketAddress> addresses);

 private:
  const size_t size_;
  const bool checks_enabled_;
  std::unique_ptr<Entry[]> entries_;
  mutable std::mutex addresses_mu_;
  std::vector<SocketAddress> addresses_;
};

// One worker's choice of backend and its passive health of each.
class BackendSelector {
 public:
  BackendSelector(const Config& config, int worker_id, uint64_t seed);

  void set_health_board(const BackendHealthBoard* board) { board_ = board; }
  // Where to count requests and failures per backend (null: nowhere).
  void set_metrics(WorkerMetrics* metrics) { metrics_ = metrics; }
  size_t size() const { return states_.size(); }

  // The backend for a request from `client_ip` by --lb among the usable ones other than
  // `exclude` (a retry's failed backend), or -1 when there is none.
  int Pick(std::string_view client_ip, int64_t now_ns, int exclude = -1);
  // Not down by the active check and not skipped by this worker's passive check.
  bool Usable(size_t backend, int64_t now_ns) const;

  void OnRequestStarted(size_t backend);
  void OnRequestEnded(size_t backend);
  // The backend answered: its count of failures in a row starts again.
  void OnSuccess(size_t backend);
  // An attempt failed; the one that reaches --backend-max-fails starts a skip (logged).
  void OnFailure(size_t backend, BackendFailure kind, int64_t now_ns);
  // Seconds until a backend may take traffic again (a skip ends, or two health checks pass):
  // the Retry-After of a 503 when none can. At least 1.
  int64_t RetryAfterSeconds(int64_t now_ns) const;

  // For /backends, from any thread (racy: each value on its own).
  int64_t in_flight(size_t backend) const { return states_[backend].in_flight.Get(); }
  uint64_t requests(size_t backend) const { return states_[backend].requests.Get(); }
  uint32_t failures_in_a_row(size_t backend) const {
    return states_[backend].failures_in_a_row.Get();
  }
  bool Skipping(size_t backend, int64_t now_ns) const {
    return states_[backend].skipped_until_ns.Get() > now_ns;
  }

 private:
  struct State {
    SingleWriterValue<int64_t> in_flight;
    SingleWriterValue<uint64_t> requests;
    SingleWriterValue<uint32_t> failures_in_a_row;
    SingleWriterValue<int64_t> skipped_until_ns;  // 0: not skipped
    uint64_t name_hash = 0;                       // ip_hash: the backend's side of the score
  };
  uint64_t NextRandom();
  int PickTwoChoices(const int* usable, size_t count);
  int PickRoundRobin(int64_t now_ns, int exclude);
  int PickByClientHash(std::string_view client_ip, const int* usable, size_t count) const;

  const Config& config_;
  const int worker_id_;
  const BackendHealthBoard* board_ = nullptr;
  WorkerMetrics* metrics_ = nullptr;
  std::vector<State> states_;  // built at its size once: atomics do not move
  uint64_t random_state_;
  size_t round_robin_next_ = 0;
};

// Reads a selector from each worker, for the admin endpoint. Implemented by the proxy's workers.
class BackendSelectorSource {
 public:
  virtual ~BackendSelectorSource() = default;
  virtual const BackendSelector& backend_selector() const = 0;
};

// /backends and ringgate_backend_up: the board and every worker's selector, read racily.
class BackendGroupView final : public BackendsView {
 public:
  BackendGroupView(const Config& config, const BackendHealthBoard& board,
                   std::vector<const BackendSelectorSource*> workers)
      : config_(config), board_(board), workers_(std::move(workers)) {}
  std::string BackendsJson() const override;
  void FillProcessMetrics(ProcessMetrics& process) const override;

 private:
  const Config& config_;
  const BackendHealthBoard& board_;
  std::vector<const BackendSelectorSource*> workers_;
};

}  // namespace ringgate

#endif  // RINGGATE_PROXY_BACKEND_GROUP_H_
