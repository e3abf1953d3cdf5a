// The active health check's thread: a round of concurrent probes, then a wait that Stop() cuts
// short.
#include "ringgate/proxy/health_checker.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fmt/format.h"
#include "ringgate/core/log.h"

namespace ringgate {
namespace {

using SteadyClock = std::chrono::steady_clock;

// One backend's probe in a round.
struct Probe {
  int fd = -1;
  bool connected = false;
  bool done = false;
  size_t sent = 0;
  std::string request;
  std::string response;
  int status = 0;  // the status line's code, once it arrived
  int error = 0;   // why none did
};

// "HTTP/1.1 200 OK\r\n" -> 200; 0 while the line is incomplete, -1 if it is not a status line.
int StatusFrom(const std::string& response) {
  const size_t end = response.find("\r\n");
  if (end == std::string::npos) return response.size() > 1024 ? -1 : 0;
  if (end < 12 || response.compare(0, 7, "HTTP/1.") != 0 || response[8] != ' ') return -1;
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (response[i] < '0' || response[i] > '9') return -1;
    code = code * 10 + (response[i] - '0');
  }
  return code;
}

void Finish(Probe& p, int status, int error) {
  p.done = true;
  p.status = status;
  p.error = error;
  if (p.fd >= 0) close(p.fd);
  p.fd = -1;
}

}  // namespace

absl::Status HealthChecker::Start() {
  if (config_.health_check_path.empty() || thread_.joinable()) return absl::OkStatus();
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    return absl::InternalError(absl::StrCat("health check eventfd: ", std::strerror(errno)));
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void HealthChecker::Stop() {
  stopping_.store(true);
  if (stop_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (stop_fd_ >= 0) {
    close(stop_fd_);
    stop_fd_ = -1;
  }
}

bool HealthChecker::WaitForStop(SteadyClock::time_point deadline) const {
  while (!stopping_.load()) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return false;
    pollfd p{stop_fd_, POLLIN, 0};
    (void)poll(&p, 1, static_cast<int>(left.count()));
  }
  return true;
}

void HealthChecker::Run() {
  const auto interval = absl::ToChronoMilliseconds(config_.health_check_interval);
  while (!stopping_.load()) {
    const SteadyClock::time_point round_start = SteadyClock::now();
    ProbeAll();
    if (WaitForStop(round_start + interval)) break;
  }
}

void HealthChecker::ProbeAll() {
  const std::vector<SocketAddress> addresses = board_.addresses();
  const auto timeout = std::min(absl::ToChronoMilliseconds(config_.health_check_interval),
                                std::chrono::milliseconds(1000));
  const SteadyClock::time_point deadline = SteadyClock::now() + timeout;
  std::vector<Probe> probes(addresses.size());
  for (size_t b = 0; b < addresses.size(); ++b) {
    Probe& p = probes[b];
    p.request = fmt::format(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: ringgate-health-check\r\n"
        "Connection: close\r\n\r\n",
        config_.health_check_path, config_.backends[b].text);
    p.fd = socket(addresses[b].family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (p.fd < 0) {
      Finish(p, 0, errno);
      continue;
    }
    int one = 1;
    setsockopt(p.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(p.fd, addresses[b].get(), addresses[b].length) == 0) {
      p.connected = true;
    } else if (errno != EINPROGRESS) {
      Finish(p, 0, errno);
    }
  }
  while (!stopping_.load()) {
    std::vector<pollfd> fds;
    std::vector<size_t> owners;
    for (size_t b = 0; b < probes.size(); ++b) {
      const Probe& p = probes[b];
      if (p.done) continue;
      const bool writing = !p.connected || p.sent < p.request.size();
      fds.push_back({p.fd, static_cast<short>(writing ? POLLOUT : POLLIN), 0});
      owners.push_back(b);
    }
    if (fds.empty()) break;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) break;
    fds.push_back({stop_fd_, POLLIN, 0});
    if (poll(fds.data(), fds.size(), static_cast<int>(left.count())) <= 0) continue;
    for (size_t k = 0; k < owners.size(); ++k) {
      if (fds[k].revents == 0) continue;
      Probe& p = probes[owners[k]];
      if (!p.connected) {
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
          Finish(p, 0, error);
          continue;
        }
        p.connected = true;
      }
      if (p.sent < p.request.size()) {
        const ssize_t n =
            send(p.fd, p.request.data() + p.sent, p.request.size() - p.sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) Finish(p, 0, errno);
        if (n > 0) p.sent += static_cast<size_t>(n);
        continue;
      }
      char buf[2048];
      const ssize_t n = recv(p.fd, buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) {
        Finish(p, 0, n == 0 ? EPROTO : errno);  // closed or reset before a status line
        continue;
      }
      p.response.append(buf, static_cast<size_t>(n));
      if (const int status = StatusFrom(p.response); status != 0) {
        Finish(p, std::max(status, 0), status < 0 ? EPROTO : 0);
      }
    }
  }
  if (stopping_.load()) {
    for (Probe& p : probes) {
      if (!p.done) Finish(p, 0, ECANCELED);
    }
    return;  // no verdict from an interrupted round
  }
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  for (size_t b = 0; b < probes.size(); ++b) {
    Probe& p = probes[b];
    if (!p.done) Finish(p, 0, ETIMEDOUT);
    if (!board_.RecordCheck(b, p.status, p.error, now_ms)) continue;
    const bool down = board_.down(b);
    LogLine(down ? spdlog::level::warn : spdlog::level::info,
            down ? "backend down by health check" : "backend up by health check")
        .With("backend", config_.backends[b].text)
        .With("path", config_.health_check_path)
        .With("result", p.status != 0 ? std::to_string(p.status) : std::strerror(p.error));
  }
}

}  // namespace ringgate
