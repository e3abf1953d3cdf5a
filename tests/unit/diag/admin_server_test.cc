// The admin endpoint's answers (Respond, one per path) and who may ask (CheckAdminAccess,
// Authorized), with fake workers in place of the real ones.
#include "ringgate/diag/admin_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "ringgate/config/config.h"
#include "ringgate/diag/metrics.h"

namespace ringgate {
namespace {

// A worker as the admin endpoint sees it: a metrics shard and canned snapshots.
class FakeWorkerView : public WorkerView {
 public:
  FakeWorkerView(std::string connections, std::string closures)
      : connections_(std::move(connections)), closures_(std::move(closures)) {}
  const WorkerMetrics& metrics_shard() const override { return metrics; }
  std::string Snapshot(SnapshotKind kind, std::chrono::milliseconds timeout) override {
    kinds_asked.push_back(kind);
    last_timeout = timeout;
    return kind == SnapshotKind::kConnections ? connections_ : closures_;
  }

  WorkerMetrics metrics;
  std::vector<SnapshotKind> kinds_asked;
  std::chrono::milliseconds last_timeout{0};

 private:
  std::string connections_;
  std::string closures_;
};

struct Parsed {
  std::string status_line;
  std::string headers;
  std::string body;
};

Parsed Split(const std::string& response) {
  Parsed p;
  const size_t line_end = response.find("\r\n");
  const size_t head_end = response.find("\r\n\r\n");
  p.status_line = response.substr(0, line_end);
  p.headers = response.substr(line_end + 2, head_end - line_end - 2);
  p.body = response.substr(head_end + 4);
  return p;
}

SocketAddress Address(const std::string& text) {
  absl::StatusOr<SocketAddress> address = ParseSocketAddress(text);
  EXPECT_TRUE(address.ok()) << text << ": " << address.status();
  return address.ok() ? *address : SocketAddress{};
}

class AdminServerTest : public ::testing::Test {
 protected:
  AdminServer& Server(std::string token = {}) {
    server_ = std::make_unique<AdminServer>(std::vector<WorkerView*>{&a_, &b_, &c_}, draining_,
                                            std::move(token));
    return *server_;
  }

