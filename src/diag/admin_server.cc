#include "ringgate/diag/admin_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "fmt/format.h"
#include "ringgate/config/config.h"
#include "ringgate/diag/admin_page.h"
#include "ringgate/diag/metrics.h"

namespace ringgate {
namespace {

constexpr size_t kMaxRequestHead = 16384;

std::string HttpResponse(int status, std::string_view reason, std::string_view content_type,
                         std::string_view body, std::string_view extra_headers = {}) {
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{}",
      status, reason, content_type, body.size(), extra_headers, body);
}

// Compares in time that depends on the lengths only, not on where the bytes first differ.
bool SameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The trimmed values of every header field called `name` (any case), in order; the request line
// is skipped.
std::vector<std::string_view> FieldValues(std::string_view head, std::string_view name) {
  std::vector<std::string_view> values;
  for (size_t at = head.find("\r\n"); at != std::string_view::npos && at < head.size();) {
    at += 2;
    size_t end = head.find("\r\n", at);
    if (end == std::string_view::npos) end = head.size();
    const std::string_view line = head.substr(at, end - at);
    at = end;
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos && EqualsIgnoreCase(line.substr(0, colon), name)) {
      values.push_back(TrimSpaces(line.substr(colon + 1)));
    }
  }
  return values;
}

}  // namespace

absl::Status AdminServer::Listen(const SocketAddress& address) {
  if (absl::Status s = CheckAdminAccess(address, token_); !s.ok()) return s;
  listen_fd_ = socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0)
    return absl::InternalError(fmt::format("admin socket: {}", std::strerror(errno)));
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listen_fd_, address.get(), address.length) != 0 || listen(listen_fd_, 64) != 0) {
    return absl::UnavailableError(
        fmt::format("cannot listen on --admin-listen {}: {}", address.text, std::strerror(errno)));
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
    const int ready = poll(&p, 1, 200);  // wakes to notice Stop()
    sessions_.remove_if([](const std::unique_ptr<Session>& s) {
      if (!s->done.load()) return false;
      s->thread.join();
      return true;
    });
    if (ready <= 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;
    if (sessions_.size() >= static_cast<size_t>(kMaxConnections)) {
      const std::string busy = HttpResponse(503, "Service Unavailable", "text/plain",
                                            "busy: too many admin connections\n");
      (void)!send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      close(fd);
      continue;
    }
    auto session = std::make_unique<Session>();
    Session* raw = session.get();
    try {
      raw->thread = std::thread([this, raw, fd] {
        HandleConnection(fd);
        close(fd);
        raw->done.store(true);
      });
    } catch (const std::system_error&) {
      close(fd);  // no thread to be had: the client retries
      continue;
    }
    sessions_.push_back(std::move(session));
  }
  for (auto& s : sessions_) s->thread.join();
  sessions_.clear();
}

bool AdminServer::WaitFor(int fd, short events, Clock::time_point deadline) const {
  while (!stopping_.load()) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int ready = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 200)));
    if (ready > 0) return true;  // also on POLLHUP/POLLERR: the next recv/send says which
    if (ready < 0 && errno != EINTR) return false;
  }
  return false;
}

bool AdminServer::AddressedToThisMachine(std::string_view head) const {
  if (!token_.empty()) return true;
  const std::vector<std::string_view> hosts = FieldValues(head, "host");
  // No Host at all: not a browser (every browser sends one), so no rebinding either.
  if (hosts.empty()) return true;
  if (hosts.size() > 1 || hosts[0].empty()) return false;
  std::string_view host = hosts[0];
  // What a browser puts in Host for an address or a name, and nothing else (no NUL, no space).
  const bool plain = std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
           c == '[' || c == ']';
  });
  if (!plain) return false;
  // ":digits" or nothing after the address or name.
  auto port_or_nothing = [](std::string_view rest) {
    return rest.empty() ||
           (rest.front() == ':' &&
            std::all_of(rest.begin() + 1, rest.end(), [](char c) { return c >= '0' && c <= '9'; }));
  };
  if (host.front() == '[') {  // [IPv6]:port
    const size_t close = host.find(']');
    if (close == std::string_view::npos || !port_or_nothing(host.substr(close + 1))) return false;
    const std::string literal(host.substr(1, close - 1));
    in6_addr v6;
    return inet_pton(AF_INET6, literal.c_str(), &v6) == 1;
  }
  if (const size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    if (!port_or_nothing(host.substr(colon))) return false;
    host = host.substr(0, colon);
  }
  in_addr v4;
  if (inet_pton(AF_INET, std::string(host).c_str(), &v4) == 1) return true;
  // localhost itself only: a name under .localhost is safe only where the resolver keeps it
  // local (RFC 6761 asks it to; not every one does).
  return EqualsIgnoreCase(host, "localhost") || EqualsIgnoreCase(host, "localhost.");
}

