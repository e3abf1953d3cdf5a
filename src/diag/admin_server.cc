#include "diag/admin_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/worker.h"
#include "fmt/format.h"
#include "ringgate/log.h"
#include "ringgate/metrics.h"

namespace ringgate {
namespace {

std::string HttpResponse(int status, std::string_view reason, std::string_view content_type,
                         std::string_view body) {
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
      status, reason, content_type, body.size(), body);
}

}  // namespace

absl::Status AdminServer::Listen(const SocketAddress& address) {
  listen_fd_ = socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return absl::InternalError(fmt::format("admin socket: {}", std::strerror(errno)));
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listen_fd_, address.get(), address.length) != 0 || listen(listen_fd_, 64) != 0) {
    return absl::UnavailableError(fmt::format("cannot listen on --admin-listen {}: {}",
                                              address.text, std::strerror(errno)));
  }
  return absl::OkStatus();
}

void AdminServer::Start() {
  if (listen_fd_ < 0) return;
  thread_ = std::thread([this] { Serve(); });
}

void AdminServer::Stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
}

void AdminServer::Serve() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;  // wakes to notice Stop()
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    HandleConnection(fd);
    close(fd);
  }
}

void AdminServer::HandleConnection(int fd) {
  timeval timeout{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16384) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  const size_t line_end = request.find("\r\n");
  const std::string line = request.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.find(' ', sp1 + 1);
  std::string response;
  if (sp1 == std::string::npos || sp2 == std::string::npos) {
    response = HttpResponse(400, "Bad Request", "text/plain", "bad request\n");
  } else {
    std::string path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (size_t q = path.find('?'); q != std::string::npos) path.resize(q);
    response = Respond(line.substr(0, sp1), path);
  }
  size_t sent = 0;
  while (sent < response.size()) {
    ssize_t n = send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
}

std::string AdminServer::Respond(const std::string& method, const std::string& path) {
  if (method != "GET" && method != "HEAD") {
    return HttpResponse(405, "Method Not Allowed", "text/plain", "GET only\n");
  }
  if (path == "/metrics") {
    std::vector<const WorkerMetrics*> shards;
    for (Worker* w : workers_) shards.push_back(&w->metrics_shard());
    std::string body = RenderPrometheus(shards);
    body += fmt::format(
        "# HELP ringgate_log_lines_dropped_total Log lines dropped because the async queue was full.\n"
        "# TYPE ringgate_log_lines_dropped_total counter\nringgate_log_lines_dropped_total {}\n",
        DroppedLogLines());
    return HttpResponse(200, "OK", "text/plain; version=0.0.4", body);
  }
  if (path == "/connections" || path == "/closures") {
    const SnapshotKind kind =
        path == "/connections" ? SnapshotKind::kConnections : SnapshotKind::kClosures;
    std::string body = "[";
    for (Worker* w : workers_) {
      std::string part = w->Snapshot(kind, std::chrono::milliseconds(1000));
      if (part.size() > 2) {  // "[...]" with something inside
        if (body.size() > 1) body += ',';
        body.append(part, 1, part.size() - 2);
      }
    }
    body += "]\n";
    return HttpResponse(200, "OK", "application/json", body);
  }
  if (path == "/healthz") return HttpResponse(200, "OK", "text/plain", "ok\n");
  if (path == "/readyz") {
    return draining_.load() ? HttpResponse(503, "Service Unavailable", "text/plain", "draining\n")
                            : HttpResponse(200, "OK", "text/plain", "ready\n");
  }
  return HttpResponse(404, "Not Found", "text/plain",
                      "try /metrics /connections /closures /healthz /readyz\n");
}

}  // namespace ringgate
