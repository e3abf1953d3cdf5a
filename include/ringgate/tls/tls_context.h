// tls_context.h
// A server-side wolfSSL context: certificate and key (ECDSA or RSA), TLS 1.2 and 1.3 only,
// AEAD ciphers only, no renegotiation, ALPN http/1.1, key exchange groups in the order given
// (default X25519MLKEM768, X25519, P-256, P-384; never FFDHE). Every setting that Debian's
// OpenSSL-compatible defaults would otherwise choose is set explicitly.
//
// Groups: of the key shares a TLS 1.3 client sends, the server takes the one earliest in its
// list; it asks for another (HelloRetryRequest) only when none is in the list. A client that
// sends an X25519 share next to an X25519MLKEM768 one gets the hybrid; one that sends only
// X25519 (OpenSSL 3.0, Python's ssl) gets X25519 without a retry.
//
//   absl::StatusOr<TlsContext> ctx = TlsContext::CreateServer("cert.pem", "key.pem");
//   if (!ctx.ok()) { ... ctx.status().message() names the file and the problem ... }
//
// Session tickets: without a ticket key file, wolfSSL encrypts tickets with a key of its own,
// made at start-up, so only this process can resume them. With one (--ticket-key-file), every
// worker and every instance given the same file resumes every other's tickets. The file holds
// one or more 48-byte keys (`openssl rand 48`): a 16-byte name and a 32-byte AES-256-GCM key. The
// first key encrypts new tickets; the others still decrypt, and a ticket they open is replaced
// by a fresh one. Rotate by prepending a new key, dropping the oldest, and sending SIGHUP. A
// reload's context gets the file's keys (at most 16); the keys it replaces stay in memory only
// while a context or a session made before the reload lives, and are wiped then.
#ifndef RINGGATE_TLS_TLS_CONTEXT_H_
#define RINGGATE_TLS_TLS_CONTEXT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ringgate/tls/tls_group.h"
#include "ringgate/tls/wolfssl.h"

namespace ringgate {

class TlsContext {
 public:
  static absl::StatusOr<TlsContext> CreateServer(
      const std::string& cert_path, const std::string& key_path,
      const std::string& ticket_key_path = "",
      const std::vector<TlsGroup>& groups = DefaultTlsGroups());
  // A client context for tests and tools: verification off, TLS 1.2 and 1.3. It offers
  // `groups` (empty: wolfSSL's defaults) and sends a key share for the first of them.
  static absl::StatusOr<TlsContext> CreateClient(const std::vector<TlsGroup>& groups = {});

  WOLFSSL_CTX* get() const { return ctx_.get(); }
  // True when wolfSSL was built from source with its assembly (not Debian's slow binary).
  static bool UsesAssemblyBuild();
  // Ticket key sets loaded and not yet wiped (for tests).
  static int LiveTicketKeySets();

 private:
  struct Deleter {
    void operator()(WOLFSSL_CTX* ctx) const { wolfSSL_CTX_free(ctx); }
  };
  explicit TlsContext(WOLFSSL_CTX* ctx) : ctx_(ctx, Deleter{}) {}
  static bool HandshakesWithItself(const TlsContext& server, const std::vector<TlsGroup>& groups);
  std::shared_ptr<WOLFSSL_CTX> ctx_;
  // --ticket-key-file's keys, which wolfSSL's ticket callback reads through the context. Every
  // copy of this context, each session's included (TlsSession), shares them.
  std::shared_ptr<void> ticket_keys_;
};

}  // namespace ringgate

#endif  // RINGGATE_TLS_TLS_CONTEXT_H_
