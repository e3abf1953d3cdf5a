// Server Name Indication: reading the name out of a ClientHello (whole, cut across records,
// malformed), the choice of a certificate by name, and sessions made from a set of certificates.
#include "ringgate/tls/server_name.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "ringgate/tls/tls_context.h"
#include "ringgate/tls/tls_session.h"
#include "sni_test_certificates.h"
#include "test_certificates.h"

namespace ringgate {
namespace {

std::string Record(const std::string& payload, char type = '\x16') {
  return std::string{type, '\x03', '\x01', static_cast<char>(payload.size() >> 8),
                     static_cast<char>(payload.size() & 0xff)} +
         payload;
}

std::string U16(size_t n) { return {static_cast<char>(n >> 8), static_cast<char>(n & 0xff)}; }

// An extension: type, 16-bit length, body.
std::string Extension(uint16_t type, const std::string& body) {
  return U16(type) + U16(body.size()) + body;
}

std::string ServerNameExtension(const std::string& host) {
  const std::string entry = std::string(1, '\0') + U16(host.size()) + host;
  return Extension(0, U16(entry.size()) + entry);
}

// A ClientHello message (type, 24-bit length, body) with these extensions; `padding` bytes of a
// padding extension (21) before them make it as long as wanted.
std::string ClientHello(const std::string& extensions, size_t padding = 0) {
  std::string body = std::string{'\x03', '\x03'} + std::string(32, 'r');  // version, random
  body += std::string(1, '\x20') + std::string(32, 's');                  // legacy_session_id
  body += U16(2) + std::string{'\x13', '\x01'};                           // cipher_suites
  body += std::string{'\x01', '\x00'};                                    // compression: null
  std::string all = padding > 0 ? Extension(21, std::string(padding, '\0')) : std::string();
  all += extensions;
  body += U16(all.size()) + all;
  return std::string{'\x01', static_cast<char>(body.size() >> 16),
                     static_cast<char>((body.size() >> 8) & 0xff),
                     static_cast<char>(body.size() & 0xff)} +
         body;
}

// `message` cut into handshake records of `size` bytes.
std::string InRecords(const std::string& message, size_t size) {
  std::string out;
  for (size_t at = 0; at < message.size(); at += size) out += Record(message.substr(at, size));
  return out;
}

constexpr size_t kMax = 64 * 1024;

TEST(ClientHelloServerNameTest, ReadsTheNameFromOneRecordLowerCased) {
  const std::string hello =
      ClientHello(Extension(10, U16(2) + U16(29)) + ServerNameExtension("A.Example.TEST"));
  ClientHelloServerName sni = FindClientHelloServerName(Record(hello), kMax);
  EXPECT_EQ(sni.result, ClientHelloServerName::kFound);
  EXPECT_EQ(sni.name, "a.example.test");
}

TEST(ClientHelloServerNameTest, ReadsTheNameFromAClientHelloCutAcrossRecords) {
  // The name sits past the first 16 KiB, and the message is cut at every size down to a byte.
  const std::string hello = ClientHello(ServerNameExtension("b.test"), 20000);
  for (size_t size : {size_t{1}, size_t{3}, size_t{100}, size_t{16384}}) {
    const std::string records = InRecords(hello, size);
    // Every prefix but the whole is incomplete, never misread.
    for (size_t cut :
         {size_t{0}, size_t{4}, size_t{5}, size_t{9}, records.size() / 2, records.size() - 1}) {
      EXPECT_EQ(FindClientHelloServerName(std::string_view(records).substr(0, cut), kMax).result,
                ClientHelloServerName::kNeedMore)
          << "records of " << size << ", cut at " << cut;
    }
    ClientHelloServerName sni = FindClientHelloServerName(records, kMax);
    EXPECT_EQ(sni.result, ClientHelloServerName::kFound) << "records of " << size;
    EXPECT_EQ(sni.name, "b.test");
  }
}

TEST(ClientHelloServerNameTest, NoExtensionOrNoServerNameIsAbsent) {
  EXPECT_EQ(
      FindClientHelloServerName(Record(ClientHello(Extension(10, U16(2) + U16(29)))), kMax).result,
      ClientHelloServerName::kAbsent);
  std::string no_extensions = ClientHello("");
  no_extensions.resize(no_extensions.size() - 2);  // drop the empty extensions' length too
  no_extensions[3] = static_cast<char>(no_extensions[3] - 2);
  EXPECT_EQ(FindClientHelloServerName(Record(no_extensions), kMax).result,
            ClientHelloServerName::kAbsent);
}

TEST(ClientHelloServerNameTest, MalformedInputIsRefusedWithoutReadingPastIt) {
  auto result = [](const std::string& records) {
    return FindClientHelloServerName(records, kMax).result;
  };
  const std::string good = ClientHello(ServerNameExtension("a.test"));
  // Every truncation of the message, re-announced as whole in its header, is malformed.
  for (size_t n = 4; n < good.size(); ++n) {
    std::string cut = good.substr(0, n);
    const size_t body = n - 4;
    cut[1] = static_cast<char>(body >> 16);
    cut[2] = static_cast<char>((body >> 8) & 0xff);
    cut[3] = static_cast<char>(body & 0xff);
    EXPECT_NE(result(Record(cut)), ClientHelloServerName::kFound) << n;
  }
  // Not a handshake record, not a ClientHello, a message over the cap.
  EXPECT_EQ(result(Record(good, '\x17')), ClientHelloServerName::kMalformed);
  std::string server_hello = good;
  server_hello[0] = '\x02';
  EXPECT_EQ(result(Record(server_hello)), ClientHelloServerName::kMalformed);
  EXPECT_EQ(FindClientHelloServerName(Record(good), 16).result, ClientHelloServerName::kMalformed);
  // A name list longer than its extension, a name longer than its list.
  std::string long_list = good;
  long_list[long_list.size() - 10] = '\x7f';
  EXPECT_EQ(result(Record(long_list)), ClientHelloServerName::kMalformed);
  // Names that are no host names: empty, too long, with bytes a host name cannot hold.
  EXPECT_EQ(result(Record(ClientHello(ServerNameExtension("")))),
            ClientHelloServerName::kMalformed);
  EXPECT_EQ(result(Record(ClientHello(ServerNameExtension(std::string(300, 'a'))))),
            ClientHelloServerName::kMalformed);
  ClientHelloServerName odd =
      FindClientHelloServerName(Record(ClientHello(ServerNameExtension("a\nb\"c"))), kMax);
  EXPECT_EQ(odd.result, ClientHelloServerName::kMalformed);
  EXPECT_EQ(odd.name, "a?b?c") << "kept for the logs, sanitised";
}

TEST(ClientHelloServerNameTest, SanitisedNamesAreBounded) {
  EXPECT_EQ(SanitizedServerName("x.test"), "x.test");
  EXPECT_EQ(SanitizedServerName(std::string(200, 'a')).size(), 64u);
  EXPECT_EQ(SanitizedServerName("a b\x01"), "a?b?");
}

TEST(ServerNameTableTest, ExactThenOneLabelWildcardCaseInsensitiveElseTheFirst) {
  ServerNameTable table({{"default.test"}, {"a.test"}, {"b.test", "*.Wild.test"}});
  EXPECT_EQ(table.Find("a.test"), 1u);
  EXPECT_EQ(table.Find("A.TEST"), 1u);
  EXPECT_EQ(table.Find("b.test"), 2u);
  EXPECT_EQ(table.Find("x.wild.test"), 2u);
  EXPECT_EQ(table.Find("X.WILD.Test"), 2u);
  EXPECT_EQ(table.Find("wild.test"), 0u) << "a wildcard needs a label of its own";
  EXPECT_EQ(table.Find(".wild.test"), 0u) << "an empty label is no label";
  EXPECT_EQ(table.Find("a.b.wild.test"), 0u) << "a wildcard covers one label only";
  EXPECT_EQ(table.Find("unknown.test"), 0u);
  EXPECT_EQ(table.Find(""), 0u) << "no SNI: the default";
  EXPECT_EQ(table.Find("default.test"), 0u);
}

TEST(ServerNameTableTest, AnExactNameBeatsAWildcardAndTheEarlierCertificateKeepsAName) {
  ServerNameTable table({{"d.test"}, {"*.x.test", "dup.test"}, {"a.x.test", "dup.test"}});
  EXPECT_EQ(table.Find("a.x.test"), 2u) << "exact first, whatever the order";
  EXPECT_EQ(table.Find("b.x.test"), 1u);
  EXPECT_EQ(table.Find("dup.test"), 1u);
}

// Sessions made from a set of two certificates: a.test (the default) and b.test, *.Wild.test.
class CertificateSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* pem : {testing::kSniCertificateAPem, testing::kSniKeyAPem,
                            testing::kSniCertificateBPem, testing::kSniKeyBPem}) {
      files_.push_back(testing::WriteTempFile(pem));
      chmod(files_.back().c_str(), 0600);
    }
    auto set = TlsContext::CreateServer({{files_[0], files_[1]}, {files_[2], files_[3]}});
    ASSERT_TRUE(set.ok()) << set.status();
    server_ctx_ = std::make_unique<TlsContext>(*set);
    auto client = TlsContext::CreateClient();
    ASSERT_TRUE(client.ok()) << client.status();
    client_ctx_ = std::make_unique<TlsContext>(*client);
  }
  void TearDown() override {
    for (const std::string& f : files_) unlink(f.c_str());
  }

  // A handshake asking for `name` (empty: no SNI), the client's first flight cut into records
  // of `record_size` bytes (0: as written); returns the certificate the server chose.
  size_t Handshake(const std::string& name, size_t record_size = 0,
                   std::string* server_name = nullptr) {
    TlsSession server(*server_ctx_, true);
    TlsSession client(*client_ctx_, false);
    if (!name.empty()) {
      EXPECT_TRUE(client.RequestServerName(name));
    }
    for (int i = 0; i < 10 && !(server.handshake_done() && client.handshake_done()); ++i) {
      client.Handshake();
      std::string& to_server = client.pending_ciphertext();
      const bool plaintext =
          !to_server.empty() && to_server[0] == '\x16' && !client.handshake_done();
      if (record_size != 0 && plaintext) {
        // Record by record, as a slow client would send them: the server waits for the whole.
        for (size_t at = 0; at < to_server.size();) {
          const size_t length = (static_cast<uint8_t>(to_server[at + 3]) << 8) |
                                static_cast<uint8_t>(to_server[at + 4]);
          const std::string message = to_server.substr(at + 5, length);
          for (size_t m = 0; m < message.size(); m += record_size) {
            server.FeedCiphertext(Record(message.substr(m, record_size)));
            if (m + record_size < message.size()) {
              EXPECT_EQ(server.Handshake(), TlsStatus::kWantRead);
            }
          }
          at += 5 + length;
        }
      } else {
        server.FeedCiphertext(to_server);
      }
      to_server.clear();
      server.Handshake();
      client.FeedCiphertext(server.pending_ciphertext());
      server.pending_ciphertext().clear();
    }
    EXPECT_TRUE(server.handshake_done()) << "wolfSSL error " << server.last_error();
    EXPECT_TRUE(client.handshake_done()) << "wolfSSL error " << client.last_error();
    if (server_name != nullptr) *server_name = server.server_name();
    return server.certificate();
  }

  std::vector<std::string> files_;
  std::unique_ptr<TlsContext> server_ctx_, client_ctx_;
};

