// Backend groups through the real binary: three demo backends behind one ringgate, real curl
// clients. A backend killed under load is skipped after its refusals without clients seeing
// errors and comes back after --backend-fail-timeout; p2c spreads load evenly; ip_hash keeps a
// client on one backend; the active health check takes a failing backend out of rotation; with
// every backend down the answer is 503 with Retry-After on a connection that stays open.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace ringgate::testing {
namespace {

// tools/demo_backend.py on a port that stays its own across a kill and a restart.
class RestartableBackend {
 public:
  RestartableBackend() : port_(FreePort()) {}
  bool Start() {
    const std::string log = CertificateDir() + "/group-backend-" + std::to_string(port_) + ".log";
    return process_.Start(
               {"python3", SourceDir() + "/tools/demo_backend.py", "--port", std::to_string(port_)},
               log) &&
           WaitForPort(port_, 10000);
  }
  // SIGKILL: its connections end at once, as in a crash.
  void Kill() {
    process_.Signal(SIGKILL);
    process_.Wait(5000);
  }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Requests whose path starts with `prefix` this process has seen (since its start).
  int Seen(const std::string& prefix) const {
    return std::atoi(
        RunCommand("curl -s --max-time 5 'http://" + address() + "/requests?prefix=" + prefix + "'")
            .output.c_str());
  }
  // What /healthz answers from now on.
  void SetHealth(int status) const {
    RunCommand("curl -s --max-time 5 http://" + address() + "/set-health/" +
               std::to_string(status));
  }

 private:
  int port_;
  ChildProcess process_;
};

class BackendGroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto& b : backends_) {
      b = std::make_unique<RestartableBackend>();
      ASSERT_TRUE(b->Start());
    }
  }
  std::string BackendFlag() const {
    return "--backend=" + backends_[0]->address() + "," + backends_[1]->address() + "," +
           backends_[2]->address();
  }
  bool StartProxy(std::vector<std::string> flags) {
    flags.push_back(BackendFlag());
    proxy_ = std::make_unique<ProxyUnderTest>(flags);
    return proxy_->Start();
  }
  // `count` GETs of <prefix>/1..count over `connections` keep-alive connections (curl
  // --parallel); one "code=NNN exit=N" line per request (exit=18: the response was cut short).
  std::string CurlCommand(const std::string& prefix, int count, int connections) const {
    return "curl -sk --max-time 30 --parallel --parallel-max " + std::to_string(connections) +
           " -o /dev/null -w 'code=%{http_code} exit=%{exitcode}\\n' '" + proxy_->Url(prefix) +
           "/[1-" + std::to_string(count) + "]' 2>/dev/null";
  }
  // The "state" of `backend` in /backends ("" if it is not listed).
  std::string StateOf(const RestartableBackend& backend) const {
    const std::string json = proxy_->Admin("/backends");
    const size_t at = json.find("\"backend\":\"" + backend.address() + "\"");
    if (at == std::string::npos) return "";
    const size_t state = json.find("\"state\":\"", at);
    return json.substr(state + 9, json.find('"', state + 9) - state - 9);
  }

  std::unique_ptr<RestartableBackend> backends_[3];
  std::unique_ptr<ProxyUnderTest> proxy_;
};

