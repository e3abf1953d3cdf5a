#include "ringgate/tls/tls_session.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ringgate/tls/tls_context.h"
#include "ringgate/tls/tls_group.h"
#include "test_certificates.h"

namespace ringgate {
namespace {

class TlsSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = testing::WriteTempFile(testing::kTestCertificatePem);
    key_ = testing::WriteTempFile(testing::kTestKeyPem);
    auto server = TlsContext::CreateServer(cert_, key_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ctx_ = std::make_unique<TlsContext>(*server);
    auto client = TlsContext::CreateClient();
    ASSERT_TRUE(client.ok()) << client.status();
    client_ctx_ = std::make_unique<TlsContext>(*client);
    server_ = std::make_unique<TlsSession>(*server_ctx_, true);
    client_ = std::make_unique<TlsSession>(*client_ctx_, false);
  }
  void TearDown() override {
    unlink(cert_.c_str());
    unlink(key_.c_str());
  }

  // Moves pending ciphertext both ways, as the sockets would.
  void Pump() {
    std::string& to_server = client_->pending_ciphertext();
    server_->FeedCiphertext(to_server);
    to_server.clear();
    std::string& to_client = server_->pending_ciphertext();
    client_->FeedCiphertext(to_client);
    to_client.clear();
  }

  void Handshake() {
    for (int i = 0; i < 10 && !(server_->handshake_done() && client_->handshake_done()); ++i) {
      client_->Handshake();
      Pump();
      server_->Handshake();
      Pump();
    }
    ASSERT_TRUE(server_->handshake_done());
    ASSERT_TRUE(client_->handshake_done());
  }

  std::string cert_, key_;
  std::unique_ptr<TlsContext> server_ctx_, client_ctx_;
  std::unique_ptr<TlsSession> server_, client_;
};

TEST_F(TlsSessionTest, HandshakeNegotiatesTls13WithAead) {
  Handshake();
  EXPECT_EQ(server_->version(), "TLSv1.3");
  EXPECT_NE(server_->cipher().find("GCM"), std::string_view::npos) << server_->cipher();
}

TEST_F(TlsSessionTest, WantsMoreInputBeforeTheClientSpeaks) {
  EXPECT_EQ(server_->Handshake(), TlsStatus::kWantRead);
  EXPECT_TRUE(server_->pending_ciphertext().empty());
}

TEST_F(TlsSessionTest, RecordsBothWaysIncludingMultiRecordWrites) {
  Handshake();
  ASSERT_EQ(client_->WritePlaintext("GET / HTTP/1.1\r\n\r\n"), TlsStatus::kOk);
  Pump();
  std::string got;
  EXPECT_EQ(server_->ReadPlaintext(got), TlsStatus::kOk);
  EXPECT_EQ(got, "GET / HTTP/1.1\r\n\r\n");

  std::string big(100000, 'z');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(server_->WritePlaintext(big), TlsStatus::kOk);
  EXPECT_GT(server_->pending_ciphertext().size(), big.size());  // several records of overhead
  Pump();
  std::string received;
  EXPECT_EQ(client_->ReadPlaintext(received), TlsStatus::kOk);
  EXPECT_EQ(received, big);
}

// An idle connection should not keep a seeded DRBG it will never draw from again; the tickets
// it sends are out before the handshake completes, and records afterwards need none.
TEST_F(TlsSessionTest, ServerGivesItsRandomGeneratorBackOnceTheHandshakeIsDone) {
  client_->Handshake();
  Pump();
  server_->Handshake();  // reads the ClientHello: the wolfSSL object exists from here on
  EXPECT_TRUE(server_->HoldsRandomGenerator());
  Pump();
  Handshake();
  EXPECT_FALSE(server_->HoldsRandomGenerator());
  for (int round = 0; round < 3; ++round) {
    ASSERT_EQ(client_->WritePlaintext("request"), TlsStatus::kOk);
    Pump();
    std::string got;
    EXPECT_EQ(server_->ReadPlaintext(got), TlsStatus::kOk);
    EXPECT_EQ(got, "request");
    ASSERT_EQ(server_->WritePlaintext(std::string(40000, 'r')), TlsStatus::kOk);
    Pump();
    std::string answer;
    EXPECT_EQ(client_->ReadPlaintext(answer), TlsStatus::kOk);
    EXPECT_EQ(answer, std::string(40000, 'r'));
  }
  ASSERT_EQ(server_->QueueCloseNotify(), TlsStatus::kOk);
  Pump();
  std::string rest;
  EXPECT_EQ(client_->ReadPlaintext(rest), TlsStatus::kPeerCloseNotify);
}

TEST_F(TlsSessionTest, ClientCloseNotifyIsSeenAndWeMayStillAnswer) {
  Handshake();
  client_->WritePlaintext("last request");
  ASSERT_EQ(client_->QueueCloseNotify(), TlsStatus::kOk);
  Pump();
  std::string got;
  EXPECT_EQ(server_->ReadPlaintext(got), TlsStatus::kPeerCloseNotify);
  EXPECT_EQ(got, "last request") << "data before the alert must not be lost";
  // TLS 1.3 (RFC 8446 6.1): close_notify closes only the peer's direction.
  ASSERT_EQ(server_->WritePlaintext("late response"), TlsStatus::kOk);
  ASSERT_EQ(server_->QueueCloseNotify(), TlsStatus::kOk);
  Pump();
  std::string answer;
  EXPECT_EQ(client_->ReadPlaintext(answer), TlsStatus::kPeerCloseNotify);
  EXPECT_EQ(answer, "late response");
}

TEST_F(TlsSessionTest, ServerCloseNotifyReachesTheClient) {
  Handshake();
  ASSERT_EQ(server_->QueueCloseNotify(), TlsStatus::kOk);
  EXPECT_FALSE(server_->pending_ciphertext().empty());
  Pump();
  std::string got;
  EXPECT_EQ(client_->ReadPlaintext(got), TlsStatus::kPeerCloseNotify);
  // Still readable on our side after our alert: the closing phase is driven by reads.
  client_->WritePlaintext("in flight");
  Pump();
  std::string drained;
  server_->ReadPlaintext(drained);
  EXPECT_EQ(drained, "in flight");
}

TEST_F(TlsSessionTest, BareEofIsNotACloseNotify) {
  Handshake();
  server_->FeedEof();
  std::string got;
  EXPECT_EQ(server_->ReadPlaintext(got), TlsStatus::kPeerEof);
}

TEST_F(TlsSessionTest, EofMidHandshakeIsReportedAsEof) {
  client_->Handshake();
  Pump();
  server_->FeedEof();
  EXPECT_EQ(server_->Handshake(), TlsStatus::kPeerEof);
}

TEST_F(TlsSessionTest, PlainHttpOnTheTlsPortIsAnError) {
  server_->FeedCiphertext("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(server_->Handshake(), TlsStatus::kError);
}

TEST(TlsContextTest, ExplainsMissingAndMismatchedFiles) {
  auto missing = TlsContext::CreateServer("/nonexistent/cert.pem", "/nonexistent/key.pem");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.status().message()).find("/nonexistent/cert.pem"),
            std::string::npos);

