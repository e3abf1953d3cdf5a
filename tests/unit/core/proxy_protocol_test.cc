// The PROXY protocol parser: each version's valid forms, every prefix of them (need more, never
// a verdict), the bytes after the header left alone, and each way a header is refused.
#include "ringgate/core/proxy_protocol.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>
#include <vector>

namespace ringgate {
namespace {

using Status = ProxyHeaderStatus;
using Error = ProxyHeaderError;

std::string Ip(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr, text,
              sizeof text);
  } else if (address.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr, text,
              sizeof text);
  }
  return text;
}

int Port(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
}

// A version 2 header: the signature, then the two given bytes, the length of `rest` and `rest`.
std::string V2(uint8_t version_command, uint8_t family, const std::string& rest) {
  std::string header(kProxyV2Signature);
  header += static_cast<char>(version_command);
  header += static_cast<char>(family);
  header += static_cast<char>(rest.size() >> 8);
  header += static_cast<char>(rest.size() & 0xff);
  return header + rest;
}
std::string Bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out += static_cast<char>(v);
  return out;
}
// 192.0.2.1:51234 -> 198.51.100.7:443
const std::string kInetBlock =
    Bytes({192, 0, 2, 1, 198, 51, 100, 7, 51234 >> 8, 51234 & 0xff, 443 >> 8, 443 & 0xff});
// [2001:db8::1]:1 -> [2001:db8::2]:65535
const std::string kInet6Block =
    Bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x20, 0x01,
           0x0d, 0xb8, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0xff, 0xff});
// An ALPN TLV ("h2") and a NOOP TLV of three bytes.
const std::string kTlvs = Bytes({0x01, 0, 2, 'h', '2', 0x04, 0, 3, 0, 0, 0});

const std::string kV1Tcp4 = "PROXY TCP4 192.0.2.1 198.51.100.7 51234 443\r\n";
const std::string kV1Tcp6 = "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n";
// The spec's worst case: 107 bytes.
const std::string kV1LongestUnknown =
    "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
    "65535 65535\r\n";
const std::string kTlsStart = Bytes({0x16, 0x03, 0x01, 0x02, 0x00, 0x01});  // a ClientHello's

ProxyHeaderParse ExpectDone(const std::string& header) {
  const ProxyHeaderParse parse = ParseProxyHeader(header + kTlsStart);
  EXPECT_EQ(parse.status, Status::kDone) << ProxyHeaderErrorName(parse.error);
  EXPECT_EQ(parse.consumed, header.size()) << "the TLS bytes after the header are not its own";
  return parse;
}

void ExpectMalformed(const std::string& bytes, Error error) {
  const ProxyHeaderParse parse = ParseProxyHeader(bytes);
  EXPECT_EQ(parse.status, Status::kMalformed) << bytes;
  EXPECT_EQ(ProxyHeaderErrorName(parse.error), ProxyHeaderErrorName(error)) << bytes;
  // More bytes never turn a refused header into a good one.
  const ProxyHeaderParse longer = ParseProxyHeader(bytes + "\r\n" + kTlsStart);
  EXPECT_EQ(longer.status, Status::kMalformed) << bytes;
  EXPECT_EQ(longer.error, parse.error) << bytes;
}

TEST(ProxyProtocolV1Test, Tcp4) {
  const ProxyHeaderParse parse = ExpectDone(kV1Tcp4);
  EXPECT_EQ(parse.header.version, 1);
  EXPECT_FALSE(parse.header.local);
  EXPECT_EQ(parse.header.source.ss_family, AF_INET);
  EXPECT_EQ(Ip(parse.header.source), "192.0.2.1");
  EXPECT_EQ(Port(parse.header.source), 51234);
  EXPECT_EQ(Ip(parse.header.destination), "198.51.100.7");
  EXPECT_EQ(Port(parse.header.destination), 443);
}

TEST(ProxyProtocolV1Test, Tcp6) {
  const ProxyHeaderParse parse = ExpectDone(kV1Tcp6);
  EXPECT_EQ(parse.header.source.ss_family, AF_INET6);
  EXPECT_EQ(Ip(parse.header.source), "2001:db8::1");
  EXPECT_EQ(Port(parse.header.source), 1);
  EXPECT_EQ(Ip(parse.header.destination), "2001:db8::2");
  EXPECT_EQ(Port(parse.header.destination), 65535);
  // Port 0 is a port; an IPv4-mapped address is an IPv6 address.
  EXPECT_EQ(Port(ExpectDone("PROXY TCP6 ::ffff:192.0.2.1 ::1 0 0\r\n").header.source), 0);
}

TEST(ProxyProtocolV1Test, UnknownKeepsTheConnectionsOwnAddresses) {
  EXPECT_TRUE(ExpectDone("PROXY UNKNOWN\r\n").header.local);
  ASSERT_EQ(kV1LongestUnknown.size(), kProxyV1MaxBytes);
  const ProxyHeaderParse longest = ExpectDone(kV1LongestUnknown);
  EXPECT_TRUE(longest.header.local);
  EXPECT_EQ(longest.header.source.ss_family, AF_UNSPEC);
}

