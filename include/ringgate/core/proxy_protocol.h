// proxy_protocol.h
// Reads the PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that an L4
// load balancer writes in front of a client's own bytes to say whose connection it passes on.
// The parser is a pure function of the bytes received so far: the header is complete (and how
// many bytes it took), it needs more bytes (and the header can be no longer than `at_most`), or
// it is malformed (and why). It reads nothing past the header: the bytes from `consumed` on are
// the start of the client's own stream, its TLS ClientHello, and must be handed on, not dropped.
//
// It is strict, because whoever can write this header chooses the address every later decision
// sees. Version 1: "PROXY" SP (TCP4|TCP6) SP src SP dst SP sport SP dport CRLF with single
// spaces, addresses as inet_pton reads them for the protocol, decimal ports without leading
// zeros, at most 107 bytes in all; or "PROXY UNKNOWN ...CRLF". Version 2: the 12-byte signature,
// version 2, LOCAL or PROXY, and for PROXY AF_INET or AF_INET6 over STREAM with a length that
// holds the address block; TLVs after the addresses are skipped unread. A version 2 header
// longer than kProxyV2MaxBytes is refused as oversized (HAProxy's own limit is about as large).
//
//   ProxyHeaderParse parse = ParseProxyHeader(received);
//   switch (parse.status) {
//     case ProxyHeaderStatus::kNeedMore: break;  // keep `received`, read more (< parse.at_most)
//     case ProxyHeaderStatus::kMalformed: Close(ProxyHeaderErrorName(parse.error)); break;
//     case ProxyHeaderStatus::kDone:
//       if (!parse.header.local) peer = parse.header.source;  // the balancer's client
//       tls.Feed(received.substr(parse.consumed));            // the client's first bytes
//   }
#ifndef RINGGATE_CORE_PROXY_PROTOCOL_H_
#define RINGGATE_CORE_PROXY_PROTOCOL_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringgate {

// Version 1's bound from the spec: the longest line ("PROXY TCP6" and two full IPv6 addresses),
// CRLF included.
inline constexpr size_t kProxyV1MaxBytes = 107;
// Version 2: signature (12), version and command, family and transport, length (2).
inline constexpr size_t kProxyV2FixedBytes = 16;
// The longest version 2 header accepted, TLVs included (the format allows 16 + 65535).
inline constexpr size_t kProxyV2MaxBytes = 4096;
inline constexpr std::string_view kProxyV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

enum class ProxyHeaderStatus : uint8_t {
  kNeedMore,   // a prefix of a header that may still be valid: read more
  kDone,       // a whole, valid header of `consumed` bytes
  kMalformed,  // not a valid header whatever follows; `error` says why
};

// Why a header was refused: X(value, name).
#define RINGGATE_PROXY_HEADER_ERRORS(X)                                                        \
  X(kNone, "none")                                                                             \
  /* neither v1's "PROXY" nor v2's signature: something else (a TLS ClientHello) came first */ \
  X(kNotProxyHeader, "not_proxy_header")                                                       \
  /* v1 without CRLF within 107 bytes, or v2 longer than kProxyV2MaxBytes */                   \
  X(kOversized, "oversized")                                                                   \
  /* v1: not single-space separated fields ending in CRLF, or the wrong number of them */      \
  X(kBadV1Syntax, "bad_v1_syntax")                                                             \
  /* v1: a protocol other than TCP4, TCP6 or UNKNOWN */                                        \
  X(kBadV1Protocol, "bad_v1_protocol")                                                         \
  /* v1: an address inet_pton does not read as the protocol's family */                        \
  X(kBadAddress, "bad_address")                                                                \
  /* v1: a port that is not 0 to 65535 in decimal without leading zeros */                     \
  X(kBadPort, "bad_port")                                                                      \
  /* v2: a version other than 2 */                                                             \
  X(kBadVersion, "bad_version")                                                                \
  /* v2: a command other than LOCAL (0) or PROXY (1) */                                        \
  X(kBadCommand, "bad_command")                                                                \
  /* v2 PROXY: not AF_INET or AF_INET6 over STREAM (UDP and unix sockets are not proxied) */   \
  X(kBadFamily, "bad_family")                                                                  \
  /* v2: a length shorter than the family's address block */                                   \
  X(kBadLength, "bad_length")

#define RINGGATE_PROXY_HEADER_ERROR_VALUE(value, name) value,
enum class ProxyHeaderError : uint8_t {
  RINGGATE_PROXY_HEADER_ERRORS(RINGGATE_PROXY_HEADER_ERROR_VALUE)
};
#undef RINGGATE_PROXY_HEADER_ERROR_VALUE

// "bad_family": the names logs use.
std::string_view ProxyHeaderErrorName(ProxyHeaderError error);

struct ProxyHeader {
  int version = 0;  // 1 or 2
  // v2 LOCAL (the balancer's own connection, a health check) or v1 UNKNOWN: no addresses; the
  // connection's own endpoints stand.
  bool local = false;
  // Unless local: the client the balancer accepted and the address it connected to, as
  // sockaddr_in or sockaddr_in6 with their ports.
  sockaddr_storage source{};
  sockaddr_storage destination{};
};

struct ProxyHeaderParse {
  ProxyHeaderStatus status = ProxyHeaderStatus::kNeedMore;
  size_t consumed = 0;  // kDone: the header's bytes; what follows is the client's stream
  size_t at_most = 0;   // kNeedMore: a header that completes is no longer than this
  ProxyHeaderError error = ProxyHeaderError::kNone;  // kMalformed: why
  ProxyHeader header;                                // kDone
};

// `bytes`: everything received on the connection so far, from its first byte.
ProxyHeaderParse ParseProxyHeader(std::string_view bytes);

}  // namespace ringgate

#endif  // RINGGATE_CORE_PROXY_PROTOCOL_H_
