// The backend group: each balancer's choice, a worker's passive health on the ManualClock, the
// active check's verdicts (and its thread against sockets of the test's own), and what a client
// connection does with them (a retry on another backend, 503 with Retry-After when none is left).
#include "ringgate/proxy/backend_group.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "ringgate/core/clock.h"
#include "ringgate/proxy/health_checker.h"
#include "unit/support/connection_driver.h"

namespace ringgate {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

Config GroupConfig(LbPolicy policy, std::vector<std::string> backends) {
  Config config;
  config.backends.clear();
  for (const std::string& text : backends) config.backends.push_back(*ParseSocketAddress(text));
  config.lb_policy = policy;
  config.backend_max_fails = 3;
  config.backend_fail_timeout = absl::Seconds(10);
  config.health_check_interval = absl::Seconds(2);
  return config;
}

const std::vector<std::string> kThree = {"127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"};

// ---- Choosing -----------------------------------------------------------------------------------

TEST(BackendSelectorTest, TwoChoicesTakeTheLessLoaded) {
  const Config config = GroupConfig(LbPolicy::kP2c, {"127.0.0.1:8001", "127.0.0.1:8002"});
  BackendSelector selector(config, 0, 42);
  for (int i = 0; i < 3; ++i) selector.OnRequestStarted(0);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(selector.Pick("192.0.2.1", 0), 1);
  // Of three, the loaded one loses every pair it is drawn into.
  const Config three = GroupConfig(LbPolicy::kP2c, kThree);
  BackendSelector of_three(three, 0, 7);
  of_three.OnRequestStarted(1);
  std::set<int> picked;
  for (int i = 0; i < 200; ++i) picked.insert(of_three.Pick("192.0.2.1", 0));
  EXPECT_EQ(picked, (std::set<int>{0, 2}));
}

TEST(BackendSelectorTest, TwoChoicesSpreadSequentialRequestsEvenly) {
  const Config config = GroupConfig(LbPolicy::kP2c, kThree);
  BackendSelector selector(config, 0, 1234);
  std::map<int, int> count;
  for (int i = 0; i < 300; ++i) {
    const int b = selector.Pick("192.0.2.1", 0);
    selector.OnRequestStarted(static_cast<size_t>(b));
    selector.OnRequestEnded(static_cast<size_t>(b));
    ++count[b];
  }
  for (int b = 0; b < 3; ++b) {
    EXPECT_NEAR(count[b], 100, 10) << "backend " << b;
    EXPECT_EQ(selector.in_flight(static_cast<size_t>(b)), 0);
  }
}

TEST(BackendSelectorTest, RoundRobinCyclesOverTheUsableOnly) {
  const Config config = GroupConfig(LbPolicy::kRoundRobin, kThree);
  BackendSelector selector(config, 0, 1);
  std::vector<int> order;
  for (int i = 0; i < 6; ++i) order.push_back(selector.Pick("192.0.2.1", 0));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 0, 1, 2}));
  for (uint32_t i = 0; i < config.backend_max_fails; ++i) {
    selector.OnFailure(1, BackendFailure::kRefused, 0);
  }
  order.clear();
  for (int i = 0; i < 6; ++i) order.push_back(selector.Pick("192.0.2.1", 0));
  EXPECT_EQ(order, (std::vector<int>{0, 2, 0, 2, 0, 2}));
  // A retry leaves out the backend that just failed.
  EXPECT_EQ(selector.Pick("192.0.2.1", 0, /*exclude=*/0), 2);
  EXPECT_EQ(selector.Pick("192.0.2.1", 0, /*exclude=*/2), 0);
}

TEST(BackendSelectorTest, IpHashIsStablePerClientAndSkipsADownBackend) {
  const Config config = GroupConfig(LbPolicy::kIpHash, kThree);
  BackendHealthBoard board(config.backends, /*checks_enabled=*/true);
  BackendSelector selector(config, 0, 1);
  BackendSelector other_worker(config, 1, 999);  // another worker, another seed: the same answer
  selector.set_health_board(&board);
  other_worker.set_health_board(&board);
  std::map<std::string, int> first;
  std::set<int> used;
  for (int i = 1; i <= 60; ++i) {
    const std::string ip = "198.51.100." + std::to_string(i);
    first[ip] = selector.Pick(ip, 0);
    used.insert(first[ip]);
    for (int again = 0; again < 3; ++again) ASSERT_EQ(selector.Pick(ip, 0), first[ip]) << ip;
    ASSERT_EQ(other_worker.Pick(ip, 0), first[ip]) << ip;
  }
  EXPECT_EQ(used.size(), 3u) << "60 clients all hashed onto fewer than three backends";
  // Backend 1 goes down: its clients move, nobody else's does.
  board.RecordCheck(1, 503, 0, 1);
  board.RecordCheck(1, 503, 0, 2);
  ASSERT_TRUE(board.down(1));
  for (const auto& [ip, backend] : first) {
    const int now = selector.Pick(ip, 0);
    EXPECT_NE(now, 1) << ip;
    if (backend != 1) {
      EXPECT_EQ(now, backend) << ip;
    }
  }
}

