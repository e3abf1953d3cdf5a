#include "ringgate/tls/tls_context.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wolfssl/wolfcrypt/asn.h>  // DecodedCert: a certificate's subjectAltName

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "ringgate/core/log.h"
#include "ringgate/tls/server_name.h"
#include "ringgate/tls/tls_session.h"

namespace ringgate {
namespace {

// TLS 1.3 suites, then TLS 1.2 ECDHE with AEAD only: no CBC, no RSA key exchange, no anonymous.
constexpr char kCipherList[] =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// ": <wolfSSL's reason>" where the library keeps an error queue (builds with its OpenSSL layer,
// such as Debian's binary); empty otherwise, where the caller's own message has to do.
std::string WolfErrorDetail() {
#ifdef WOLFSSL_HAVE_ERROR_QUEUE
  char buf[WOLFSSL_MAX_ERROR_SZ] = {};
  unsigned long err = wolfSSL_ERR_get_error();
  if (err == 0) return "";
  wolfSSL_ERR_error_string_n(err, buf, sizeof buf);
  return absl::StrCat(": ", buf);
#else
  return "";
#endif
}

// A private key or ticket key file that every user can read is no secret: refused, with the
// command that fixes it. One its group can read is allowed (a deployment may share it with a
// group on purpose), with a warning.
absl::Status CheckSecretFileMode(int fd, const std::string& path, const char* what) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return absl::OkStatus();
  const unsigned mode = st.st_mode & 07777;
  if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s file '%s' can be read or written by every user (mode %04o): chmod 600 '%s'", what, path,
        mode, path));
  }
  if ((st.st_mode & S_IRGRP) != 0) {
    LogLine(spdlog::level::warn, "secret file readable by its group")
        .With("file", path)
        .With("what", what)
        .With("mode", absl::StrFormat("%04o", mode));
  }
  return absl::OkStatus();
}

// `secret`: the file holds key material, and its mode is checked too (CheckSecretFileMode).
absl::Status CheckReadable(const std::string& path, const char* what, bool secret = false) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", what, " file '", path, "': ", std::strerror(errno)));
  }
  absl::Status status = secret ? CheckSecretFileMode(fd, path, what) : absl::OkStatus();
  close(fd);
  return status;
}

// ---------------------------------------------------------------------------------------------
// Session ticket keys shared through a file (see tls_context.h).

constexpr size_t kTicketKeyRecord = WOLFSSL_TICKET_NAME_SZ + 32;
constexpr size_t kMaxTicketKeys = 16;
constexpr int kTicketIvBytes = 12;   // AES-GCM's nonce; wolfSSL gives room for 16
constexpr int kTicketTagBytes = 16;  // wolfSSL gives room for 32

struct TicketKey {
  unsigned char name[WOLFSSL_TICKET_NAME_SZ];
  unsigned char aes_key[32];
};
using TicketKeys = std::vector<TicketKey>;

// Key sets in memory: each lives as long as a context or a session made from it (TlsContext),
// and its bytes are wiped when it goes.
std::atomic<int> live_ticket_key_sets{0};

void WipeTicketKeys(TicketKeys* keys) {
  explicit_bzero(keys->data(), keys->size() * sizeof(TicketKey));
  delete keys;
  live_ticket_key_sets.fetch_sub(1, std::memory_order_relaxed);
}

