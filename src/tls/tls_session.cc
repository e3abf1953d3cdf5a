#include "ringgate/tls/tls_session.h"

#include <algorithm>
#include <cstring>

#include "ringgate/core/spare_capacity.h"
#include "ringgate/tls/handshake_reframer.h"
#include "ringgate/tls/server_name.h"

namespace ringgate {

TlsSession::TlsSession(const TlsContext& ctx, bool is_server)
    : context_(ctx), is_server_(is_server) {
  if (is_server) reframer_ = std::make_unique<HandshakeReframer>(kMaxClientHandshakeMessage);
  // Several certificates: which one is known only from the ClientHello (ReadServerName).
  if (!is_server || ctx.certificate_count() <= 1) CreateSsl(ctx.get());
}

void TlsSession::CreateSsl(WOLFSSL_CTX* ctx) {
  ssl_ = wolfSSL_new(ctx);
  if (ssl_ == nullptr) return;
  wolfSSL_SSLSetIORecv(ssl_, &TlsSession::OnRecv);
  wolfSSL_SSLSetIOSend(ssl_, &TlsSession::OnSend);
  wolfSSL_SetIOReadCtx(ssl_, this);
  wolfSSL_SetIOWriteCtx(ssl_, this);
  if (is_server_) {
    // http/1.1 when the client offers it; a client that offers only other protocols (h2) still
    // gets a connection without ALPN, as nginx does. wolfSSL's native API sets this per session:
    // its CTX-wide select callback needs the OpenSSL layer, which our build leaves out.
    char http11[] = "http/1.1";
    wolfSSL_UseALPN(ssl_, http11, sizeof http11 - 1, WOLFSSL_ALPN_CONTINUE_ON_MISMATCH);
  }
}

TlsSession::~TlsSession() {
  if (ssl_ != nullptr) wolfSSL_free(ssl_);
}

void TlsSession::FeedCiphertext(std::string_view bytes) {
  if (reframer_ != nullptr) {
    reframer_->Feed(bytes, cipher_in_);
  } else {
    cipher_in_.append(bytes);
  }
}

void TlsSession::FeedEof() {
  if (reframer_ != nullptr) reframer_->Stop(cipher_in_);  // a cut record: wolfSSL's to refuse
  transport_eof_ = true;
}

int TlsSession::OnRecv(WOLFSSL*, char* buf, int size, void* ctx) {
  auto* self = static_cast<TlsSession*>(ctx);
  size_t available = self->cipher_in_.size() - self->cipher_in_offset_;
  if (available == 0) {
    return self->transport_eof_ ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
  }
  size_t n = std::min(available, static_cast<size_t>(size));
  std::memcpy(buf, self->cipher_in_.data() + self->cipher_in_offset_, n);
  self->cipher_in_offset_ += n;
  if (self->cipher_in_offset_ == self->cipher_in_.size()) {
    EmptyBuffer(self->cipher_in_);
    self->cipher_in_offset_ = 0;
  }
  return static_cast<int>(n);
}

int TlsSession::OnSend(WOLFSSL*, char* buf, int size, void* ctx) {
  // Never short, never WANT_WRITE: the connection's send queue owns backpressure.
  static_cast<TlsSession*>(ctx)->cipher_out_.append(buf, static_cast<size_t>(size));
  return size;
}

TlsStatus TlsSession::ClassifyError(int ret) {
  int err = wolfSSL_get_error(ssl_, ret);
  last_error_ = err;
  switch (err) {
    case WOLFSSL_ERROR_WANT_READ:
    case WOLFSSL_ERROR_WANT_WRITE:
      return TlsStatus::kWantRead;
    case WOLFSSL_ERROR_ZERO_RETURN:
      return TlsStatus::kPeerCloseNotify;
    case SOCKET_PEER_CLOSED_E:
      return TlsStatus::kPeerEof;
    default:
      // A bare EOF in the middle of a handshake or record is reported as a read error.
      if (transport_eof_ && buffered_ciphertext_in() == 0) return TlsStatus::kPeerEof;
      return TlsStatus::kError;
  }
}

bool TlsSession::RequestServerName(std::string_view name) {
  return ssl_ != nullptr && !is_server_ &&
         wolfSSL_UseSNI(ssl_, WOLFSSL_SNI_HOST_NAME, name.data(),
                        static_cast<unsigned short>(name.size())) == WOLFSSL_SUCCESS;
}

bool TlsSession::ReadServerName() {
  const std::string_view buffered =
      std::string_view(cipher_in_).substr(std::min(cipher_in_offset_, cipher_in_.size()));
  ClientHelloServerName sni = FindClientHelloServerName(buffered, kMaxClientHandshakeMessage);
  // The reframer passes on whole messages only, so an incomplete one is still on its way; once
  // it has stopped (or the client closed), what is there is all there will be.
  const bool more_may_come = reframer_ != nullptr && reframer_->active() && !transport_eof_;
  if (sni.result == ClientHelloServerName::kNeedMore && more_may_come) {
    return ssl_ != nullptr;  // a single certificate: wolfSSL waits for the rest itself
  }
  server_name_read_ = true;
  server_name_ = std::move(sni.name);
  if (ssl_ == nullptr) {
    // Not a valid name (or none): the default certificate, and wolfSSL judges the ClientHello.
    certificate_ = static_cast<uint32_t>(
        sni.result == ClientHelloServerName::kFound ? context_.CertificateFor(server_name_) : 0);
    CreateSsl(context_.get(certificate_));
  }
  return true;
}

TlsStatus TlsSession::Handshake() {
  if (handshake_done_) return TlsStatus::kOk;
  if (is_server_ && !server_name_read_ && !ReadServerName()) return TlsStatus::kWantRead;
  if (ssl_ == nullptr) return TlsStatus::kError;
  int ret = is_server_ ? wolfSSL_accept(ssl_) : wolfSSL_connect(ssl_);
  if (ret == WOLFSSL_SUCCESS) {
    handshake_done_ = true;
    if (reframer_ != nullptr) {
      reframer_->Stop(cipher_in_);  // holds nothing by now: the client's Finished came through
      reframer_.reset();
    }
    if (is_server_ && wolfSSL_GetVersion(ssl_) == WOLFSSL_TLSV1_3) ReleaseRandomGenerator();
    return TlsStatus::kOk;
  }
  return ClassifyError(ret);
}

// wolfSSL keeps a TLS 1.3 server connection's random generator (a seeded DRBG, 128 bytes) after
// the handshake only to issue more session tickets on request (wolfSSL_send_SessionTicket), which
// ringgate never does: the tickets it sends went out before the handshake completed. TLS 1.3
// records draw no random bytes, and a key update derives its keys. (TLS 1.2 keeps its generator:
// wolfSSL draws each AES-GCM record's explicit nonce field from it.) Should some path still ask,
// the freed generator refuses (RNG_FAILURE_E, and the connection fails) rather than produce
// bytes: it never hands out predictable ones. Its 40-byte record stays with the connection, and
// wolfSSL_free frees it.
void TlsSession::ReleaseRandomGenerator() {
#ifndef SINGLE_THREADED  // there, every connection shares its context's generator
  if (WC_RNG* rng = wolfSSL_GetRNG(ssl_)) wc_FreeRng(rng);
#endif
}

bool TlsSession::HoldsRandomGenerator() const {  // draws one byte to find out
  WC_RNG* rng = ssl_ == nullptr ? nullptr : wolfSSL_GetRNG(ssl_);
  unsigned char byte = 0;
  return rng != nullptr && wc_RNG_GenerateBlock(rng, &byte, 1) == 0;
}

TlsStatus TlsSession::ReadPlaintext(std::string& out) {
  if (ssl_ == nullptr) return TlsStatus::kError;
  // wolfSSL decrypts into a per-thread scratch record, and only the bytes it produced are appended:
  // reading straight into `out` would give every connection's input buffer a 16 KiB capacity
  // for good, idle or not (measured: most of an idle connection's memory).
  constexpr size_t kRecord = 16384;
  thread_local char scratch[kRecord];
  bool produced = false;
  for (;;) {
    int n = wolfSSL_read(ssl_, scratch, static_cast<int>(kRecord));
    if (n > 0) {
      out.append(scratch, static_cast<size_t>(n));
      produced = true;
      continue;
    }
    TlsStatus status = ClassifyError(n);
    if (status == TlsStatus::kWantRead && produced) return TlsStatus::kOk;
    return status;
  }
}

void TlsSession::ReleaseIdleMemory() {
  if (cipher_in_offset_ == cipher_in_.size()) {
    std::string().swap(cipher_in_);
    cipher_in_offset_ = 0;
  }
  if (cipher_out_.empty()) std::string().swap(cipher_out_);
}

TlsStatus TlsSession::WritePlaintext(std::string_view plain) {
  if (ssl_ == nullptr) return TlsStatus::kError;
  if (plain.empty()) return TlsStatus::kOk;
  int ret = wolfSSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
  if (ret == static_cast<int>(plain.size())) return TlsStatus::kOk;
  ClassifyError(ret);
  return TlsStatus::kError;
}

TlsStatus TlsSession::QueueCloseNotify() {
  if (ssl_ == nullptr) return TlsStatus::kError;
  if (close_notify_queued_) return TlsStatus::kOk;
  close_notify_queued_ = true;
  int ret = wolfSSL_shutdown(ssl_);
  // WOLFSSL_SHUTDOWN_NOT_DONE (our alert is out, theirs not yet in) and WOLFSSL_SUCCESS (both
  // done) both mean the alert is now in the pending ciphertext.
  if (ret == WOLFSSL_SHUTDOWN_NOT_DONE || ret == WOLFSSL_SUCCESS) return TlsStatus::kOk;
  // Some builds try to read the peer's alert in the same call; waiting for it is not a failure.
  if (ClassifyError(ret) == TlsStatus::kWantRead) return TlsStatus::kOk;
  return TlsStatus::kError;
}

std::string_view TlsSession::version() const {
  const char* v = ssl_ ? wolfSSL_get_version(ssl_) : nullptr;
  return v ? v : "";
}

TlsGroup TlsSession::group() const {
  if (ssl_ == nullptr || !handshake_done_) return TlsGroup::kNone;
  return TlsGroupFromWolfSslName(wolfSSL_get_curve_name(ssl_));
}

bool TlsSession::resumed() const { return ssl_ != nullptr && wolfSSL_session_reused(ssl_) == 1; }

std::string_view TlsSession::cipher() const {
  const char* c = ssl_ ? wolfSSL_get_cipher_name(ssl_) : nullptr;
  return c ? c : "";
}

}  // namespace ringgate
