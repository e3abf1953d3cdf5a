#include "ringgate/tls_session.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "ringgate/tls_context.h"
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

TEST(TlsContextTest, BuiltWithAssemblyUnlessFallingBack) {
#ifdef RINGGATE_SYSTEM_WOLFSSL
  EXPECT_FALSE(TlsContext::UsesAssemblyBuild());
#else
  EXPECT_TRUE(TlsContext::UsesAssemblyBuild());
#endif
}

}  // namespace
}  // namespace ringgate
