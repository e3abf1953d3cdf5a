// End-to-end: the real ringgate binary, the demo backend, and real TLS clients.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "harness.h"

namespace ringgate::testing {
namespace {

class ProxyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    backend_ = new DemoBackend();
    ASSERT_TRUE(backend_->Start()) << "demo backend did not start";
    proxy_ = new ProxyUnderTest(
        {"--close-notify-timeout=1s", "--upstream-response-timeout=1s", "--log-level=debug"},
        backend_->port());
    ASSERT_TRUE(proxy_->Start()) << "ringgate did not start";
  }
  static void TearDownTestSuite() {
    delete proxy_;
    delete backend_;
  }
  static std::string Curl(const std::string& args) { return "curl -sk --max-time 20 " + args; }
  static std::string Client(const std::string& mode, const std::string& args = "") {
    return "python3 " + SourceDir() + "/tests/integration/tls_client.py " + mode + " --port " +
           std::to_string(proxy_->port()) + " " + args;
  }

  static DemoBackend* backend_;
  static ProxyUnderTest* proxy_;
};
DemoBackend* ProxyTest::backend_ = nullptr;
ProxyUnderTest* ProxyTest::proxy_ = nullptr;

TEST_F(ProxyTest, CurlGetsTheBackendsAnswer) {
  CommandResult r = RunCommand(Curl(proxy_->Url("/")));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "hello from the ringgate demo backend\n");
}

