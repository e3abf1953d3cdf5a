#include "ringgate/tls_context.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "ringgate/tls_session.h"

namespace ringgate {
namespace {

// TLS 1.3 suites, then TLS 1.2 ECDHE with AEAD only: no CBC, no RSA key exchange, no anonymous.
constexpr char kCipherList[] =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// Picks http/1.1 when the client offers it; otherwise continues without ALPN, as nginx does.
int SelectAlpn(WOLFSSL*, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void*) {
  for (unsigned int i = 0; i < inlen;) {
    unsigned int len = in[i];
    if (i + 1 + len > inlen) break;
    if (len == 8 && std::memcmp(in + i + 1, kAlpnHttp11 + 1, 8) == 0) {
      *out = in + i + 1;
      *outlen = 8;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string WolfErrorString() {
  char buf[WOLFSSL_MAX_ERROR_SZ] = {};
  unsigned long err = wolfSSL_ERR_get_error();
  if (err == 0) return "unknown error";
  wolfSSL_ERR_error_string_n(err, buf, sizeof buf);
  return buf;
}

absl::Status CheckReadable(const std::string& path, const char* what) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", what, " file '", path, "': ", std::strerror(errno)));
  }
  close(fd);
  return absl::OkStatus();
}

absl::Status ApplyCommonSettings(WOLFSSL_CTX* ctx) {
  // Debian's OpenSSL-compatible defaults allow SSL3 minimum, anonymous ciphers, verify none and
  // SSL_MODE_AUTO_RETRY (which re-enters our recv callback on every WANT_READ): set each one.
  if (wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
    return absl::InternalError("wolfSSL refused TLS 1.2 as the minimum version");
  }
  if (wolfSSL_CTX_set_cipher_list(ctx, kCipherList) != WOLFSSL_SUCCESS) {
    return absl::InternalError(absl::StrCat("wolfSSL refused the cipher list: ", WolfErrorString()));
  }
  wolfSSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
  wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, nullptr);
  return absl::OkStatus();
}

}  // namespace

// Some wolfSSL builds (Debian's binary among them) accept a key that does not match the
// certificate in wolfSSL_CTX_check_private_key. A handshake in memory cannot be fooled: the
// client checks the server's signature against the certificate's public key.
bool TlsContext::HandshakesWithItself(const TlsContext& server) {
  absl::StatusOr<TlsContext> client = CreateClient();
  if (!client.ok()) return false;
  TlsSession server_side(server, /*is_server=*/true);
  TlsSession client_side(*client, /*is_server=*/false);
  for (int round = 0; round < 8; ++round) {
    TlsStatus c = client_side.Handshake();
    server_side.FeedCiphertext(client_side.pending_ciphertext());
    client_side.pending_ciphertext().clear();
    TlsStatus s = server_side.Handshake();
    client_side.FeedCiphertext(server_side.pending_ciphertext());
    server_side.pending_ciphertext().clear();
    if (c == TlsStatus::kError || s == TlsStatus::kError) return false;
    if (client_side.handshake_done() && server_side.handshake_done()) return true;
  }
  return false;
}

absl::StatusOr<TlsContext> TlsContext::CreateServer(const std::string& cert_path,
                                                    const std::string& key_path) {
  static const int init = wolfSSL_Init();
  (void)init;
  if (absl::Status s = CheckReadable(cert_path, "certificate"); !s.ok()) return s;
  if (absl::Status s = CheckReadable(key_path, "private key"); !s.ok()) return s;

  WOLFSSL_CTX* raw = wolfSSL_CTX_new(wolfSSLv23_server_method());
  if (raw == nullptr) return absl::ResourceExhaustedError("wolfSSL_CTX_new failed");
  TlsContext ctx(raw);
  if (absl::Status s = ApplyCommonSettings(raw); !s.ok()) return s;

  if (wolfSSL_CTX_use_certificate_chain_file(raw, cert_path.c_str()) != WOLFSSL_SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate file '", cert_path, "' is not a PEM certificate chain: ", WolfErrorString()));
  }
  if (wolfSSL_CTX_use_PrivateKey_file(raw, key_path.c_str(), WOLFSSL_FILETYPE_PEM) !=
      WOLFSSL_SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(
        "private key file '", key_path, "' is not a PEM private key: ", WolfErrorString()));
  }
  if (wolfSSL_CTX_check_private_key(raw) != WOLFSSL_SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat("private key '", key_path,
                                                   "' does not match certificate '", cert_path,
                                                   "'"));
  }
  wolfSSL_CTX_set_alpn_select_cb(raw, SelectAlpn, nullptr);
  if (!HandshakesWithItself(ctx)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "private key '", key_path, "' does not match certificate '", cert_path,
        "' (a test handshake with them failed)"));
  }
  return ctx;
}

absl::StatusOr<TlsContext> TlsContext::CreateClient() {
  static const int init = wolfSSL_Init();
  (void)init;
  WOLFSSL_CTX* raw = wolfSSL_CTX_new(wolfSSLv23_client_method());
  if (raw == nullptr) return absl::ResourceExhaustedError("wolfSSL_CTX_new failed");
  TlsContext ctx(raw);
  if (absl::Status s = ApplyCommonSettings(raw); !s.ok()) return s;
  return ctx;
}

bool TlsContext::UsesAssemblyBuild() {
#if defined(WOLFSSL_AESNI) && defined(WOLFSSL_SP_X86_64_ASM)
  return true;
#else
  return false;
#endif
}

}  // namespace ringgate