bool AdminServer::Authorized(std::string_view head) const {
  if (token_.empty()) return true;
  const std::vector<std::string_view> values = FieldValues(head, "authorization");
  if (values.size() != 1) return false;
  constexpr std::string_view kScheme = "bearer ";
  const std::string_view value = values[0];
  return value.size() > kScheme.size() &&
         EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme) &&
         SameSecret(TrimSpaces(value.substr(kScheme.size())), token_);
}

void AdminServer::HandleConnection(int fd) {
  const Clock::time_point deadline = Clock::now() + kRequestDeadline;
  std::string request;
  char buf[4096];
  size_t head_end = std::string::npos;
  while ((head_end = request.find("\r\n\r\n")) == std::string::npos) {
    if (request.size() > kMaxRequestHead) {
      const std::string r = HttpResponse(431, "Request Header Fields Too Large", "text/plain",
                                         "request head too large\n");
      (void)!send(fd, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      return;
    }
    if (!WaitFor(fd, POLLIN, deadline)) {
      // Whole request not in by the deadline (or stopping): dropped.
      const std::string r = HttpResponse(408, "Request Timeout", "text/plain", "request timeout\n");
      (void)!send(fd, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      return;
    }
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) return;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return;
    }
    request.append(buf, static_cast<size_t>(n));
  }
  const std::string_view head(request.data(), head_end);
  const std::string_view line = head.substr(0, head.find("\r\n"));
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  std::string response;
  std::string path;
  if (sp1 != std::string_view::npos && sp2 != std::string_view::npos) {
    path = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
    if (size_t q = path.find('?'); q != std::string::npos) path.resize(q);
  }
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) {
    response = HttpResponse(400, "Bad Request", "text/plain", "bad request\n");
  } else if (!AddressedToThisMachine(head)) {
    response = HttpResponse(
        403, "Forbidden", "text/plain",
        "without --admin-token, the admin endpoint answers only requests addressed to an IP "
        "address or localhost (a name could be a web page's, rebound to this machine)\n");
  } else if (path == "/" && (line.substr(0, sp1) == "GET" || line.substr(0, sp1) == "HEAD")) {
    // The page is code without data: it is served without the token, and its script sends the
    // token the user types with every request for data.
    response =
        HttpResponse(200, "OK", "text/html; charset=utf-8", AdminPageHtml(), AdminPageHeaders());
  } else if (!Authorized(head)) {
    response = HttpResponse(401, "Unauthorized", "text/plain", "missing or wrong admin token\n",
                            "WWW-Authenticate: Bearer realm=\"ringgate admin\"\r\n");
  } else {
    response = Respond(std::string(line.substr(0, sp1)), path);
  }
  if (line.substr(0, sp1) == "HEAD") {
    // The same head as GET's, Content-Length included, and no body (RFC 9110, 9.3.2).
    response.resize(response.find("\r\n\r\n") + 4);
  }
  // Building the answer may wait on the workers (up to a second each): the client's deadline
  // does not shrink below a second for taking it.
  const Clock::time_point send_deadline =
      std::max(deadline, Clock::now() + std::chrono::seconds(1));
  size_t sent = 0;
  while (sent < response.size()) {
    const ssize_t n = send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) &&
        WaitFor(fd, POLLOUT, send_deadline)) {
      continue;
    }
    return;
  }
  shutdown(fd, SHUT_WR);
}

std::string AdminServer::Respond(const std::string& method, const std::string& path) {
  if (method != "GET" && method != "HEAD") {
    return HttpResponse(405, "Method Not Allowed", "text/plain", "GET only\n");
  }
  if (path == "/metrics") {
    std::vector<const WorkerMetrics*> shards;
    for (WorkerView* w : workers_) shards.push_back(&w->metrics_shard());
    ProcessMetrics process = ReadProcessMetrics();
    if (backends_ != nullptr) backends_->FillProcessMetrics(process);
    return HttpResponse(200, "OK", "text/plain; version=0.0.4", RenderPrometheus(shards, process));
  }
  if (path == "/backends" && backends_ != nullptr) {
    return HttpResponse(200, "OK", "application/json", backends_->BackendsJson() + "\n");
  }
  if (path == "/connections" || path == "/closures") {
    const SnapshotKind kind =
        path == "/connections" ? SnapshotKind::kConnections : SnapshotKind::kClosures;
    std::string body = "[";
    for (WorkerView* w : workers_) {
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
                      "try /metrics /connections /closures /healthz /readyz, or / for the page\n");
}

}  // namespace ringgate
