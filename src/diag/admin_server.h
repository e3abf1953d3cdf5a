// admin_server.h
// The operator's window, in plain HTTP on its own address (never the TLS listener), served by
// one thread of its own so that a slow scraper never touches a worker's loop:
//   /metrics      Prometheus text, all workers' shards merged
//   /connections  live connections as JSON (state, age, bytes, worker)
//   /closures     the flight recorder: recently closed connections with their stage timelines
//   /healthz      200 while the process runs
//   /readyz       200, or 503 while draining
#ifndef RINGGATE_DIAG_ADMIN_SERVER_H_
#define RINGGATE_DIAG_ADMIN_SERVER_H_

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "ringgate/config.h"

namespace ringgate {

class Worker;

class AdminServer {
 public:
  AdminServer(std::vector<Worker*> workers, const std::atomic<bool>& draining)
      : workers_(std::move(workers)), draining_(draining) {}
  ~AdminServer() { Stop(); }

  absl::Status Listen(const SocketAddress& address);
  void Start();
  void Stop();
  // The response (status line, headers, body) for one request path; public for tests.
  std::string Respond(const std::string& method, const std::string& path);

 private:
  void Serve();
  void HandleConnection(int fd);

  std::vector<Worker*> workers_;
  const std::atomic<bool>& draining_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace ringgate

#endif  // RINGGATE_DIAG_ADMIN_SERVER_H_
