// health_checker.h
// The active health check (--health-check-path): one thread, off the data path, that every
// --health-check-interval sends `GET <path>` with the backend's Host to each backend at once
// (non-blocking sockets and poll) and gives each a short deadline (the interval, at most 1 s). A
// 2xx or 3xx status line is a success; a refusal, a reset, another status or silence is a
// failure. Two failures in a row mark the backend down on the BackendHealthBoard, two successes
// bring it back up; workers read the verdict from there without a lock.
//
// Stop() wakes the thread at once (an eventfd in every poll), whether it is probing or waiting
// for the next round, and joins it.
//
//   HealthChecker checker(config, board);
//   if (absl::Status s = checker.Start(); !s.ok()) ...;
//   ...
//   checker.Stop();  // drain or exit
#ifndef RINGGATE_PROXY_HEALTH_CHECKER_H_
#define RINGGATE_PROXY_HEALTH_CHECKER_H_

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/status/status.h"
#include "ringgate/config/config.h"
#include "ringgate/proxy/backend_group.h"

namespace ringgate {

class HealthChecker {
 public:
  HealthChecker(const Config& config, BackendHealthBoard& board) : config_(config), board_(board) {}
  ~HealthChecker() { Stop(); }
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Starts the thread (nothing to do without --health-check-path).
  absl::Status Start();
  // Any thread, any number of times: the thread ends within a poll wake-up and is joined.
  void Stop();
  // One round on the calling thread: every backend probed once, verdicts recorded (tests).
  void ProbeAll();

 private:
  void Run();
  // Waits for the stop eventfd until `deadline`; true when stopping.
  bool WaitForStop(std::chrono::steady_clock::time_point deadline) const;

  const Config& config_;
  BackendHealthBoard& board_;
  int stop_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace ringgate

#endif  // RINGGATE_PROXY_HEALTH_CHECKER_H_