TEST_F(BackendGroupsTest, AKilledBackendIsSkippedWithoutClientErrorsAndComesBack) {
  ASSERT_TRUE(StartProxy({"--backend-fail-timeout=1s", "--backend-max-fails=3"}));
  RestartableBackend& victim = *backends_[1];
  constexpr int kRequests = 600;
  constexpr int kConnections = 3;
  const std::string log = CertificateDir() + "/group-load-" + std::to_string(proxy_->port());
  ChildProcess load;
  ASSERT_TRUE(load.Start({"sh", "-c", CurlCommand("/kill", kRequests, kConnections)}, log));
  ASSERT_TRUE(WaitUntil([&] { return victim.Seen("/kill") >= 20; }, std::chrono::seconds(10),
                        "the victim serves part of the load"));
  victim.Kill();
  // 18 (partial) or 56 (TLS ended without close_notify): a response the victim was in the
  // middle of sending is cut, and the client sees the truncation, never a false complete one.
  const int exit_code = load.Wait(30000);
  EXPECT_TRUE(exit_code == 0 || exit_code == 18 || exit_code == 56) << exit_code;
  std::ifstream in(log);
  std::string line;
  int ok = 0;
  int failed_in_flight = 0;  // answered 502 before the response began, or cut during it
  int other = 0;
  while (std::getline(in, line)) {
    if (line == "code=200 exit=0") {
      ++ok;
    } else if (line == "code=502 exit=0" || line.ends_with(" exit=18") ||
               line.ends_with(" exit=56")) {
      ++failed_in_flight;
    } else {
      ++other;
      ADD_FAILURE() << line;
    }
  }
  EXPECT_EQ(ok + failed_in_flight, kRequests);
  EXPECT_EQ(other, 0);
  // Only a request in flight on the victim when it died may fail: one per connection at most.
  EXPECT_LE(failed_in_flight, kConnections);
  const int served_by_others = backends_[0]->Seen("/kill") + backends_[2]->Seen("/kill");
  EXPECT_GE(served_by_others, kRequests - 200) << "the survivors took over";
  // The passive check tripped: failures are counted, at least --backend-max-fails of them (of
  // any kind: the requests in flight when the victim died count as resets, so as few as one
  // refusal can complete the row), and the skip kept the refusals few (without it, p2c would
  // keep offering the dead backend about a third of the load).
  const std::string metrics = proxy_->Admin("/metrics");
  const std::string victim_key =
      "ringgate_backend_failures_total{backend=\"" + victim.address() + "\",kind=\"";
  int failures = 0;
  int refused = -1;
  for (size_t at = metrics.find(victim_key); at != std::string::npos;
       at = metrics.find(victim_key, at + 1)) {
    const size_t value = metrics.find("} ", at) + 2;
    const int count = std::atoi(metrics.c_str() + value);
    failures += count;
    if (metrics.compare(at + victim_key.size(), 9, "refused\"}") == 0) refused = count;
  }
  ASSERT_NE(refused, -1) << metrics;
  EXPECT_GE(failures, 3) << metrics;
  EXPECT_GE(refused, 1) << metrics;
  EXPECT_LE(refused, 40) << metrics;
  EXPECT_NE(proxy_->Log().find("backend skipped after failures in a row"), std::string::npos);

  // Back up: after the fail timeout it is tried again, answers, and takes traffic again.
  ASSERT_TRUE(victim.Start());
  ASSERT_TRUE(WaitUntil(
      [&] {
        const CommandResult r = RunCommand(CurlCommand("/back", 12, 3));
        EXPECT_EQ(CountOccurrences(r.output, "code=200 exit=0\n"), 12) << r.output;
        return victim.Seen("/back") > 0;
      },
      std::chrono::seconds(8), "the restarted backend receives requests again",
      std::chrono::milliseconds(200)));
  // Each worker keeps its own skip: one that sent nothing there yet lifts it at its timeout.
  EXPECT_TRUE(WaitUntil([&] { return StateOf(victim) == "up"; }, std::chrono::seconds(3),
                        "no worker skips the restarted backend"));
  // Failed, retried and cut exchanges all ended: nothing is left counted in flight.
  const std::string json = proxy_->Admin("/backends");
  EXPECT_EQ(CountOccurrences(json, "\"in_flight\":0,"), 3) << json;
}

TEST_F(BackendGroupsTest, PowerOfTwoChoicesSpreadsLoadEvenlyOverEqualBackends) {
  ASSERT_TRUE(StartProxy({"--lb=p2c"}));
  constexpr int kRequests = 300;
  const CommandResult r = RunCommand(CurlCommand("/p2c", kRequests, 4));
  ASSERT_EQ(CountOccurrences(r.output, "code=200 exit=0\n"), kRequests) << r.output;
  int total = 0;
  for (const auto& b : backends_) {
    const int seen = b->Seen("/p2c");
    total += seen;
    EXPECT_GE(seen, kRequests / 3 * 8 / 10) << b->address();
    EXPECT_LE(seen, kRequests / 3 * 12 / 10) << b->address();
  }
  EXPECT_EQ(total, kRequests);
  // /backends sums the workers' counts.
  const std::string json = proxy_->Admin("/backends");
  EXPECT_NE(json.find("\"requests\":"), std::string::npos) << json;
  EXPECT_EQ(CountOccurrences(json, "\"in_flight\":0,"), 3) << "every exchange ended:\n" << json;
  EXPECT_NE(json.find("\"health_check\":null"), std::string::npos) << json;
}