  FakeWorkerView a_{"[{\"conn\":\"0-1\"}]", "[{\"conn\":\"0-0\"}]"};
  FakeWorkerView b_{"[]", "[]"};
  FakeWorkerView c_{"[{\"conn\":\"2-5\"},{\"conn\":\"2-6\"}]", "[]"};
  std::atomic<bool> draining_{false};
  std::unique_ptr<AdminServer> server_;
};

TEST_F(AdminServerTest, HealthzIsAlwaysOk) {
  Parsed r = Split(Server().Respond("GET", "/healthz"));
  EXPECT_EQ(r.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(r.body, "ok\n");
  draining_ = true;
  EXPECT_EQ(Split(Server().Respond("GET", "/healthz")).status_line, "HTTP/1.1 200 OK");
}

TEST_F(AdminServerTest, ReadyzTurns503WhileDraining) {
  AdminServer& server = Server();
  Parsed ready = Split(server.Respond("GET", "/readyz"));
  EXPECT_EQ(ready.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(ready.body, "ready\n");
  draining_ = true;
  Parsed draining = Split(server.Respond("GET", "/readyz"));
  EXPECT_EQ(draining.status_line, "HTTP/1.1 503 Service Unavailable");
  EXPECT_EQ(draining.body, "draining\n");
}

TEST_F(AdminServerTest, EveryAnswerIsFramedAndClosesTheConnection) {
  for (const char* path : {"/metrics", "/connections", "/closures", "/healthz", "/readyz", "/x"}) {
    Parsed r = Split(Server().Respond("GET", path));
    EXPECT_NE(r.headers.find("Content-Length: " + std::to_string(r.body.size()) + "\r\n"),
              std::string::npos)
        << path << "\n"
        << r.headers;
    EXPECT_NE(r.headers.find("Connection: close"), std::string::npos) << path;
  }
}

TEST_F(AdminServerTest, OnlyGetAndHeadAreAllowed) {
  EXPECT_EQ(Split(Server().Respond("HEAD", "/healthz")).status_line, "HTTP/1.1 200 OK");
  for (const char* method : {"POST", "PUT", "DELETE", "get", ""}) {
    Parsed r = Split(Server().Respond(method, "/healthz"));
    EXPECT_EQ(r.status_line, "HTTP/1.1 405 Method Not Allowed") << method;
    EXPECT_EQ(r.body, "GET only\n");
  }
}

TEST_F(AdminServerTest, UnknownPathsGet404ListingTheKnownOnes) {
  for (const char* path : {"/", "/metric", "/metrics/", "/healthz/x", ""}) {
    Parsed r = Split(Server().Respond("GET", path));
    EXPECT_EQ(r.status_line, "HTTP/1.1 404 Not Found") << path;
    EXPECT_EQ(r.body, "try /metrics /connections /closures /healthz /readyz, or / for the page\n");
  }
}

TEST_F(AdminServerTest, MetricsMergesTheWorkersShardsAndAddsTheProcessCounters) {
  a_.metrics.connections_accepted.Add(3);
  b_.metrics.connections_accepted.Add(4);
  c_.metrics.connections_accepted.Add(5);
  a_.metrics.requests_by_status_class[1].Add(2);
  c_.metrics.requests_by_status_class[1].Add(1);
  b_.metrics.connections_in_state[static_cast<int>(LifecycleState::kHandshake)].Add(2);
  Parsed r = Split(Server().Respond("GET", "/metrics"));
  EXPECT_EQ(r.status_line, "HTTP/1.1 200 OK");
  EXPECT_NE(r.headers.find("Content-Type: text/plain; version=0.0.4\r\n"), std::string::npos);
  EXPECT_NE(r.body.find("\nringgate_connections_accepted_total 12\n"), std::string::npos);
  EXPECT_NE(r.body.find("ringgate_http_requests_total{status_class=\"2xx\"} 3\n"),
            std::string::npos);
  EXPECT_NE(r.body.find("ringgate_connections{worker=\"1\",state=\"handshake\"} 2\n"),
            std::string::npos);
  EXPECT_NE(r.body.find("ringgate_connections{worker=\"2\",state=\"handshake\"} 0\n"),
            std::string::npos);
  EXPECT_NE(r.body.find("# TYPE ringgate_log_lines_dropped_total counter\n"
                        "ringgate_log_lines_dropped_total "),
            std::string::npos);
  // Exactly what RenderPrometheus makes of the same shards.
  EXPECT_EQ(r.body,
            RenderPrometheus({&a_.metrics, &b_.metrics, &c_.metrics}, ReadProcessMetrics()));
  EXPECT_TRUE(a_.kinds_asked.empty()) << "/metrics reads the shards, not the snapshots";
}

TEST_F(AdminServerTest, ConnectionsMergesEveryWorkersSnapshotIntoOneArray) {
  Parsed r = Split(Server().Respond("GET", "/connections"));
  EXPECT_EQ(r.status_line, "HTTP/1.1 200 OK");
  EXPECT_NE(r.headers.find("Content-Type: application/json\r\n"), std::string::npos);
  EXPECT_EQ(r.body, "[{\"conn\":\"0-1\"},{\"conn\":\"2-5\"},{\"conn\":\"2-6\"}]\n");
  for (FakeWorkerView* w : {&a_, &b_, &c_}) {
    ASSERT_EQ(w->kinds_asked.size(), 1u);
    EXPECT_EQ(w->kinds_asked[0], SnapshotKind::kConnections);
    EXPECT_EQ(w->last_timeout, std::chrono::milliseconds(1000));
  }
}

TEST_F(AdminServerTest, ClosuresAsksForTheFlightRecorder) {
  Parsed r = Split(Server().Respond("GET", "/closures"));
  EXPECT_EQ(r.body, "[{\"conn\":\"0-0\"}]\n");
  ASSERT_EQ(c_.kinds_asked.size(), 1u);
  EXPECT_EQ(c_.kinds_asked[0], SnapshotKind::kClosures);
}

TEST(AdminServerNoWorkersTest, EmptySnapshotsMakeAnEmptyArray) {
  FakeWorkerView idle("[]", "[]");
  std::atomic<bool> draining{false};
  AdminServer server({&idle, &idle}, draining);
  EXPECT_EQ(Split(server.Respond("GET", "/connections")).body, "[]\n");
  AdminServer none({}, draining);
  EXPECT_EQ(Split(none.Respond("GET", "/closures")).body, "[]\n");
  Parsed metrics = Split(none.Respond("GET", "/metrics"));
  EXPECT_EQ(metrics.status_line, "HTTP/1.1 200 OK");
  EXPECT_NE(metrics.body.find("ringgate_log_lines_dropped_total"), std::string::npos);
}

TEST(AdminAccessTest, LoopbackNeedsNoToken) {
  for (const char* address :
       {"127.0.0.1:9901", "127.9.8.7:9901", "[::1]:9901", "[::ffff:127.0.0.1]:9901"}) {
    EXPECT_TRUE(IsLoopbackAddress(Address(address))) << address;
    EXPECT_TRUE(CheckAdminAccess(Address(address), "").ok()) << address;
  }
}

TEST(AdminAccessTest, AnyOtherAddressNeedsAToken) {
  for (const char* address : {"0.0.0.0:9901", "[::]:9901", "192.0.2.1:9901", "128.0.0.1:9901"}) {
    EXPECT_FALSE(IsLoopbackAddress(Address(address))) << address;
    absl::Status s = CheckAdminAccess(Address(address), "");
    EXPECT_FALSE(s.ok()) << address;
    EXPECT_NE(
        s.message().find("--admin-listen " + std::string(address) + " is not a loopback address"),
        std::string::npos)
        << s;
    EXPECT_NE(s.message().find("--admin-token"), std::string::npos) << s;
    EXPECT_TRUE(CheckAdminAccess(Address(address), std::string(32, 'a')).ok()) << address;
  }
}

TEST(AdminAccessTest, TokensAre16To512VisibleCharacters) {
  const SocketAddress any = Address("0.0.0.0:9901");
  const SocketAddress loopback = Address("127.0.0.1:9901");
  for (const std::string& good :
       {std::string(16, 'x'), std::string(512, 'x'), std::string("!~0123456789abcdef")}) {
    EXPECT_TRUE(CheckAdminAccess(any, good).ok()) << good;
    EXPECT_TRUE(CheckAdminAccess(loopback, good).ok()) << good;
  }
  for (const std::string& bad :
       {std::string(15, 'x'), std::string(513, 'x'), std::string("0123456789 abcdef"),
        std::string("0123456789\tabcdef"), std::string("0123456789abcdef\x7f"),
        std::string("0123456789abcd\xc3\xa9")}) {
    absl::Status s = CheckAdminAccess(loopback, bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("--admin-token must be 16 to 512 visible ASCII characters"),
              std::string::npos)
        << s;
  }
}

TEST(AdminAuthorizedTest, WithoutATokenEveryRequestIsAllowed) {
  std::atomic<bool> draining{false};
  AdminServer server({}, draining);
  EXPECT_TRUE(server.Authorized("GET /metrics HTTP/1.1\r\nHost: x"));
  EXPECT_TRUE(server.Authorized("GET /metrics HTTP/1.1\r\nAuthorization: Bearer whatever"));
}

TEST(AdminAuthorizedTest, TheBearerTokenMustMatchExactlyOnce) {
  const std::string token = "0123456789abcdef0123";
  std::atomic<bool> draining{false};
  AdminServer server({}, draining, token);
  const std::string line = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  EXPECT_TRUE(server.Authorized(line + "Authorization: Bearer " + token));
  EXPECT_TRUE(server.Authorized(line + "authorization: bearer " + token)) << "case-insensitive";
  EXPECT_TRUE(server.Authorized(line + "AUTHORIZATION:   Bearer   " + token + "  "))
      << "spaces around the value and the token are trimmed";
  EXPECT_TRUE(server.Authorized("GET / HTTP/1.1\r\nAuthorization: Bearer " + token + "\r\nX: y"));

  EXPECT_FALSE(server.Authorized(line)) << "missing";
  EXPECT_FALSE(server.Authorized(line + "Authorization: Bearer " + token + "4")) << "longer";
  EXPECT_FALSE(server.Authorized(line + "Authorization: Bearer " + token.substr(1))) << "shorter";
  EXPECT_FALSE(server.Authorized(line + "Authorization: Bearer 1123456789abcdef0123"));
  EXPECT_FALSE(server.Authorized(line + "Authorization: Basic " + token)) << "other scheme";
  EXPECT_FALSE(server.Authorized(line + "Authorization: " + token)) << "no scheme";
  EXPECT_FALSE(server.Authorized(line + "Authorization: Bearer"));
  EXPECT_FALSE(server.Authorized(line + "X-Authorization: Bearer " + token)) << "other header";
  EXPECT_FALSE(server.Authorized(line + "Authorization: Bearer " + token +
                                 "\r\nAuthorization: Bearer " + token))
      << "two Authorization headers";
  EXPECT_FALSE(
      server.Authorized(line + "Authorization: Bearer wrong\r\nAuthorization: Bearer " + token))
      << "two Authorization headers, the last one right";
}

TEST(AdminHostTest, WithoutATokenOnlyAnAddressOrLocalhostIsAnswered) {
  std::atomic<bool> draining{false};
  AdminServer server({}, draining);
  const std::string line = "GET /connections HTTP/1.1\r\n";
  for (const std::string host :
       {"127.0.0.1", "127.0.0.1:9901", "10.1.2.3:80", "[::1]", "[::1]:9901", "localhost",
        "LocalHost:9901", "localhost.:9901", " localhost:9901 "}) {
    EXPECT_TRUE(server.AddressedToThisMachine(line + "Host: " + host)) << host;
    EXPECT_TRUE(server.AddressedToThisMachine(line + "X: y\r\nhost:" + host + "\r\nZ: w")) << host;
  }
  EXPECT_TRUE(server.AddressedToThisMachine(line + "X: y")) << "no Host: not a browser";
  for (const std::string host :
       {"rebound.example", "rebound.example:9901", "127.0.0.1.nip.io", "localhost.rebound.example",
        "xlocalhost", ".localhost", "[::1", "[rebound.example]:9901", "[::1]:99x", "::1", "",
        "127.0.0.1:9901 x", "grafana.localhost", "rebound.localhost:9901"}) {
    EXPECT_FALSE(server.AddressedToThisMachine(line + "Host: " + host)) << host;
  }
  // What no browser sends, and inet_pton would stop reading at.
  EXPECT_FALSE(server.AddressedToThisMachine(line + "Host: 127.0.0.1" + '\0' + ".rebound"));
  EXPECT_FALSE(server.AddressedToThisMachine(line + "Host: 127.0.0.1\r\nHost: rebound.example"))
      << "two Host fields";
  EXPECT_FALSE(server.AddressedToThisMachine("GET / HTTP/1.1\r\nHost: rebound.example\r\n"));
}

TEST(AdminHostTest, WithATokenAnyHostIsAnswered) {
  std::atomic<bool> draining{false};
  AdminServer server({}, draining, "0123456789abcdef0123");
  EXPECT_TRUE(server.AddressedToThisMachine("GET / HTTP/1.1\r\nHost: admin.internal.example"));
}

}  // namespace
}  // namespace ringgate
