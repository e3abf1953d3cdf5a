// worker.h
// One worker per core: its own io_uring, its own SO_REUSEPORT listener, its own provided
// buffers, timers and upstream pool. It owns every connection it accepted; nothing on the data
// path is shared with another thread, so nothing is locked.
//
// The loop: submit what is queued and wait (bounded by the next timer), run every completion
// through OnCompletion, then fire expired timers.
#ifndef RINGGATE_PROXY_WORKER_H_
#define RINGGATE_PROXY_WORKER_H_

#include <liburing.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "ringgate/config/config.h"
#include "ringgate/core/buffer_ring.h"
#include "ringgate/core/clock.h"
#include "ringgate/core/ring.h"
#include "ringgate/core/slot_table.h"
#include "ringgate/core/timer_queue.h"
#include "ringgate/core/user_data.h"
#include "ringgate/diag/admin_server.h"
#include "ringgate/diag/closures.h"
#include "ringgate/diag/metrics.h"
#include "ringgate/proxy/backend_group.h"
#include "ringgate/proxy/client_connection.h"
#include "ringgate/proxy/upstream_pool.h"
#include "ringgate/tls/tls_context.h"

namespace ringgate {

class ClientConnection;

class Worker final : public WorkerView, public BackendSelectorSource {
 public:
  // Production: Run creates the worker's io_uring on its own thread; time is CLOCK_MONOTONIC.
  Worker(int id, const Config& config, const TlsContext& tls);
  // Tests: connections submit to `ring` (a FakeRing) and read `clock` (a ManualClock); the recv
  // buffers are mapped but not registered with any kernel ring. Nothing runs a loop: the test
  // hands completions to Dispatch and fires timers with FireTimers.
  Worker(int id, const Config& config, const TlsContext& tls, Ring& ring, Clock& clock);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Binds the listener. Called on the main thread so that "address in use" stops start-up.
  absl::Status Listen();
  // Creates the ring and runs the loop until RequestStop. Called on the worker's own thread
  // (the ring is SINGLE_ISSUER).
  absl::Status Run();
  // Any thread: the loop ends after its current iteration.
  void RequestStop();
  // Any thread: stop accepting, let in-flight requests finish, close idle connections politely,
  // cut what is left at --drain-timeout; the loop ends when no connection remains.
  void RequestDrain();
  // Any thread: new handshakes use `tls` from the next loop iteration on (SIGHUP reload).
  void ReplaceTls(const TlsContext& tls);
  bool draining() const { return draining_; }
  bool finished() const { return finished_.load(); }
  // Any thread: the ring is up and the accept armed (main's READY=1 waits for every worker).
  bool accepting() const { return accepting_.load(std::memory_order_acquire); }
  // Any thread: client connections open now (for the service manager's STATUS line).
  size_t live_connections() const { return live_count_.load(std::memory_order_relaxed); }

  // One completion, routed by its user_data tag to the connection it belongs to (stale ones are
  // counted and dropped). The loop calls it for every CQE; tests call it by hand.
  void Dispatch(uint64_t user_data, int result, uint32_t flags);
  // Wakes every connection whose queued deadline has come (by the injected clock).
  void FireTimers();
  // A freshly accepted client socket: a slot, an id, and its handshake starts.
  void AdoptConnection(int fd);

  // Services for connections.
  int id() const { return id_; }
  const Config& config() const { return config_; }
  const TlsContext& tls() const { return tls_; }
  int64_t drain_deadline_ns() const { return drain_deadline_ns_; }
  // Inside Run, the time read when the loop woke (refreshed every kCompletionsPerClockRead
  // completions): connections ask for it a dozen times per request, and one clock read per
  // batch costs a fraction of that. Outside Run (tests driving Dispatch by hand), the clock.
  int64_t NowNs() const { return loop_now_ns_ != 0 ? loop_now_ns_ : clock_->NowNs(); }
  Ring& ring() { return *ring_; }
  io_uring_sqe* Sqe() { return ring_->Sqe(); }  // never null
  BufferRing& buffers() { return buffers_; }
  // Null when --diagnostics=false: every update site checks, so nothing is counted.
  WorkerMetrics* metrics() { return config_.diagnostics ? &metrics_ : nullptr; }
  const WorkerMetrics& metrics_shard() const override { return metrics_; }
  void RecordClosure(ClosureRecord record) { closures_.Add(std::move(record)); }
  const ClosureRecorder& closures() const { return closures_; }
  // This loop iteration's access-log lines (null when the access log is off); handed to the
  // logger as one message at the end of the iteration.
  fmt::memory_buffer* access_batch() { return access_log_on_ ? &access_batch_ : nullptr; }
  // Any thread: a JSON array of this worker's live connections or recent closures, built by the
  // worker itself between two completions. Empty array after `timeout`.
  std::string Snapshot(SnapshotKind kind, std::chrono::milliseconds timeout) override;
  // Queues a wake-up for a client connection. The connection keeps at most one entry queued and
  // decides, when it fires, whether its real deadline has moved later (see
  // ClientConnection::OnTimer).
  void ArmTimer(int64_t deadline_ns, uint32_t slot, uint32_t generation) {
    timers_.Arm(deadline_ns, slot, generation);
  }

