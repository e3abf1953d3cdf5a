// test_certificates.h
// A self-signed ECDSA P-256 certificate and key for tests only (valid for 100 years), and a second
// key that does not match it. Generated with:
//   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500 -subj
//   /CN=ringgate-test
#ifndef RINGGATE_TESTS_UNIT_TEST_CERTIFICATES_H_
#define RINGGATE_TESTS_UNIT_TEST_CERTIFICATES_H_

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>

namespace ringgate::testing {

// Writes `contents` to a new file under /tmp; returns its path, or "" if that failed. The
// caller removes the file.
inline std::string WriteTempFile(std::string_view contents) {
  char path[] = "/tmp/ringgate-test-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return "";
  const bool written =
      write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size());
  close(fd);
  if (!written) {
    unlink(path);
    return "";
  }
  return path;
}

inline constexpr char kTestCertificatePem[] = R"(-----BEGIN CERTIFICATE-----
MIIBiDCCAS2gAwIBAgIUUUfXfDdWpF9NIyM80pQi+xcJ9+0wCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNcmluZ2dhdGUtdGVzdDAgFw0yNjExMjEwNjAzMDBaGA8yMTI2
MTAyODA2MDMwMFowGDEWMBQGA1UEAwwNcmluZ2dhdGUtdGVzdDBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABBszJ9bZBkHpUhw7icWuBtUYfwiqrE7mTGTdsFMyJRn4
LFgtx7pF15iQ/zhbP5B/0XAxHQ622eEZNbw5EsrUONWjUzBRMB0GA1UdDgQWBBTu
Fb8S6TarSrM1absgvwnI3DL9GzAfBgNVHSMEGDAWgBTuFb8S6TarSrM1absgvwnI
3DL9GzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCPUspJzleO
Aadx+Uz1HQB7gMRWCzt0TVGfVns0Uuf5NwIhAL/uKOEt7ghRtik4JbqoU2di2gUS
f/KXx5YdWSNS1tDM
-----END CERTIFICATE-----)";

inline constexpr char kTestKeyPem[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgXDnrewopSJkS3zmb
N7U64XvYs3P3FnEMcks8zCqioZKhRANCAAQbMyfW2QZB6VIcO4nFrgbVGH8IqqxO
5kxk3bBTMiUZ+CxYLce6RdeYkP84Wz+Qf9FwMR0OttnhGTW8ORLK1DjV
-----END PRIVATE KEY-----)";

inline constexpr char kOtherKeyPem[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgcUJ2TbGwkrtDKB5+
Rbm5G6trnLKLiB/RiKSFSlBiTTuhRANCAATd39fTpHez475IPdDWHn4+J3K8Kdch
E+vxQ92O+7ChCUaiB+UUnGCAgBH9vLxejhN7YC35DGICsctRd32ahP3J
-----END PRIVATE KEY-----)";

}  // namespace ringgate::testing

#endif  // RINGGATE_TESTS_UNIT_TEST_CERTIFICATES_H_
