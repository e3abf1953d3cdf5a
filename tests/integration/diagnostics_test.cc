// Scripted closes against a dedicated proxy: each must move exactly the metrics, /closures
// entries and log lines that describe it, and nothing else.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

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
    proxy_ =
        new ProxyUnderTest({"--close-notify-timeout=1s", "--log-level=debug"}, backend_->port());
    ASSERT_TRUE(proxy_->Start());  // which leaves no connection behind: the deltas are exact
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
    WaitUntil(
        [&] {
          after = ParseMetrics(proxy_->Admin("/metrics"));
          return ClosedTotal(after) - ClosedTotal(before) >= closes;
        },
        std::chrono::seconds(5), std::to_string(closes) + " more connection(s) closed");
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
  EXPECT_EQ(d["ringgate_connections_closed_total{cause=\"timeout\",initiator=\"server_policy\"}"],
            1);
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
  Metrics d = Delta(Client("rst", "--admin-port " + std::to_string(proxy_->admin_port())), 1);
  ASSERT_EQ(scenario_output_.exit_code, 0) << scenario_output_.output;
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
  WaitUntil(
      [&] {
        after = ParseMetrics(proxy.Admin("/metrics"));
        return ClosedTotal(after) >= 1;
      },
      std::chrono::seconds(5), "the connection answered with 502 is closed");
  EXPECT_EQ(after["ringgate_http_requests_total{status_class=\"5xx\"}"] -
                before["ringgate_http_requests_total{status_class=\"5xx\"}"],
            1);
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
  WaitUntil(
      [&] {
        log = proxy.Log();
        return log.find("\"event\":\"closed\"") != std::string::npos;
      },
      std::chrono::milliseconds(2500), "the proxy logs the connection's close");
  CommandResult valid =
      RunCommand("python3 -c 'import json,sys\nfor l in open(\"" + CertificateDir() + "/proxy-" +
                 std::to_string(proxy.port()) + ".log\"): json.loads(l)' && echo valid");
  EXPECT_EQ(valid.output, "valid\n") << log;
  EXPECT_NE(log.find("\"conn\":\""), std::string::npos);
  EXPECT_NE(log.find("\"event\":\"closed\",\"cause\":"), std::string::npos) << log;
  std::string access_log;
  WaitUntil(
      [&] {
        access_log = RunCommand("cat " + access).output;
        return access_log.find("/hello") != std::string::npos;
      },
      std::chrono::seconds(4), "the access log, flushed once a second, has the request");
  EXPECT_NE(access_log.find("\"method\":\"GET\",\"target\":\"/hello\",\"status\":200"),
            std::string::npos)
      << access_log;
}

// Admin endpoint robustness and access. Each test runs its own proxy; no backend is needed.

// A loopback TCP client of the admin port, for requests curl cannot send (halves, trickles).
int AdminSocket(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string AdminStatus(int port, const std::string& path, const std::string& header = "") {
  return RunCommand("curl -s --max-time 5 -o /dev/null -w '%{http_code}' " +
                    (header.empty() ? std::string() : "-H '" + header + "' ") +
                    "http://127.0.0.1:" + std::to_string(port) + path)
      .output;
}

TEST(AdminEndpointTest, StalledClientsDoNotDelayOthers) {
  ProxyUnderTest proxy({}, FreePort());
  ASSERT_TRUE(proxy.Start());
  std::vector<int> stalled;
  for (int i = 0; i < 4; ++i) {
    const int fd = AdminSocket(proxy.admin_port());
    ASSERT_GE(fd, 0);
    const std::string half = "GET /metrics HTTP/1.1\r\nHo";
    ASSERT_EQ(send(fd, half.data(), half.size(), MSG_NOSIGNAL), static_cast<ssize_t>(half.size()));
    stalled.push_back(fd);
  }
  ASSERT_TRUE(WaitUntil([&] { return proxy.OpenAdminSockets() == 4; }, std::chrono::seconds(2),
                        "the admin endpoint has accepted the four stalled clients"));
  const auto start = std::chrono::steady_clock::now();
  const std::string metrics = proxy.Admin("/metrics");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1))
      << "a scrape waited behind stalled clients";
  EXPECT_NE(metrics.find("ringgate_connections_accepted_total"), std::string::npos) << metrics;
  for (int fd : stalled) close(fd);
}

