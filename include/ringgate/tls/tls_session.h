// tls_session.h
// One TLS connection driven entirely through memory: ciphertext received from the socket goes
// in with FeedCiphertext, ciphertext to send accumulates in pending_ciphertext(). wolfSSL never
// sees a file descriptor and never blocks; when it needs more input it says so and returns.
//
//   TlsSession tls(ctx);
//   tls.FeedCiphertext(bytes_from_recv);
//   if (tls.Handshake() == TlsStatus::kOk) {
//     std::string plain;
//     TlsStatus s = tls.ReadPlaintext(plain);   // kOk, kWantRead, kPeerCloseNotify, kPeerEof...
//     tls.WritePlaintext("HTTP/1.1 200 OK\r\n...");
//   }
//   send_queue.AppendOwned(tls.pending_ciphertext());   // taken whole; the session's buffer
//   empties
//
// A server session reads the server name (SNI) out of the client's whole ClientHello before
// wolfSSL sees it. Made from a context of several certificates, it creates its wolfSSL object
// only then, from the certificate that serves the name (TlsContext::CertificateFor); until the
// ClientHello is whole, Handshake() answers kWantRead.
#ifndef RINGGATE_TLS_TLS_SESSION_H_
#define RINGGATE_TLS_TLS_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ringgate/tls/tls_context.h"

namespace ringgate {

class HandshakeReframer;

// The largest handshake message a client may send (a ClientHello with large extensions, in
// several records); wolfSSL's MAX_HANDSHAKE_SZ in subprojects/wolfssl/user_settings.h.
inline constexpr size_t kMaxClientHandshakeMessage = 64 * 1024;

enum class TlsStatus : uint8_t {
  kOk,               // progress made (handshake complete, plaintext produced, data written)
  kWantRead,         // needs more ciphertext from the peer
  kPeerCloseNotify,  // the peer's close_notify arrived: it will send no more
  kPeerEof,          // the transport ended without close_notify
  kError,            // fatal: alert, bad record, handshake failure
};

class TlsSession {
 public:
  explicit TlsSession(const TlsContext& ctx, bool is_server = true);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // A server session gathers the client's first handshake messages into whole ones first (see
  // src/tls/handshake_reframer.h): a ClientHello may arrive cut into records of any size.
  void FeedCiphertext(std::string_view bytes);
  // The transport reached EOF: once buffered ciphertext is consumed, reads report it.
  void FeedEof();

  // A client session: asks for `name` in its ClientHello (SNI). Before the first Handshake().
  bool RequestServerName(std::string_view name);

  // Advances the handshake (accept or connect). kOk once it is complete.
  TlsStatus Handshake();
  bool handshake_done() const { return handshake_done_; }

  // Appends all plaintext available from buffered ciphertext to `out`. Returns kOk if any
  // was produced and more may follow, or the reason it stopped.
  TlsStatus ReadPlaintext(std::string& out);
  // Encrypts `plain` into the pending ciphertext. Returns kError if the session is broken.
  TlsStatus WritePlaintext(std::string_view plain);
  // Queues our close_notify alert into the pending ciphertext (once).
  TlsStatus QueueCloseNotify();

  std::string& pending_ciphertext() { return cipher_out_; }
  // Gives back the capacity of drained buffers (an idle connection should hold next to nothing).
  void ReleaseIdleMemory();
  size_t buffered_ciphertext_in() const { return cipher_in_.size() - cipher_in_offset_; }

  // The negotiated protocol ("TLSv1.3"), cipher and last wolfSSL error, for logs.
  std::string_view version() const;
  std::string_view cipher() const;
  bool resumed() const;  // the handshake resumed an earlier session (ticket or cache)
  // The key exchange group the handshake used; kNone before it is done, for a TLS 1.2
  // resumption (no key exchange) or a group ringgate does not offer.
  TlsGroup group() const;
  int last_error() const { return last_error_; }
  // The server name the client asked for: lower-case, at most kMaxServerNameLength characters;
  // a malformed one sanitised (SanitizedServerName); empty when none was sent or before the
  // ClientHello was read.
  const std::string& server_name() const { return server_name_; }
  // Which of the context's certificates the session uses (0, the default, until chosen).
  size_t certificate() const { return certificate_; }
  // Whether the wolfSSL connection can still draw random bytes (for tests): a TLS 1.3 server
  // session gives its generator back once the handshake is done (ReleaseRandomGenerator).
  bool HoldsRandomGenerator() const;
  // That certificate's file (from the set the session was made from, whatever a reload did).
  const std::string& certificate_path() const { return context_.certificate_path(certificate_); }

 private:
  static int OnRecv(WOLFSSL* ssl, char* buf, int size, void* ctx);
  static int OnSend(WOLFSSL* ssl, char* buf, int size, void* ctx);
  TlsStatus ClassifyError(int ret);
  void ReleaseRandomGenerator();
  void CreateSsl(WOLFSSL_CTX* ctx);
  // Reads the ClientHello's server name once it is whole and, for a set of certificates,
  // creates the wolfSSL object from the one chosen. False while the ClientHello is incomplete
  // and the session still has no wolfSSL object.
  bool ReadServerName();

  // Keeps the context's ticket keys alive as long as wolfSSL may call its ticket callback for
  // this session (a reload may have replaced the context meanwhile); declared before ssl_,
  // which the destructor frees first.
  TlsContext context_;
  WOLFSSL* ssl_ = nullptr;
  std::unique_ptr<HandshakeReframer> reframer_;  // server side, until the handshake is done
  std::string cipher_in_;
  size_t cipher_in_offset_ = 0;
  std::string cipher_out_;
  bool transport_eof_ = false;
  bool handshake_done_ = false;
  bool close_notify_queued_ = false;
  bool is_server_ = true;
  bool server_name_read_ = false;  // server side: the ClientHello was looked at
  int last_error_ = 0;
  uint32_t certificate_ = 0;  // an index into the context's certificates (a handful)
  std::string server_name_;
};

}  // namespace ringgate

#endif  // RINGGATE_TLS_TLS_SESSION_H_