TEST(ProxyProtocolV1Test, RefusesAnythingButTheExactGrammar) {
  ExpectMalformed("PROXY TCP4 192.0.2.1 198.51.100.7 51234 443\n", Error::kBadV1Syntax);
  ExpectMalformed("PROXY TCP4 192.0.2.1 198.51.100.7 51234 443\rX", Error::kBadV1Syntax);
  ExpectMalformed("PROXYTCP4", Error::kBadV1Syntax);
  ExpectMalformed("PROXY\r\n", Error::kBadV1Syntax);
  ExpectMalformed("PROXY  TCP4 192.0.2.1 198.51.100.7 51234 443\r\n", Error::kBadV1Syntax);
  ExpectMalformed("PROXY TCP4 192.0.2.1  198.51.100.7 51234 443\r\n", Error::kBadV1Syntax);
  ExpectMalformed("PROXY TCP4 192.0.2.1 198.51.100.7 51234 443 \r\n", Error::kBadV1Syntax);
  ExpectMalformed("PROXY TCP4 192.0.2.1 198.51.100.7 51234\r\n", Error::kBadV1Syntax);
  ExpectMalformed("PROXY TCP4 192.0.2.1 198.51.100.7 51234 443 80\r\n", Error::kBadV1Syntax);
  ExpectMalformed("PROXY TCP5 192.0.2.1 198.51.100.7 51234 443\r\n", Error::kBadV1Protocol);
  ExpectMalformed("PROXY tcp4 192.0.2.1 198.51.100.7 51234 443\r\n", Error::kBadV1Protocol);
  ExpectMalformed("PROXY UDP4 192.0.2.1 198.51.100.7 51234 443\r\n", Error::kBadV1Protocol);
  ExpectMalformed("PROXY UNKNOWNX\r\n", Error::kBadV1Protocol);
  ExpectMalformed("PROXY TCP4 2001:db8::1 198.51.100.7 1 2\r\n", Error::kBadAddress);
  ExpectMalformed("PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n", Error::kBadAddress);
  ExpectMalformed("PROXY TCP4 192.0.2.01 198.51.100.7 1 2\r\n", Error::kBadAddress);
  ExpectMalformed("PROXY TCP4 192.0.2.1 example.com 1 2\r\n", Error::kBadAddress);
  ExpectMalformed("PROXY TCP4 192.0.2.1 198.51.100.7 051234 443\r\n", Error::kBadPort);
  ExpectMalformed("PROXY TCP4 192.0.2.1 198.51.100.7 51234 65536\r\n", Error::kBadPort);
  ExpectMalformed("PROXY TCP4 192.0.2.1 198.51.100.7 +1 443\r\n", Error::kBadPort);
  ExpectMalformed("PROXY TCP4 192.0.2.1 198.51.100.7 1 0x1\r\n", Error::kBadPort);
}

TEST(ProxyProtocolV1Test, WithoutCrlfWithin107BytesIsOversized) {
  const std::string no_end = "PROXY UNKNOWN " + std::string(200, 'f');
  EXPECT_EQ(ParseProxyHeader(no_end.substr(0, kProxyV1MaxBytes - 1)).status, Status::kNeedMore);
  ExpectMalformed(no_end.substr(0, kProxyV1MaxBytes), Error::kOversized);
  // A CR as the 107th byte leaves no room for its LF.
  ExpectMalformed(no_end.substr(0, kProxyV1MaxBytes - 1) + "\r", Error::kOversized);
  ExpectMalformed(no_end.substr(0, kProxyV1MaxBytes - 1) + "\r\n", Error::kOversized);
}

TEST(ProxyProtocolV2Test, Ipv4) {
  const ProxyHeaderParse parse = ExpectDone(V2(0x21, 0x11, kInetBlock));
  EXPECT_EQ(parse.header.version, 2);
  EXPECT_FALSE(parse.header.local);
  EXPECT_EQ(Ip(parse.header.source), "192.0.2.1");
  EXPECT_EQ(Port(parse.header.source), 51234);
  EXPECT_EQ(Ip(parse.header.destination), "198.51.100.7");
  EXPECT_EQ(Port(parse.header.destination), 443);
}

TEST(ProxyProtocolV2Test, Ipv6) {
  const ProxyHeaderParse parse = ExpectDone(V2(0x21, 0x21, kInet6Block));
  EXPECT_EQ(parse.header.source.ss_family, AF_INET6);
  EXPECT_EQ(Ip(parse.header.source), "2001:db8::1");
  EXPECT_EQ(Port(parse.header.source), 1);
  EXPECT_EQ(Ip(parse.header.destination), "2001:db8::2");
  EXPECT_EQ(Port(parse.header.destination), 65535);
}

TEST(ProxyProtocolV2Test, LocalKeepsTheConnectionsOwnAddresses) {
  const ProxyHeaderParse local = ExpectDone(V2(0x20, 0x00, ""));
  EXPECT_TRUE(local.header.local);
  EXPECT_EQ(local.header.source.ss_family, AF_UNSPEC);
  // The spec: with LOCAL the family and whatever the length covers are ignored.
  EXPECT_TRUE(ExpectDone(V2(0x20, 0x11, kInetBlock + kTlvs)).header.local);
}