TEST_F(ProxyTest, AlpnSelectsHttp11EvenWhenH2IsOffered) {
  CommandResult r = RunCommand(Curl("-v --http2 " + proxy_->Url("/")) + " 2>&1");
  EXPECT_NE(r.output.find("ALPN: server accepted http/1.1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("hello from the ringgate demo backend"), std::string::npos);
}

TEST_F(ProxyTest, ReturningClientsResumeTheirTlsSessions) {
  CommandResult r = RunCommand(Client("resume"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "TLSv1.3 resumed=True\nTLSv1.2 resumed=True\n");
}

// A client that always resumes with the ticket its last connection got (curl, h2load or a
// health checker in a loop) must keep resuming: wolfSSL 5.9 carried each ticket's nonce over
// from the ticket resumed and refused the handshake once it reached 255, so the 257th
// connection of such a chain failed.
TEST_F(ProxyTest, AClientResumingWithItsNewestTicketKeepsResumingPastTheNonceRange) {
  CommandResult r = RunCommand(Client("resumechain") + " --count 300");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "resumed 299 of 299\n");
}

TEST_F(ProxyTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  CommandResult r =
      RunCommand(Curl("-o /dev/null -o /dev/null -o /dev/null -w '%{num_connects} ' " +
                      proxy_->Url("/a") + " " + proxy_->Url("/b") + " " + proxy_->Url("/c")));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "1 0 0 ") << "the 2nd and 3rd requests must reuse the connection";
}

TEST_F(ProxyTest, PipelinedRequestsAreAnsweredInOrder) {
  CommandResult r = RunCommand(Client("pipeline"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(ProxyTest, HostIsKeptAndForwardingHeadersAdded) {
  CommandResult r =
      RunCommand(Curl("-H 'Host: example.test' -H 'Connection: keep-alive, X-Drop' "
                      "-H 'X-Drop: 1' " +
                      proxy_->Url("/headers")));
  EXPECT_NE(r.output.find("[\"Host\", \"example.test\"]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[\"X-Forwarded-For\", \"127.0.0.1\"]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[\"X-Forwarded-Proto\", \"https\"]"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("X-Drop"), std::string::npos) << "named in Connection: hop-by-hop";
}

TEST_F(ProxyTest, HeadRequestGetsHeadersWithoutABody) {
  CommandResult r = RunCommand(Curl("-I -w '%{http_code}' " + proxy_->Url("/bytes/1000")));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("Content-Length: 1000"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.substr(r.output.size() - 3), "200");
}

TEST_F(ProxyTest, Download8MiBIsIntact) {
  const int size = 8 << 20;
  CommandResult r =
      RunCommand(Curl(proxy_->Url("/bytes/" + std::to_string(size))) + " | sha256sum");
  EXPECT_EQ(r.output.substr(0, 64), ExpectedPatternSha256Of(size));
}

// Uploads `bytes` random bytes with the given curl header; the backend must see every byte.
void ExpectUploadIntact(const ProxyUnderTest& proxy, int bytes, const std::string& header) {
  std::string file = CertificateDir() + "/upload-" + std::to_string(bytes) + ".bin";
  RunCommand("head -c " + std::to_string(bytes) + " /dev/urandom > " + file);
  std::string expected = RunCommand("sha256sum " + file).output.substr(0, 64);
  CommandResult r = RunCommand("curl -sk --max-time 20 -H '" + header + "' --data-binary @" + file +
                               " " + proxy.Url("/sha256"));
  EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"bytes\": " + std::to_string(bytes)), std::string::npos) << r.output;
  std::remove(file.c_str());  // megabytes; the logs beside it stay for a failure's post-mortem
}

TEST_F(ProxyTest, ChunkedUpload8MiBIsIntact) {
  ExpectUploadIntact(*proxy_, 8 << 20, "Transfer-Encoding: chunked");
}

TEST_F(ProxyTest, ContentLengthUploadWithExpectContinueIsIntact) {
  ExpectUploadIntact(*proxy_, 3000000, "Expect: 100-continue");
}

// Seed 002: a client that writes several requests and closes at once must have every one
// processed. Half the connections close bare (FIN, then RST when our answers arrive), half send
// close_notify first.
TEST_F(ProxyTest, TenPipelinedRequestsThenImmediateCloseAllReachTheBackend) {
  const int reps = 200;
  const std::string run_id = "r" + std::to_string(getpid());
  CommandResult r =
      RunCommand(Client("burst", "--run " + run_id + " --reps " + std::to_string(reps)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string count_url = "http://127.0.0.1:" + std::to_string(backend_->port()) +
                                "/requests?prefix=/burst/" + run_id + "/";
  std::string seen;
  WaitUntil(  // the last bursts may still be in flight to the backend
      [&] {
        seen = RunCommand("curl -s " + count_url).output;
        return seen == std::to_string(reps * 10);
      },
      std::chrono::seconds(10), "every burst's requests reached the backend");
  EXPECT_EQ(seen, std::to_string(reps * 10));
  // And every one of those connections was finished and released: none is left behind in some
  // state (a reset socket is invisible in /proc/net/tcp, so ask the proxy itself).
  EXPECT_EQ(proxy_->LiveConnectionsWithin(10000), "[]\n");
}

TEST_F(ProxyTest, UnwrapAfterAResponseGetsOurCloseNotify) {
  CommandResult r = RunCommand(Client("unwrap"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "unwrap completed\n");
}

TEST_F(ProxyTest, ClientThatNeverAnswersCloseNotifyIsClosedWithinTheTimeout) {
  const int before = CountOccurrences(proxy_->Log(), "cause=timeout");
  BackgroundClient silent;  // ended when the test is, not after the rest of its hold
  ASSERT_EQ(silent.Start(proxy_->port(), "silent", {"--count", "20", "--hold", "4"}), "ready\n");
  // The 20 clients hold their sockets open for 4 s; our 1 s close_notify deadline must free
  // every one of ours well before that: within 1.8 s, and logged.
  EXPECT_EQ(proxy_->OpenClientSockets(), 20) << "all 20 still waiting for the peer";
  WaitUntil(
      [&] {
        return proxy_->OpenClientSockets() == 0 &&
               CountOccurrences(proxy_->Log(), "cause=timeout") - before >= 20;
      },
      std::chrono::milliseconds(1800), "the close_notify deadline has closed and logged all 20");
  EXPECT_EQ(proxy_->OpenClientSockets(), 0) << "descriptors left behind after the deadline";
  EXPECT_EQ(CountOccurrences(proxy_->Log(), "cause=timeout") - before, 20);
}

TEST_F(ProxyTest, OpensslSpeaksTls13AndTls12ButNotTls11) {
  const std::string request =
      "printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | "
      "timeout 10 openssl s_client -quiet -connect 127.0.0.1:" +
      std::to_string(proxy_->port());
  EXPECT_NE(RunCommand(request + " -tls1_3 2>/dev/null").output.find("demo backend"),
            std::string::npos);
  EXPECT_NE(RunCommand(request + " -tls1_2 2>/dev/null").output.find("demo backend"),
            std::string::npos);
  CommandResult old = RunCommand(request + " -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' 2>&1");
  EXPECT_EQ(old.output.find("demo backend"), std::string::npos);
}

TEST_F(ProxyTest, MalformedRequestGets400AndAClose) {
  CommandResult r = RunCommand(
      "printf 'GARBAGE\\r\\n\\r\\n' | timeout 10 openssl s_client -quiet "
      "-connect 127.0.0.1:" +
      std::to_string(proxy_->port()) + " 2>/dev/null");
  EXPECT_EQ(r.output.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("Connection: close"), std::string::npos);
}

TEST_F(ProxyTest, TooManyHeadersGet431AndAnOverlongTarget414) {
  std::string many;
  for (int i = 0; i < 150; ++i) many += " -H 'X-H" + std::to_string(i) + ": v'";
  EXPECT_EQ(
      RunCommand(Curl("-o /dev/null -w '%{http_code}'" + many + " " + proxy_->Url("/"))).output,
      "431");
  EXPECT_EQ(RunCommand(
                Curl("-o /dev/null -w '%{http_code}' " + proxy_->Url("/" + std::string(9000, 'a'))))
                .output,
            "414");
  EXPECT_EQ(RunCommand(
                Curl("-o /dev/null -w '%{http_code}' " + proxy_->Url("/" + std::string(7000, 'a'))))
                .output,
            "200")
      << "under the limit is fine";
}

// Request smuggling: each ambiguous framing gets 400 and nothing reaches the backend.
TEST_F(ProxyTest, SmugglingAttemptsGet400AndNothingIsForwarded) {
  const std::string run = "smuggle" + std::to_string(getpid());
  const struct {
    const char* name;
    std::string request;
  } attacks[] = {
      {"Content-Length with Transfer-Encoding",
       "POST /" + run +
           "/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
           "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"conflicting Content-Length",
       "POST /" + run +
           "/2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
      {"invalid chunk size",
       "POST /" + run +
           "/3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
      {"obs-fold", "GET /" + run + "/4 HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n"},
      {"bare LF inside a header",
       "GET /" + run + "/5 HTTP/1.1\r\nHost: a\r\nX-A: one\ntwo\r\n\r\n"},
      {"bare CR inside a header",
       "GET /" + run + "/6 HTTP/1.1\r\nHost: a\r\nX-A: one\rtwo\r\n\r\n"},
      {"whitespace before the colon",
       "POST /" + run + "/7 HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello"},
      {"chunked not last",
       "POST /" + run +
           "/8 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"},
  };
  for (const auto& attack : attacks) {
    std::string hex;
    for (unsigned char c : attack.request) {
      char b[3];
      std::snprintf(b, sizeof b, "%02x", c);
      hex += b;
    }
    CommandResult r = RunCommand(Client("raw", "--hex " + hex));
    EXPECT_EQ(r.output, "HTTP/1.1 400 Bad Request\n") << attack.name;
  }
  const std::string seen =
      RunCommand("curl -s 'http://127.0.0.1:" + std::to_string(backend_->port()) +
                 "/requests?prefix=/" + run + "/'")
          .output;
  EXPECT_EQ(seen, "0") << "a smuggling attempt reached the backend";
}

TEST_F(ProxyTest, SlowBackendGets504) {
  CommandResult r =
      RunCommand(Curl("-o /dev/null -w '%{http_code}' " + proxy_->Url("/delay/3000")));
  EXPECT_EQ(r.output, "504");
}

TEST_F(ProxyTest, BackendCutMidResponseIsNotAFalselyCleanEnd) {
  CommandResult r = RunCommand(Curl("-o /dev/null " + proxy_->Url("/truncate")));
  EXPECT_NE(r.exit_code, 0) << "curl must see the truncation";
}

// Four 1 KiB provided buffers for a worker serving nine concurrent megabyte transfers: the
// multishot recvs keep running out of buffers (-ENOBUFS) and must be re-armed each time, with
// no stall and no byte lost in either direction.
TEST(ProxyResourceTest, RecvBufferRingExhaustionStallsNothing) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({"--threads=1", "--recv-buffers=4", "--recv-buffer-size=1024"},
                       backend.port());
  ASSERT_TRUE(proxy.Start());
  const std::string dir = CertificateDir() + "/ring-" + std::to_string(proxy.port());
  RunCommand("mkdir -p " + dir + " && head -c 1500000 /dev/urandom > " + dir + "/up.bin");
  const std::string upload_sha = RunCommand("sha256sum " + dir + "/up.bin").output.substr(0, 64);
  const std::string curl = "curl -sk --max-time 60 ";
  CommandResult r = RunCommand(
      "cd " + dir + " && for i in 1 2 3 4 5 6; do (" + curl + proxy.Url("/bytes/2000000") +
      " | sha256sum | cut -c1-64 > down$i) & done; for i in 1 2 3; do (" + curl +
      "--data-binary @up.bin " + proxy.Url("/sha256") + " > up$i) & done; wait; cat down* up*");
  const std::string download_sha = ExpectedPatternSha256Of(2000000);
  EXPECT_EQ(CountOccurrences(r.output, download_sha), 6) << r.output;
  EXPECT_EQ(CountOccurrences(r.output, upload_sha), 3) << r.output;
  EXPECT_EQ(CountOccurrences(r.output, "\"bytes\": 1500000"), 3) << r.output;
  EXPECT_GT(proxy.Metric("ringgate_uring_recv_enobufs_total"), 0)
      << "the ring never ran dry: the test did not test exhaustion";
  RunCommand("rm -rf " + dir);
}

// The smallest ring (64 entries, a 256-entry completion queue) and a storm of 1500 connections
// arriving at once: more completions are due together than the queue holds. The kernel parks the
// excess (none is dropped); every connection must be accepted, see its peer's close, and be
// released well before the 10 s handshake timeout would have swept up a lost completion.
TEST(ProxyResourceTest, CompletionQueueOverflowLosesNoCompletion) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({"--threads=1", "--ring-entries=64"}, backend.port());
  ASSERT_TRUE(proxy.Start());
  const double accepted_before = proxy.Metric("ringgate_connections_accepted_total");
  CommandResult storm =
      RunCommand("python3 " + SourceDir() + "/tests/integration/tls_client.py storm --port " +
                 std::to_string(proxy.port()) + " --count 1500 --hold 1.5 --pid " +
                 std::to_string(proxy.pid()));
  ASSERT_EQ(storm.output, "stormed\n");
  EXPECT_EQ(proxy.LiveConnectionsWithin(5000), "[]\n")
      << "connections still open 5 s after their clients closed";
  EXPECT_EQ(proxy.Metric("ringgate_connections_accepted_total") - accepted_before, 1500);
  EXPECT_GT(proxy.Metric("ringgate_uring_cq_overflows_total"), 0)
      << "the completion queue never overflowed: the test did not test overflow";
  EXPECT_EQ(RunCommand("curl -sk --max-time 5 " + proxy.Url("/")).output,
            "hello from the ringgate demo backend\n");
}

TEST(ProxySlowReaderTest, ClientThatStopsReadingIsCutAfterTheSendTimeout) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({"--send-timeout=1s", "--log-level=debug"}, backend.port());
  ASSERT_TRUE(proxy.Start());
  BackgroundClient stall;  // ended when the test is, not after the rest of its hold
  ASSERT_EQ(stall.Start(proxy.port(), "stall", {"--hold", "4"}), "ready\n");
  // Buffers fill, the client reads nothing for 1 s, the abort's own flush cannot finish either:
  // the descriptor must still be released within a few seconds while the client holds on.
  int open_sockets = -1;
  WaitUntil(
      [&] {
        open_sockets = proxy.OpenClientSockets();
        return open_sockets == 0;
      },
      std::chrono::seconds(6), "the stalled client's socket is released");
  EXPECT_EQ(open_sockets, 0);
  const std::string log = proxy.Log();
  EXPECT_NE(log.find("client stopped reading"), std::string::npos) << log.substr(0, 3000);
  EXPECT_NE(log.find("closed cause=timeout initiator=server_timeout"), std::string::npos);
  EXPECT_EQ(log.find("backend timed out"), std::string::npos) << "not the backend's fault";
}

// A client that reads its large response late makes the proxy pause reading from the backend.
// When the response's last bytes were already on their way as the pause was issued, the exchange
// completes with the pause still set; the backend connection must still go back to the pool
// reading, or the next request on it waits for the upstream response timeout (seen as a 504).
// One worker and a pool of one make every next request reuse that connection.
TEST(ProxyPoolTest, BackendConnectionPausedByASlowReaderServesTheNextRequestAtOnce) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({"--threads=1", "--upstream-idle-max=1", "--upstream-response-timeout=2s",
                        "--log-level=debug"},
                       backend.port());
  ASSERT_TRUE(proxy.Start());
  CommandResult r =
      RunCommand("python3 " + SourceDir() + "/tests/integration/tls_client.py slowread --port " +
                 std::to_string(proxy.port()) + " --reps 8 --bytes 3000000");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "8 slow downloads, each followed by a prompt answer\n");
  EXPECT_EQ(CountOccurrences(proxy.Log(), "status=504"), 0);
}

// Out of descriptors: accept(2) fails with EMFILE. The worker pauses accepting (instead of
// re-arming into the same failure in a loop), keeps serving the connections it has, and accepts
// the waiting client once descriptors are free again.
TEST(ProxyLimitsTest, OutOfDescriptorsPausesAcceptingAndKeepsServing) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({"--threads=1"}, backend.port());
  proxy.set_descriptor_limit(64);
  ASSERT_TRUE(proxy.Start());
  CommandResult r =
      RunCommand("python3 " + SourceDir() + "/tests/integration/tls_client.py fdlimit --port " +
                 std::to_string(proxy.port()) + " --pid " + std::to_string(proxy.pid()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("served while paused; newcomer served", 0), 0u) << r.output;
  EXPECT_NE(proxy.Log().find("accept paused worker=0 error=\"Too many open files\""),
            std::string::npos)
      << proxy.Log();
  // Bounded: the retries back off (50 ms doubling to 1 s) instead of spinning.
  const int pauses = CountOccurrences(proxy.Log(), "accept paused");
  EXPECT_GE(pauses, 1);
  EXPECT_LE(pauses, 12);
  EXPECT_EQ(proxy.Metric("ringgate_accept_pauses_total"), pauses);
}

TEST(ProxyLimitsTest, MaxConnsRefusesNewcomersWithoutDisturbingTheOthers) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({"--threads=1", "--max-conns=2"}, backend.port());
  ASSERT_TRUE(proxy.Start());
  const std::string idle = "python3 " + SourceDir() +
                           "/tests/integration/tls_client.py idle --port " +
                           std::to_string(proxy.port()) + " --hold 3";
  FILE* a = popen(idle.c_str(), "r");
  FILE* b = popen(idle.c_str(), "r");
  char line[32];
  ASSERT_NE(fgets(line, sizeof line, a), nullptr);
  ASSERT_NE(fgets(line, sizeof line, b), nullptr);
  CommandResult refused =
      RunCommand("curl -sk --max-time 5 -o /dev/null -w '%{http_code}' " + proxy.Url("/"));
  EXPECT_EQ(refused.output, "000");
  EXPECT_NE(proxy.Admin("/metrics").find("ringgate_connections_refused_total 1\n"),
            std::string::npos);
  EXPECT_EQ(proxy.OpenClientSockets(), 2) << "the two held connections are untouched";
  proxy.Signal(SIGTERM);  // drain: both get our close_notify
  char end[32] = {};
  EXPECT_NE(fgets(end, sizeof end, a), nullptr);
  EXPECT_STREQ(end, "close_notify\n");
  pclose(a);
  pclose(b);
}

// Clients and backends that misbehave, against short timeouts.
class MisbehavingPeersTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    backend_ = new DemoBackend();
    ASSERT_TRUE(backend_->Start());
    proxy_ = new ProxyUnderTest(
        {"--request-header-timeout=1s", "--idle-timeout=1s", "--log-level=debug"},
        backend_->port());
    ASSERT_TRUE(proxy_->Start());
  }
  static void TearDownTestSuite() {
    delete proxy_;
    delete backend_;
  }
  static std::string Client(const std::string& mode, const std::string& args = "") {
    return "python3 " + SourceDir() + "/tests/integration/tls_client.py " + mode + " --port " +
           std::to_string(proxy_->port()) + " " + args;
  }
  static DemoBackend* backend_;
  static ProxyUnderTest* proxy_;
};
DemoBackend* MisbehavingPeersTest::backend_ = nullptr;
ProxyUnderTest* MisbehavingPeersTest::proxy_ = nullptr;

