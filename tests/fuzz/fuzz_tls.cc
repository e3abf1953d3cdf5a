// libFuzzer target: arbitrary bytes from the network into a server TLS session.
//
// The input is fed in slices (sizes from its first byte) through the same calls the connection
// makes: handshake until done, then read plaintext, answer, and finally queue close_notify. Any
// crash, sanitizer report or leak is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t slice = 1 + static_cast<size_t>(data[0]) * 8;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  ringgate::TlsSession tls(ServerContext());
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
