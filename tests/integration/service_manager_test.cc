// Type=notify: ringgate tells the service manager READY=1 once every worker accepts,
// RELOADING=1 (with MONOTONIC_USEC) and READY=1 around a SIGHUP reload, STOPPING=1 when a drain
// starts, and STATUS= lines. A datagram socket the test owns stands in for systemd's.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "harness.h"

namespace ringgate::testing {
namespace {

class NotifySocket {
 public:
  NotifySocket() {
    path_ = "/tmp/ringgate-notify-" + std::to_string(getpid()) + ".sock";
    unlink(path_.c_str());
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  bool bound() const { return bound_; }
  const std::string& path() const { return path_; }
  // The next datagram, or "" if none comes within `timeout`.
  std::string Next(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "";
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  // Datagrams until one contains `wanted` (returned), skipping periodic STATUS-only ones; ""
  // if none does within `timeout`.
  std::string NextWith(const std::string& wanted, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      std::string message = Next(left);
      if (message.empty()) return "";
      if (message.find(wanted) != std::string::npos) return message;
      seen_.push_back(message);
    }
    return "";
  }
  // The messages NextWith skipped.
  const std::vector<std::string>& skipped() const { return seen_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
  std::vector<std::string> seen_;
};

bool OnlyStatus(const std::string& message) { return message.rfind("STATUS=", 0) == 0; }

TEST(ServiceManagerTest, ReadyReloadingReadyAndStoppingArriveInOrder) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  NotifySocket manager;
  ASSERT_TRUE(manager.bound());
  ProxyUnderTest proxy({"--drain-timeout=2s"}, backend.port());
  setenv("NOTIFY_SOCKET", manager.path().c_str(), 1);
  const bool started = proxy.Start();
  unsetenv("NOTIFY_SOCKET");
  ASSERT_TRUE(started);

  const std::string ready = manager.NextWith("READY=1", std::chrono::seconds(5));
  ASSERT_NE(ready, "") << "no READY=1";
  EXPECT_NE(ready.find("STATUS=serving on "), std::string::npos) << ready;
  EXPECT_NE(ready.find(" 2 workers"), std::string::npos) << ready;
  // Ready means accepting: a request is answered now.
  EXPECT_EQ(
      RunCommand("curl -sk --max-time 5 -o /dev/null -w '%{http_code}' " + proxy.Url("/")).output,
      "200");

  proxy.Signal(SIGHUP);
  const std::string reloading = manager.NextWith("RELOADING=1", std::chrono::seconds(5));
  ASSERT_NE(reloading, "") << "no RELOADING=1 after SIGHUP";
  EXPECT_NE(reloading.find("\nMONOTONIC_USEC="), std::string::npos) << reloading;
  const std::string ready_again = manager.NextWith("READY=1", std::chrono::seconds(5));
  ASSERT_NE(ready_again, "") << "no READY=1 after the reload";
  EXPECT_EQ(ready_again.find("reload failed"), std::string::npos) << ready_again;

  proxy.Signal(SIGTERM);
  const std::string stopping = manager.NextWith("STOPPING=1", std::chrono::seconds(5));
  ASSERT_NE(stopping, "") << "no STOPPING=1 after SIGTERM";
  EXPECT_NE(stopping.find("STATUS=draining"), std::string::npos) << stopping;
  EXPECT_EQ(proxy.WaitExit(5000), 0);
  // Nothing but STATUS lines came between the announcements (no second READY, no early STOPPING).
  for (const std::string& message : manager.skipped()) {
    EXPECT_TRUE(OnlyStatus(message)) << message;
  }
}

// packaging/ringgate.flags, the unit's configuration, parses: the first thing refused is the
// certificate it names (absent here), not one of its flags.
TEST(ServiceManagerTest, TheExampleFlagfileParses) {
  const CommandResult result =
      RunCommand(BinaryPath() + " --flagfile=" + SourceDir() + "/packaging/ringgate.flags 2>&1");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_EQ(result.output.find("unknown flag"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("cannot read certificate file '/etc/ringgate/cert.pem'"),
            std::string::npos)
      << result.output;
}

}  // namespace
}  // namespace ringgate::testing
