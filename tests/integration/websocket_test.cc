// WebSocket tunnels through the proxy, with Debian's python3-websockets on both ends
// (tests/integration/websocket_client.py over TLS, websocket_backend.py behind ringgate): frames
// of every length encoding echo byte for byte both ways, an idle tunnel closes at
// --tunnel-idle-timeout, a drain cuts a tunnel at its deadline (not before), the client's
// close_notify half-closes the backend, and an upgrade the backend does not accept never turns
// the connection into a tunnel that carries a smuggled request.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "harness.h"

namespace ringgate::testing {
namespace {

constexpr char kPython[] = "/usr/bin/python3";  // Debian's, which has python3-websockets

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class WebSocketBackend {
 public:
  bool Start() {
    port_ = FreePort();
    log_ = CertificateDir() + "/websocket-backend-" + std::to_string(port_) + ".log";
    if (!process_.Start({kPython, SourceDir() + "/tests/integration/websocket_backend.py", "--port",
                         std::to_string(port_)},
                        log_)) {
      return false;
    }
    return WaitForPort(port_, 10000);
  }
  int port() const { return port_; }
  std::string Log() const { return ReadFile(log_); }

 private:
  int port_ = 0;
  std::string log_;
  ChildProcess process_;
};

std::string ClientCommand(int port, const std::string& mode, const std::string& extra = "") {
  return std::string(kPython) + " " + SourceDir() +
         "/tests/integration/websocket_client.py --port " + std::to_string(port) + " " + extra +
         " " + mode + " 2>&1";
}

// The proxy's "closed" line for the connection that had a tunnel, or "" if none yet.
std::string TunnelCloseLine(const std::string& log) {
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" closed cause=") != std::string::npos &&
        line.find("tunnel_ms=") != std::string::npos) {
      return line;
    }
  }
  return "";
}

// ringgate_tunnels summed over the workers (the kernel picks which worker accepts a client).
double TunnelsOpen(const ProxyUnderTest& proxy) {
  double open = 0;
  for (int worker = 0; worker < 8; ++worker) {
    const double n = proxy.Metric("ringgate_tunnels{worker=\"" + std::to_string(worker) + "\"}");
    if (n > 0) open += n;
  }
  return open;
}

class WebSocketTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(backend_.Start()); }
  WebSocketBackend backend_;
};

TEST_F(WebSocketTest, EchoesTextAndBinaryFramesOfEveryLengthWithPings) {
  ProxyUnderTest proxy({}, backend_.port());
  ASSERT_TRUE(proxy.Start());
  const CommandResult r = RunCommand(ClientCommand(proxy.port(), "echo"));
  // 10 sizes from 1 byte to 1 MiB, text and binary: 20 messages, each compared byte for byte.
  EXPECT_EQ(r.output, "ok 20 3091130\n");
  EXPECT_EQ(r.exit_code, 0);
  // The client's close frame is answered by the backend, whose FIN ends the tunnel: the client
  // side then closes gracefully, and the close line and /closures carry the tunnel's figures.
  ASSERT_TRUE(WaitUntil([&] { return !TunnelCloseLine(proxy.Log()).empty(); },
                        std::chrono::seconds(5), "the tunnel's connection is closed"));
  const std::string line = TunnelCloseLine(proxy.Log());
  EXPECT_NE(line.find("cause=clean"), std::string::npos) << line;
  EXPECT_NE(line.find("initiator=backend"), std::string::npos) << line;
  EXPECT_NE(line.find("close_notify_sent=true"), std::string::npos) << line;
  // Every message went both ways: more than the payloads (frame headers, masks, the close).
  const size_t to_backend = line.find("tunnel_bytes_to_backend=");
  ASSERT_NE(to_backend, std::string::npos);
  EXPECT_GT(std::stoull(line.substr(to_backend + 24)), 3091130u) << line;
  const size_t to_client = line.find("tunnel_bytes_to_client=");
  ASSERT_NE(to_client, std::string::npos);
  EXPECT_GT(std::stoull(line.substr(to_client + 23)), 3091130u) << line;
  EXPECT_NE(proxy.Admin("/closures").find("\"tunnel\":{\"duration_ms\":"), std::string::npos);
  EXPECT_EQ(TunnelsOpen(proxy), 0);
  EXPECT_NE(proxy.Log().find("websocket tunnel open"), std::string::npos);
}