absl::StatusOr<std::shared_ptr<TicketKeys>> LoadTicketKeys(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ticket key file '", path, "': ", std::strerror(errno)));
  }
  if (absl::Status s = CheckSecretFileMode(fd, path, "ticket key"); !s.ok()) {
    close(fd);
    return s;
  }
  unsigned char bytes[kTicketKeyRecord * kMaxTicketKeys + 1];
  // The keys are copied out below; what was read must not linger on the stack.
  struct WipeOnReturn {
    unsigned char* data;
    size_t size;
    ~WipeOnReturn() { explicit_bzero(data, size); }
  } wipe{bytes, sizeof bytes};
  ssize_t total = 0;
  for (ssize_t n; (n = read(fd, bytes + total, sizeof bytes - static_cast<size_t>(total))) > 0;) {
    total += n;
  }
  close(fd);
  if (total <= 0 || total % static_cast<ssize_t>(kTicketKeyRecord) != 0 ||
      total > static_cast<ssize_t>(kTicketKeyRecord * kMaxTicketKeys)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ticket key file '", path, "' must hold 1 to ", kMaxTicketKeys, " keys of ",
                     kTicketKeyRecord, " bytes each (make one with: openssl rand ",
                     kTicketKeyRecord, "); it has ", total, " bytes"));
  }
  live_ticket_key_sets.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<TicketKeys> keys(new TicketKeys(static_cast<size_t>(total) / kTicketKeyRecord),
                                   WipeTicketKeys);
  for (size_t i = 0; i < keys->size(); ++i) {
    std::memcpy((*keys)[i].name, bytes + i * kTicketKeyRecord, WOLFSSL_TICKET_NAME_SZ);
    std::memcpy((*keys)[i].aes_key, bytes + i * kTicketKeyRecord + WOLFSSL_TICKET_NAME_SZ, 32);
  }
  return keys;
}

// One random key, for a set of several certificates without a ticket key file: every
// certificate's context must open the tickets of every other.
absl::StatusOr<std::shared_ptr<TicketKeys>> MakeRandomTicketKeys() {
  live_ticket_key_sets.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<TicketKeys> keys(new TicketKeys(1), WipeTicketKeys);
  TicketKey& key = keys->front();
  if (getrandom(key.name, sizeof key.name, 0) != static_cast<ssize_t>(sizeof key.name) ||
      getrandom(key.aes_key, sizeof key.aes_key, 0) != static_cast<ssize_t>(sizeof key.aes_key)) {
    return absl::InternalError("getrandom failed making a session ticket key");
  }
  return keys;
}

// wolfSSL's ticket callback: encrypts (enc=1) or decrypts the ticket in place with AES-256-GCM,
// the key name as additional data.
int CryptTicket(WOLFSSL* ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                unsigned char iv[WOLFSSL_TICKET_IV_SZ], unsigned char mac[WOLFSSL_TICKET_MAC_SZ],
                int enc, unsigned char* ticket, int length, int* out_length, void* user_ctx) {
  const TicketKeys& keys = *static_cast<const TicketKeys*>(user_ctx);
  const TicketKey* key = nullptr;
  size_t index = 0;
  if (enc) {
    key = &keys.front();
    std::memcpy(key_name, key->name, WOLFSSL_TICKET_NAME_SZ);
    if (getrandom(iv, kTicketIvBytes, 0) != kTicketIvBytes) return WOLFSSL_TICKET_RET_FATAL;
    // The unused tails of the IV and MAC fields travel in the ticket too: never uninitialised.
    std::memset(iv + kTicketIvBytes, 0, WOLFSSL_TICKET_IV_SZ - kTicketIvBytes);
    std::memset(mac + kTicketTagBytes, 0, WOLFSSL_TICKET_MAC_SZ - kTicketTagBytes);
  } else {
    for (; index < keys.size(); ++index) {
      if (std::memcmp(keys[index].name, key_name, WOLFSSL_TICKET_NAME_SZ) == 0) break;
    }
    if (index == keys.size()) return WOLFSSL_TICKET_RET_REJECT;  // an unknown or retired key
    key = &keys[index];
  }
  Aes aes;
  if (wc_AesInit(&aes, nullptr, INVALID_DEVID) != 0) return WOLFSSL_TICKET_RET_FATAL;
  int ret = wc_AesGcmSetKey(&aes, key->aes_key, sizeof key->aes_key);
  if (ret == 0) {
    ret = enc ? wc_AesGcmEncrypt(&aes, ticket, ticket, static_cast<word32>(length), iv,
                                 kTicketIvBytes, mac, kTicketTagBytes, key_name,
                                 WOLFSSL_TICKET_NAME_SZ)
              : wc_AesGcmDecrypt(&aes, ticket, ticket, static_cast<word32>(length), iv,
                                 kTicketIvBytes, mac, kTicketTagBytes, key_name,
                                 WOLFSSL_TICKET_NAME_SZ);
  }
  wc_AesFree(&aes);
  explicit_bzero(&aes, sizeof aes);  // the expanded key schedule must not linger on the stack
  if (ret != 0) return enc ? WOLFSSL_TICKET_RET_FATAL : WOLFSSL_TICKET_RET_REJECT;
  *out_length = length;
  // Opened with an older key: valid, but the client should get a ticket under the current key.
  // TLS 1.2 issues one only when told (RET_CREATE). TLS 1.3 issues one after every handshake,
  // and wolfSSL from 5.7 resumes a TLS 1.3 session only on RET_OK (RET_CREATE makes it a full
  // handshake; 5.5.4 resumed on both).
  const bool tls13 = wolfSSL_GetVersion(ssl) == WOLFSSL_TLSV1_3;
  return !enc && index > 0 && !tls13 ? WOLFSSL_TICKET_RET_CREATE : WOLFSSL_TICKET_RET_OK;
}