  std::string cert = testing::WriteTempFile(testing::kTestCertificatePem);
  std::string other_key = testing::WriteTempFile(testing::kOtherKeyPem);
  auto mismatched = TlsContext::CreateServer(cert, other_key);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_NE(std::string(mismatched.status().message()).find("does not match"), std::string::npos)
      << mismatched.status();

  std::string not_pem = testing::WriteTempFile("this is not a certificate\n");
  auto garbage = TlsContext::CreateServer(not_pem, other_key);
  ASSERT_FALSE(garbage.ok());
  unlink(cert.c_str());
  unlink(other_key.c_str());
  unlink(not_pem.c_str());
}

// A SIGHUP reload makes a new context with the file's keys. The keys it replaced stay in memory
// only while a context or a session made from them lives (wolfSSL may still ask that session's
// context to encrypt a ticket), and are wiped then; they used to stay for the process's life.
TEST(TlsContextTest, TicketKeysLiveOnlyAsLongAsTheirContextOrASessionMadeFromIt) {
  const std::string cert = testing::WriteTempFile(testing::kTestCertificatePem);
  const std::string key = testing::WriteTempFile(testing::kTestKeyPem);
  const std::string tickets = testing::WriteTempFile(std::string(48, 'k'));  // mode 0600
  auto load = [&]() -> std::unique_ptr<TlsContext> {
    absl::StatusOr<TlsContext> made = TlsContext::CreateServer(cert, key, tickets);
    if (!made.ok()) {
      ADD_FAILURE() << made.status();
      return nullptr;
    }
    return std::make_unique<TlsContext>(*std::move(made));
  };
  const int before = TlsContext::LiveTicketKeySets();
  std::unique_ptr<TlsContext> first = load();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(TlsContext::LiveTicketKeySets(), before + 1);
  auto session = std::make_unique<TlsSession>(*first, true);
  std::unique_ptr<TlsContext> reloaded = load();
  ASSERT_NE(reloaded, nullptr);
  EXPECT_EQ(TlsContext::LiveTicketKeySets(), before + 2);
  first.reset();
  EXPECT_EQ(TlsContext::LiveTicketKeySets(), before + 2) << "a live session's keys were dropped";
  session.reset();
  EXPECT_EQ(TlsContext::LiveTicketKeySets(), before + 1) << "replaced keys outlived their sessions";
  reloaded.reset();
  EXPECT_EQ(TlsContext::LiveTicketKeySets(), before);
  unlink(cert.c_str());
  unlink(key.c_str());
  unlink(tickets.c_str());
}

