// The PROXY protocol header, versions 1 and 2 (proxy_protocol.h). Every check is made on the
// first bytes that can decide it, so that a prefix of a valid header always reads as kNeedMore
// and a verdict, once reached, does not change as more bytes arrive.
#include "ringgate/core/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>

namespace ringgate {
namespace {

#define RINGGATE_PROXY_HEADER_ERROR_NAME(value, name) name,
constexpr std::string_view kErrorNames[] = {
    RINGGATE_PROXY_HEADER_ERRORS(RINGGATE_PROXY_HEADER_ERROR_NAME)};
#undef RINGGATE_PROXY_HEADER_ERROR_NAME

constexpr std::string_view kV1Prefix = "PROXY";
constexpr uint8_t kV2Version = 2;
constexpr uint8_t kV2Local = 0;
constexpr uint8_t kV2Proxy = 1;
constexpr uint8_t kV2Inet = 0x11;   // AF_INET over STREAM
constexpr uint8_t kV2Inet6 = 0x21;  // AF_INET6 over STREAM
constexpr size_t kV2InetBlock = 4 + 4 + 2 + 2;
constexpr size_t kV2Inet6Block = 16 + 16 + 2 + 2;

ProxyHeaderParse NeedMore(size_t at_most) {
  ProxyHeaderParse parse;
  parse.status = ProxyHeaderStatus::kNeedMore;
  parse.at_most = at_most;
  return parse;
}

ProxyHeaderParse Malformed(ProxyHeaderError error) {
  ProxyHeaderParse parse;
  parse.status = ProxyHeaderStatus::kMalformed;
  parse.error = error;
  return parse;
}

// Whether `bytes` so far agree with `expected` (as far as either goes).
bool StartsLike(std::string_view bytes, std::string_view expected) {
  const size_t n = std::min(bytes.size(), expected.size());
  return bytes.substr(0, n) == expected.substr(0, n);
}

// 0 to 65535, decimal, no sign, no leading zero (a lone "0" is zero).
bool ParsePort(std::string_view text, uint16_t& port) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return false;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return false;
  port = static_cast<uint16_t>(value);
  return true;
}

// One address of `family` as inet_pton reads it, with `port`, into `out`.
bool ParseAddress(int family, std::string_view text, uint16_t port, sockaddr_storage& out) {
  char buffer[INET6_ADDRSTRLEN] = {};
  if (text.size() >= sizeof buffer) return false;
  std::memcpy(buffer, text.data(), text.size());
  out = sockaddr_storage{};
  if (family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return inet_pton(AF_INET, buffer, &v4->sin_addr) == 1;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
  return inet_pton(AF_INET6, buffer, &v6->sin6_addr) == 1;
}

// "PROXY TCP4 192.0.2.1 198.51.100.7 51234 443\r\n"
ProxyHeaderParse ParseV1(std::string_view bytes) {
  if (bytes[kV1Prefix.size()] != ' ') return Malformed(ProxyHeaderError::kBadV1Syntax);
  // The line ends at the first CR or LF; it must be CRLF and fit in kProxyV1MaxBytes.
  const std::string_view window = bytes.substr(0, kProxyV1MaxBytes);
  const size_t end = window.find_first_of("\r\n");
  if (end == std::string_view::npos) {
    if (window.size() == kProxyV1MaxBytes) return Malformed(ProxyHeaderError::kOversized);
    return NeedMore(kProxyV1MaxBytes);
  }
  if (bytes[end] == '\n') return Malformed(ProxyHeaderError::kBadV1Syntax);  // LF without CR
  if (end + 2 > kProxyV1MaxBytes) return Malformed(ProxyHeaderError::kOversized);
  if (end + 1 == bytes.size()) return NeedMore(kProxyV1MaxBytes);
  if (bytes[end + 1] != '\n') return Malformed(ProxyHeaderError::kBadV1Syntax);

  // The fields after "PROXY ", split on single spaces: an empty one means two spaces in a row.
  std::string_view rest = bytes.substr(kV1Prefix.size() + 1, end - kV1Prefix.size() - 1);
  ProxyHeaderParse parse;
  parse.status = ProxyHeaderStatus::kDone;
  parse.consumed = end + 2;
  parse.header.version = 1;
  if (rest == "UNKNOWN" || rest.substr(0, 8) == "UNKNOWN ") {
    // The sender could not tell (another protocol, a health check): whatever follows up to the
    // CRLF is to be ignored, and the connection's own addresses stand.
    parse.header.local = true;
    return parse;
  }
  // Up to one field more than the five expected, so that a sixth is seen and refused.
  std::array<std::string_view, 6> fields;
  size_t count = 0;
  while (count < fields.size()) {
    const size_t space = rest.find(' ');
    fields[count++] = rest.substr(0, space);
    if (space == std::string_view::npos) break;
    rest.remove_prefix(space + 1);
  }
  for (size_t i = 0; i < count; ++i) {
    if (fields[i].empty()) return Malformed(ProxyHeaderError::kBadV1Syntax);
  }
  if (fields[0] != "TCP4" && fields[0] != "TCP6") {
    return Malformed(ProxyHeaderError::kBadV1Protocol);
  }
  if (count != 5) return Malformed(ProxyHeaderError::kBadV1Syntax);
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  if (!ParsePort(fields[3], source_port) || !ParsePort(fields[4], destination_port)) {
    return Malformed(ProxyHeaderError::kBadPort);
  }
  const int family = fields[0] == "TCP4" ? AF_INET : AF_INET6;
  if (!ParseAddress(family, fields[1], source_port, parse.header.source) ||
      !ParseAddress(family, fields[2], destination_port, parse.header.destination)) {
    return Malformed(ProxyHeaderError::kBadAddress);
  }
  return parse;
}

uint16_t BigEndian16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}

// The 12-byte signature, then version/command, family/transport, a 16-bit length and that many
// bytes: the addresses, then TLVs.
ProxyHeaderParse ParseV2(std::string_view bytes) {
  if (bytes.size() <= kProxyV2Signature.size()) return NeedMore(kProxyV2MaxBytes);
  const uint8_t version_command = static_cast<uint8_t>(bytes[12]);
  if ((version_command >> 4) != kV2Version) return Malformed(ProxyHeaderError::kBadVersion);
  const uint8_t command = version_command & 0x0f;
  if (command != kV2Local && command != kV2Proxy) return Malformed(ProxyHeaderError::kBadCommand);
  if (bytes.size() < 14) return NeedMore(kProxyV2MaxBytes);
  // LOCAL: the spec says the family is to be ignored along with the addresses.
  const uint8_t family = static_cast<uint8_t>(bytes[13]);
  size_t address_block = 0;
  if (command == kV2Proxy) {
    if (family == kV2Inet) {
      address_block = kV2InetBlock;
    } else if (family == kV2Inet6) {
      address_block = kV2Inet6Block;
    } else {
      return Malformed(ProxyHeaderError::kBadFamily);
    }
  }
  if (bytes.size() < kProxyV2FixedBytes) return NeedMore(kProxyV2MaxBytes);
  const size_t length = BigEndian16(bytes.data() + 14);
  const size_t total = kProxyV2FixedBytes + length;
  if (total > kProxyV2MaxBytes) return Malformed(ProxyHeaderError::kOversized);
  if (length < address_block) return Malformed(ProxyHeaderError::kBadLength);
  if (bytes.size() < total) return NeedMore(total);

  ProxyHeaderParse parse;
  parse.status = ProxyHeaderStatus::kDone;
  parse.consumed = total;
  parse.header.version = 2;
  parse.header.local = command == kV2Local;
  if (parse.header.local) return parse;
  const char* block = bytes.data() + kProxyV2FixedBytes;
  if (family == kV2Inet) {
    auto* source = reinterpret_cast<sockaddr_in*>(&parse.header.source);
    auto* destination = reinterpret_cast<sockaddr_in*>(&parse.header.destination);
    source->sin_family = destination->sin_family = AF_INET;
    std::memcpy(&source->sin_addr, block, 4);
    std::memcpy(&destination->sin_addr, block + 4, 4);
    std::memcpy(&source->sin_port, block + 8, 2);  // both in network order already
    std::memcpy(&destination->sin_port, block + 10, 2);
  } else {
    auto* source = reinterpret_cast<sockaddr_in6*>(&parse.header.source);
    auto* destination = reinterpret_cast<sockaddr_in6*>(&parse.header.destination);
    source->sin6_family = destination->sin6_family = AF_INET6;
    std::memcpy(&source->sin6_addr, block, 16);
    std::memcpy(&destination->sin6_addr, block + 16, 16);
    std::memcpy(&source->sin6_port, block + 32, 2);
    std::memcpy(&destination->sin6_port, block + 34, 2);
  }
  // What follows the addresses up to `length` (TLVs: ALPN, authority, CRC, the balancer's own)
  // carries nothing ringgate uses, and is skipped unread.
  return parse;
}

}  // namespace

std::string_view ProxyHeaderErrorName(ProxyHeaderError error) {
  const auto i = static_cast<size_t>(error);
  return i < std::size(kErrorNames) ? kErrorNames[i] : "unknown";
}

ProxyHeaderParse ParseProxyHeader(std::string_view bytes) {
  if (bytes.empty()) return NeedMore(kProxyV2MaxBytes);  // either version may follow
  if (StartsLike(bytes, kProxyV2Signature)) return ParseV2(bytes);
  if (StartsLike(bytes, kV1Prefix)) {
    if (bytes.size() <= kV1Prefix.size()) return NeedMore(kProxyV1MaxBytes);
    return ParseV1(bytes);
  }
  return Malformed(ProxyHeaderError::kNotProxyHeader);
}

}  // namespace ringgate