// The groups offered (supported_groups) and accepted, in order of preference.
absl::Status SetGroups(WOLFSSL_CTX* ctx, const std::vector<TlsGroup>& groups) {
  if (groups.empty()) return absl::OkStatus();
  std::vector<int> code_points;
  for (TlsGroup g : groups) code_points.push_back(TlsGroupCodePoint(g));
  if (wolfSSL_CTX_set_groups(ctx, code_points.data(), static_cast<int>(code_points.size())) !=
      WOLFSSL_SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat("wolfSSL refused the key exchange groups ",
                                                   TlsGroupList(groups), WolfErrorDetail()));
  }
  return absl::OkStatus();
}

absl::Status ApplyCommonSettings(WOLFSSL_CTX* ctx) {
  // Debian's OpenSSL-compatible defaults allow SSL3 minimum, anonymous ciphers, verify none and
  // SSL_MODE_AUTO_RETRY (which re-enters our recv callback on every WANT_READ): set each one.
  if (wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
    return absl::InternalError("wolfSSL refused TLS 1.2 as the minimum version");
  }
  if (wolfSSL_CTX_set_cipher_list(ctx, kCipherList) != WOLFSSL_SUCCESS) {
    return absl::InternalError(absl::StrCat("wolfSSL refused the cipher list", WolfErrorDetail()));
  }
#ifdef SSL_MODE_AUTO_RETRY  // only builds with the OpenSSL layer have the mode at all
  wolfSSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
#endif
  wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, nullptr);
  return absl::OkStatus();
}

// A certificate file's bytes: wolfSSL loads the chain from them and SubjectAltDnsNames reads the
// leaf's names from the same bytes, so a file rewritten meanwhile cannot split the two.
absl::StatusOr<std::string> ReadCertificateFile(const std::string& path) {
  if (absl::Status s = CheckReadable(path, "certificate"); !s.ok()) return s;
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  if (!file) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read certificate file '", path, "'"));
  }
  return text.str();
}

// The DNS names in the subjectAltName of the first certificate of a PEM chain (the leaf), as
// written there ("*.example.test" for a wildcard). Empty when it has none or cannot be read:
// wolfSSL has accepted the chain by then, so what remains is only whether it names hosts.
std::vector<std::string> SubjectAltDnsNames(const std::string& pem) {
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  const size_t begin = pem.find(kBegin);
  if (begin == std::string::npos) return {};
  const size_t end = pem.find(kEnd, begin);
  if (end == std::string::npos) return {};
  std::string base64;
  for (size_t i = begin + kBegin.size(); i < end; ++i) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(pem[i]))) base64.push_back(pem[i]);
  }
  std::string der;
  if (!absl::Base64Unescape(base64, &der)) return {};
  auto decoded = std::make_unique<DecodedCert>();
  wc_InitDecodedCert(decoded.get(), reinterpret_cast<const byte*>(der.data()),
                     static_cast<word32>(der.size()), nullptr);
  std::vector<std::string> names;
  if (wc_ParseCert(decoded.get(), CERT_TYPE, NO_VERIFY, nullptr) == 0) {
    for (const DNS_entry* entry = decoded->altNames; entry != nullptr; entry = entry->next) {
      if (entry->type == ASN_DNS_TYPE && entry->name != nullptr && entry->len > 0) {
        names.emplace_back(entry->name, static_cast<size_t>(entry->len));
      }
    }
  }
  wc_FreeDecodedCert(decoded.get());
  return names;
}

}  // namespace