TEST(ProxyProtocolV2Test, TlvsAreSkippedWithinTheLength) {
  const ProxyHeaderParse v4 = ExpectDone(V2(0x21, 0x11, kInetBlock + kTlvs));
  EXPECT_EQ(Ip(v4.header.source), "192.0.2.1");
  const ProxyHeaderParse v6 = ExpectDone(V2(0x21, 0x21, kInet6Block + kTlvs));
  EXPECT_EQ(Ip(v6.header.source), "2001:db8::1");
}

TEST(ProxyProtocolV2Test, LongerThanTheCapIsOversizedAtOnce) {
  const size_t most = kProxyV2MaxBytes - kProxyV2FixedBytes;
  const std::string largest = V2(0x21, 0x11, kInetBlock + std::string(most - 12, '\0'));
  ASSERT_EQ(largest.size(), kProxyV2MaxBytes);
  ExpectDone(largest);
  const ProxyHeaderParse first_bytes = ParseProxyHeader(largest.substr(0, kProxyV2FixedBytes));
  EXPECT_EQ(first_bytes.status, Status::kNeedMore);
  EXPECT_EQ(first_bytes.at_most, kProxyV2MaxBytes);
  // One byte longer: refused from its 16 fixed bytes, without waiting for the rest.
  const std::string too_long = V2(0x21, 0x11, kInetBlock + std::string(most - 11, '\0'));
  ExpectMalformed(too_long.substr(0, kProxyV2FixedBytes), Error::kOversized);
  ExpectMalformed(V2(0x21, 0x11, std::string(0xffff, '\0')), Error::kOversized);
}

TEST(ProxyProtocolV2Test, RefusesBadSignatureVersionCommandFamilyAndLength) {
  std::string signature(kProxyV2Signature);
  signature[10] = 'X';
  ExpectMalformed(signature + Bytes({0x21, 0x11, 0, 12}) + kInetBlock, Error::kNotProxyHeader);
  ExpectMalformed(V2(0x11, 0x11, kInetBlock), Error::kBadVersion);
  ExpectMalformed(V2(0x31, 0x11, kInetBlock), Error::kBadVersion);
  ExpectMalformed(V2(0x22, 0x11, kInetBlock), Error::kBadCommand);
  ExpectMalformed(V2(0x2f, 0x11, kInetBlock), Error::kBadCommand);
  ExpectMalformed(V2(0x21, 0x00, ""), Error::kBadFamily);           // UNSPEC needs LOCAL
  ExpectMalformed(V2(0x21, 0x12, kInetBlock), Error::kBadFamily);   // UDP
  ExpectMalformed(V2(0x21, 0x10, kInetBlock), Error::kBadFamily);   // unspecified transport
  ExpectMalformed(V2(0x21, 0x31, kInet6Block), Error::kBadFamily);  // a unix socket
  ExpectMalformed(V2(0x21, 0x22, kInet6Block), Error::kBadFamily);  // UDP over IPv6
  ExpectMalformed(V2(0x21, 0x11, kInetBlock.substr(0, 11)), Error::kBadLength);
  ExpectMalformed(V2(0x21, 0x21, kInet6Block.substr(0, 35)), Error::kBadLength);
  ExpectMalformed(V2(0x21, 0x21, kInetBlock), Error::kBadLength);  // an IPv4 block for IPv6
}

TEST(ProxyProtocolTest, EveryPrefixOfAValidHeaderNeedsMore) {
  for (const std::string& header :
       {kV1Tcp4, kV1Tcp6, kV1LongestUnknown, std::string("PROXY UNKNOWN\r\n"),
        V2(0x21, 0x11, kInetBlock), V2(0x21, 0x21, kInet6Block + kTlvs), V2(0x20, 0x00, "")}) {
    for (size_t length = 0; length < header.size(); ++length) {
      const ProxyHeaderParse parse = ParseProxyHeader(header.substr(0, length));
      ASSERT_EQ(parse.status, Status::kNeedMore)
          << length << " bytes of " << header.size() << ": " << ProxyHeaderErrorName(parse.error);
      EXPECT_GE(parse.at_most, header.size()) << length;
      EXPECT_LE(parse.at_most, kProxyV2MaxBytes) << length;
    }
  }
}

TEST(ProxyProtocolTest, AnythingElseIsNotAProxyHeaderFromItsFirstByte) {
  ExpectMalformed(kTlsStart.substr(0, 1), Error::kNotProxyHeader);
  ExpectMalformed("GET / HTTP/1.1\r\n", Error::kNotProxyHeader);
  ExpectMalformed("PX", Error::kNotProxyHeader);
  ExpectMalformed("\r\n\r\nX", Error::kNotProxyHeader);
  EXPECT_EQ(ParseProxyHeader("PROX").status, Status::kNeedMore);
  EXPECT_EQ(ParseProxyHeader("\r\n\r\n").status, Status::kNeedMore);
  EXPECT_EQ(ParseProxyHeader("").status, Status::kNeedMore);
}

}  // namespace
}  // namespace ringgate
