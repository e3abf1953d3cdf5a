#include "ringgate/core/service_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace ringgate {
namespace {

// A datagram socket bound to an abstract name, standing in for the service manager.
class AbstractManager {
 public:
  explicit AbstractManager(const std::string& name) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path + 1, name.data(), name.size());  // leading NUL: abstract
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&address),
                  static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())) == 0;
  }
  ~AbstractManager() { close(fd_); }
  bool bound() const { return bound_; }
  std::string Receive() {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 1000) != 1) return "";
    char buf[512];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

TEST(ServiceNotifierTest, SendsToAnAbstractSocketAndUnsetsTheVariable) {
  const std::string name = "ringgate-notify-test-" + std::to_string(getpid());
  AbstractManager manager(name);
  ASSERT_TRUE(manager.bound());
  setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
  const ServiceNotifier notifier = ServiceNotifier::FromEnvironment();
  EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr) << "a child process must not inherit it";
  ASSERT_TRUE(notifier.enabled());
  EXPECT_TRUE(notifier.Send("READY=1\nSTATUS=serving"));
  EXPECT_EQ(manager.Receive(), "READY=1\nSTATUS=serving");
}

TEST(ServiceNotifierTest, WithoutOrWithAnUnusableVariableNothingIsSent) {
  unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(ServiceNotifier::FromEnvironment().enabled());
  for (const char* value : {"", "relative/path", "x"}) {
    setenv("NOTIFY_SOCKET", value, 1);
    const ServiceNotifier notifier = ServiceNotifier::FromEnvironment();
    EXPECT_FALSE(notifier.enabled()) << value;
    EXPECT_FALSE(notifier.Send("READY=1")) << value;
  }
  setenv("NOTIFY_SOCKET", ("/" + std::string(200, 'a')).c_str(), 1);  // longer than sun_path
  EXPECT_FALSE(ServiceNotifier::FromEnvironment().enabled());
  unsetenv("NOTIFY_SOCKET");
}

}  // namespace
}  // namespace ringgate