TEST_F(MisbehavingPeersTest, SlowlorisGets408AtTheRequestHeaderTimeout) {
  const std::string partial = "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ";
  std::string hex;
  for (unsigned char c : partial) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", c);
    hex += b;
  }
  const auto start = std::chrono::steady_clock::now();
  CommandResult r = RunCommand(Client("raw", "--hex " + hex));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.output, "HTTP/1.1 408 Request Timeout\n");
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::seconds(4));
}

TEST_F(MisbehavingPeersTest, IdleKeepAliveConnectionIsClosedPolitelyAtTheIdleTimeout) {
  const int idle_closes_before = CountOccurrences(proxy_->Log(), " idle timeout");
  const auto start = std::chrono::steady_clock::now();
  CommandResult r = RunCommand(Client("idle", "--hold 10"));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.output, "ready\nclose_notify\n") << "closed with close_notify, not a bare FIN";
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::seconds(4));
  int idle_closes = 0;
  WaitUntil(  // the log line is written asynchronously
      [&] {
        idle_closes = CountOccurrences(proxy_->Log(), " idle timeout") - idle_closes_before;
        return idle_closes != 0;
      },
      std::chrono::seconds(2), "the idle timeout is logged");
  EXPECT_EQ(idle_closes, 1);
}

TEST_F(MisbehavingPeersTest, BackendAnsweringGarbageGets502) {
  CommandResult r =
      RunCommand("curl -sk --max-time 10 -w ' %{http_code}' " + proxy_->Url("/garbage"));
  EXPECT_EQ(r.output, "502 Bad Gateway\n 502");
  EXPECT_NE(proxy_->Log().find("bad response from backend"), std::string::npos);
}