TEST_F(WebSocketTest, IdleTunnelIsClosedGracefullyAtTheIdleTimeout) {
  ProxyUnderTest proxy({"--tunnel-idle-timeout=1s"}, backend_.port());
  ASSERT_TRUE(proxy.Start());
  const CommandResult r = RunCommand(ClientCommand(proxy.port(), "wait", "--max-s 6"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // "open", then "closed CODE SECONDS": the proxy ended it (no close frame: 1006) after about
  // the idle timeout, not at once and not never.
  ASSERT_EQ(r.output.rfind("open\nclosed 1006 ", 0), 0u) << r.output;
  const double seconds = std::stod(r.output.substr(std::string("open\nclosed 1006 ").size()));
  EXPECT_GE(seconds, 0.9);
  EXPECT_LT(seconds, 3.0);
  ASSERT_TRUE(WaitUntil([&] { return !TunnelCloseLine(proxy.Log()).empty(); },
                        std::chrono::seconds(3), "the idle tunnel's close line"));
  const std::string line = TunnelCloseLine(proxy.Log());
  EXPECT_NE(line.find("initiator=server_timeout"), std::string::npos) << line;
  EXPECT_NE(line.find("close_notify_sent=true"), std::string::npos) << line;
  EXPECT_NE(proxy.Log().find("websocket tunnel idle; closing"), std::string::npos);
}

TEST_F(WebSocketTest, DrainCutsATunnelAtItsDeadlineNotBefore) {
  ProxyUnderTest proxy({"--drain-timeout=1s"}, backend_.port());
  ASSERT_TRUE(proxy.Start());
  ChildProcess client;
  const std::string client_log = CertificateDir() + "/websocket-drain-client.log";
  ASSERT_TRUE(client.Start({kPython, SourceDir() + "/tests/integration/websocket_client.py",
                            "--port", std::to_string(proxy.port()), "--max-s", "8", "wait"},
                           client_log));
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(client_log).find("open\n") != std::string::npos; },
                        std::chrono::seconds(10), "the tunnel is open"));
  EXPECT_EQ(TunnelsOpen(proxy), 1);
  proxy.Signal(SIGTERM);
  EXPECT_EQ(proxy.WaitExit(6000), 0);
  EXPECT_EQ(client.Wait(5000), 0);
  const std::string out = ReadFile(client_log);
  ASSERT_EQ(out.rfind("open\nclosed 1006 ", 0), 0u) << out;
  // Cut at the drain's deadline: a tunnel is not an idle connection to close at once.
  EXPECT_GE(std::stod(out.substr(std::string("open\nclosed 1006 ").size())), 0.9) << out;
  const std::string line = TunnelCloseLine(proxy.Log());
  EXPECT_NE(line.find("initiator=drain"), std::string::npos) << line;
  EXPECT_NE(proxy.Log().find("cut at drain deadline"), std::string::npos);
}

TEST_F(WebSocketTest, ClientCloseNotifyHalfClosesTheBackendWhichThenEndsTheTunnel) {
  ProxyUnderTest proxy({}, backend_.port());
  ASSERT_TRUE(proxy.Start());
  const CommandResult r = RunCommand(ClientCommand(proxy.port(), "halfclose", "--max-s 5"));
  EXPECT_EQ(r.output, "ok 0\n");
  // The backend saw the end of its input without a close frame (1006) only because our FIN
  // reached it; its own close then ended the client side.
  ASSERT_TRUE(
      WaitUntil([&] { return backend_.Log().find("closed /echo code=1006") != std::string::npos; },
                std::chrono::seconds(5), "the backend sees the client's end"));
  ASSERT_TRUE(WaitUntil([&] { return !TunnelCloseLine(proxy.Log()).empty(); },
                        std::chrono::seconds(5), "the tunnel's close line"));
  const std::string line = TunnelCloseLine(proxy.Log());
  EXPECT_NE(line.find("initiator=client"), std::string::npos) << line;
  EXPECT_NE(line.find("close_notify_received=true"), std::string::npos) << line;
}

// An upgrade the backend declines (any answer but 101) leaves HTTP in place: what the client
// sent after the upgrade request is never forwarded (it could be a request smuggled past the
// proxy's rules), and the connection closes after the answer.
TEST(WebSocketUpgradeTest, DeclinedUpgradeNeverForwardsWhatFollows) {
  RecordingBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({}, backend.port());
  ASSERT_TRUE(proxy.Start());
  const std::string declined =
      ToHex("HTTP/1.1 426 Upgrade Required\r\nContent-Length: 2\r\n\r\nno");
  const TlsExchange x = RunTlsExchange(
      proxy.port(),
      {{"GET /respond/" + declined +
            " HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        1}});
  EXPECT_NE(x.All().find("HTTP/1.1 426"), std::string::npos) << x.All();
  EXPECT_EQ(x.end, "closed");
  const std::vector<RecordedConnection> seen = backend.SettledConnections();
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_EQ(seen[0].requests.size(), 1u);
  // The upgrade was asked for (the backend declined it), and nothing else arrived.
  EXPECT_NE(seen[0].requests[0].head.find("Upgrade: websocket\r\n"), std::string::npos);
  EXPECT_NE(seen[0].requests[0].head.find("Connection: upgrade\r\n"), std::string::npos);
  EXPECT_EQ(seen[0].received.find("/smuggled"), std::string::npos);
}

// Only WebSocket is relayed: an h2c upgrade is forwarded as an ordinary request without its
// Upgrade header, and a backend that switches protocols anyway gets a 502.
TEST(WebSocketUpgradeTest, OtherUpgradesAreStrippedAndAnUnaskedSwitchIs502) {
  RecordingBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({}, backend.port());
  ASSERT_TRUE(proxy.Start());
  const std::string switched =
      ToHex("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
  const TlsExchange x = RunTlsExchange(
      proxy.port(), {{"GET /respond/" + switched +
                          " HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                          "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
                      1}});
  EXPECT_EQ(x.All().rfind("HTTP/1.1 502 ", 0), 0u) << x.All();
  const std::vector<RecordedConnection> seen = backend.SettledConnections();
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_EQ(seen[0].requests.size(), 1u);
  const std::string& head = seen[0].requests[0].head;
  EXPECT_EQ(head.find("Upgrade"), std::string::npos) << head;
  EXPECT_EQ(head.find("HTTP2-Settings"), std::string::npos) << head;
}

}  // namespace
}  // namespace ringgate::testing
