// server_name.h
// Server Name Indication (RFC 6066 3): reads the host name a client asks for out of its
// ClientHello, and picks, among several certificates, the one that serves it. The ClientHello is
// read from the handshake records as they arrived or as HandshakeReframer re-framed them: a
// message cut across any number of records is put back together first (bounded by
// `max_message`). Every length is checked against what is there; hostile input yields kMalformed,
// never an over-read.
//
//   ClientHelloServerName sni = FindClientHelloServerName(records, kMaxClientHandshakeMessage);
//   if (sni.result == ClientHelloServerName::kNeedMore) { ... wait for more bytes ... }
//
//   ServerNameTable table({{"a.test"}, {"b.test", "*.wild.test"}});
//   table.Find("X.Wild.Test");  // 1: a one-label wildcard, case-insensitive
//   table.Find("a.b.wild.test");  // 0: the first certificate is the default
#ifndef RINGGATE_TLS_SERVER_NAME_H_
#define RINGGATE_TLS_SERVER_NAME_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace ringgate {

// The longest host name kept (a DNS name has at most 253 characters); a longer one is malformed.
inline constexpr size_t kMaxServerNameLength = 253;

struct ClientHelloServerName {
  enum Result {
    kNeedMore,   // the ClientHello is not complete yet
    kFound,      // `name` holds the first host_name entry, lower-cased
    kAbsent,     // a whole ClientHello without a server_name extension
    kMalformed,  // not a ClientHello, a length that does not add up, a bad or over-long name
  };
  Result result = kNeedMore;
  std::string name;
};

// Reads the first handshake message out of `records` (TLS records from the start of the
// connection). A record that is not a handshake record, or a first message that is not a
// ClientHello or announces more than `max_message` bytes, is kMalformed.
ClientHelloServerName FindClientHelloServerName(std::string_view records, size_t max_message);

// The same on one whole handshake message (type, 3-byte length, body).
ClientHelloServerName ParseClientHelloServerName(std::string_view message);

// `name` for a log line or JSON: at most 64 characters, anything but letters, digits, '-', '.',
// '_' and '*' replaced by '?'.
std::string SanitizedServerName(std::string_view name);

// Which certificate serves a name: an exact name of any certificate first, then a one-label
// wildcard ("*.example.test" matches "a.example.test", not "example.test" nor
// "a.b.example.test"), both case-insensitive; else the first certificate (index 0), which also
// serves clients that send no name. When two certificates list a name, the earlier one wins.
class ServerNameTable {
 public:
  ServerNameTable() = default;
  // `names[i]`: certificate i's DNS names (its subjectAltName), "*." prefixed for wildcards.
  explicit ServerNameTable(const std::vector<std::vector<std::string>>& names);

  size_t Find(std::string_view server_name) const;
  size_t certificates() const { return certificates_; }

 private:
  absl::flat_hash_map<std::string, size_t> exact_;
  absl::flat_hash_map<std::string, size_t> wildcard_;  // keyed by the suffix after "*."
  size_t certificates_ = 0;
};

}  // namespace ringgate

#endif  // RINGGATE_TLS_SERVER_NAME_H_