// ---------------------------------------------------------------------------------------------
// Key exchange groups, the middlebox-compatibility ChangeCipherSpec and ClientHello framing,
// with a wolfSSL client in memory.

// The records in `bytes` as (content type, payload).
std::vector<std::pair<int, std::string>> Records(const std::string& bytes) {
  std::vector<std::pair<int, std::string>> out;
  for (size_t at = 0; at + 5 <= bytes.size();) {
    const size_t length = (static_cast<unsigned char>(bytes[at + 3]) << 8) |
                          static_cast<unsigned char>(bytes[at + 4]);
    out.emplace_back(static_cast<unsigned char>(bytes[at]), bytes.substr(at + 5, length));
    at += 5 + length;
  }
  return out;
}

// The handshake messages of `bytes` (plaintext handshake records) re-framed into records of at
// most `size` bytes each, as RFC 8446 5.1 allows.
std::string Reframe(const std::string& bytes, size_t size) {
  std::string messages;
  for (const auto& [type, payload] : Records(bytes)) messages += payload;
  std::string out;
  for (size_t at = 0; at < messages.size(); at += size) {
    const std::string piece = messages.substr(at, size);
    out += std::string{'\x16', '\x03', '\x01', static_cast<char>(piece.size() >> 8),
                       static_cast<char>(piece.size() & 0xff)} +
           piece;
  }
  return out;
}

class TlsHandshakeShapeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = testing::WriteTempFile(testing::kTestCertificatePem);
    key_ = testing::WriteTempFile(testing::kTestKeyPem);
  }
  void TearDown() override {
    unlink(cert_.c_str());
    unlink(key_.c_str());
  }
  // Server and client contexts and sessions with these groups (empty: each side's default).
  void Make(const std::vector<TlsGroup>& server_groups,
            const std::vector<TlsGroup>& client_groups) {
    auto server = server_groups.empty() ? TlsContext::CreateServer(cert_, key_)
                                        : TlsContext::CreateServer(cert_, key_, "", server_groups);
    ASSERT_TRUE(server.ok()) << server.status();
    auto client = TlsContext::CreateClient(client_groups);
    ASSERT_TRUE(client.ok()) << client.status();
    server_ctx_ = std::make_unique<TlsContext>(*server);
    client_ctx_ = std::make_unique<TlsContext>(*client);
    server_ = std::make_unique<TlsSession>(*server_ctx_, true);
    client_ = std::make_unique<TlsSession>(*client_ctx_, false);
  }
  // Runs the handshake to its end; `first_flight` gets the server's first answer, and each
  // client flight is re-framed into records of `record_size` bytes (0: as wolfSSL wrote it).
  void Handshake(std::string* first_flight = nullptr, size_t record_size = 0) {
    bool first = true;
    for (int i = 0; i < 10 && !(server_->handshake_done() && client_->handshake_done()); ++i) {
      client_->Handshake();
      std::string& to_server = client_->pending_ciphertext();
      // Only the unencrypted flights (the ClientHellos) can be re-framed.
      const bool plaintext =
          !to_server.empty() && to_server[0] == '\x16' && !client_->handshake_done();
      server_->FeedCiphertext(record_size != 0 && plaintext ? Reframe(to_server, record_size)
                                                            : to_server);
      to_server.clear();
      server_->Handshake();
      std::string& to_client = server_->pending_ciphertext();
      if (first && first_flight != nullptr) *first_flight = to_client;
      first = false;
      client_->FeedCiphertext(to_client);
      to_client.clear();
    }
    ASSERT_TRUE(server_->handshake_done()) << "wolfSSL error " << server_->last_error();
    ASSERT_TRUE(client_->handshake_done()) << "wolfSSL error " << client_->last_error();
  }

  std::string cert_, key_;
  std::unique_ptr<TlsContext> server_ctx_, client_ctx_;
  std::unique_ptr<TlsSession> server_, client_;
};

TEST_F(TlsHandshakeShapeTest, ClientOfferingOnlyX25519MLKEM768NegotiatesIt) {
  if (!TlsGroupAvailable(TlsGroup::kX25519MLKEM768)) GTEST_SKIP() << "fallback wolfSSL: no ML-KEM";
  Make({}, {TlsGroup::kX25519MLKEM768});
  Handshake();
  EXPECT_EQ(server_->version(), "TLSv1.3");
  EXPECT_EQ(server_->group(), TlsGroup::kX25519MLKEM768);
  EXPECT_EQ(client_->group(), TlsGroup::kX25519MLKEM768);
}

