// Scripted closes against a dedicated proxy: each must move exactly the metrics, /closures
// entries and log lines that describe it, and nothing else.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "harness.h"

namespace ringgate::testing {
namespace {

using Metrics = std::map<std::string, double>;

Metrics ParseMetrics(const std::string& text) {
  Metrics m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    m[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return m;
}

double ClosedTotal(const Metrics& m) {
  double total = 0;
  for (const auto& [k, v] : m) {
    if (k.rfind("ringgate_connections_closed_total{", 0) == 0) total += v;
  }
  return total;
}

class DiagnosticsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    backend_ = new DemoBackend();
    ASSERT_TRUE(backend_->Start());
    proxy_ = new ProxyUnderTest({"--close-notify-timeout=1s", "--log-level=debug"}, backend_->port());
    ASSERT_TRUE(proxy_->Start());
    proxy_->WaitForStartupProbeToClose();  // the deltas below count connections exactly
  }
  static void TearDownTestSuite() {
    delete proxy_;
    delete backend_;
  }

  // Runs `scenario`, waits until `closes` more connections have ended, returns metric deltas.
  Metrics Delta(const std::string& scenario, int closes) {
    Metrics before = ParseMetrics(proxy_->Admin("/metrics"));
    closures_before_ = proxy_->Admin("/closures");
    log_before_ = proxy_->Log().size();
    scenario_output_ = RunCommand(scenario);
    Metrics after;
    for (int i = 0; i < 100; ++i) {
      after = ParseMetrics(proxy_->Admin("/metrics"));
      if (ClosedTotal(after) - ClosedTotal(before) >= closes) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    Metrics delta;
    for (const auto& [k, v] : after) {
      if (v - before[k] != 0) delta[k] = v - before[k];
    }
    return delta;
  }
  std::string NewLog() const { return proxy_->Log().substr(log_before_); }
  int NewClosures(const std::string& needle) const {
    return CountOccurrences(proxy_->Admin("/closures"), needle) -
           CountOccurrences(closures_before_, needle);
  }
  std::string Client(const std::string& mode, const std::string& args = "") const {
    return "python3 " + SourceDir() + "/tests/integration/tls_client.py " + mode + " --port " +
           std::to_string(proxy_->port()) + " " + args;
  }

  static DemoBackend* backend_;
  static ProxyUnderTest* proxy_;
  std::string closures_before_;
  size_t log_before_ = 0;
  CommandResult scenario_output_;
};
DemoBackend* DiagnosticsTest::backend_ = nullptr;
ProxyUnderTest* DiagnosticsTest::proxy_ = nullptr;

TEST_F(DiagnosticsTest, CleanCloseByTheClient) {
  Metrics d = Delta(Client("unwrap"), 1);
  ASSERT_EQ(scenario_output_.exit_code, 0) << scenario_output_.output;
  EXPECT_EQ(d["ringgate_connections_accepted_total"], 1);
  EXPECT_EQ(d["ringgate_connections_closed_total{cause=\"clean\",initiator=\"client\"}"], 1);
  EXPECT_EQ(ClosedTotal(d), 1) << "no other close was counted";
  EXPECT_EQ(d["ringgate_tls_handshakes_total{result=\"ok\",version=\"TLSv1.3\"}"], 1);
  EXPECT_EQ(d["ringgate_http_requests_total{status_class=\"2xx\"}"], 1);
  EXPECT_EQ(d["ringgate_close_notify_received_total"], 1);
  EXPECT_EQ(d["ringgate_close_notify_sent_total"], 1);
  EXPECT_EQ(d["ringgate_shutdown_duration_seconds_count"], 1);
  EXPECT_EQ(d.count("ringgate_close_notify_not_sent_total{reason=\"abort\"}"), 0u);
  EXPECT_EQ(NewClosures("\"cause\":\"clean\",\"initiator\":\"client\""), 1);
  std::string log = NewLog();
  EXPECT_NE(log.find("TLS Close Notify Sent"), std::string::npos) << log;
  EXPECT_NE(log.find("TCP Socket Closed"), std::string::npos);
  EXPECT_NE(log.find("Shutdown Duration"), std::string::npos);
  EXPECT_NE(log.find("closed cause=clean initiator=client"), std::string::npos);
}

TEST_F(DiagnosticsTest, ClientFinWithoutCloseNotify) {
  Metrics d = Delta(Client("fin"), 1);
  ASSERT_EQ(scenario_output_.exit_code, 0) << scenario_output_.output;
  EXPECT_EQ(d["ringgate_connections_closed_total{cause=\"peer_fin\",initiator=\"client\"}"], 1);
  EXPECT_EQ(ClosedTotal(d), 1);
  EXPECT_EQ(d.count("ringgate_close_notify_received_total"), 0u);
  EXPECT_EQ(d["ringgate_close_notify_sent_total"], 1) << "we still close politely";
  EXPECT_EQ(NewClosures("\"cause\":\"peer_fin\",\"initiator\":\"client\""), 1);
  EXPECT_NE(NewLog().find("closed cause=peer_fin initiator=client"), std::string::npos);
}

TEST_F(DiagnosticsTest, ClientThatNeverAnswersHitsTheCloseNotifyDeadline) {
  Metrics d = Delta(Client("silent", "--count 1 --hold 2.5"), 1);
  EXPECT_EQ(d["ringgate_connections_closed_total{cause=\"timeout\",initiator=\"server_policy\"}"], 1);
  EXPECT_EQ(ClosedTotal(d), 1);
  EXPECT_EQ(d["ringgate_close_notify_sent_total"], 1);
  EXPECT_EQ(d.count("ringgate_close_notify_received_total"), 0u);
  // Waited about the 1 s deadline: the peer-close histogram has nothing (the peer never closed),
  // the whole shutdown took at least the deadline.
  EXPECT_EQ(d.count("ringgate_shutdown_peer_close_duration_seconds_count"), 0u);
  EXPECT_EQ(d["ringgate_shutdown_duration_seconds_bucket{le=\"0.5\"}"], 0);
  EXPECT_EQ(d["ringgate_shutdown_duration_seconds_bucket{le=\"2.5\"}"], 1);
  EXPECT_EQ(NewClosures("\"timed_out\":"), 1) << "the timeline shows the deadline";
  std::string log = NewLog();
  EXPECT_NE(log.find("Close Notify Timeout"), std::string::npos) << log;
  EXPECT_NE(log.find("closed cause=timeout initiator=server_policy"), std::string::npos);
}

TEST_F(DiagnosticsTest, ClientResetIsReportedAsReset) {
  Metrics d = Delta(Client("rst"), 1);
  EXPECT_EQ(d["ringgate_connections_closed_total{cause=\"reset\",initiator=\"client\"}"], 1);
  EXPECT_EQ(ClosedTotal(d), 1);
  EXPECT_EQ(d["ringgate_close_notify_not_sent_total{reason=\"peer_reset\"}"], 1);
  EXPECT_EQ(d.count("ringgate_close_notify_sent_total"), 0u);
  EXPECT_EQ(NewClosures("\"cause\":\"reset\""), 1);
  EXPECT_NE(NewLog().find("closed cause=reset initiator=client"), std::string::npos);
}

TEST_F(DiagnosticsTest, LiveConnectionsAreListedWithTheirState) {
  FILE* client = popen(Client("silent", "--count 2 --hold 0.5").c_str(), "r");
  ASSERT_NE(client, nullptr);
  char line[32] = {};
  ASSERT_NE(fgets(line, sizeof line, client), nullptr);
  std::string live = proxy_->Admin("/connections");
  EXPECT_EQ(CountOccurrences(live, "\"state\":\"close_notify_sent\""), 2) << live;
  Metrics m = ParseMetrics(proxy_->Admin("/metrics"));
  double in_state = 0;
  for (const auto& [k, v] : m) {
    if (k.find("ringgate_connections{") == 0 && k.find("close_notify_sent") != std::string::npos) {
      in_state += v;
    }
  }
  EXPECT_EQ(in_state, 2);
  pclose(client);
}

TEST_F(DiagnosticsTest, HealthAndReadiness) {
  EXPECT_EQ(proxy_->Admin("/healthz"), "ok\n");
  EXPECT_EQ(proxy_->Admin("/readyz"), "ready\n");
  EXPECT_NE(proxy_->Admin("/nope").find("try /metrics"), std::string::npos);
}

TEST(DiagnosticsBackendDownTest, BadGatewayIsCountedAndLogged) {
  ProxyUnderTest proxy({}, FreePort());
  ASSERT_TRUE(proxy.Start());
  Metrics before = ParseMetrics(proxy.Admin("/metrics"));
  RunCommand("curl -sk --max-time 10 " + proxy.Url("/"));
  Metrics after;
  for (int i = 0; i < 100 && ClosedTotal(after) < 1; ++i) {
    after = ParseMetrics(proxy.Admin("/metrics"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(after["ringgate_http_requests_total{status_class=\"5xx\"}"] -
                before["ringgate_http_requests_total{status_class=\"5xx\"}"], 1);
  double by_server_error = 0;
  for (const auto& [k, v] : after) {
    if (k.find("ringgate_connections_closed_total{") == 0 &&
        k.find("initiator=\"server_error\"") != std::string::npos) {
      by_server_error += v;
    }
  }
  EXPECT_EQ(by_server_error, 1);
  EXPECT_NE(proxy.Log().find("responding with an error status=502"), std::string::npos);
  EXPECT_NE(proxy.Admin("/closures").find("\"initiator\":\"server_error\""), std::string::npos);
}

TEST(DiagnosticsJsonTest, JsonLogLinesAreObjectsWithTheConnectionId) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  std::string access = CertificateDir() + "/access.json";
  ProxyUnderTest proxy({"--log-format=json", "--access-log=" + access}, backend.port());
  ASSERT_TRUE(proxy.Start());
  RunCommand("curl -sk --max-time 10 " + proxy.Url("/hello"));
  std::string log;
  for (int i = 0; i < 50 && log.find("\"event\":\"closed\"") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    log = proxy.Log();
  }
  CommandResult valid = RunCommand("python3 -c 'import json,sys\nfor l in open(\"" + CertificateDir() +
                                   "/proxy-" + std::to_string(proxy.port()) +
                                   ".log\"): json.loads(l)' && echo valid");
  EXPECT_EQ(valid.output, "valid\n") << log;
  EXPECT_NE(log.find("\"conn\":\""), std::string::npos);
  EXPECT_NE(log.find("\"event\":\"closed\",\"cause\":"), std::string::npos) << log;
  std::string access_log;
  for (int i = 0; i < 40 && access_log.find("/hello") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // flushed once a second
    access_log = RunCommand("cat " + access).output;
  }
  EXPECT_NE(access_log.find("\"method\":\"GET\",\"target\":\"/hello\",\"status\":200"),
            std::string::npos) << access_log;
}

}  // namespace
}  // namespace ringgate::testing