TEST(BackendSelectorTest, NothingUsableIsMinusOne) {
  const Config config = GroupConfig(LbPolicy::kP2c, {"127.0.0.1:8001"});
  BackendHealthBoard board(config.backends, true);
  BackendSelector selector(config, 0, 1);
  selector.set_health_board(&board);
  EXPECT_EQ(selector.Pick("192.0.2.1", 0), 0);
  EXPECT_EQ(selector.Pick("192.0.2.1", 0, /*exclude=*/0), -1);
  board.RecordCheck(0, 0, ECONNREFUSED, 1);
  board.RecordCheck(0, 0, ECONNREFUSED, 2);
  EXPECT_EQ(selector.Pick("192.0.2.1", 0), -1);
  // Down by the active check: two passing checks (2 x 2 s) bring it back.
  EXPECT_EQ(selector.RetryAfterSeconds(0), 4);
}

// ---- Passive health -----------------------------------------------------------------------------

TEST(BackendSelectorTest, PassiveSkipLastsTheFailTimeoutThenTheBackendIsTriedAgain) {
  const Config config = GroupConfig(LbPolicy::kRoundRobin, {"127.0.0.1:8001", "127.0.0.1:8002"});
  ManualClock clock;
  BackendSelector selector(config, 0, 1);
  selector.OnFailure(0, BackendFailure::kRefused, clock.NowNs());
  selector.OnFailure(0, BackendFailure::kReset, clock.NowNs());
  EXPECT_TRUE(selector.Usable(0, clock.NowNs())) << "two failures are not yet --backend-max-fails";
  selector.OnSuccess(0);
  EXPECT_EQ(selector.failures_in_a_row(0), 0u) << "an answer starts the count again";
  for (int i = 0; i < 3; ++i) selector.OnFailure(0, BackendFailure::kTimeout, clock.NowNs());
  EXPECT_FALSE(selector.Usable(0, clock.NowNs()));
  EXPECT_EQ(selector.RetryAfterSeconds(clock.NowNs()), 1)
      << "the other backend is usable: the soonest is now (at least 1 s)";
  clock.Advance(config.backend_fail_timeout - absl::Milliseconds(1));
  EXPECT_FALSE(selector.Usable(0, clock.NowNs()));
  clock.Advance(absl::Milliseconds(1));
  EXPECT_TRUE(selector.Usable(0, clock.NowNs())) << "tried again after --backend-fail-timeout";
  // Still failing: one more failure is enough to skip it again.
  selector.OnFailure(0, BackendFailure::kRefused, clock.NowNs());
  EXPECT_FALSE(selector.Usable(0, clock.NowNs()));
  clock.Advance(config.backend_fail_timeout);
  selector.OnSuccess(0);
  selector.OnFailure(0, BackendFailure::kRefused, clock.NowNs());
  EXPECT_TRUE(selector.Usable(0, clock.NowNs())) << "an answer reset the count";
}

TEST(BackendSelectorTest, RetryAfterIsTheSoonestEndOfASkip) {
  const Config config = GroupConfig(LbPolicy::kP2c, {"127.0.0.1:8001", "127.0.0.1:8002"});
  ManualClock clock;
  BackendSelector selector(config, 0, 1);
  for (int i = 0; i < 3; ++i) selector.OnFailure(0, BackendFailure::kRefused, clock.NowNs());
  clock.Advance(absl::Seconds(4));
  for (int i = 0; i < 3; ++i) selector.OnFailure(1, BackendFailure::kRefused, clock.NowNs());
  clock.Advance(absl::Milliseconds(500));
  EXPECT_EQ(selector.Pick("192.0.2.1", clock.NowNs()), -1);
  EXPECT_EQ(selector.RetryAfterSeconds(clock.NowNs()), 6);  // 5.5 s left on backend 0: rounded up
}