TEST_F(CertificateSetTest, EachNameGetsItsCertificateAndTheFirstIsTheDefault) {
  EXPECT_EQ(server_ctx_->certificate_count(), 2u);
  EXPECT_EQ(Handshake("a.test"), 0u);
  EXPECT_EQ(Handshake("b.test"), 1u);
  std::string seen;
  EXPECT_EQ(Handshake("X.wild.TEST", 0, &seen), 1u);
  EXPECT_EQ(seen, "x.wild.test");
  EXPECT_EQ(Handshake("a.b.wild.test"), 0u);
  EXPECT_EQ(Handshake("unknown.test", 0, &seen), 0u);
  EXPECT_EQ(seen, "unknown.test");
  EXPECT_EQ(Handshake("", 0, &seen), 0u);
  EXPECT_EQ(seen, "");
}

TEST_F(CertificateSetTest, AClientHelloInOneByteRecordsIsReadWholeBeforeTheChoice) {
  EXPECT_EQ(Handshake("b.test", 1), 1u);
  EXPECT_EQ(Handshake("x.wild.test", 7), 1u);
}

TEST_F(CertificateSetTest, CertificatesAfterTheFirstMustNameAHost) {
  const std::string plain_cert = testing::WriteTempFile(testing::kTestCertificatePem);
  const std::string plain_key = testing::WriteTempFile(testing::kTestKeyPem);
  chmod(plain_key.c_str(), 0600);
  // As the default it is fine; after the first it could never be chosen.
  EXPECT_TRUE(TlsContext::CreateServer({{plain_cert, plain_key}, {files_[0], files_[1]}}).ok());
  auto refused = TlsContext::CreateServer({{files_[0], files_[1]}, {plain_cert, plain_key}});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("certificate 2 of 2"), std::string_view::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("subjectAltName"), std::string_view::npos);
  unlink(plain_cert.c_str());
  unlink(plain_key.c_str());
}

TEST_F(CertificateSetTest, EveryBadPairIsNamedInOneMessage) {
  // A swapped key for the first pair, a missing certificate for the second.
  auto refused =
      TlsContext::CreateServer({{files_[0], files_[3]}, {"/nonexistent.pem", files_[3]}});
  ASSERT_FALSE(refused.ok());
  const std::string message(refused.status().message());
  EXPECT_NE(message.find("certificate 1 of 2 ('" + files_[0] + "', key '" + files_[3] + "')"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("does not match"), std::string::npos) << message;
  EXPECT_NE(message.find("certificate 2 of 2"), std::string::npos) << message;
  EXPECT_NE(message.find("/nonexistent.pem"), std::string::npos) << message;
}

TEST_F(CertificateSetTest, AWorldReadableKeyIsRefusedInAnyPair) {
  chmod(files_[3].c_str(), 0644);
  auto refused = TlsContext::CreateServer({{files_[0], files_[1]}, {files_[2], files_[3]}});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("every user"), std::string_view::npos)
      << refused.status();
}

}  // namespace
}  // namespace ringgate