TEST(ProxyBackendDownTest, UnreachableBackendGets502) {
  ProxyUnderTest proxy({}, FreePort());  // nothing listens there
  ASSERT_TRUE(proxy.Start());
  CommandResult r = RunCommand("curl -sk --max-time 10 -w ' %{http_code}' " + proxy.Url("/"));
  EXPECT_EQ(r.output, "502 Bad Gateway\n 502");
  EXPECT_NE(proxy.Log().find("responding with an error status=502"), std::string::npos);
}

// Session tickets under keys from a shared file: one instance resumes another's sessions; an
// instance whose file lists the old key second (a rotation) still resumes them; instances
// without the file cannot. A malformed file stops start-up with a message.
TEST(TicketKeyTest, InstancesSharingAKeyFileResumeEachOthersSessions) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  const std::string dir = CertificateDir();
  const std::string old_key = dir + "/ticket-old.key";
  const std::string rotated = dir + "/ticket-rotated.key";
  RunCommand("umask 077 && head -c 48 /dev/urandom > " + old_key +
             " && head -c 48 /dev/urandom | cat - " + old_key + " > " + rotated);
  ProxyUnderTest first({"--ticket-key-file=" + old_key}, backend.port());
  ProxyUnderTest second({"--ticket-key-file=" + old_key}, backend.port());
  ProxyUnderTest after_rotation({"--ticket-key-file=" + rotated}, backend.port());
  ProxyUnderTest without_file({}, backend.port());
  ASSERT_TRUE(first.Start() && second.Start() && after_rotation.Start() && without_file.Start());
  auto resume = [](const ProxyUnderTest& from, const ProxyUnderTest& to) {
    return RunCommand("python3 " + SourceDir() + "/tests/integration/tls_client.py resume --port " +
                      std::to_string(from.port()) + " --port2 " + std::to_string(to.port()))
        .output;
  };
  EXPECT_EQ(resume(first, second), "TLSv1.3 resumed=True\nTLSv1.2 resumed=True\n");
  EXPECT_EQ(resume(first, after_rotation), "TLSv1.3 resumed=True\nTLSv1.2 resumed=True\n");
  EXPECT_EQ(resume(first, without_file), "TLSv1.3 resumed=False\nTLSv1.2 resumed=False\n");
  EXPECT_EQ(resume(without_file, first), "TLSv1.3 resumed=False\nTLSv1.2 resumed=False\n");

  const std::string short_key = dir + "/ticket-short.key";
  RunCommand("umask 077 && head -c 47 /dev/urandom > " + short_key);
  CommandResult refused =
      RunCommand(BinaryPath() + " --listen=127.0.0.1:" + std::to_string(FreePort()) +
                 " --backend=127.0.0.1:" + std::to_string(backend.port()) + " --cert=" + dir +
                 "/cert.pem --key=" + dir + "/key.pem" +
                 " --admin-listen=off --ticket-key-file=" + short_key + " 2>&1");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("must hold 1 to 16 keys of 48 bytes each"), std::string::npos)
      << refused.output;

  // Key material every user can read is refused, naming the file and the fix.
  const std::string open_key = dir + "/ticket-world-readable.key";
  RunCommand("head -c 48 /dev/urandom > " + open_key + " && chmod 644 " + open_key);
  CommandResult exposed =
      RunCommand(BinaryPath() + " --listen=127.0.0.1:" + std::to_string(FreePort()) +
                 " --backend=127.0.0.1:" + std::to_string(backend.port()) + " --cert=" + dir +
                 "/cert.pem --key=" + dir + "/key.pem" +
                 " --admin-listen=off --ticket-key-file=" + open_key + " 2>&1");
  EXPECT_NE(exposed.exit_code, 0);
  EXPECT_NE(exposed.output.find("ticket key file '" + open_key +
                                "' can be read or written by every user (mode 0644): chmod 600"),
            std::string::npos)
      << exposed.output;
}