TEST_F(TlsHandshakeShapeTest, SecP256r1MLKEM768IsAcceptedWhenConfigured) {
  if (!TlsGroupAvailable(TlsGroup::kSecP256r1MLKEM768)) GTEST_SKIP() << "fallback wolfSSL";
  Make({TlsGroup::kSecP256r1MLKEM768, TlsGroup::kX25519}, {TlsGroup::kSecP256r1MLKEM768});
  Handshake();
  EXPECT_EQ(server_->group(), TlsGroup::kSecP256r1MLKEM768);
}

TEST_F(TlsHandshakeShapeTest, ClientOfferingOnlyX25519GetsX25519WithoutARetry) {
  Make({}, {TlsGroup::kX25519});
  std::string first_flight;
  Handshake(&first_flight);
  EXPECT_EQ(server_->group(), TlsGroup::kX25519);
  // A HelloRetryRequest would make the first flight a ServerHello alone (and a CCS).
  EXPECT_GE(Records(first_flight).size(), 4u);
}

TEST_F(TlsHandshakeShapeTest, ServerGroupsLimitWhatIsNegotiated) {
  // The client's default key share (X25519MLKEM768 or P-256) is not acceptable: the server asks
  // for P-384 with a HelloRetryRequest.
  Make({TlsGroup::kSecp384r1}, {TlsGroup::kX25519, TlsGroup::kSecp256r1, TlsGroup::kSecp384r1});
  Handshake();
  EXPECT_EQ(server_->group(), TlsGroup::kSecp384r1);
}

TEST_F(TlsHandshakeShapeTest, ChangeCipherSpecFollowsTheServerHelloForMiddleboxCompatibility) {
  // wolfSSL's client, built with middlebox compatibility, sends a 32-byte legacy_session_id.
  Make({}, {});
  std::string first_flight;
  Handshake(&first_flight);
  std::vector<std::pair<int, std::string>> records = Records(first_flight);
  ASSERT_GE(records.size(), 3u);
  EXPECT_EQ(records[0].first, 22);  // ServerHello
  EXPECT_EQ(records[1].first, 20) << "no ChangeCipherSpec after the ServerHello";
  EXPECT_EQ(records[1].second, std::string(1, '\x01'));
  EXPECT_EQ(records[2].first, 23);  // EncryptedExtensions, encrypted
}

TEST_F(TlsHandshakeShapeTest, ClientHelloInOneByteRecordsIsAccepted) {
  Make({}, {});
  Handshake(nullptr, 1);
  EXPECT_EQ(server_->version(), "TLSv1.3");
}

TEST(TlsGroupTest, ParsesNamesAliasesAndOrder) {
  absl::StatusOr<std::vector<TlsGroup>> groups = ParseTlsGroups("P-384:X25519:secp256r1");
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_EQ(*groups,
            (std::vector<TlsGroup>{TlsGroup::kSecp384r1, TlsGroup::kX25519, TlsGroup::kSecp256r1}));
  if (TlsGroupAvailable(TlsGroup::kX25519MLKEM768)) {
    EXPECT_EQ(DefaultTlsGroups(),
              (std::vector<TlsGroup>{TlsGroup::kX25519MLKEM768, TlsGroup::kX25519,
                                     TlsGroup::kSecp256r1, TlsGroup::kSecp384r1}));
    EXPECT_TRUE(ParseTlsGroups("x25519mlkem768:SecP256r1MLKEM768").ok());
  } else {
    EXPECT_EQ(DefaultTlsGroups(), (std::vector<TlsGroup>{TlsGroup::kX25519, TlsGroup::kSecp256r1,
                                                         TlsGroup::kSecp384r1}));
    EXPECT_FALSE(ParseTlsGroups("X25519MLKEM768").ok());
  }
}

TEST(TlsGroupTest, RefusesUnknownRepeatedAndEmptyEntries) {
  for (const char* bad : {"", "x25519:", "ffdhe2048", "x25519:X25519", "P-521", "x448"}) {
    absl::StatusOr<std::vector<TlsGroup>> groups = ParseTlsGroups(bad);
    EXPECT_FALSE(groups.ok()) << bad;
    EXPECT_NE(std::string(groups.status().message()).find("--tls-groups"), std::string::npos)
        << groups.status();
  }
  EXPECT_NE(std::string(ParseTlsGroups("ffdhe2048").status().message()).find("'ffdhe2048'"),
            std::string::npos);
}

TEST(TlsContextTest, BuiltWithAssemblyUnlessFallingBack) {
#ifdef RINGGATE_SYSTEM_WOLFSSL
  EXPECT_FALSE(TlsContext::UsesAssemblyBuild());
#else
  EXPECT_TRUE(TlsContext::UsesAssemblyBuild());
#endif
}

}  // namespace
}  // namespace ringgate
