// tls_context.h
// A server-side wolfSSL context: one or more certificates and keys (ECDSA or RSA), TLS 1.2 and 1.3
// only, AEAD ciphers only, no renegotiation, ALPN http/1.1, key exchange groups in the order given
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
// Several certificates (SNI): each serves the DNS names in its subjectAltName, the first also
// every client that sends no name or one no certificate has (ServerNameTable in server_name.h).
// Each certificate gets a wolfSSL context of its own; a server TlsSession made from a set of
// more than one waits for the whole ClientHello, reads its server_name and only then creates its
// wolfSSL object from the chosen certificate's context. The set is one value: a reload builds a
// new one and swaps it whole, as it swaps a single certificate.
//
//   absl::StatusOr<TlsContext> set = TlsContext::CreateServer(
//       {{"a.pem", "a.key"}, {"b.pem", "b.key"}}, "tickets.key");
//   if (!set.ok()) { ... one message listing the problem of every pair ... }
//   size_t which = set->CertificateFor("x.b.test");  // index into the list given
//
// Session tickets: without a ticket key file, wolfSSL encrypts tickets with a key of its own,
// made at start-up, so only this process can resume them. With one (--ticket-key-file), every
// worker and every instance given the same file resumes every other's tickets. The file holds
// one or more 48-byte keys (`openssl rand 48`): a 16-byte name and a 32-byte AES-256-GCM key. The
// first key encrypts new tickets; the others still decrypt, and a ticket they open is replaced
// by a fresh one. Rotate by prepending a new key, dropping the oldest, and sending SIGHUP. A
// reload's context gets the file's keys (at most 16); the keys it replaces stay in memory only
// while a context or a session made before the reload lives, and are wiped then. Every
// certificate of a set encrypts and decrypts tickets with the same keys: the file's, or, for a set
// of more than one without a file, one random key made when the set is loaded.
#ifndef RINGGATE_TLS_TLS_CONTEXT_H_
#define RINGGATE_TLS_TLS_CONTEXT_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ringgate/tls/certificate_files.h"
#include "ringgate/tls/tls_group.h"
#include "ringgate/tls/wolfssl.h"

namespace ringgate {

class TlsContext {
 public:
  static absl::StatusOr<TlsContext> CreateServer(
      const std::string& cert_path, const std::string& key_path,
      const std::string& ticket_key_path = "",
      const std::vector<TlsGroup>& groups = DefaultTlsGroups());
  // Several certificates, the first the default. Every pair is checked (readable, the key's
  // mode, the pair matches, and a certificate after the first has a DNS name in its
  // subjectAltName, without which it would never be chosen); the error lists every problem
  // found, each naming its pair. All of the set or none: this is also the whole check a
  // --check-config would need.
  static absl::StatusOr<TlsContext> CreateServer(
      const std::vector<CertificateFiles>& certificates, const std::string& ticket_key_path = "",
      const std::vector<TlsGroup>& groups = DefaultTlsGroups());
  // A client context for tests and tools: verification off, TLS 1.2 and 1.3. It offers
  // `groups` (empty: wolfSSL's defaults) and sends a key share for the first of them.
  static absl::StatusOr<TlsContext> CreateClient(const std::vector<TlsGroup>& groups = {});

  // The first (default) certificate's context.
  WOLFSSL_CTX* get() const;
  // Certificates in the set (1 for a single one; 0 for a client context).
  size_t certificate_count() const;
  // The certificate serving `server_name` (lower-case, from SNI; empty: none sent): its index.
  size_t CertificateFor(std::string_view server_name) const;
  // Certificate `index`'s context (index < certificate_count(), or 0).
  WOLFSSL_CTX* get(size_t index) const;
  // Certificate `index`'s file and its DNS names (as written in its subjectAltName), for logs.
  const std::string& certificate_path(size_t index) const;
  const std::vector<std::string>& certificate_names(size_t index) const;
  // True when wolfSSL was built from source with its assembly (not Debian's slow binary).
  static bool UsesAssemblyBuild();
  // Ticket key sets loaded and not yet wiped (for tests).
  static int LiveTicketKeySets();

 private:
  struct Deleter {
    void operator()(WOLFSSL_CTX* ctx) const { wolfSSL_CTX_free(ctx); }
  };
  TlsContext() = default;
  // Owns `ctx` (and keeps `ticket_keys`, which its ticket callback reads, alive with it).
  explicit TlsContext(WOLFSSL_CTX* ctx, std::shared_ptr<void> ticket_keys = nullptr);
  struct Certificate {
    std::shared_ptr<WOLFSSL_CTX> ctx;
    std::string path;
    std::vector<std::string> names;  // DNS names of its subjectAltName
  };
  struct Shared;  // what every copy of this context shares
  static bool HandshakesWithItself(const TlsContext& server, const std::vector<TlsGroup>& groups);
  static absl::StatusOr<Certificate> LoadCertificate(const CertificateFiles& files,
                                                     const std::shared_ptr<void>& ticket_keys,
                                                     const std::vector<TlsGroup>& groups);
  // One pointer, so that each session's copy (TlsSession) costs 16 bytes and one reference count.
  std::shared_ptr<const Shared> shared_;
};

}  // namespace ringgate

#endif  // RINGGATE_TLS_TLS_CONTEXT_H_