TEST(ProxyRsaTest, RsaCertificateServesTls13AndTls12) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({"--cert=" + CertificateDir() + "/rsa-cert.pem",
                        "--key=" + CertificateDir() + "/rsa-key.pem"},
                       backend.port());
  ASSERT_TRUE(proxy.Start());
  for (const char* version : {"--tlsv1.3", "--tlsv1.2 --tls-max 1.2"}) {
    CommandResult r = RunCommand("curl -sk --max-time 10 " + std::string(version) +
                                 " -w ' %{ssl_verify_result}' " + proxy.Url("/"));
    EXPECT_EQ(r.output.rfind("hello from the ringgate demo backend", 0), 0u) << version;
  }
  CommandResult cipher =
      RunCommand("echo | timeout 10 openssl s_client -tls1_2 -connect 127.0.0.1:" +
                 std::to_string(proxy.port()) + " 2>/dev/null | grep -E '^ *Cipher *:'");
  EXPECT_NE(cipher.output.find("ECDHE-RSA-AES128-GCM-SHA256"), std::string::npos) << cipher.output;
}

TEST(ProxyCipherTest, NoCbcOrNonForwardSecretSuitesInTls12) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({}, backend.port());
  ASSERT_TRUE(proxy.Start());
  for (const char* cipher : {"ECDHE-ECDSA-AES128-SHA256", "AES128-GCM-SHA256", "AES128-SHA"}) {
    CommandResult r =
        RunCommand("echo | timeout 10 openssl s_client -tls1_2 -cipher " + std::string(cipher) +
                   " -connect 127.0.0.1:" + std::to_string(proxy.port()) + " 2>&1");
    EXPECT_EQ(r.output.find("Cipher is " + std::string(cipher)), std::string::npos)
        << cipher << " must be refused";
  }
}

