#include "ringgate/core/service_notify.h"

#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace ringgate {

ServiceNotifier ServiceNotifier::FromEnvironment() {
  ServiceNotifier notifier;
  const char* name = std::getenv("NOTIFY_SOCKET");
  if (name == nullptr) return notifier;
  const std::string path(name);
  unsetenv("NOTIFY_SOCKET");
  // A path, or an abstract socket written with a leading '@' (a NUL byte on the wire).
  if (path.empty() || (path[0] != '/' && path[0] != '@') ||
      path.size() >= sizeof notifier.address_.sun_path) {
    return notifier;
  }
  notifier.address_.sun_family = AF_UNIX;
  std::memcpy(notifier.address_.sun_path, path.data(), path.size());
  if (path[0] == '@') notifier.address_.sun_path[0] = '\0';
  notifier.address_length_ =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '/'));
  notifier.fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  return notifier;
}

ServiceNotifier::ServiceNotifier(ServiceNotifier&& other) noexcept
    : fd_(other.fd_), address_(other.address_), address_length_(other.address_length_) {
  other.fd_ = -1;
}

ServiceNotifier::~ServiceNotifier() {
  if (fd_ >= 0) close(fd_);
}

bool ServiceNotifier::Send(std::string_view assignments) const {
  if (fd_ < 0) return false;
  return sendto(fd_, assignments.data(), assignments.size(), MSG_NOSIGNAL,
                reinterpret_cast<const sockaddr*>(&address_),
                address_length_) == static_cast<ssize_t>(assignments.size());
}

uint64_t ServiceNotifier::MonotonicMicros() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

}  // namespace ringgate
