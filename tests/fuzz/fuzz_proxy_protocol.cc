// libFuzzer target: the PROXY protocol parser (include/ringgate/core/proxy_protocol.h), checked
// for properties rather than only run. The first byte picks the mode:
//
//   even: the rest is what a peer sent. The parse claims no more than it was given; a header
//         that needs more names a bound above what it has; and every prefix of the input agrees
//         with the whole: a prefix of a complete header needs more (never a verdict, never
//         "done" with bytes it does not have), and once a verdict is reached, longer inputs
//         reach the same one (the same header, or the same error).
//   odd:  the rest is addresses, ports and a choice of version, formatted here into a header
//         (independently of the parser), with TLVs and a TLS tail behind it: it must parse back
//         to exactly those addresses and ports, and consume exactly the header.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "ringgate/core/proxy_protocol.h"

namespace {

using ringgate::ParseProxyHeader;
using ringgate::ProxyHeader;
using ringgate::ProxyHeaderParse;
using ringgate::ProxyHeaderStatus;

#define FUZZ_CHECK(condition)                                              \
  do {                                                                     \
    if (!(condition)) {                                                    \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                        \
    }                                                                      \
  } while (0)

bool SameHeader(const ProxyHeader& a, const ProxyHeader& b) {
  return a.version == b.version && a.local == b.local &&
         std::memcmp(&a.source, &b.source, sizeof a.source) == 0 &&
         std::memcmp(&a.destination, &b.destination, sizeof a.destination) == 0;
}

bool SameVerdict(const ProxyHeaderParse& a, const ProxyHeaderParse& b) {
  if (a.status != b.status) return false;
  if (a.status == ProxyHeaderStatus::kMalformed) return a.error == b.error;
  if (a.status == ProxyHeaderStatus::kDone) {
    return a.consumed == b.consumed && SameHeader(a.header, b.header);
  }
  return true;
}

void CheckBounds(const ProxyHeaderParse& parse, size_t size) {
  FUZZ_CHECK(parse.consumed <= size);
  switch (parse.status) {
    case ProxyHeaderStatus::kNeedMore:
      FUZZ_CHECK(parse.consumed == 0);
      FUZZ_CHECK(size < parse.at_most);
      FUZZ_CHECK(parse.at_most <= ringgate::kProxyV2MaxBytes);
      break;
    case ProxyHeaderStatus::kDone:
      FUZZ_CHECK(parse.consumed > 0);
      FUZZ_CHECK(parse.consumed <= ringgate::kProxyV2MaxBytes);
      FUZZ_CHECK(parse.header.version == 1 || parse.header.version == 2);
      if (parse.header.version == 1) FUZZ_CHECK(parse.consumed <= ringgate::kProxyV1MaxBytes);
      if (!parse.header.local) {
        FUZZ_CHECK(parse.header.source.ss_family == AF_INET ||
                   parse.header.source.ss_family == AF_INET6);
        FUZZ_CHECK(parse.header.destination.ss_family == parse.header.source.ss_family);
      }
      break;
    case ProxyHeaderStatus::kMalformed:
      FUZZ_CHECK(parse.error != ringgate::ProxyHeaderError::kNone);
      break;
  }
}

void CheckReceived(std::string_view input) {
  const ProxyHeaderParse whole = ParseProxyHeader(input);
  CheckBounds(whole, input.size());
  // Every prefix: need more until the verdict, then the whole input's verdict.
  bool decided = false;
  for (size_t length = 0; length <= input.size(); ++length) {
    const ProxyHeaderParse prefix = ParseProxyHeader(input.substr(0, length));
    CheckBounds(prefix, length);
    if (prefix.status == ProxyHeaderStatus::kNeedMore) {
      FUZZ_CHECK(!decided);
      continue;
    }
    decided = true;
    FUZZ_CHECK(SameVerdict(prefix, whole));
  }
  // More bytes never change a verdict either.
  if (whole.status != ProxyHeaderStatus::kNeedMore) {
    FUZZ_CHECK(SameVerdict(ParseProxyHeader(std::string(input) + "\r\n\x16\x03\x01"), whole));
  }
}

// Reads fuzzed bytes in order; zeros once they run out.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  uint8_t Byte() {
    if (bytes_.empty()) return 0;
    const uint8_t b = static_cast<uint8_t>(bytes_[0]);
    bytes_.remove_prefix(1);
    return b;
  }
  void Fill(void* out, size_t n) {
    for (size_t i = 0; i < n; ++i) static_cast<uint8_t*>(out)[i] = Byte();
  }
  std::string_view Rest() const { return bytes_; }

 private:
  std::string_view bytes_;
};