  ClientConnection* Client(uint32_t slot, uint32_t generation);
  UpstreamPool& upstreams() { return upstreams_; }
  // The backend group as this worker sees it: its choice, load and passive health of each.
  BackendSelector& backends() { return backends_; }
  const BackendSelector& backend_selector() const override { return backends_; }
  // Where new connections to `backend` go (this worker's copy; ReplaceBackendAddresses).
  const SocketAddress& backend_address(size_t backend) const { return backend_addresses_[backend]; }
  // Before Run: the active health check's verdicts (none: every backend counts as up).
  void set_backend_health(const BackendHealthBoard* board) { backends_.set_health_board(board); }
  // Any thread: new backend connections go to `addresses` (re-resolved on SIGHUP) from the next
  // loop iteration on; pooled ones stay until they end.
  void ReplaceBackendAddresses(std::vector<SocketAddress> addresses);
  void FreeClientSlot(uint32_t slot) {
    clients_.Release(slot);
    live_count_.store(clients_.in_use(), std::memory_order_relaxed);
  }
  size_t live_clients() const { return clients_.in_use(); }
  // The connection in `slot`, in use or not (tests).
  ClientConnection* ClientAt(uint32_t slot) { return clients_.At(slot); }

 private:
  absl::Status SetUpRing();
  void ArmAccept();
  void ArmWake();
  void Wake();
  void OnAccept(int result, uint32_t flags);
  void PauseAccepting(int error);
  void OnAcceptRetry();
  void CloseListenerForDrain();
  int64_t NextTimerDelayNs() const;
  void ServeSnapshots();
  // Hands free heap memory back to the kernel once this worker's connections have fallen to
  // half their peak (at most once a second): buffers a flood of connections grew are kept in the
  // heap by design (main.cc, KeepLargeBuffersInTheHeap), and would otherwise stay resident.
  void TrimHeapAfterConnectionsEnd(int64_t now_ns);
  void ApplyControlRequests();  // reload and drain, on the worker's own thread
  // A completion for a connection that is gone (or an untagged one): counted, its buffer returned.
  void DropStaleCompletion(uint32_t flags);
  void StartDrain();
  void CutAtDrainDeadline();
  // Hands the access-log batch to the logger when it is large or old enough (or `force`):
  // each hand-off wakes the logging thread, so it is not done per request.
  void FlushAccessLog(bool force);

  // How many completions the last wake-up must have brought before the next wait may gather a
  // batch (--batch-wait): below it the worker is lightly loaded and answers each at once.
  static constexpr unsigned kBusyBatch = 4;
  // Completions handled between two clock reads inside a batch (NowNs).
  static constexpr unsigned kCompletionsPerClockRead = 16;

  const int id_;
  const Config& config_;
  TlsContext tls_;  // replaced on reload; sessions keep their own reference to the old one
  MonotonicClock monotonic_clock_;
  const Clock* clock_ = &monotonic_clock_;
  int64_t loop_now_ns_ = 0;           // 0 outside Run; see NowNs
  std::unique_ptr<UringRing> uring_;  // production only; ring_ points at it
  Ring* ring_ = nullptr;
  BufferRing buffers_;
  int listen_fd_ = -1;
  // Accepting pauses (no accept armed) after EMFILE/ENFILE/ENOBUFS/ENOMEM; see PauseAccepting.
  bool accept_paused_ = false;
  int64_t accept_backoff_ms_ = 0;
  __kernel_timespec accept_retry_after_{};  // read by the kernel until the timeout completes
  int wake_fd_ = -1;
  uint64_t wake_value_ = 0;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> drain_requested_{false};
  std::atomic<bool> finished_{false};
  std::atomic<bool> accepting_{false};
  std::atomic<size_t> live_count_{0};
  bool draining_ = false;
  bool drain_cut_done_ = false;
  int64_t drain_deadline_ns_ = 0;
  std::optional<TlsContext> pending_tls_;                                // guarded by snapshot_mu_
  std::optional<std::vector<SocketAddress>> pending_backend_addresses_;  // guarded by snapshot_mu_
  std::vector<SocketAddress> backend_addresses_;
  BackendSelector backends_;
  uint64_t next_connection_sequence_ = 1;

  SlotTable<ClientConnection> clients_;
  UpstreamPool upstreams_{*this};
  size_t peak_clients_since_trim_ = 0;
  int64_t next_trim_allowed_ns_ = 0;
  bool trim_pending_ = false;  // connections fell, but a trim ran less than a second ago
  TimerQueue timers_;
  WorkerMetrics metrics_;
  ClosureRecorder closures_;
  bool access_log_on_ = false;
  fmt::memory_buffer access_batch_;
  int64_t access_flush_due_ns_ = 0;

  // Snapshot hand-off with the admin thread: touched only when the admin endpoint is asked.
  std::mutex snapshot_mu_;
  std::condition_variable snapshot_cv_;
  uint64_t snapshot_requested_ = 0;
  uint64_t snapshot_served_ = 0;
  std::string snapshot_connections_;
  std::string snapshot_closures_;
};

}  // namespace ringgate

#endif  // RINGGATE_PROXY_WORKER_H_
