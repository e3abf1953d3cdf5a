// service_notify.h
// Tells a service manager (systemd, Type=notify) where ringgate stands: READY=1 once every
// worker accepts, RELOADING=1 and READY=1 around a SIGHUP reload, STOPPING=1 when a drain
// starts, STATUS= lines with live counts. The protocol is one datagram of newline-separated
// assignments to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract name written
// with a leading '@'); it is written here in a few lines rather than linking libsystemd for it.
// Without $NOTIFY_SOCKET nothing is sent.
//
//   ServiceNotifier notifier = ServiceNotifier::FromEnvironment();
//   notifier.Send("READY=1\nSTATUS=serving");
#ifndef RINGGATE_CORE_SERVICE_NOTIFY_H_
#define RINGGATE_CORE_SERVICE_NOTIFY_H_

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string_view>

namespace ringgate {

class ServiceNotifier {
 public:
  // Reads $NOTIFY_SOCKET and unsets it, so that no child process inherits it.
  static ServiceNotifier FromEnvironment();
  ServiceNotifier() = default;
  ~ServiceNotifier();
  ServiceNotifier(ServiceNotifier&& other) noexcept;
  ServiceNotifier& operator=(ServiceNotifier&&) = delete;
  ServiceNotifier(const ServiceNotifier&) = delete;

  bool enabled() const { return fd_ >= 0; }
  // One datagram; false if it could not be sent (the manager is gone: nothing else to do).
  bool Send(std::string_view assignments) const;
  // CLOCK_MONOTONIC in microseconds, for RELOADING=1's MONOTONIC_USEC.
  static uint64_t MonotonicMicros();

 private:
  int fd_ = -1;
  sockaddr_un address_{};
  socklen_t address_length_ = 0;
};

}  // namespace ringgate

#endif  // RINGGATE_CORE_SERVICE_NOTIFY_H_