std::string Text(int family, const void* address) {
  char text[INET6_ADDRSTRLEN] = {};
  FUZZ_CHECK(inet_ntop(family, address, text, sizeof text) != nullptr);
  return text;
}

void CheckRoundTrip(std::string_view input) {
  Reader in(input);
  const uint8_t choice = in.Byte();
  const bool v2 = choice & 1;
  const bool inet6 = choice & 2;
  const int family = inet6 ? AF_INET6 : AF_INET;
  const size_t address_size = inet6 ? 16 : 4;
  uint8_t source[16] = {};
  uint8_t destination[16] = {};
  in.Fill(source, address_size);
  in.Fill(destination, address_size);
  uint8_t ports[4] = {};
  in.Fill(ports, sizeof ports);
  const uint16_t source_port = static_cast<uint16_t>(ports[0] << 8 | ports[1]);
  const uint16_t destination_port = static_cast<uint16_t>(ports[2] << 8 | ports[3]);

  std::string header;
  if (!v2) {
    header = std::string("PROXY ") + (inet6 ? "TCP6 " : "TCP4 ") + Text(family, source) + " " +
             Text(family, destination) + " " + std::to_string(source_port) + " " +
             std::to_string(destination_port) + "\r\n";
  } else {
    std::string block(reinterpret_cast<const char*>(source), address_size);
    block.append(reinterpret_cast<const char*>(destination), address_size);
    for (uint16_t port : {source_port, destination_port}) {
      block += static_cast<char>(port >> 8);
      block += static_cast<char>(port & 0xff);
    }
    // TLVs (or anything: they are skipped unread), as long as the header stays under the cap.
    const size_t room = ringgate::kProxyV2MaxBytes - ringgate::kProxyV2FixedBytes - block.size();
    const size_t tlv_bytes = std::min<size_t>({in.Byte() * 4u, room, in.Rest().size()});
    for (size_t i = 0; i < tlv_bytes; ++i) block += static_cast<char>(in.Byte());
    header.assign(ringgate::kProxyV2Signature);
    header += '\x21';
    header += inet6 ? '\x21' : '\x11';
    header += static_cast<char>(block.size() >> 8);
    header += static_cast<char>(block.size() & 0xff);
    header += block;
  }
  const std::string received = header + std::string(in.Rest());  // the client's TLS bytes
  const ProxyHeaderParse parse = ParseProxyHeader(received);
  FUZZ_CHECK(parse.status == ProxyHeaderStatus::kDone);
  FUZZ_CHECK(parse.consumed == header.size());
  FUZZ_CHECK(parse.header.version == (v2 ? 2 : 1));
  FUZZ_CHECK(!parse.header.local);
  FUZZ_CHECK(parse.header.source.ss_family == family);
  if (inet6) {
    const auto* s = reinterpret_cast<const sockaddr_in6*>(&parse.header.source);
    const auto* d = reinterpret_cast<const sockaddr_in6*>(&parse.header.destination);
    FUZZ_CHECK(std::memcmp(&s->sin6_addr, source, 16) == 0);
    FUZZ_CHECK(std::memcmp(&d->sin6_addr, destination, 16) == 0);
    FUZZ_CHECK(ntohs(s->sin6_port) == source_port && ntohs(d->sin6_port) == destination_port);
  } else {
    const auto* s = reinterpret_cast<const sockaddr_in*>(&parse.header.source);
    const auto* d = reinterpret_cast<const sockaddr_in*>(&parse.header.destination);
    FUZZ_CHECK(std::memcmp(&s->sin_addr, source, 4) == 0);
    FUZZ_CHECK(std::memcmp(&d->sin_addr, destination, 4) == 0);
    FUZZ_CHECK(ntohs(s->sin_port) == source_port && ntohs(d->sin_port) == destination_port);
  }
  // The formatted header's own prefixes all need more.
  for (size_t length = 0; length < header.size(); ++length) {
    FUZZ_CHECK(ParseProxyHeader(std::string_view(header).substr(0, length)).status ==
               ProxyHeaderStatus::kNeedMore);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    CheckReceived(input);
  } else {
    CheckRoundTrip(input);
  }
  return 0;
}
