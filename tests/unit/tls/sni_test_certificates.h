// sni_test_certificates.h
// Two self-signed ECDSA P-256 certificates with subjectAltNames, for tests of the choice of a
// certificate by SNI (valid for 100 years). Generated with:
//   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500
//     -subj /CN=a-cert -addext subjectAltName=DNS:a.test
//   ... -subj /CN=b-cert -addext subjectAltName=DNS:b.test,DNS:*.Wild.test
// (the wildcard's capitals on purpose: names match case-insensitively from both sides).
//
//   std::string cert = testing::WriteTempFile(testing::kSniCertificateAPem);
#ifndef RINGGATE_TESTS_UNIT_TLS_SNI_TEST_CERTIFICATES_H_
#define RINGGATE_TESTS_UNIT_TLS_SNI_TEST_CERTIFICATES_H_

namespace ringgate::testing {

inline constexpr char kSniCertificateAPem[] = R"(-----BEGIN CERTIFICATE-----
MIIBjTCCATKgAwIBAgIUZzeMI25ZYCHoX/CsNLylKbAwAskwCgYIKoZIzj0EAwIw
ETEPMA0GA1UEAwwGYS1jZXJ0MCAXDTI2MTIwMzA2MzM1NVoYDzIxMjYxMTA5MDYz
MzU1WjARMQ8wDQYDVQQDDAZhLWNlcnQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AAT6+sz3E8sRlBP5ySeEPqhd/UjVKyEUnXH1/no/unxM5oif7Wj3f/dTz+VP21oc
BAJa4jRZA+ptWnDkBWvcUwV8o2YwZDAdBgNVHQ4EFgQUUaglQoaHLx6JL6zNFbiC
+l4GQsIwHwYDVR0jBBgwFoAUUaglQoaHLx6JL6zNFbiC+l4GQsIwDwYDVR0TAQH/
BAUwAwEB/zARBgNVHREECjAIggZhLnRlc3QwCgYIKoZIzj0EAwIDSQAwRgIhAPdv
c6vVXSIcvy9hZJwYYH/qRL2elKOxbHeSnEIgR853AiEAnY29aHn2RMmB2RvrK9zR
REPoyvmlWosycsAYC34yeyE=
-----END CERTIFICATE-----)";

inline constexpr char kSniKeyAPem[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJLWMp55uMLOQHXu8
fb0ODtutTKi0mu/bCMKweDAhbeqhRANCAAT6+sz3E8sRlBP5ySeEPqhd/UjVKyEU
nXH1/no/unxM5oif7Wj3f/dTz+VP21ocBAJa4jRZA+ptWnDkBWvcUwV8
-----END PRIVATE KEY-----)";

inline constexpr char kSniCertificateBPem[] = R"(-----BEGIN CERTIFICATE-----
MIIBmTCCAT+gAwIBAgIUPWgwT/+OCSTtgjbSt3KoBax0cUkwCgYIKoZIzj0EAwIw
ETEPMA0GA1UEAwwGYi1jZXJ0MCAXDTI2MTIwMzA2MzM1NVoYDzIxMjYxMTA5MDYz
MzU1WjARMQ8wDQYDVQQDDAZiLWNlcnQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AAQ5DRC42xNKiYmjLP7RUCrhqvWoxxQ792XG78Ht4PDE4LRXvn5bQRiZbPnwNKPS
IMX77GjZMV6/JwV8NGU48x2po3MwcTAdBgNVHQ4EFgQUKhHeE0nFwZydc/v1knyl
w37dKegwHwYDVR0jBBgwFoAUKhHeE0nFwZydc/v1knylw37dKegwDwYDVR0TAQH/
BAUwAwEB/zAeBgNVHREEFzAVggZiLnRlc3SCCyouV2lsZC50ZXN0MAoGCCqGSM49
BAMCA0gAMEUCIQCk1AvvsuwpQT7xl1aN5ighjQA9DroFohcyU7rYRl+Q2QIgSrtT
sqM9Bske2m4GxanesA2nby2O6mwK64Sx/9XxbUI=
-----END CERTIFICATE-----)";

inline constexpr char kSniKeyBPem[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgXWc2qo3nWzqxYxpo
lTIgnd/j5bGk3o/u1/xi63ZInhKhRANCAAQ5DRC42xNKiYmjLP7RUCrhqvWoxxQ7
92XG78Ht4PDE4LRXvn5bQRiZbPnwNKPSIMX77GjZMV6/JwV8NGU48x2p
-----END PRIVATE KEY-----)";

}  // namespace ringgate::testing

#endif  // RINGGATE_TESTS_UNIT_TLS_SNI_TEST_CERTIFICATES_H_
