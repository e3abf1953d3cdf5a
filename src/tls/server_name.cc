#include "ringgate/tls/server_name.h"

#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace ringgate {
namespace {

constexpr size_t kRecordHeader = 5;
constexpr size_t kMessageHeader = 4;
constexpr size_t kMaxRecordPayload = 16384 + 2048;  // RFC 8446 5.2's most for any record
constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kClientHello = 1;
constexpr uint16_t kServerNameExtension = 0;
constexpr uint8_t kHostName = 0;
constexpr size_t kMaxDisplayedName = 64;

// A cursor over untrusted bytes: every read says whether the bytes were there.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  size_t left() const { return bytes_.size(); }
  bool U8(size_t& out) {
    if (bytes_.empty()) return false;
    out = static_cast<uint8_t>(bytes_[0]);
    bytes_.remove_prefix(1);
    return true;
  }
  bool U16(size_t& out) {
    if (bytes_.size() < 2) return false;
    out = (static_cast<size_t>(static_cast<uint8_t>(bytes_[0])) << 8) |
          static_cast<uint8_t>(bytes_[1]);
    bytes_.remove_prefix(2);
    return true;
  }
  bool Skip(size_t n) {
    if (bytes_.size() < n) return false;
    bytes_.remove_prefix(n);
    return true;
  }
  // The next `n` bytes as a reader of their own.
  bool Sub(size_t n, Reader& out) {
    if (bytes_.size() < n) return false;
    out = Reader(bytes_.substr(0, n));
    bytes_.remove_prefix(n);
    return true;
  }
  // A vector with a 1- or 2-byte length prefix.
  bool Vector8(Reader& out) {
    size_t n;
    return U8(n) && Sub(n, out);
  }
  bool Vector16(Reader& out) {
    size_t n;
    return U16(n) && Sub(n, out);
  }
  std::string_view rest() const { return bytes_; }

 private:
  std::string_view bytes_;
};

bool IsHostNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

ClientHelloServerName Malformed(std::string_view name = {}) {
  return {ClientHelloServerName::kMalformed, SanitizedServerName(name)};
}

// The server_name extension's body: ServerNameList (RFC 6066 3).
ClientHelloServerName ParseServerNameExtension(Reader extension) {
  Reader list(std::string_view{});
  if (!extension.Vector16(list) || extension.left() != 0) return Malformed();
  while (list.left() > 0) {
    size_t type;
    Reader name(std::string_view{});
    if (!list.U8(type) || !list.Vector16(name)) return Malformed();
    if (type != kHostName) continue;
    const std::string_view host = name.rest();
    if (host.empty() || host.size() > kMaxServerNameLength) return Malformed(host);
    for (char c : host) {
      if (!IsHostNameChar(c)) return Malformed(host);
    }
    std::string lower(host);
    absl::AsciiStrToLower(&lower);
    return {ClientHelloServerName::kFound, std::move(lower)};
  }
  return {ClientHelloServerName::kAbsent, {}};
}

}  // namespace

ClientHelloServerName ParseClientHelloServerName(std::string_view message) {
  Reader in(message);
  size_t type, length_high, length_low;
  if (!in.U8(type) || type != kClientHello || !in.U8(length_high) || !in.U16(length_low)) {
    return Malformed();
  }
  if (in.left() != ((length_high << 16) | length_low)) return Malformed();
  Reader skipped(std::string_view{});
  // legacy_version, random, legacy_session_id, cipher_suites, legacy_compression_methods.
  if (!in.Skip(2 + 32) || !in.Vector8(skipped) || !in.Vector16(skipped) || !in.Vector8(skipped)) {
    return Malformed();
  }
  if (in.left() == 0) return {ClientHelloServerName::kAbsent, {}};  // no extensions at all
  Reader extensions(std::string_view{});
  if (!in.Vector16(extensions) || in.left() != 0) return Malformed();
  while (extensions.left() > 0) {
    size_t extension_type;
    Reader body(std::string_view{});
    if (!extensions.U16(extension_type) || !extensions.Vector16(body)) return Malformed();
    if (extension_type == kServerNameExtension) return ParseServerNameExtension(body);
  }
  return {ClientHelloServerName::kAbsent, {}};
}

ClientHelloServerName FindClientHelloServerName(std::string_view records, size_t max_message) {
  // The usual case, the whole message in the first record, is read in place; a message cut
  // across records is copied together, at most `max_message` bytes and its header.
  std::string joined;
  std::string_view first_payload;
  size_t wanted = 0;  // the whole message's size, once its header is known
  bool first = true;
  while (records.size() >= kRecordHeader) {
    const auto* header = reinterpret_cast<const uint8_t*>(records.data());
    const size_t length = (static_cast<size_t>(header[3]) << 8) | header[4];
    if (header[0] != kHandshakeRecord || length > kMaxRecordPayload) return Malformed();
    if (records.size() < kRecordHeader + length) break;
    const std::string_view payload = records.substr(kRecordHeader, length);
    records.remove_prefix(kRecordHeader + length);
    if (first) {
      first_payload = payload;
      first = false;
    } else {
      if (joined.empty()) joined.assign(first_payload);
      joined.append(payload.substr(0, wanted == 0 ? payload.size() : wanted - joined.size()));
    }
    const std::string_view have = joined.empty() ? first_payload : std::string_view(joined);
    if (wanted == 0 && have.size() >= kMessageHeader) {
      const auto* message = reinterpret_cast<const uint8_t*>(have.data());
      if (message[0] != kClientHello) return Malformed();
      const size_t body = (static_cast<size_t>(message[1]) << 16) |
                          (static_cast<size_t>(message[2]) << 8) | message[3];
      if (body > max_message) return Malformed();
      wanted = kMessageHeader + body;
      if (!joined.empty() && joined.size() > wanted) joined.resize(wanted);
    }
    if (wanted != 0 && have.size() >= wanted) {
      return ParseClientHelloServerName(have.substr(0, wanted));
    }
  }
  return {ClientHelloServerName::kNeedMore, {}};
}

std::string SanitizedServerName(std::string_view name) {
  std::string out(name.substr(0, kMaxDisplayedName));
  for (char& c : out) {
    if (!IsHostNameChar(c) && c != '*') c = '?';
  }
  return out;
}

ServerNameTable::ServerNameTable(const std::vector<std::vector<std::string>>& names)
    : certificates_(names.size()) {
  for (size_t i = 0; i < names.size(); ++i) {
    for (const std::string& name : names[i]) {
      std::string lower = absl::AsciiStrToLower(name);
      if (absl::StartsWith(lower, "*.")) {
        wildcard_.try_emplace(lower.substr(2), i);  // the earlier certificate keeps a name
      } else {
        exact_.try_emplace(std::move(lower), i);
      }
    }
  }
}

size_t ServerNameTable::Find(std::string_view server_name) const {
  if (server_name.empty() || certificates_ <= 1) return 0;
  std::string lower(server_name);
  absl::AsciiStrToLower(&lower);
  if (auto it = exact_.find(lower); it != exact_.end()) return it->second;
  // One label only: the part after the first dot must be a wildcard's suffix, and the label
  // before it must not be empty.
  const size_t dot = lower.find('.');
  if (dot == std::string::npos || dot == 0) return 0;
  if (auto it = wildcard_.find(lower.substr(dot + 1)); it != wildcard_.end()) {
    return it->second;
  }
  return 0;
}

}  // namespace ringgate
