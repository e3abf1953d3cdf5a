// certificate_files.h
// One certificate chain and its private key, as --cert and --key name them: what a Config holds
// and TlsContext::CreateServer loads. A header of its own so that the configuration does not
// pull in wolfSSL.
//
//   std::vector<CertificateFiles> set = {{"a.pem", "a.key"}, {"b.pem", "b.key"}};
//   absl::StatusOr<TlsContext> ctx = TlsContext::CreateServer(set);
#ifndef RINGGATE_TLS_CERTIFICATE_FILES_H_
#define RINGGATE_TLS_CERTIFICATE_FILES_H_

#include <string>

namespace ringgate {

struct CertificateFiles {
  std::string cert_path;  // PEM certificate chain, the leaf first
  std::string key_path;   // PEM private key; refused when every user can read it
};

}  // namespace ringgate

#endif  // RINGGATE_TLS_CERTIFICATE_FILES_H_
