// tls_test_peer.h
// TLS for unit tests without sockets: the test certificate written to temporary files, a server
// context made from them, a client context, and the loop that moves ciphertext between two
// in-memory sessions until both handshakes are done.
//
//   TestTlsContexts tls;                              // ASSERT_TRUE(tls.ok()) << tls.error();
//   TlsSession server(tls.server(), true), client(tls.client(), false);
//   ASSERT_TRUE(PumpHandshake(client, server));
#ifndef RINGGATE_TESTS_UNIT_SUPPORT_TLS_TEST_PEER_H_
#define RINGGATE_TESTS_UNIT_SUPPORT_TLS_TEST_PEER_H_

#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "ringgate/tls/tls_context.h"
#include "ringgate/tls/tls_group.h"
#include "ringgate/tls/tls_session.h"
#include "unit/tls/test_certificates.h"

namespace ringgate::testing {

class TestTlsContexts {
 public:
  explicit TestTlsContexts(const std::vector<TlsGroup>& server_groups = DefaultTlsGroups(),
                           const std::vector<TlsGroup>& client_groups = {}) {
    cert_ = WriteTempFile(kTestCertificatePem);
    key_ = WriteTempFile(kTestKeyPem);
    auto server = TlsContext::CreateServer(cert_, key_, "", server_groups);
    if (!server.ok()) {
      error_ = server.status().ToString();
      return;
    }
    server_ = std::make_unique<TlsContext>(*server);
    auto client = TlsContext::CreateClient(client_groups);
    if (!client.ok()) {
      error_ = client.status().ToString();
      return;
    }
    client_ = std::make_unique<TlsContext>(*client);
  }
  ~TestTlsContexts() {
    if (!cert_.empty()) unlink(cert_.c_str());
    if (!key_.empty()) unlink(key_.c_str());
  }
  TestTlsContexts(const TestTlsContexts&) = delete;
  TestTlsContexts& operator=(const TestTlsContexts&) = delete;

  bool ok() const { return server_ != nullptr && client_ != nullptr; }
  const std::string& error() const { return error_; }
  const TlsContext& server() const { return *server_; }
  const TlsContext& client() const { return *client_; }

 private:
  std::string cert_, key_, error_;
  std::unique_ptr<TlsContext> server_, client_;
};

// Moves the pending ciphertext of `from` into `to`, as a socket would.
inline void MoveCiphertext(TlsSession& from, TlsSession& to) {
  std::string& bytes = from.pending_ciphertext();
  to.FeedCiphertext(bytes);
  bytes.clear();
}

// Runs both handshakes to completion (a few round trips at most). False if they did not finish.
inline bool PumpHandshake(TlsSession& client, TlsSession& server) {
  for (int i = 0; i < 10 && !(server.handshake_done() && client.handshake_done()); ++i) {
    client.Handshake();
    MoveCiphertext(client, server);
    server.Handshake();
    MoveCiphertext(server, client);
  }
  return server.handshake_done() && client.handshake_done();
}

}  // namespace ringgate::testing

#endif  // RINGGATE_TESTS_UNIT_SUPPORT_TLS_TEST_PEER_H_