TEST_F(BackendGroupsTest, IpHashKeepsAClientOnOneBackend) {
  ASSERT_TRUE(StartProxy({"--lb=ip_hash"}));
  // Separate connections (likely on both workers): every request from 127.0.0.1 lands on the
  // same backend.
  for (int i = 0; i < 3; ++i) {
    const CommandResult r = RunCommand(CurlCommand("/ip", 10, 2));
    ASSERT_EQ(CountOccurrences(r.output, "code=200 exit=0\n"), 10) << r.output;
  }
  int backends_used = 0;
  int total = 0;
  for (const auto& b : backends_) {
    const int seen = b->Seen("/ip");
    total += seen;
    if (seen > 0) ++backends_used;
  }
  EXPECT_EQ(total, 30);
  EXPECT_EQ(backends_used, 1);
  // SIGHUP resolves the names again (the same addresses here): the client stays where it was.
  proxy_->Signal(SIGHUP);
  ASSERT_TRUE(
      WaitUntil([&] { return proxy_->Log().find("reloading certificate") != std::string::npos; },
                std::chrono::seconds(5), "the reload is done"));
  const CommandResult r = RunCommand(CurlCommand("/after-reload", 10, 2));
  ASSERT_EQ(CountOccurrences(r.output, "code=200 exit=0\n"), 10) << r.output;
  for (const auto& b : backends_) {
    EXPECT_EQ(b->Seen("/after-reload"), b->Seen("/ip") > 0 ? 10 : 0) << b->address();
  }
}

TEST_F(BackendGroupsTest, ActiveHealthCheckTakesAFailingBackendOutAndAllDownAnswers503) {
  ASSERT_TRUE(StartProxy({"--health-check-path=/healthz", "--health-check-interval=100ms"}));
  RestartableBackend& failing = *backends_[2];
  failing.SetHealth(503);
  ASSERT_TRUE(WaitUntil([&] { return StateOf(failing) == "down"; }, std::chrono::seconds(5),
                        "the health check marks the failing backend down"));
  EXPECT_NE(proxy_->Admin("/metrics")
                .find("ringgate_backend_up{backend=\"" + failing.address() + "\"} 0\n"),
            std::string::npos);
  EXPECT_NE(proxy_->Admin("/backends").find("\"last_result\":\"503\""), std::string::npos);
  const CommandResult r = RunCommand(CurlCommand("/hc", 60, 3));
  ASSERT_EQ(CountOccurrences(r.output, "code=200 exit=0\n"), 60) << r.output;
  EXPECT_EQ(failing.Seen("/hc"), 0) << "traffic avoids a backend the health check has down";
  EXPECT_EQ(backends_[0]->Seen("/hc") + backends_[1]->Seen("/hc"), 60);

  // Every backend down: 503 with Retry-After, and the connection serves the next request.
  backends_[0]->SetHealth(500);
  backends_[1]->SetHealth(404);
  for (const auto& b : backends_) {
    ASSERT_TRUE(WaitUntil([&] { return StateOf(*b) == "down"; }, std::chrono::seconds(5),
                          b->address() + " is down"));
  }
  const CommandResult down =
      RunCommand("curl -sk --max-time 10 -D - -o /dev/null -w 'connects=%{num_connects}\\n' '" +
                 proxy_->Url("/down") + "/[1-2]'");
  EXPECT_EQ(CountOccurrences(down.output, "HTTP/1.1 503 Service Unavailable\r\n"), 2)
      << down.output;
  EXPECT_EQ(CountOccurrences(down.output, "\r\nRetry-After: "), 2) << down.output;
  EXPECT_NE(down.output.find("connects=1\n"), std::string::npos) << down.output;
  EXPECT_NE(down.output.find("connects=0\n"), std::string::npos)
      << "the second request reused the connection:\n"
      << down.output;
  EXPECT_NE(proxy_->Log().find("no backend available"), std::string::npos);
  // And back: two passing checks later it takes traffic again.
  failing.SetHealth(200);
  ASSERT_TRUE(WaitUntil([&] { return StateOf(failing) == "up"; }, std::chrono::seconds(5),
                        "the backend passes its checks again"));
  const CommandResult again = RunCommand(CurlCommand("/again", 5, 1));
  EXPECT_EQ(CountOccurrences(again.output, "code=200 exit=0\n"), 5) << again.output;
  EXPECT_EQ(failing.Seen("/again"), 5);
}

}  // namespace
}  // namespace ringgate::testing