// Start-up errors: a message that says what is wrong, and a non-zero exit.
TEST(StartupTest, BadInputsExitNonZeroWithAMessage) {
  const std::string cert = CertificateDir() + "/cert.pem";
  const std::string key = CertificateDir() + "/key.pem";
  RunCommand("openssl ecparam -name prime256v1 -genkey -noout -out " + CertificateDir() +
             "/other.pem 2>/dev/null");
  const std::string other_key = CertificateDir() + "/other.pem";
  const std::string world_readable_key = CertificateDir() + "/world-readable-key.pem";
  RunCommand("cp " + key + " " + world_readable_key + " && chmod 644 " + world_readable_key);
  const std::string ok_files = " --cert=" + cert + " --key=" + key;
  const std::string base =
      BinaryPath() + " --backend=127.0.0.1:1 --listen=127.0.0.1:" + std::to_string(FreePort());
  struct Case {
    std::string args;
    std::string message;
  } cases[] = {
      {base + ok_files + " --threads=-1", "--threads"},
      {base + ok_files + " --close-notify-timeout=0s", "--close-notify-timeout must be positive"},
      {base + ok_files + " --sqpoll-idle=0s", "--sqpoll-idle must be between"},
      {base + ok_files + " --no-such-flag", "unknown flag --no-such-flag (see --help)"},
      {base + ok_files + " --cpus=0,999", "does not exist"},
      {base + ok_files + " --user=no-such-user-here", "--user: no user named 'no-such-user-here'"},
      {base + ok_files + " --trusted-proxies=10.0.0.0/33",
       "--trusted-proxies: '10.0.0.0/33' has an invalid prefix length"},
      {base + ok_files + " --trusted-proxies=example.com", "is not an IP address or CIDR block"},
      {base + ok_files + " --request-body-timeout=0s", "--request-body-timeout must be positive"},
      {BinaryPath() + " --listen=nonsense" + ok_files, "has no :port"},
      {base, "--cert and --key are required"},
      {base + " --cert=/nonexistent.pem --key=" + key, "cannot read certificate file"},
      {base + " --cert=" + cert + " --key=" + other_key, "does not match"},
      {base + " --cert=" + cert + " --key=" + world_readable_key,
       "private key file '" + world_readable_key +
           "' can be read or written by every user (mode 0644)"},
  };
  for (const Case& c : cases) {
    CommandResult r = RunCommand(c.args + " 2>&1");
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
}

// Every `--flag` named in a line of `text` that starts with `line_start`. (No std::regex: GCC 12
// warns falsely inside it under the sanitizers, and CI builds with -Werror.)
std::set<std::string> FlagsNamedIn(const std::string& text, const std::string& line_start) {
  std::set<std::string> flags;
  std::istringstream lines(text);
  std::string line;
  auto flag_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  };
  while (std::getline(lines, line)) {
    if (line.rfind(line_start, 0) != 0) continue;
    // In the README's table only the first cell names flags; --help names one per line.
    const std::string cell =
        line_start[0] == '|' ? line.substr(0, line.find('|', 1)) : line.substr(0, 42);
    for (size_t at = cell.find("--"); at != std::string::npos; at = cell.find("--", at + 2)) {
      size_t end = at + 2;
      while (end < cell.size() && flag_char(cell[end])) ++end;
      if (end > at + 2) flags.insert(cell.substr(at, end - at));
    }
  }
  return flags;
}

