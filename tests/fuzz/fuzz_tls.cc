// libFuzzer target: arbitrary bytes from the network into a server TLS session.
//
// The input is fed in slices (sizes from its first byte) through the same calls the connection
// makes: handshake until done, then read plaintext, answer, and finally queue close_notify. Any
// crash, sanitizer report or leak is a finding. The first byte's low bit picks the server: one
// certificate, or a set of two chosen by SNI (the session then waits for the whole ClientHello
// before it creates its wolfSSL object).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "../unit/tls/sni_test_certificates.h"
#include "../unit/tls/test_certificates.h"
#include "ringgate/tls/tls_context.h"
#include "ringgate/tls/tls_session.h"

namespace {

const ringgate::TlsContext& ServerContext() {
  static const ringgate::TlsContext* ctx = [] {
    const std::string cert =
        ringgate::testing::WriteTempFile(ringgate::testing::kTestCertificatePem);
    const std::string key = ringgate::testing::WriteTempFile(ringgate::testing::kTestKeyPem);
    auto created = ringgate::TlsContext::CreateServer(cert, key);
    std::remove(cert.c_str());
    std::remove(key.c_str());
    if (!created.ok()) std::abort();
    return new ringgate::TlsContext(*std::move(created));
  }();
  return *ctx;
}

const ringgate::TlsContext& CertificateSet() {
  static const ringgate::TlsContext* ctx = [] {
    namespace t = ringgate::testing;
    const std::string files[4] = {
        t::WriteTempFile(t::kSniCertificateAPem), t::WriteTempFile(t::kSniKeyAPem),
        t::WriteTempFile(t::kSniCertificateBPem), t::WriteTempFile(t::kSniKeyBPem)};
    auto created = ringgate::TlsContext::CreateServer({{files[0], files[1]}, {files[2], files[3]}});
    for (const std::string& f : files) std::remove(f.c_str());
    if (!created.ok()) std::abort();
    return new ringgate::TlsContext(*std::move(created));
  }();
  return *ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t slice = 1 + static_cast<size_t>(data[0] >> 1) * 16;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  ringgate::TlsSession tls((data[0] & 1) != 0 ? CertificateSet() : ServerContext());
  bool broken = false;
  std::string plain;
  for (size_t offset = 0; offset < input.size() && !broken; offset += slice) {
    tls.FeedCiphertext(input.substr(offset, slice));
    if (!tls.handshake_done()) {
      const ringgate::TlsStatus status = tls.Handshake();
      tls.pending_ciphertext().clear();  // "sent"
      if (status == ringgate::TlsStatus::kError) broken = true;
      if (status != ringgate::TlsStatus::kOk) continue;
    }
    const ringgate::TlsStatus status = tls.ReadPlaintext(plain);
    if (status == ringgate::TlsStatus::kError) broken = true;
    if (!plain.empty() && !broken) {
      if (tls.WritePlaintext(plain) == ringgate::TlsStatus::kError) broken = true;
      plain.clear();
    }
    tls.pending_ciphertext().clear();
  }
  tls.FeedEof();
  if (!broken) {
    (void)tls.ReadPlaintext(plain);
    (void)tls.QueueCloseNotify();
  }
  return 0;
}
