// --proxy-protocol on a client connection, driven by hand (connection_driver.h): the PROXY header
// is read before TLS, the bytes behind it in the same recv start the TLS stream, its source
// address is the peer from then on (X-Forwarded-For, --trusted-proxies, /connections, the
// closure), and every refusal closes without a byte sent, counted by reason.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "ringgate/core/proxy_protocol.h"
#include "ringgate/diag/metrics.h"
#include "ringgate/proxy/client_connection.h"
#include "unit/support/connection_driver.h"

namespace ringgate {
namespace {

using testing::ConnectionDriver;
using testing::DriverConfig;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::OpOf;
using testing::OpsOf;

constexpr char kGet[] = "GET /who HTTP/1.1\r\nHost: example\r\n\r\n";
const std::string kV1 = "PROXY TCP4 192.0.2.1 198.51.100.7 51234 443\r\n";

// The driver's client connects from 127.0.0.1: that is the L4 balancer here.
Config ProxyProtocolConfig(const std::string& from = "127.0.0.1/32",
                           const std::string& trusted = "") {
  Config config = DriverConfig();
  config.proxy_protocol = true;
  config.proxy_protocol_from = *ParseCidrList(from);
  config.trusted_proxies = *ParseCidrList(trusted);
  return config;
}

std::string V2(uint8_t command, uint8_t family, const std::string& addresses) {
  std::string header(kProxyV2Signature);
  header += static_cast<char>(0x20 | command);
  header += static_cast<char>(family);
  header += static_cast<char>(addresses.size() >> 8);
  header += static_cast<char>(addresses.size() & 0xff);
  return header + addresses;
}

// [2001:db8::1]:1 -> [2001:db8::2]:443
std::string Inet6Addresses() {
  std::string block(36, '\0');
  in6_addr address{};
  inet_pton(AF_INET6, "2001:db8::1", &address);
  block.replace(0, 16, reinterpret_cast<const char*>(&address), 16);
  inet_pton(AF_INET6, "2001:db8::2", &address);
  block.replace(16, 16, reinterpret_cast<const char*>(&address), 16);
  block[33] = 1;
  block[34] = static_cast<char>(443 >> 8);
  block[35] = static_cast<char>(443 & 0xff);
  return block;
}

// The client's ClientHello, not yet sent.
std::string ClientHello(ConnectionDriver& d) {
  d.client_tls().Handshake();
  std::string hello;
  hello.swap(d.client_tls().pending_ciphertext());
  return hello;
}

// Accepts, sends `header` with the ClientHello behind it (in one recv, or byte by byte), completes
// the handshake and sends `request`: the head the backend receives.
std::string HeaderHandshakeAndRequest(ConnectionDriver& d, const std::string& header,
                                      const std::string& request = kGet, bool bytewise = false) {
  d.Accept();
  if (bytewise) {
    for (char c : header) d.ClientSendsCiphertext(std::string(1, c));
    d.ClientSendsCiphertext(ClientHello(d));
  } else {
    d.ClientSendsCiphertext(header + ClientHello(d));
  }
  d.Handshake();
  d.ClientSends(request);
  d.ConnectUpstream();
  return d.TakeUpstreamSend();
}

std::string ConnectionsJson(ConnectionDriver& d) {
  fmt::memory_buffer out;
  d.connection()->AppendJson(out, d.worker().NowNs());
  return fmt::to_string(out);
}

uint64_t Rejected(ConnectionDriver& d, ProxyProtocolRejection reason) {
  return d.metrics().proxy_protocol_rejected[static_cast<int>(reason)].Get();
}
uint64_t RejectedInAll(ConnectionDriver& d) {
  uint64_t all = 0;
  for (const auto& cell : d.metrics().proxy_protocol_rejected) all += cell.Get();
  return all;
}
uint64_t FailedHandshakes(ConnectionDriver& d) {
  return d.metrics()
      .handshakes[static_cast<int>(HandshakeResult::kFailed)]
                 [static_cast<int>(TlsVersionLabel::kUnknown)]
      .Get();
}

// The close of a connection refused before TLS: the recv cancelled, then FIN and close. No
// flush, no close_notify: not a byte was sent.
void ExpectClosedWithoutAWord(ConnectionDriver& d, const std::string& close) {
  d.CompleteRecvCancel();
  EXPECT_EQ(d.CountSubmitted(Op::kClientSend), 0u) << "no byte goes back, not even an alert";
  const std::vector<io_uring_sqe> chain = d.ChainSqes();
  ASSERT_THAT(OpsOf(chain), ElementsAre(Op::kShutdownHalfClose, Op::kShutdownClose));
  d.Complete(chain[0], 0);
  d.Complete(chain[1], 0);
  EXPECT_EQ(d.LastClose(), close);
  EXPECT_EQ(d.worker().live_clients(), 0u);
}

TEST(ProxyHeaderTest, TheClientHelloInTheHeadersRecvIsNotLostAndTheHeadersAddressIsThePeer) {
  ConnectionDriver d(ProxyProtocolConfig());
  EXPECT_THAT(HeaderHandshakeAndRequest(d, kV1), HasSubstr("\r\nX-Forwarded-For: 192.0.2.1\r\n"));
  EXPECT_THAT(ConnectionsJson(d), HasSubstr("\"peer\":\"192.0.2.1\""));
  EXPECT_EQ(RejectedInAll(d), 0u);
  d.BackendSends("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_THAT(d.ClientReads(), HasSubstr("ok"));
  d.CompleteOp(Op::kClientRecv, -ECONNRESET);
  for (const io_uring_sqe& sqe : d.ChainSqes()) d.Complete(sqe, 0);
  ASSERT_EQ(d.Closures().size(), 1u);
  EXPECT_THAT(d.Closures().back(), HasSubstr("\"peer\":\"192.0.2.1\""));
}

TEST(ProxyHeaderTest, AHeaderSplitOverRecvsIsPutTogether) {
  ConnectionDriver d(ProxyProtocolConfig());
  const std::string head = HeaderHandshakeAndRequest(d, V2(1, 0x21, Inet6Addresses()), kGet,
                                                     /*bytewise=*/true);
  EXPECT_THAT(head, HasSubstr("\r\nX-Forwarded-For: 2001:db8::1\r\n"));
  EXPECT_THAT(ConnectionsJson(d), HasSubstr("\"peer\":\"2001:db8::1\""));
}

TEST(ProxyHeaderTest, LocalAndUnknownKeepTheBalancersOwnAddress) {
  for (const std::string& header : {V2(0, 0x00, ""), std::string("PROXY UNKNOWN\r\n")}) {
    ConnectionDriver d(ProxyProtocolConfig());
    EXPECT_THAT(HeaderHandshakeAndRequest(d, header),
                HasSubstr("\r\nX-Forwarded-For: 127.0.0.1\r\n"));
  }
}

// The balancer is only asked about by --proxy-protocol-from; --trusted-proxies decides on the
// client the header names (itself perhaps a proxy that adds X-Forwarded-For).
TEST(ProxyHeaderTest, TrustedProxiesAreAskedAboutTheHeadersAddress) {
  const std::string request =
      "GET /who HTTP/1.1\r\nHost: example\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n";
  ConnectionDriver header_trusted(ProxyProtocolConfig("127.0.0.1/32", "192.0.2.0/24"));
  EXPECT_THAT(HeaderHandshakeAndRequest(header_trusted, kV1, request),
              HasSubstr("\r\nX-Forwarded-For: 203.0.113.9, 192.0.2.1\r\n"));
  ConnectionDriver balancer_trusted(ProxyProtocolConfig("127.0.0.1/32", "127.0.0.1/32"));
  EXPECT_THAT(HeaderHandshakeAndRequest(balancer_trusted, kV1, request),
              HasSubstr("\r\nX-Forwarded-For: 192.0.2.1\r\n"));
}

TEST(ProxyHeaderTest, AClientHelloWithoutAHeaderIsRefusedUnanswered) {
  ConnectionDriver d(ProxyProtocolConfig());
  d.Accept();
  d.ClientSendsCiphertext(ClientHello(d));
  EXPECT_EQ(Rejected(d, ProxyProtocolRejection::kMissing), 1u);
  ExpectClosedWithoutAWord(d, "error/server_error");
  EXPECT_EQ(FailedHandshakes(d), 0u) << "TLS never started";
}

TEST(ProxyHeaderTest, MalformedAndOversizedHeadersAreRefusedByReason) {
  ConnectionDriver malformed(ProxyProtocolConfig());
  malformed.Accept();
  malformed.ClientSendsCiphertext("PROXY TCP4 192.0.2.1 198.51.100.7 51234 443\n");  // no CR
  EXPECT_EQ(Rejected(malformed, ProxyProtocolRejection::kMalformed), 1u);
  ExpectClosedWithoutAWord(malformed, "error/server_error");

  ConnectionDriver oversized(ProxyProtocolConfig());
  oversized.Accept();
  // The declared length is over the cap: refused from the 16 fixed bytes, the rest unawaited.
  oversized.ClientSendsCiphertext(V2(1, 0x11, std::string(0xffff, '\0')).substr(0, 16));
  EXPECT_EQ(Rejected(oversized, ProxyProtocolRejection::kOversized), 1u);
  ExpectClosedWithoutAWord(oversized, "error/server_error");
}

TEST(ProxyHeaderTest, AnIncompleteHeaderTimesOutWithTheHandshake) {
  ConnectionDriver d(ProxyProtocolConfig());
  d.Accept();
  d.ClientSendsCiphertext(kV1.substr(0, 20));
  d.Advance(d.config().handshake_timeout - absl::Milliseconds(1));
  EXPECT_FALSE(d.Has(Op::kClientCancelRecv));
  EXPECT_EQ(RejectedInAll(d), 0u);
  d.Advance(absl::Milliseconds(1));
  EXPECT_EQ(Rejected(d, ProxyProtocolRejection::kTimeout), 1u);
  ExpectClosedWithoutAWord(d, "timeout/server_timeout");
}

TEST(ProxyHeaderTest, AFinWithinTheHeaderIsTruncatedAndOneBeforeItIsNoRefusal) {
  ConnectionDriver truncated(ProxyProtocolConfig());
  truncated.Accept();
  truncated.ClientSendsCiphertext(kV1.substr(0, 20));
  truncated.ClientSendsFin();
  EXPECT_EQ(Rejected(truncated, ProxyProtocolRejection::kTruncated), 1u);
  ExpectClosedWithoutAWord(truncated, "peer_fin/client");

  // A balancer's TCP health check: connect, close.
  ConnectionDriver health_check(ProxyProtocolConfig());
  health_check.Accept();
  health_check.ClientSendsFin();
  EXPECT_EQ(RejectedInAll(health_check), 0u);
  ExpectClosedWithoutAWord(health_check, "peer_fin/client");
  EXPECT_EQ(FailedHandshakes(health_check), 0u);
}

TEST(ProxyHeaderTest, APeerOutsideTheListIsRefusedWithoutReading) {
  ConnectionDriver d(ProxyProtocolConfig("10.0.0.0/8"));
  // A loopback connection like the driver's Accept, whose peer 127.0.0.1 is not in the list.
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof addr;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &length), 0);
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const int accepted = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(accepted, 0);
  close(listener);

  d.worker().AdoptConnection(accepted);
  EXPECT_EQ(Rejected(d, ProxyProtocolRejection::kNotAllowed), 1u);
  std::vector<Op> ops;
  for (const io_uring_sqe& sqe : d.outstanding()) ops.push_back(OpOf(sqe));
  ASSERT_THAT(ops, ElementsAre(Op::kShutdownHalfClose, Op::kShutdownClose)) << "no recv armed";
  const std::vector<io_uring_sqe> chain = d.outstanding();
  for (const io_uring_sqe& sqe : chain) d.Complete(sqe, 0);
  EXPECT_EQ(d.LastClose(), "error/server_policy");
  EXPECT_EQ(d.worker().live_clients(), 0u);
  close(accepted);
  close(client);
}

}  // namespace
}  // namespace ringgate
