#include "ringgate/config/config.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

#include "absl/strings/str_join.h"
#include "fmt/format.h"

namespace ringgate {
namespace {

template <typename Int>
bool ParseInt(std::string_view text, Int& out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(message); }

}  // namespace

absl::StatusOr<SocketAddress> ParseSocketAddress(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Invalid(fmt::format("address '{}' is not [ipv6]:port", text));
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Invalid(fmt::format("address '{}' has no :port", text));
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  uint32_t port = 0;
  if (!ParseInt(port_text, port) || port == 0 || port > 65535) {
    return Invalid(fmt::format("address '{}' has an invalid port '{}'", text, port_text));
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* result = nullptr;
  std::string host_str(host.empty() ? "0.0.0.0" : host);
  std::string port_str(port_text);
  if (int rc = getaddrinfo(host_str.c_str(), port_str.c_str(), &hints, &result); rc != 0) {
    return Invalid(
        fmt::format("cannot resolve '{}' in '{}': {}", host_str, text, gai_strerror(rc)));
  }
  SocketAddress addr;
  std::memcpy(&addr.storage, result->ai_addr, result->ai_addrlen);
  addr.length = result->ai_addrlen;
  addr.text = std::string(text);
  freeaddrinfo(result);
  return addr;
}

namespace {

bool SameAddress(const SocketAddress& a, const SocketAddress& b) {
  return a.length == b.length && std::memcmp(&a.storage, &b.storage, a.length) == 0;
}

}  // namespace

absl::StatusOr<std::vector<SocketAddress>> ParseBackendList(std::string_view text) {
  std::vector<SocketAddress> backends;
  if (text.empty()) return Invalid("--backend: no backend given (host:port, comma-separated)");
  std::vector<std::string> problems;  // every bad entry, one per line
  size_t entries = 0;
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view entry = text.substr(0, comma);
    ++entries;
    absl::StatusOr<SocketAddress> address =
        entry.empty() ? absl::StatusOr<SocketAddress>(Invalid("an empty entry in the list"))
                      : ParseSocketAddress(entry);
    if (!address.ok()) {
      // The message names the entry ("address 'x' has no :port", "cannot resolve 'h' in 'h:80'").
      problems.push_back(fmt::format("--backend: {}", std::string(address.status().message())));
    } else {
      bool repeated = false;
      for (const SocketAddress& earlier : backends) {
        if (earlier.text == address->text || SameAddress(earlier, *address)) {
          problems.push_back(fmt::format(
              "--backend: '{}' is the same backend as '{}'; list each once", entry, earlier.text));
          repeated = true;
          break;
        }
      }
      if (!repeated) backends.push_back(*std::move(address));
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (entries > kMaxBackends) {
    problems.push_back(fmt::format("--backend: more than {} backends", kMaxBackends));
  }
  if (!problems.empty()) return Invalid(absl::StrJoin(problems, "\n"));
  return backends;
}

std::vector<SocketAddress> ReresolveBackends(const std::vector<SocketAddress>& current,
                                             std::vector<std::string>& problems) {
  std::vector<SocketAddress> fresh;
  fresh.reserve(current.size());
  for (const SocketAddress& backend : current) {
    absl::StatusOr<SocketAddress> again = ParseSocketAddress(backend.text);
    if (again.ok()) {
      fresh.push_back(*std::move(again));
    } else {
      problems.push_back(fmt::format("backend {} keeps its address: {}", backend.text,
                                     std::string(again.status().message())));
      fresh.push_back(backend);
    }
  }
  return fresh;
}

std::string_view LbPolicyName(LbPolicy policy) {
  switch (policy) {
    case LbPolicy::kP2c:
      return "p2c";
    case LbPolicy::kRoundRobin:
      return "round_robin";
    case LbPolicy::kIpHash:
      return "ip_hash";
  }
  return "p2c";
}

absl::StatusOr<LbPolicy> ParseLbPolicy(std::string_view text) {
  for (LbPolicy policy : {LbPolicy::kP2c, LbPolicy::kRoundRobin, LbPolicy::kIpHash}) {
    if (text == LbPolicyName(policy)) return policy;
  }
  return Invalid(fmt::format("--lb: '{}' is not one of p2c, round_robin, ip_hash", text));
}

absl::StatusOr<std::vector<int>> ParseCpuList(std::string_view text) {
  std::vector<int> cpus;
  if (text.empty()) return cpus;
  while (true) {
    size_t comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    size_t dash = part.find('-');
    int first = 0;
    int last = 0;
    bool ok = dash == std::string_view::npos
                  ? ParseInt(part, first)
                  : ParseInt(part.substr(0, dash), first) && ParseInt(part.substr(dash + 1), last);
    if (!ok || first < 0) return Invalid(fmt::format("--cpus: '{}' is not a CPU or range", part));
    if (dash == std::string_view::npos) last = first;
    if (last < first) return Invalid(fmt::format("--cpus: range '{}' is backwards", part));
    for (int c = first; c <= last; ++c) cpus.push_back(c);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return cpus;
}

namespace {

// The peer's address as 16 bytes, IPv4 mapped into IPv6 (::ffff:a.b.c.d) so one comparison
// serves both families.
bool AddressBytes(const sockaddr_storage& address, uint8_t out[16]) {
  if (address.ss_family == AF_INET) {
    std::memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    std::memcpy(out + 12, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr, 4);
    return true;
  }
  if (address.ss_family == AF_INET6) {
    std::memcpy(out, &reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr, 16);
    return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<Cidr>> ParseCidrList(std::string_view text) {
  std::vector<Cidr> blocks;
  if (text.empty()) return blocks;
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view part = text.substr(0, comma);
    if (part.empty()) return Invalid("--trusted-proxies: an empty entry in the list");
    const size_t slash = part.find('/');
    const std::string host(part.substr(0, slash));
    Cidr block;
    int max_bits = 0;
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
      block.address[10] = block.address[11] = 0xff;
      std::memcpy(block.address + 12, &v4, 4);
      max_bits = 32;
    } else if (inet_pton(AF_INET6, host.c_str(), block.address) == 1) {
      max_bits = 128;
    } else {
      return Invalid(
          fmt::format("--trusted-proxies: '{}' is not an IP address or CIDR block", part));
    }
    int bits = max_bits;
    if (slash != std::string_view::npos &&
        (!ParseInt(part.substr(slash + 1), bits) || bits < 0 || bits > max_bits)) {
      return Invalid(fmt::format("--trusted-proxies: '{}' has an invalid prefix length", part));
    }
    block.prefix_bits = bits + (max_bits == 32 ? 96 : 0);
    blocks.push_back(block);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return blocks;
}

std::string AddressText(const sockaddr_storage& address) {
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

bool AddressInCidrs(const sockaddr_storage& address, const std::vector<Cidr>& blocks) {
  uint8_t bytes[16];
  if (blocks.empty() || !AddressBytes(address, bytes)) return false;
  for (const Cidr& block : blocks) {
    const int whole = block.prefix_bits / 8;
    const int rest = block.prefix_bits % 8;
    if (std::memcmp(bytes, block.address, static_cast<size_t>(whole)) != 0) continue;
    if (rest != 0) {
      const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
      if ((bytes[whole] & mask) != (block.address[whole] & mask)) continue;
    }
    return true;
  }
  return false;
}

// 127/8, ::1 and (AddressInCidrs maps IPv4 into IPv6) ::ffff:127.0.0.0/104.
bool IsLoopbackAddress(const SocketAddress& address) {
  static const std::vector<Cidr> kLoopback = *ParseCidrList("127.0.0.0/8,::1/128");
  return AddressInCidrs(address.storage, kLoopback);
}

absl::Status CheckAdminAccess(const SocketAddress& address, std::string_view token) {
  if (!token.empty()) {
    const bool visible =
        std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (!visible || token.size() < 16 || token.size() > 512) {
      return absl::InvalidArgumentError(
          "--admin-token must be 16 to 512 visible ASCII characters without spaces "
          "(e.g. openssl rand -hex 32)");
    }
    return absl::OkStatus();
  }
  if (!IsLoopbackAddress(address)) {
    return absl::InvalidArgumentError(fmt::format(
        "--admin-listen {} is not a loopback address: anyone who reaches it could read every "
        "connection's peer and state; set --admin-token (every request must then carry "
        "'Authorization: Bearer <token>') or listen on 127.0.0.1",
        address.text));
  }
  return absl::OkStatus();
}

const Config& DefaultConfig() {
  static const Config kDefaults;
  return kDefaults;
}

std::string_view LogFormatName(LogFormat format) {
  switch (format) {
    case LogFormat::kText:
      return "text";
    case LogFormat::kJson:
      return "json";
  }
  return "text";
}

}  // namespace ringgate