struct TlsContext::Shared {
  std::shared_ptr<WOLFSSL_CTX> ctx;  // the first (default) certificate's
  // --ticket-key-file's keys, which wolfSSL's ticket callback reads through the context.
  std::shared_ptr<void> ticket_keys;
  // Servers made by CreateServer only: every certificate and server_name.h's table.
  std::vector<Certificate> certificates;
  ServerNameTable table;
};

TlsContext::TlsContext(WOLFSSL_CTX* ctx, std::shared_ptr<void> ticket_keys) {
  auto shared = std::make_shared<Shared>();
  shared->ctx = std::shared_ptr<WOLFSSL_CTX>(ctx, Deleter{});
  shared->ticket_keys = std::move(ticket_keys);
  shared_ = std::move(shared);
}

WOLFSSL_CTX* TlsContext::get() const { return shared_ == nullptr ? nullptr : shared_->ctx.get(); }

size_t TlsContext::certificate_count() const {
  return shared_ == nullptr ? 0 : shared_->certificates.size();
}

size_t TlsContext::CertificateFor(std::string_view server_name) const {
  return certificate_count() == 0 ? 0 : shared_->table.Find(server_name);
}

WOLFSSL_CTX* TlsContext::get(size_t index) const {
  if (index >= certificate_count()) return get();
  return shared_->certificates[index].ctx.get();
}

const std::string& TlsContext::certificate_path(size_t index) const {
  static const std::string none;
  if (index >= certificate_count()) return none;
  return shared_->certificates[index].path;
}

const std::vector<std::string>& TlsContext::certificate_names(size_t index) const {
  static const std::vector<std::string> none;
  if (index >= certificate_count()) return none;
  return shared_->certificates[index].names;
}

// Some wolfSSL builds (Debian's binary among them) accept a key that does not match the
// certificate in wolfSSL_CTX_check_private_key. A handshake in memory cannot be fooled: the
// client checks the server's signature against the certificate's public key.
bool TlsContext::HandshakesWithItself(const TlsContext& server,
                                      const std::vector<TlsGroup>& groups) {
  absl::StatusOr<TlsContext> client = CreateClient(groups);
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

absl::StatusOr<TlsContext::Certificate> TlsContext::LoadCertificate(
    const CertificateFiles& files, const std::shared_ptr<void>& ticket_keys,
    const std::vector<TlsGroup>& groups) {
  const std::string& cert_path = files.cert_path;
  const std::string& key_path = files.key_path;
  absl::StatusOr<std::string> chain = ReadCertificateFile(cert_path);
  if (!chain.ok()) return chain.status();
  if (absl::Status s = CheckReadable(key_path, "private key", /*secret=*/true); !s.ok()) return s;

  WOLFSSL_CTX* raw = wolfSSL_CTX_new(wolfSSLv23_server_method());
  if (raw == nullptr) return absl::ResourceExhaustedError("wolfSSL_CTX_new failed");
  TlsContext ctx(raw, ticket_keys);
  if (absl::Status s = ApplyCommonSettings(raw); !s.ok()) return s;
  if (absl::Status s = SetGroups(raw, groups); !s.ok()) return s;

  if (wolfSSL_CTX_use_certificate_chain_buffer(
          raw, reinterpret_cast<const unsigned char*>(chain->data()),
          static_cast<long>(chain->size())) != WOLFSSL_SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate file '", cert_path, "' is not a PEM certificate chain", WolfErrorDetail()));
  }
  if (wolfSSL_CTX_use_PrivateKey_file(raw, key_path.c_str(), WOLFSSL_FILETYPE_PEM) !=
      WOLFSSL_SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(
        "private key file '", key_path, "' is not a PEM private key", WolfErrorDetail()));
  }
  if (wolfSSL_CTX_check_private_key(raw) != WOLFSSL_SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("private key '", key_path, "' does not match certificate '", cert_path, "'"));
  }
  if (ticket_keys != nullptr) {
    wolfSSL_CTX_set_TicketEncCtx(raw, ticket_keys.get());
    wolfSSL_CTX_set_TicketEncCb(raw, CryptTicket);
  }
  if (!HandshakesWithItself(ctx, groups)) {
    return absl::InvalidArgumentError(absl::StrCat("private key '", key_path,
                                                   "' does not match certificate '", cert_path,
                                                   "' (a test handshake with them failed)"));
  }
  return Certificate{ctx.shared_->ctx, cert_path, SubjectAltDnsNames(*chain)};
}

