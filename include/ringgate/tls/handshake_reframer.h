// handshake_reframer.h
// Gathers the plaintext handshake records a client sends first (its ClientHello, in TLS 1.2 also
// its ClientKeyExchange) into whole messages and hands them on in records of at most 16 KiB,
// each message starting at the start of a record. RFC 8446 5.1 lets a client cut a handshake
// message at any byte, down to 1-byte records; wolfSSL (5.7.2 and 5.9.2 alike) needs a
// message's 4-byte header inside one record and answers PARSE_ERROR (-306) otherwise.
//
//   HandshakeReframer reframer(64 * 1024);
//   reframer.Feed(bytes_from_the_client, what_wolfssl_reads);  // may hold bytes back
//
// It stops, passing everything through from then on (Feed appends input unchanged), at the
// first record that is not a handshake record (a ChangeCipherSpec, an alert, application data:
// what follows may be encrypted, and is not its business), at a message announcing more than
// `max_message` bytes (wolfSSL then refuses it by its own cap), or when told (Stop). A
// ClientHello sent again after a HelloRetryRequest follows the client's ChangeCipherSpec in
// middlebox-compatibility mode, so it reaches wolfSSL as the client framed it.
#ifndef RINGGATE_TLS_HANDSHAKE_REFRAMER_H_
#define RINGGATE_TLS_HANDSHAKE_REFRAMER_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace ringgate {

class HandshakeReframer {
 public:
  explicit HandshakeReframer(size_t max_message) : max_message_(max_message) {}

  // Appends to `out` every whole handshake message now complete (re-framed), or, once stopped,
  // the input itself.
  void Feed(std::string_view in, std::string& out);
  // Passes on whatever is held back (a partial message in records of its own, then a partial
  // record as it came), and every later byte unchanged.
  void Stop(std::string& out);
  bool active() const { return active_; }
  size_t held_bytes() const { return records_.size() + messages_.size(); }

 private:
  void EmitMessages(std::string& out);

  const size_t max_message_;
  bool active_ = true;
  std::string records_;   // received bytes that do not yet make a whole record
  std::string messages_;  // handshake bytes from whole records, not yet a whole message
  char record_version_[2] = {'\x03', '\x01'};  // the client's legacy_record_version
};

}  // namespace ringgate

#endif  // RINGGATE_TLS_HANDSHAKE_REFRAMER_H_