TEST(AdminEndpointTest, AClientThatTricklesItsRequestIsDroppedAtTheDeadline) {
  ProxyUnderTest proxy({}, FreePort());
  ASSERT_TRUE(proxy.Start());
  const int fd = AdminSocket(proxy.admin_port());
  ASSERT_GE(fd, 0);
  const auto start = std::chrono::steady_clock::now();
  const std::string trickle = "GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(40, 'a');
  bool dropped = false;
  std::string answer;
  // A byte every 250 ms, never the end of the head: a per-read timeout never fires on that.
  for (size_t i = 0; i < trickle.size() && !dropped; ++i) {
    if (send(fd, &trickle[i], 1, MSG_NOSIGNAL) != 1) {
      dropped = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 250) > 0) {
      char buf[512];
      ssize_t n;
      while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        answer.append(buf, static_cast<size_t>(n));
      dropped = n == 0 || (n < 0 && errno != EAGAIN);
    }
  }
  const auto took = std::chrono::steady_clock::now() - start;
  close(fd);
  ASSERT_TRUE(dropped) << "still connected after " << trickle.size() * 250 << " ms";
  EXPECT_GE(took, std::chrono::milliseconds(4500));
  EXPECT_LT(took, std::chrono::milliseconds(7000));
  EXPECT_TRUE(answer.empty() || answer.rfind("HTTP/1.1 408", 0) == 0) << answer;
  EXPECT_EQ(AdminStatus(proxy.admin_port(), "/healthz"), "200");
}

TEST(AdminEndpointTest, ConnectionsBeyondTheCapGet503AtOnce) {
  ProxyUnderTest proxy({}, FreePort());
  ASSERT_TRUE(proxy.Start());
  // Start()'s requests and this one have ended and released their slots: the admin endpoint
  // holds none of their sockets (a session lets go of its slot right after its socket).
  ASSERT_EQ(AdminStatus(proxy.admin_port(), "/healthz"), "200");
  ASSERT_TRUE(WaitUntil([&] { return proxy.OpenAdminSockets() == 0; }, std::chrono::seconds(2),
                        "the admin endpoint has closed every earlier connection"));
  // 20 silent clients: 16 take every slot and the other 4 are turned away.
  std::vector<int> stalled;
  for (int i = 0; i < 20; ++i) {
    const int fd = AdminSocket(proxy.admin_port());
    ASSERT_GE(fd, 0);
    stalled.push_back(fd);
  }
  // Each was either taken into a slot (the endpoint holds its socket) or answered at once.
  auto answered = [&] {
    int count = 0;
    for (int fd : stalled) {
      char byte;
      count += recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
    }
    return count;
  };
  WaitUntil([&] { return proxy.OpenAdminSockets() + answered() == 20; }, std::chrono::seconds(2),
            "the admin endpoint has taken or turned away all 20 clients");
  int turned_away = 0;
  for (int fd : stalled) {
    char buf[256] = {};
    const ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (n > 0 && std::string(buf).rfind("HTTP/1.1 503", 0) == 0) ++turned_away;
  }
  EXPECT_EQ(turned_away, 4);
  EXPECT_EQ(AdminStatus(proxy.admin_port(), "/healthz"), "503") << "all 16 slots are taken";
  for (int fd : stalled) close(fd);
  std::string status;
  WaitUntil(
      [&] {
        status = AdminStatus(proxy.admin_port(), "/healthz");
        return status == "200";
      },
      std::chrono::seconds(2), "the admin endpoint answers /healthz with 200 again");
  EXPECT_EQ(status, "200") << "the slots come back when the clients leave";
}

// Runs ringgate with `flags` until it exits (it should refuse to start); its exit code and log.
std::pair<int, std::string> RunToRefusal(const std::vector<std::string>& flags) {
  const std::string log =
      CertificateDir() + "/admin-refusal-" + std::to_string(FreePort()) + ".log";
  std::vector<std::string> argv = {BinaryPath(), "--listen=127.0.0.1:" + std::to_string(FreePort()),
                                   "--cert=" + CertificateDir() + "/cert.pem",
                                   "--key=" + CertificateDir() + "/key.pem", "--threads=1"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  ChildProcess child;
  if (!child.Start(argv, log)) return {-1, ""};
  const int code = child.Wait(10000);
  std::ifstream in(log);
  return {code,
          std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>())};
}

// 192.0.2.1 (TEST-NET-1) is on no interface here: the refusal must come before any bind, and a
// token moves the failure to the bind itself.
TEST(AdminEndpointTest, NonLoopbackAddressNeedsAToken) {
  const std::string admin = "--admin-listen=192.0.2.1:" + std::to_string(FreePort());
  auto [code, log] = RunToRefusal({admin});
  EXPECT_NE(code, 0);
  EXPECT_NE(code, -1) << "still running";
  EXPECT_NE(log.find("is not a loopback address"), std::string::npos) << log;
  EXPECT_NE(log.find("--admin-token"), std::string::npos) << log;

  std::tie(code, log) = RunToRefusal({admin, "--admin-token=0123456789abcdef0123"});
  EXPECT_NE(code, 0);
  EXPECT_EQ(log.find("is not a loopback address"), std::string::npos) << log;
  EXPECT_NE(log.find("cannot listen on --admin-listen"), std::string::npos) << log;

  std::tie(code, log) = RunToRefusal(
      {"--admin-listen=127.0.0.1:" + std::to_string(FreePort()), "--admin-token=short"});
  EXPECT_NE(code, 0);
  EXPECT_NE(log.find("--admin-token must be 16 to 512"), std::string::npos) << log;
}

