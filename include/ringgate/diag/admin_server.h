// admin_server.h
// The operator's window, in plain HTTP on its own address (never the TLS listener), served off
// the workers' threads so that a slow scraper never touches a worker's loop:
//   /metrics      Prometheus text, all workers' shards merged
//   /connections  live connections as JSON (state, age, bytes, worker)
//   /closures     the flight recorder: recently closed connections with their stage timelines
//   /backends     the backend group as JSON: each backend's state, load and health checks
//   /healthz      200 while the process runs
//   /readyz       200, or 503 while draining
//
// One accepting thread, and a short-lived thread per connection (at most kMaxConnections at
// once; beyond that a newcomer gets 503 at once), so a client that stalls delays nobody else.
// Each connection has kRequestDeadline from accept to send its whole request and take the
// answer, then it is dropped. With a token, every request must carry
// `Authorization: Bearer <token>` (else 401); without one, only a loopback address is allowed,
// and only requests addressed to an IP address or localhost are answered (else 403).
//
//   AdminServer admin(workers, draining, token);
//   if (absl::Status s = admin.Listen(address); !s.ok()) ...;  // on main, before Start
//   admin.Start();  ...  admin.Stop();
#ifndef RINGGATE_DIAG_ADMIN_SERVER_H_
#define RINGGATE_DIAG_ADMIN_SERVER_H_

#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "ringgate/config/config.h"
#include "ringgate/diag/metrics.h"

namespace ringgate {

// What the admin endpoint reads from one worker. The worker implements it (proxy/worker.h), so
// that diag observes the workers without depending on them.
enum class SnapshotKind : uint8_t { kConnections, kClosures };
class WorkerView {
 public:
  virtual ~WorkerView() = default;
  // This worker's metrics shard; read while the worker updates it (relaxed atomics).
  virtual const WorkerMetrics& metrics_shard() const = 0;
  // A JSON array of the worker's live connections or recent closures, built on the worker's own
  // thread between two completions; "[]" after `timeout`.
  virtual std::string Snapshot(SnapshotKind kind, std::chrono::milliseconds timeout) = 0;
};

// What the admin endpoint reads about the backend group (proxy/backend_group.h implements it):
// /backends, and the backends' up/down gauge on /metrics. Called on admin threads; what it
// reads of the workers it reads racily (relaxed atomics, no snapshot of all of them at once).
class BackendsView {
 public:
  virtual ~BackendsView() = default;
  // A JSON array, one object per backend (docs/diagnostics.md, /backends).
  virtual std::string BackendsJson() const = 0;
  // Fills `process.backend_up`.
  virtual void FillProcessMetrics(ProcessMetrics& process) const = 0;
};

// IsLoopbackAddress and CheckAdminAccess (who may reach the endpoint) are in config.h: the flags
// are checked with them before anything starts.

class AdminServer {
 public:
  static constexpr int kMaxConnections = 16;
  static constexpr std::chrono::seconds kRequestDeadline{5};

  AdminServer(std::vector<WorkerView*> workers, const std::atomic<bool>& draining,
              std::string token = {})
      : workers_(std::move(workers)), draining_(draining), token_(std::move(token)) {}
  ~AdminServer() { Stop(); }
  // The backend group for /backends and its gauge (none: /backends answers 404). Before Start.
  void set_backends(const BackendsView* backends) { backends_ = backends; }

  // Refuses what CheckAdminAccess refuses, then binds.
  absl::Status Listen(const SocketAddress& address);
  void Start();
  // Joins every thread: each notices within 200 ms.
  void Stop();
  // The response (status line, headers, body) for one request path; public for tests.
  std::string Respond(const std::string& method, const std::string& path);
  // Whether a request head (request line and header fields, without the blank line) may be
  // answered: always without a token; with one, exactly one Authorization field must carry
  // `Bearer <token>` (scheme and field name in any case). Public for tests.
  bool Authorized(std::string_view head) const;
  // Without a token: whether the request's Host names this machine by an IP address or as
  // localhost (or there is no Host: no browser sends that). A web page can
  // rebind its own name to 127.0.0.1 and then read a tokenless endpoint through the visitor's
  // browser; its requests carry that name, and are refused. With a token, always true (the
  // page cannot know it). Public for tests.
  bool AddressedToThisMachine(std::string_view head) const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Session {
    std::thread thread;
    std::atomic<bool> done{false};
  };

  void Serve();
  void HandleConnection(int fd);
  // Waits until `fd` is ready for `events`, in slices that notice Stop(); false at `deadline`.
  bool WaitFor(int fd, short events, Clock::time_point deadline) const;

  std::vector<WorkerView*> workers_;
  const std::atomic<bool>& draining_;
  const std::string token_;
  const BackendsView* backends_ = nullptr;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::list<std::unique_ptr<Session>> sessions_;  // the accepting thread's alone
};

}  // namespace ringgate

#endif  // RINGGATE_DIAG_ADMIN_SERVER_H_