absl::StatusOr<TlsContext> TlsContext::CreateServer(const std::string& cert_path,
                                                    const std::string& key_path,
                                                    const std::string& ticket_key_path,
                                                    const std::vector<TlsGroup>& groups) {
  return CreateServer(std::vector<CertificateFiles>{{cert_path, key_path}}, ticket_key_path,
                      groups);
}

absl::StatusOr<TlsContext> TlsContext::CreateServer(
    const std::vector<CertificateFiles>& certificates, const std::string& ticket_key_path,
    const std::vector<TlsGroup>& groups) {
  static const int init = wolfSSL_Init();
  (void)init;
  if (certificates.empty()) return absl::InvalidArgumentError("no certificate given");
  std::shared_ptr<TicketKeys> keys;
  std::vector<std::string> problems;  // every one found, one per line
  if (!ticket_key_path.empty()) {
    absl::StatusOr<std::shared_ptr<TicketKeys>> loaded = LoadTicketKeys(ticket_key_path);
    if (loaded.ok()) {
      keys = *std::move(loaded);
    } else {
      problems.emplace_back(loaded.status().message());  // and the certificates are checked still
    }
  }
  if (keys == nullptr && certificates.size() > 1) {
    absl::StatusOr<std::shared_ptr<TicketKeys>> made = MakeRandomTicketKeys();
    if (!made.ok()) return made.status();
    keys = *std::move(made);
  }
  auto set = std::make_shared<Shared>();
  for (size_t i = 0; i < certificates.size(); ++i) {
    absl::StatusOr<Certificate> loaded = LoadCertificate(certificates[i], keys, groups);
    // One certificate: its message as it always was. Several: each says which pair it is about.
    const std::string which =
        certificates.size() == 1
            ? std::string()
            : absl::StrCat("certificate ", i + 1, " of ", certificates.size(), " ('",
                           certificates[i].cert_path, "', key '", certificates[i].key_path, "'): ");
    if (!loaded.ok()) {
      problems.push_back(absl::StrCat(which, loaded.status().message()));
      continue;
    }
    if (i > 0 && loaded->names.empty()) {
      problems.push_back(absl::StrCat(which,
                                      "has no DNS name in its subjectAltName, so no client could "
                                      "ever be given it (only the first certificate is the "
                                      "default for names no certificate lists)"));
      continue;
    }
    set->certificates.push_back(*std::move(loaded));
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(problems, "\n"));
  }
  std::vector<std::vector<std::string>> names;
  for (const Certificate& c : set->certificates) names.push_back(c.names);
  set->table = ServerNameTable(names);
  set->ctx = set->certificates.front().ctx;
  set->ticket_keys = std::move(keys);
  TlsContext ctx;
  ctx.shared_ = std::move(set);
  return ctx;
}

absl::StatusOr<TlsContext> TlsContext::CreateClient(const std::vector<TlsGroup>& groups) {
  static const int init = wolfSSL_Init();
  (void)init;
  WOLFSSL_CTX* raw = wolfSSL_CTX_new(wolfSSLv23_client_method());
  if (raw == nullptr) return absl::ResourceExhaustedError("wolfSSL_CTX_new failed");
  TlsContext ctx(raw);
  if (absl::Status s = ApplyCommonSettings(raw); !s.ok()) return s;
  // A client's key share is for the first group set (wolfSSL's speculative share).
  if (absl::Status s = SetGroups(raw, groups); !s.ok()) return s;
  return ctx;
}

bool TlsContext::UsesAssemblyBuild() {
#if defined(WOLFSSL_AESNI) && defined(WOLFSSL_SP_X86_64_ASM)
  return true;
#else
  return false;
#endif
}

int TlsContext::LiveTicketKeySets() { return live_ticket_key_sets.load(std::memory_order_relaxed); }

}  // namespace ringgate