TEST(BackendSelectorTest, FailuresAndLoadAreCountedPerBackend) {
  const Config config = GroupConfig(LbPolicy::kP2c, {"127.0.0.1:8001", "127.0.0.1:8002"});
  WorkerMetrics metrics;
  BackendSelector selector(config, 0, 1);
  selector.set_metrics(&metrics);
  selector.OnRequestStarted(1);
  selector.OnRequestStarted(1);
  selector.OnRequestEnded(1);
  selector.OnFailure(1, BackendFailure::kReset, 0);
  EXPECT_EQ(metrics.backend_requests[1].Get(), 2u);
  EXPECT_EQ(metrics.backend_in_flight[1].Get(), 1);
  EXPECT_EQ(selector.in_flight(1), 1);
  EXPECT_EQ(metrics.backend_failures[1][static_cast<int>(BackendFailure::kReset)].Get(), 1u);
  EXPECT_EQ(metrics.backend_requests[0].Get(), 0u);
}

// ---- Active health ------------------------------------------------------------------------------

TEST(BackendHealthBoardTest, DownAfterTwoFailuresUpAfterTwoSuccesses) {
  const Config config = GroupConfig(LbPolicy::kP2c, {"127.0.0.1:8001"});
  BackendHealthBoard board(config.backends, true);
  EXPECT_FALSE(board.down(0)) << "up until a verdict";
  EXPECT_FALSE(board.RecordCheck(0, 500, 0, 1));
  EXPECT_FALSE(board.down(0));
  EXPECT_TRUE(board.RecordCheck(0, 0, ETIMEDOUT, 2));
  EXPECT_TRUE(board.down(0));
  EXPECT_FALSE(board.RecordCheck(0, 204, 0, 3));
  EXPECT_TRUE(board.down(0)) << "one success is not enough";
  EXPECT_TRUE(board.RecordCheck(0, 301, 0, 4));
  EXPECT_FALSE(board.down(0)) << "2xx and 3xx are successes";
  EXPECT_EQ(board.entry(0).last_check_unix_ms.Get(), 4);
  EXPECT_EQ(board.entry(0).last_status.Get(), 301);
}

// A loopback listener that answers each connection with `response` (or closes without a word).
class TinyBackend {
 public:
  explicit TinyBackend(std::string response) : response_(std::move(response)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        char buf[1024];
        const ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n > 0) {
          last_request_.assign(buf, static_cast<size_t>(n));
          (void)!send(c, response_.data(), response_.size(), MSG_NOSIGNAL);
        }
        close(c);
      }
    });
  }
  ~TinyBackend() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string last_request() const { return last_request_; }

 private:
  std::string response_;
  int fd_ = -1;
  int port_ = 0;
  std::string last_request_;
  std::thread thread_;
};

// A port nothing listens on: bound, never listened, so a connect is refused.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~RefusingPort() { close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(HealthCheckerTest, ProbesEveryBackendWithItsHostAndJudgesTheStatusLine) {
  TinyBackend healthy("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  TinyBackend failing("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
  TinyBackend garbage("SSH-2.0-OpenSSH\r\n");
  RefusingPort refusing;
  Config config = GroupConfig(LbPolicy::kP2c, {healthy.address(), failing.address(),
                                               garbage.address(), refusing.address()});
  config.health_check_path = "/healthz";
  BackendHealthBoard board(config.backends, true);
  HealthChecker checker(config, board);
  checker.ProbeAll();
  checker.ProbeAll();
  EXPECT_FALSE(board.down(0));
  EXPECT_EQ(board.entry(0).last_status.Get(), 200);
  EXPECT_THAT(healthy.last_request(), StartsWith("GET /healthz HTTP/1.1\r\n"));
  EXPECT_THAT(healthy.last_request(), HasSubstr("\r\nHost: " + healthy.address() + "\r\n"));
  EXPECT_TRUE(board.down(1));
  EXPECT_EQ(board.entry(1).last_status.Get(), 503);
  EXPECT_TRUE(board.down(2));
  EXPECT_EQ(board.entry(2).last_error.Get(), EPROTO);
  EXPECT_TRUE(board.down(3));
  EXPECT_EQ(board.entry(3).last_error.Get(), ECONNREFUSED);
}