TEST(AdminEndpointTest, WithATokenEveryRequestMustCarryIt) {
  const std::string token = "s3cret-admin-token-0123456789";
  ProxyUnderTest proxy({"--admin-token=" + token}, FreePort());
  ASSERT_TRUE(proxy.Start());
  const int port = proxy.admin_port();
  EXPECT_EQ(AdminStatus(port, "/healthz"), "401");
  EXPECT_EQ(AdminStatus(port, "/metrics"), "401");
  EXPECT_EQ(AdminStatus(port, "/metrics", "Authorization: Bearer wrong-" + token), "401");
  EXPECT_EQ(AdminStatus(port, "/metrics", "Authorization: Bearer " + token + "x"), "401");
  EXPECT_EQ(AdminStatus(port, "/metrics", "Authorization: Basic " + token), "401");
  EXPECT_EQ(AdminStatus(port, "/metrics", "Authorization: Bearer " + token), "200");
  EXPECT_EQ(AdminStatus(port, "/healthz", "authorization: bearer " + token), "200");
  CommandResult challenge =
      RunCommand("curl -s --max-time 5 -D - -o /dev/null http://127.0.0.1:" + std::to_string(port) +
                 "/connections");
  EXPECT_NE(challenge.output.find("WWW-Authenticate: Bearer"), std::string::npos)
      << challenge.output;
  CommandResult body = RunCommand("curl -s --max-time 5 -H 'Authorization: Bearer " + token +
                                  "' http://127.0.0.1:" + std::to_string(port) + "/healthz");
  EXPECT_EQ(body.output, "ok\n");
  EXPECT_EQ(proxy.Log().find(token), std::string::npos) << "the token is never logged";
}

// DNS rebinding: a web page rebinds its own name to 127.0.0.1, and the visitor's browser then
// reads a tokenless admin endpoint for it, sending that name as Host.
TEST(AdminEndpointTest, WithoutATokenOnlyRequestsAddressedToThisMachineAreAnswered) {
  ProxyUnderTest proxy({}, FreePort());
  ASSERT_TRUE(proxy.Start());
  const int port = proxy.admin_port();
  const std::string p = ":" + std::to_string(port);
  EXPECT_EQ(AdminStatus(port, "/connections", "Host: rebound.example" + p), "403");
  EXPECT_EQ(AdminStatus(port, "/metrics", "Host: rebound.example"), "403");
  EXPECT_EQ(AdminStatus(port, "/", "Host: 127.0.0.1.rebound.example" + p), "403");
  EXPECT_EQ(AdminStatus(port, "/metrics", "Host: localhost.rebound.example" + p), "403");
  EXPECT_EQ(AdminStatus(port, "/connections", "Host: 127.0.0.1" + p), "200");
  EXPECT_EQ(AdminStatus(port, "/connections", "Host: localhost" + p), "200");
  EXPECT_EQ(AdminStatus(port, "/connections", "Host: rebound.localhost" + p), "403")
      << "a resolver need not keep names under .localhost local";
  EXPECT_EQ(AdminStatus(port, "/connections", "Host: [::1]" + p), "200");
  EXPECT_EQ(AdminStatus(port, "/metrics"), "200") << "curl's own Host: 127.0.0.1:port";
}

TEST(AdminEndpointTest, HeadGetsTheHeadOfGetWithoutItsBody) {
  ProxyUnderTest proxy({}, FreePort());
  ASSERT_TRUE(proxy.Start());
  for (const std::string path : {"/metrics", "/", "/healthz", "/nope"}) {
    const int fd = AdminSocket(proxy.admin_port());
    ASSERT_GE(fd, 0);
    const std::string request = "HEAD " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    std::string answer;
    char buf[4096];
    pollfd wait{fd, POLLIN, 0};
    while (poll(&wait, 1, 5000) > 0) {  // the endpoint closes after its answer
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      answer.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    const size_t head_end = answer.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos) << path << ": " << answer;
    EXPECT_EQ(answer.size(), head_end + 4) << path << ": a body after the head: " << answer;
    EXPECT_EQ(answer.find("Content-Length: 0\r\n"), std::string::npos)
        << path << ": GET's Content-Length, not the empty body's: " << answer;
  }
}

}  // namespace
}  // namespace ringgate::testing
