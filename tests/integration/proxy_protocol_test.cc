// --proxy-protocol end to end: a client that plays the L4 balancer (proxy_protocol_client.py)
// writes a PROXY header and its TLS ClientHello in one send; the backend must see the header's
// address in X-Forwarded-For and /connections and /closures must show it. Connections without a
// valid header from a listed peer are closed unanswered and counted by reason, an incomplete
// header at the handshake timeout, and the flag without its list stops start-up.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <tuple>

#include "harness.h"

namespace ringgate::testing {
namespace {

constexpr int kHandshakeTimeoutMs = 1000;

class ProxyProtocolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    backend_ = new DemoBackend();
    ASSERT_TRUE(backend_->Start()) << "demo backend did not start";
    // Only 127.0.0.1 is the balancer: a client bound to 127.0.0.2 is some other peer.
    proxy_ =
        new ProxyUnderTest({"--proxy-protocol", "--proxy-protocol-from=127.0.0.1/32",
                            "--handshake-timeout=" + std::to_string(kHandshakeTimeoutMs) + "ms"},
                           backend_->port());
    ASSERT_TRUE(proxy_->Start()) << "ringgate did not start";
  }
  static void TearDownTestSuite() {
    delete proxy_;
    delete backend_;
  }
  static CommandResult Client(const std::string& mode, const std::string& args) {
    return RunCommand("python3 " + SourceDir() + "/tests/integration/proxy_protocol_client.py " +
                      mode + " --port " + std::to_string(proxy_->port()) + " --admin-port " +
                      std::to_string(proxy_->admin_port()) + " " + args);
  }
  // What a balancer's client saw: {"xff": ..., "peers": [...]}.
  static std::string Request(const std::string& header, const std::string& source = "") {
    CommandResult r =
        Client("request", "--header " + header + (source.empty() ? "" : " --source " + source));
    EXPECT_EQ(r.exit_code, 0) << r.output << "\nproxy log:\n" << proxy_->Log();
    return r.output;
  }
  static double Rejected(const std::string& reason) {
    const std::string metrics = proxy_->Admin("/metrics");
    const std::string key = "\nringgate_proxy_protocol_rejected_total{reason=\"" + reason + "\"} ";
    const size_t at = metrics.find(key);
    return at == std::string::npos ? -1 : std::stod(metrics.substr(at + key.size()));
  }

  static DemoBackend* backend_;
  static ProxyUnderTest* proxy_;
};
DemoBackend* ProxyProtocolTest::backend_ = nullptr;
ProxyUnderTest* ProxyProtocolTest::proxy_ = nullptr;

TEST_F(ProxyProtocolTest, TheHeadersSourceIsTheClientForTheBackendAndTheAdminEndpoint) {
  // {"xff": what the backend saw, "peers": [every live connection's peer]}; each case uses an
  // address of its own, so that a connection of an earlier case still closing cannot pass for it.
  for (const auto& [header, source, client] :
       {std::tuple{"v1", "192.0.2.1", "192.0.2.1"}, std::tuple{"v1", "2001:db8::1", "2001:db8::1"},
        std::tuple{"v2", "203.0.113.77", "203.0.113.77"},
        std::tuple{"v2", "2001:db8::beef", "2001:db8::beef"},
        // LOCAL (a balancer's health check) keeps the balancer's own address.
        std::tuple{"v2-local", "", "127.0.0.1"}}) {
    const std::string seen = Request(header, source);
    const std::string quoted = std::string("\"") + client + "\"";
    EXPECT_EQ(seen.rfind("{\"xff\": " + quoted + ", \"peers\": [", 0), 0u)
        << header << ": " << seen;
    EXPECT_NE(seen.find(quoted, seen.find("\"peers\"")), std::string::npos)
        << header << ": /connections: " << seen;
  }
  std::string closures;
  EXPECT_TRUE(PollUntil(
      [&] {
        closures = proxy_->Admin("/closures");
        return closures.find("\"peer\":\"2001:db8::beef\"") != std::string::npos;
      },
      std::chrono::seconds(3)))
      << "/closures names the header's client:\n"
      << closures;
}

TEST_F(ProxyProtocolTest, ATlsClientWithoutAHeaderIsClosedUnansweredAndCounted) {
  const double before = Rejected("missing");
  CommandResult r = Client("refused", "--client-hello");
  EXPECT_EQ(r.output.rfind("closed ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find(" bytes=0\n"), std::string::npos) << "no alert, no byte: " << r.output;
  EXPECT_TRUE(WaitUntil([&] { return Rejected("missing") == before + 1; }, std::chrono::seconds(3),
                        "the refusal is counted as missing"));
  EXPECT_NE(proxy_->Log().find("PROXY header refused reason=missing"), std::string::npos)
      << proxy_->Log();
}

TEST_F(ProxyProtocolTest, APeerOutsideTheListIsRefusedEvenWithAValidHeader) {
  const double before = Rejected("not_allowed");
  CommandResult r = Client("refused", "--bind 127.0.0.2 --client-hello --hex " +
                                          ToHex("PROXY TCP4 192.0.2.1 198.51.100.7 1 443\r\n"));
  EXPECT_EQ(r.output.rfind("closed ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find(" bytes=0\n"), std::string::npos) << r.output;
  EXPECT_TRUE(WaitUntil([&] { return Rejected("not_allowed") == before + 1; },
                        std::chrono::seconds(3), "the refusal is counted as not_allowed"));
}

TEST_F(ProxyProtocolTest, AHeaderThatStallsIsClosedAtTheHandshakeTimeout) {
  const double before = Rejected("timeout");
  CommandResult r = Client("refused", "--hex " + ToHex("PROXY TCP4 192.0.2.1 198.51") + " --max 5");
  int ms = -1;
  ASSERT_EQ(std::sscanf(r.output.c_str(), "closed ms=%d", &ms), 1) << r.output;
  EXPECT_GE(ms, kHandshakeTimeoutMs) << "not before the timeout (timed from before the connect)";
  EXPECT_LT(ms, kHandshakeTimeoutMs + 1500) << "at the timeout, not much later";
  EXPECT_TRUE(WaitUntil([&] { return Rejected("timeout") == before + 1; }, std::chrono::seconds(3),
                        "the refusal is counted as timeout"));
}

TEST(ProxyProtocolFlagsTest, TheFlagWithoutItsBalancersStopsStartUp) {
  const std::string dir = CertificateDir();
  CommandResult r = RunCommand(BinaryPath() + " --listen=127.0.0.1:" + std::to_string(FreePort()) +
                               " --cert=" + dir + "/cert.pem --key=" + dir +
                               "/key.pem --admin-listen=off --proxy-protocol 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--proxy-protocol needs --proxy-protocol-from"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace ringgate::testing