// --help is where a new user looks: it must list every flag (the README's table, and no flag the
// table lacks), each with its default and meaning.
TEST(StartupTest, HelpListsExactlyTheFlagsInTheReadmesTable) {
  CommandResult help = RunCommand(BinaryPath() + " --help");
  EXPECT_EQ(help.exit_code, 0);
  const std::set<std::string> in_help = FlagsNamedIn(help.output, "  --");
  CommandResult readme = RunCommand("cat " + SourceDir() + "/README.md");
  const std::set<std::string> in_readme = FlagsNamedIn(readme.output, "| `--");
  EXPECT_GE(in_readme.size(), 30u) << "the README's flag table was not found";
  EXPECT_EQ(in_help, in_readme) << help.output;
  EXPECT_NE(help.output.find("  --close-notify-timeout=5s"), std::string::npos) << "defaults shown";
  EXPECT_NE(help.output.find("Timeouts:"), std::string::npos) << "grouped";
  EXPECT_EQ(help.output.find("--flagfile"), std::string::npos) << "none of abseil's own flags";
  EXPECT_EQ(help.output.find("No flags matched"), std::string::npos);
}

TEST(StartupTest, VersionNamesTheReleaseAndTheBuildType) {
  CommandResult r = RunCommand(BinaryPath() + " --version");
  EXPECT_EQ(r.exit_code, 0);
  // "ringgate 0.1.0 (release build)\n"
  unsigned major = 0, minor = 0, patch = 0;
  char build_type[32] = {};
  EXPECT_EQ(std::sscanf(r.output.c_str(), "ringgate %u.%u.%u (%31[a-z] build)", &major, &minor,
                        &patch, build_type),
            4)
      << r.output;
  // meson's build types; CI's sanitized build is "custom" (-O1, line tables only).
  const std::set<std::string> build_types = {"release", "debugoptimized", "debug",
                                             "plain",   "minsize",        "custom"};
  EXPECT_EQ(build_types.count(build_type), 1u) << r.output;
  const std::string first_line = r.output.substr(0, r.output.find('\n') + 1);
  EXPECT_TRUE(first_line.ends_with(" build)\n")) << r.output;
  EXPECT_EQ(r.output.find("NDEBUG"), std::string::npos) << r.output;
  // Then each dependency, its version and where it came from.
  EXPECT_NE(r.output.find("\nwolfSSL 5."), std::string::npos) << r.output;
  EXPECT_TRUE(r.output.find("(Debian source ") != std::string::npos ||
              r.output.find("(Debian binary package ") != std::string::npos)
      << r.output;
  // Which of scripts/fetch-wolfssl.sh's pins was built, or none (the system library).
  EXPECT_TRUE(r.output.find("; primary pin;") != std::string::npos ||
              r.output.find("; FALLBACK pin;") != std::string::npos ||
              r.output.find("; no pin: the system library;") != std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("\nTLS key exchange groups by default: "), std::string::npos) << r.output;
  // liburing and llhttp: the pinned Debian copies built as subprojects (scripts/dep-pins.sh), not
  // Debian 12's liburing 2.3 or node-llhttp 8.1.
  EXPECT_NE(r.output.find("\nliburing 2."), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("\nliburing 2.3 "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(Debian source 2."), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nllhttp 9."), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(Debian libllhttp-source 9."), std::string::npos) << r.output;
}

// The uid and gid of a process, and the owner of its /proc files (root for a process that is not
// dumpable), from /proc.
struct ProcessIdentity {
  std::string uid_line;
  std::string gid_line;
  uid_t proc_owner = 0;
};
ProcessIdentity IdentityOf(pid_t pid) {
  ProcessIdentity identity;
  const std::string status = "/proc/" + std::to_string(pid) + "/status";
  std::istringstream lines(RunCommand("cat " + status).output);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("Uid:", 0) == 0) identity.uid_line = line;
    if (line.rfind("Gid:", 0) == 0) identity.gid_line = line;
  }
  struct stat st {};
  if (stat(status.c_str(), &st) == 0) identity.proc_owner = st.st_uid;
  return identity;
}

// --user: root is dropped once sockets and keys are open, and the proxy still serves; by default
// the process is not dumpable (its /proc files belong to root even though it runs as nobody).
TEST(PrivilegeTest, UserDropsRootAndTheProcessIsNotDumpable) {
  if (geteuid() != 0) GTEST_SKIP() << "changing user needs root";
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({"--user=nobody"}, backend.port());
  ASSERT_TRUE(proxy.Start());
  EXPECT_EQ(RunCommand("curl -sk --max-time 10 " + proxy.Url("/")).output,
            "hello from the ringgate demo backend\n");
  const ProcessIdentity identity = IdentityOf(proxy.pid());
  EXPECT_EQ(identity.uid_line, "Uid:\t65534\t65534\t65534\t65534");
  EXPECT_EQ(identity.gid_line, "Gid:\t65534\t65534\t65534\t65534");
  EXPECT_EQ(identity.proc_owner, 0u) << "dumpable: a core file or ptrace would expose the key";

  ProxyUnderTest dumpable({"--user=nobody", "--core-dumps"}, backend.port());
  ASSERT_TRUE(dumpable.Start());
  EXPECT_EQ(IdentityOf(dumpable.pid()).proc_owner, 65534u);
}

TEST(StartupTest, AddressInUseExitsNonZeroWithAMessage) {
  DemoBackend occupant;  // holds a port
  ASSERT_TRUE(occupant.Start());
  CommandResult r =
      RunCommand(BinaryPath() + " --listen=127.0.0.1:" + std::to_string(occupant.port()) +
                 " --backend=127.0.0.1:1 --cert=" + CertificateDir() +
                 "/cert.pem --key=" + CertificateDir() + "/key.pem 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("Address already in use"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ringgate::testing