TEST(HealthCheckerTest, StopWakesTheThreadAtOnce) {
  TinyBackend healthy("HTTP/1.1 200 OK\r\n\r\n");
  Config config = GroupConfig(LbPolicy::kP2c, {healthy.address()});
  config.health_check_path = "/";
  config.health_check_interval = absl::Hours(1);
  BackendHealthBoard board(config.backends, true);
  HealthChecker checker(config, board);
  ASSERT_TRUE(checker.Start().ok());
  for (int i = 0; i < 2000 && board.entry(0).last_check_unix_ms.Get() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // bounded: 2 s at most
  }
  EXPECT_NE(board.entry(0).last_check_unix_ms.Get(), 0) << "the first round starts at once";
  const auto before = std::chrono::steady_clock::now();
  checker.Stop();  // the thread waits for the next round, an hour away
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(500));
  checker.Stop();  // again: nothing left to do
}

// ---- What a client connection does with them ----------------------------------------------------

constexpr char kGet[] = "GET /g HTTP/1.1\r\nHost: example\r\n\r\n";
constexpr char kOk[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

Config DriverGroupConfig(LbPolicy policy, std::vector<std::string> backends) {
  Config config = testing::DriverConfig();
  config.backends.clear();
  for (const std::string& text : backends) config.backends.push_back(*ParseSocketAddress(text));
  config.lb_policy = policy;
  config.backend_max_fails = 2;
  config.idle_timeout = absl::Seconds(60);  // outlives a --backend-fail-timeout
  return config;
}

int ConnectPort(const io_uring_sqe& connect) {
  return ntohs(reinterpret_cast<const sockaddr_in*>(connect.addr)->sin_port);
}

TEST(BackendGroupExchangeTest, ARefusedConnectIsRetriedOnAnotherBackend) {
  testing::ConnectionDriver d(
      DriverGroupConfig(LbPolicy::kRoundRobin, {"127.0.0.1:9", "127.0.0.1:10"}));
  d.Accept();
  d.Handshake();
  d.ClientSends(kGet);
  ASSERT_EQ(ConnectPort(d.Expect(Op::kUpstreamConnect)), 9);
  d.ConnectUpstream(-ECONNREFUSED);
  ASSERT_EQ(ConnectPort(d.Expect(Op::kUpstreamConnect)), 10) << "the retry goes elsewhere";
  d.ConnectUpstream();
  EXPECT_THAT(d.TakeUpstreamSend(), StartsWith("GET /g HTTP/1.1\r\n"));
  d.BackendSends(kOk);
  EXPECT_EQ(d.ClientReads(), kOk);
  EXPECT_EQ(d.worker().backends().failures_in_a_row(0), 1u);
  EXPECT_EQ(d.metrics().backend_failures[0][static_cast<int>(BackendFailure::kRefused)].Get(), 1u);
  EXPECT_EQ(d.metrics().backend_requests[0].Get(), 1u);
  EXPECT_EQ(d.metrics().backend_requests[1].Get(), 1u);
  EXPECT_EQ(d.worker().backends().in_flight(0), 0);
  EXPECT_EQ(d.worker().backends().in_flight(1), 0) << "the exchange ended";
}

TEST(BackendGroupExchangeTest, NoUsableBackendAnswers503WithRetryAfterAndKeepsTheConnection) {
  testing::ConnectionDriver d(DriverGroupConfig(LbPolicy::kP2c, {"127.0.0.1:9"}));
  const int64_t now = d.clock().NowNs();
  d.worker().backends().OnFailure(0, BackendFailure::kRefused, now);
  d.worker().backends().OnFailure(0, BackendFailure::kRefused, now);
  d.Accept();
  d.Handshake();
  d.ClientSends(std::string(kGet) + "HEAD /h HTTP/1.1\r\nHost: example\r\n\r\n");
  const std::string answers = d.ClientReads();
  EXPECT_FALSE(d.Has(Op::kUpstreamConnect)) << "nothing is sent to a skipped backend";
  const std::string kHead =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 49\r\n"
      "Retry-After: 10\r\n\r\n";
  EXPECT_EQ(answers, kHead + "503 Service Unavailable: no backend is available\n" + kHead)
      << "both pipelined requests answered; the HEAD without a body";
  EXPECT_THAT(answers, Not(HasSubstr("Connection: close")));
  EXPECT_EQ(d.metrics().backend_unavailable.Get(), 2u);
  EXPECT_EQ(d.connection()->state(), ConnState::kOpen);
  // Once the skip is over the backend is asked again, on the same connection.
  d.Advance(d.config().backend_fail_timeout);
  d.ClientSends(kGet);
  d.ConnectUpstream();
  d.TakeUpstreamSend();
  d.BackendSends(kOk);
  EXPECT_EQ(d.ClientReads(), kOk);
}

}  // namespace
}  // namespace ringgate
