// TLS conformance at the record level and the key exchange groups, against the real binary:
// Python's ssl and openssl s_client get X25519, the negotiated group reaches the close line and
// /metrics, the middlebox-compatibility ChangeCipherSpec comes exactly when the client's
// legacy_session_id is non-empty (RFC 8446 D.4), and a ClientHello is accepted in 1-byte records
// and up to 64 KiB across several records (RFC 8446 5.1), not beyond.
#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <string>

#include "harness.h"

namespace ringgate::testing {
namespace {

class TlsConformanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    backend_ = new DemoBackend();
    ASSERT_TRUE(backend_->Start()) << "demo backend did not start";
    proxy_ = new ProxyUnderTest({"--handshake-timeout=5s"}, backend_->port());
    ASSERT_TRUE(proxy_->Start()) << "ringgate did not start";
  }
  static void TearDownTestSuite() {
    delete proxy_;
    delete backend_;
  }
  static CommandResult Records(const std::string& mode, const std::string& args = "") {
    return RunCommand("timeout 20 python3 " + SourceDir() + "/tests/integration/tls_records.py " +
                      mode + " --port " + std::to_string(proxy_->port()) + " " + args + " 2>&1");
  }
  // ringgate_tls_handshakes_by_group_total{group="<group>"} on /metrics; -1 when absent.
  static double HandshakesWithGroup(const std::string& group) {
    const std::string prefix = "ringgate_tls_handshakes_by_group_total{group=\"" + group + "\"} ";
    std::istringstream lines(proxy_->Admin("/metrics"));
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(prefix.size()));
    }
    return -1;
  }
  // Waits up to 3 s for the proxy's log to mention `needle` `count` times.
  static bool LogMentions(const std::string& needle, int count) {
    return PollUntil([&] { return CountOccurrences(proxy_->Log(), needle) >= count; },
                     std::chrono::seconds(3));
  }

  static DemoBackend* backend_;
  static ProxyUnderTest* proxy_;
};
DemoBackend* TlsConformanceTest::backend_ = nullptr;
ProxyUnderTest* TlsConformanceTest::proxy_ = nullptr;

TEST_F(TlsConformanceTest, PythonAndOpensslClientsGetX25519AndTheGroupIsRecorded) {
  const double before = HandshakesWithGroup("x25519");
  ASSERT_GE(before, 0) << proxy_->Admin("/metrics");
  const int closes_before = CountOccurrences(proxy_->Log(), "tls_group=x25519");
  CommandResult python = Records("fragment", "--record-size 16384");
  EXPECT_NE(python.output.find("ok HTTP/1.1 200"), std::string::npos) << python.output;
  CommandResult openssl = RunCommand(
      "printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | "
      "timeout 10 openssl s_client -connect 127.0.0.1:" +
      std::to_string(proxy_->port()) + " -tls1_3 -ign_eof 2>&1");
  EXPECT_NE(openssl.output.find("Server Temp Key: X25519"), std::string::npos) << openssl.output;
  EXPECT_NE(openssl.output.find("demo backend"), std::string::npos) << openssl.output;
  EXPECT_TRUE(LogMentions("tls_group=x25519", closes_before + 2)) << proxy_->Log();
  EXPECT_EQ(HandshakesWithGroup("x25519"), before + 2);
  EXPECT_GE(HandshakesWithGroup("X25519MLKEM768"), 0) << "every group has its line";
}

TEST_F(TlsConformanceTest, ChangeCipherSpecExactlyWhenTheClientSentASessionId) {
  // Python's ClientHello carries a 32-byte legacy_session_id: ServerHello, ChangeCipherSpec,
  // then the encrypted records.
  CommandResult with_id = Records("ccs");
  EXPECT_EQ(with_id.output, "records 22 20 23 23 23 23\n");
  // The same ClientHello without it: no ChangeCipherSpec (RFC 8446 D.4 requires one only when
  // asked). The 5.7.2 fallback sends one anyway, which D.4 allows and peers ignore.
  CommandResult without_id = Records("ccs", "--empty-session-id");
  if (RunCommand(BinaryPath() + " --version").output.find("FALLBACK pin") == std::string::npos) {
    EXPECT_EQ(without_id.output, "records 22 23 23 23 23\n");
  } else {
    EXPECT_TRUE(without_id.output == "records 22 23 23 23 23\n" ||
                without_id.output == "records 22 20 23 23 23 23\n")
        << without_id.output;
  }
}

TEST_F(TlsConformanceTest, ClientHelloInOneByteRecordsCompletesTheHandshake) {
  CommandResult r = Records("fragment", "--record-size 1");
  EXPECT_NE(r.output.find("ok HTTP/1.1 200"), std::string::npos) << r.output;
  CommandResult seven = Records("fragment", "--record-size 7");
  EXPECT_NE(seven.output.find("ok HTTP/1.1 200"), std::string::npos) << seven.output;
}

TEST_F(TlsConformanceTest, ClientHelloUpTo64KiBAcrossRecordsIsAcceptedAndLargerRefused) {
  // 20,000 bytes: two records; 65,000: four. wolfSSL's default cap (its certificate chain
  // bound, about 18 KiB) refused both.
  EXPECT_EQ(Records("padded", "--body-bytes 20000").output, "server_hello\n");
  EXPECT_EQ(Records("padded", "--body-bytes 65000").output, "server_hello\n");
  // Over the 64 KiB cap: a fatal alert, not a buffer of any size the client asks for.
  CommandResult over = Records("padded", "--body-bytes 65600");
  EXPECT_TRUE(over.output.rfind("alert", 0) == 0 || over.output == "closed\n") << over.output;
}

TEST(TlsGroupsFlagTest, BadGroupNamesExitNonZeroWithAMessage) {
  const std::string base =
      BinaryPath() + " --backend=127.0.0.1:1 --listen=127.0.0.1:" + std::to_string(FreePort()) +
      " --admin-listen=off --cert=" + CertificateDir() + "/cert.pem --key=" + CertificateDir() +
      "/key.pem";
  for (const char* bad : {"x25519:ffdhe2048", "P-256:P-256", ":x25519", "X448"}) {
    CommandResult r = RunCommand(base + " --tls-groups='" + std::string(bad) + "' 2>&1");
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.output.find("--tls-groups"), std::string::npos) << bad << "\n" << r.output;
  }
  CommandResult unknown = RunCommand(base + " --tls-groups=x25519:ffdhe2048 2>&1");
  EXPECT_NE(unknown.output.find("unknown group 'ffdhe2048'"), std::string::npos) << unknown.output;
}

// --tls-groups secp384r1: a client whose key share is X25519 is asked for P-384 (a
// HelloRetryRequest) and gets it.
TEST(TlsGroupsFlagTest, TheFlagDecidesTheGroup) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({"--tls-groups=secp384r1", "--log-level=debug"}, backend.port());
  ASSERT_TRUE(proxy.Start());
  CommandResult openssl = RunCommand(
      "printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | "
      "timeout 10 openssl s_client -connect 127.0.0.1:" +
      std::to_string(proxy.port()) + " -tls1_3 -ign_eof 2>&1");
  EXPECT_NE(openssl.output.find("Server Temp Key: ECDH, secp384r1"), std::string::npos)
      << openssl.output;
  EXPECT_NE(proxy.Log().find("tls_groups=secp384r1"), std::string::npos) << proxy.Log();
}

}  // namespace
}  // namespace ringgate::testing
