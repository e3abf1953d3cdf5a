// The HTTP rules of docs/http.md, one test per attack: a real TLS client (tls_client.py
// exchange) sends exact bytes through the real ringgate to tests/integration/recording_backend.py,
// which frames requests itself and records every byte it receives. Each test asserts what the
// client got and exactly what reached the backend.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace ringgate::testing {
namespace {

// The head of the HTTP message at the start of `bytes`, through its empty line ("" if none).
std::string HeadOf(const std::string& bytes) {
  const size_t end = bytes.find("\r\n\r\n");
  return end == std::string::npos ? "" : bytes.substr(0, end + 4);
}

// The status code of the response at the start of `bytes`, or -1.
int StatusOf(const std::string& bytes) {
  if (bytes.rfind("HTTP/1.", 0) != 0 || bytes.size() < 12) return -1;
  return std::atoi(bytes.substr(9, 3).c_str());
}

// Every value of the header field `name` (any case) in `head`, in order.
std::vector<std::string> HeaderValues(const std::string& head, std::string name) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  };
  name = lower(name);
  std::vector<std::string> values;
  size_t at = head.find("\r\n");
  while (at != std::string::npos && at + 2 < head.size()) {
    const size_t end = head.find("\r\n", at + 2);
    const std::string line = head.substr(at + 2, end - at - 2);
    const size_t colon = line.find(':');
    if (colon != std::string::npos && lower(line.substr(0, colon)) == name) {
      const size_t first = line.find_first_not_of(" \t", colon + 1);
      const size_t last = line.find_last_not_of(" \t");
      values.push_back(first == std::string::npos ? "" : line.substr(first, last - first + 1));
    }
    at = end;
  }
  return values;
}

using Values = std::vector<std::string>;

// Bytes with CR and LF visible, for failure messages.
std::string Printable(const std::string& bytes) {
  std::string out;
  for (char c : bytes) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Describe(const std::vector<RecordedConnection>& connections) {
  std::string out = std::to_string(connections.size()) + " backend connection(s)\n";
  for (const RecordedConnection& c : connections) {
    out += "connection " + std::to_string(c.id) + (c.closed ? " (closed)" : " (open)") + ", " +
           std::to_string(c.requests.size()) + " request(s)" +
           (c.error.empty() ? "" : ", refused: " + c.error) + ", received:\n" +
           Printable(c.received) + "\n";
  }
  return out;
}

std::vector<RecordedRequest> AllRequests(const std::vector<RecordedConnection>& connections) {
  std::vector<RecordedRequest> all;
  for (const RecordedConnection& c : connections) {
    all.insert(all.end(), c.requests.begin(), c.requests.end());
  }
  return all;
}

// A request for the recording backend to answer with exactly `response`.
std::string Respond(const std::string& response) { return "/respond/" + ToHex(response); }

class HttpSemantics : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    backend_ = new RecordingBackend();
    ASSERT_TRUE(backend_->Start()) << "recording backend did not start";
  }
  static void TearDownTestSuite() {
    delete backend_;
    backend_ = nullptr;
  }
  void SetUp() override { backend_->Reset(); }

  // A fresh ringgate for this test alone, so that its backend pool holds only what the test made.
  // One worker: a client's keep-alive requests and the pooled backend connections share it.
  bool StartProxy(const std::vector<std::string>& flags = {}) {
    std::vector<std::string> all = {"--threads=1", "--upstream-response-timeout=5s",
                                    "--close-notify-timeout=1s", "--log-level=debug"};
    all.insert(all.end(), flags.begin(), flags.end());
    proxy_ = std::make_unique<ProxyUnderTest>(all, backend_->port());
    if (proxy_->Start()) return true;
    ADD_FAILURE() << "ringgate did not start; its log:\n" << proxy_->Log();
    return false;
  }

  TlsExchange Send(const std::string& request, int responses = 1) {
    return RunTlsExchange(proxy_->port(), {{request, responses}});
  }

  // What the backend received for a request that was forwarded: all of it, and the one request.
  struct Forwarded {
    std::vector<RecordedConnection> seen;
    RecordedRequest request;
  };
  // Sends `request`, expects a 200, and takes what the backend received, which must be exactly one
  // request. Use with ASSERT_NO_FATAL_FAILURE.
  void SendExpectingOneForwardedRequest(const std::string& request, Forwarded& forwarded) {
    const TlsExchange x = Send(request);
    EXPECT_EQ(StatusOf(x.All()), 200) << Printable(x.All());
    forwarded.seen = backend_->SettledConnections();
    const std::vector<RecordedRequest> requests = AllRequests(forwarded.seen);
    ASSERT_EQ(requests.size(), 1u) << Describe(forwarded.seen);
    forwarded.request = requests[0];
  }

  // The client gets `status` and not one byte reaches the backend.
  void ExpectRefusedBeforeForwarding(const std::string& request, int status) {
    const TlsExchange x = Send(request);
    EXPECT_EQ(StatusOf(x.All()), status) << Printable(x.All()) << x.end;
    const std::vector<RecordedConnection> seen = backend_->SettledConnections();
    EXPECT_TRUE(seen.empty()) << "forwarded although refused: " << Describe(seen);
  }

  // The backend's connections once what arrives has settled and all of them are closed, or as
  // they are after `timeout_ms` more.
  std::vector<RecordedConnection> BackendConnectionsOnceClosed(int timeout_ms = 3000) {
    std::vector<RecordedConnection> seen = backend_->SettledConnections();
    auto all_closed = [&] {
      return std::all_of(seen.begin(), seen.end(), [](const auto& c) { return c.closed; });
    };
    PollUntil(
        [&] {
          if (all_closed()) return true;
          seen = backend_->Connections();
          return all_closed();
        },
        std::chrono::milliseconds(timeout_ms));
    return seen;
  }

  // A request whose method must not be replayed, on a pooled backend connection that the
  // backend closes without answering: 502, and the backend saw it once.
  void ExpectNotReplayed(const std::string& method) {
    const TlsExchange x = RunTlsExchange(
        proxy_->port(), {{"GET /warm HTTP/1.1\r\nHost: a\r\n\r\n", 1},
                         {method + " /drop-on-reuse HTTP/1.1\r\nHost: a\r\n\r\n", 2}});
    ASSERT_EQ(x.received.size(), 2u) << x.end;
    EXPECT_EQ(StatusOf(x.received[0]), 200) << Printable(x.received[0]);
    EXPECT_EQ(StatusOf(x.received[1]), 502) << Printable(x.received[1]);
    const std::vector<RecordedConnection> seen = backend_->SettledConnections();
    int times = 0;
    for (const RecordedRequest& r : AllRequests(seen)) {
      times += r.head.rfind(method + " /drop-on-reuse ", 0) == 0;
    }
    EXPECT_EQ(times, 1) << method << " replayed: " << Describe(seen);
    ASSERT_FALSE(seen.empty());
    ASSERT_EQ(seen[0].requests.size(), 2u)
        << "not sent on the pooled connection: " << Describe(seen);
  }

  static RecordingBackend* backend_;
  std::unique_ptr<ProxyUnderTest> proxy_;
};
RecordingBackend* HttpSemantics::backend_ = nullptr;

// --- Framing is the proxy's ------------------------------------------------------------------

// The 44-byte body is itself a request: a backend that lost the POST's framing would run it.
const std::string kSmuggledRequest = "GET /admin HTTP/1.1\r\nHost: a\r\nX-A: 12345\r\n\r\n";

TEST_F(HttpSemantics, ConnectionNamingContentLengthGets400AndNothingIsForwarded) {
  ASSERT_TRUE(StartProxy());
  ASSERT_EQ(kSmuggledRequest.size(), 44u);
  ExpectRefusedBeforeForwarding(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nConnection: content-length\r\n\r\n" +
          kSmuggledRequest,
      400);
}

TEST_F(HttpSemantics, ConnectionNamingTransferEncodingGets400AndNothingIsForwarded) {
  ASSERT_TRUE(StartProxy());
  ExpectRefusedBeforeForwarding(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
      "Connection: transfer-encoding\r\n\r\n2c\r\n" +
          kSmuggledRequest + "\r\n0\r\n\r\n",
      400);
}

TEST_F(HttpSemantics, ConnectionNamingHostGets400AndNothingIsForwarded) {
  ASSERT_TRUE(StartProxy());
  ExpectRefusedBeforeForwarding("GET /x HTTP/1.1\r\nHost: a\r\nConnection: host\r\n\r\n", 400);
}

TEST_F(HttpSemantics, ContentLengthBodyIsForwardedWithTheProxysOwnFraming) {
  ASSERT_TRUE(StartProxy());
  Forwarded forwarded;
  ASSERT_NO_FATAL_FAILURE(SendExpectingOneForwardedRequest(
      "POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nConnection: keep-alive, X-Hop\r\n"
      "X-Hop: secret\r\n\r\nhello world",
      forwarded));
  const RecordedRequest& r = forwarded.request;
  EXPECT_EQ(r.head.rfind("POST /cl HTTP/1.1\r\n", 0), 0u) << Printable(r.head);
  EXPECT_EQ(r.framing, "content-length");
  EXPECT_EQ(HeaderValues(r.head, "Content-Length"), Values{"11"}) << Printable(r.head);
  EXPECT_EQ(HeaderValues(r.head, "Transfer-Encoding"), Values{}) << Printable(r.head);
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(forwarded.seen[0].received, r.head + r.body) << "bytes beyond the request";
  EXPECT_EQ(CountOccurrences(r.head, "X-Hop") + CountOccurrences(r.head, "x-hop"), 0)
      << "the client's Connection header or what it names was forwarded:\n"
      << Printable(r.head);
}

TEST_F(HttpSemantics, ChunkedBodyIsRechunkedByTheProxy) {
  ASSERT_TRUE(StartProxy());
  Forwarded forwarded;
  ASSERT_NO_FATAL_FAILURE(SendExpectingOneForwardedRequest(
      "POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: X-Hop\r\n"
      "X-Hop: secret\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
      forwarded));
  const RecordedRequest& r = forwarded.request;
  EXPECT_EQ(r.head.rfind("POST /chunked HTTP/1.1\r\n", 0), 0u) << Printable(r.head);
  EXPECT_EQ(r.framing, "chunked");
  EXPECT_EQ(HeaderValues(r.head, "Transfer-Encoding"), Values{"chunked"}) << Printable(r.head);
  EXPECT_EQ(HeaderValues(r.head, "Content-Length"), Values{}) << Printable(r.head);
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(CountOccurrences(forwarded.seen[0].received, "ext=1"), 0)
      << "chunk extension forwarded";
  EXPECT_EQ(CountOccurrences(forwarded.seen[0].received, "X-Trailer"), 0) << "trailer forwarded";
  EXPECT_EQ(CountOccurrences(r.head, "X-Hop") + CountOccurrences(r.head, "x-hop"), 0)
      << Printable(r.head);
}

TEST_F(HttpSemantics, BackendResponseWhoseConnectionNamesContentLengthGets502) {
  ASSERT_TRUE(StartProxy());
  const TlsExchange x = Send("GET " +
                             Respond("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                     "Connection: content-length\r\n\r\nhello") +
                             " HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(StatusOf(x.All()), 502) << Printable(x.All());
}

// A head, body bytes and a broken chunk in one segment: the head never went out, so neither may
// the bytes behind it; the client sees the 502 and nothing of the backend's.
TEST_F(HttpSemantics, BodyBytesAheadOfABrokenChunkDoNotPrecedeThe502) {
  ASSERT_TRUE(StartProxy());
  const TlsExchange x = Send("GET " +
                             Respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     "5\r\nSMUGG\r\nZZ\r\n") +
                             " HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(StatusOf(x.All()), 502) << Printable(x.All());
  EXPECT_EQ(CountOccurrences(x.All(), "SMUGG"), 0) << Printable(x.All());
}

// --- Client address and forwarding headers ----------------------------------------------------

const std::string kSpoofingRequest =
    "GET /fwd HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n"
    "X-Real-IP: 6.6.6.6\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 80\r\n"
    "X-Forwarded-Proto: http\r\n\r\n";

TEST_F(HttpSemantics, ForwardingHeadersFromAnUntrustedClientAreReplaced) {
  ASSERT_TRUE(StartProxy());
  Forwarded forwarded;
  ASSERT_NO_FATAL_FAILURE(SendExpectingOneForwardedRequest(kSpoofingRequest, forwarded));
  const std::string& head = forwarded.request.head;
  EXPECT_EQ(HeaderValues(head, "X-Forwarded-For"), Values{"127.0.0.1"}) << Printable(head);
  EXPECT_EQ(HeaderValues(head, "X-Forwarded-Proto"), Values{"https"}) << Printable(head);
  for (const char* name : {"Forwarded", "X-Real-IP", "X-Forwarded-Host", "X-Forwarded-Port"}) {
    EXPECT_EQ(HeaderValues(head, name), Values{}) << name << " kept:\n" << Printable(head);
  }
  EXPECT_EQ(CountOccurrences(forwarded.seen[0].received, "6.6.6.6"), 0) << Printable(head);
  EXPECT_EQ(CountOccurrences(forwarded.seen[0].received, "evil.example"), 0) << Printable(head);
}

// Found in review: WSGI, PHP-FPM and Rack read X_Forwarded_For as X-Forwarded-For.
TEST_F(HttpSemantics, HeaderNamesWithUnderscoresAreNotForwarded) {
  ASSERT_TRUE(StartProxy());
  Forwarded forwarded;
  ASSERT_NO_FATAL_FAILURE(SendExpectingOneForwardedRequest(
      "GET /underscore HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 6.6.6.6\r\nX_Real_IP: 6.6.6.6\r\n"
      "X_Forwarded_Proto: http\r\n\r\n",
      forwarded));
  const std::string& received = forwarded.seen[0].received;
  EXPECT_EQ(CountOccurrences(received, "6.6.6.6"), 0) << Printable(forwarded.request.head);
  EXPECT_EQ(CountOccurrences(received, "_"), 0) << Printable(forwarded.request.head);
}

// Found in review: a backend that sends a body after a response that has none (here a HEAD's),
// in a later segment, must not have it read as the next client's response.
TEST_F(HttpSemantics, ABodySentAfterABodilessResponseNeverReachesTheNextClient) {
  ASSERT_TRUE(StartProxy());
  const std::string forged = "HTTP/1.1 200 OK\r\nX-Forged: yes\r\nContent-Length: 6\r\n\r\nPWNED!";
  const std::string head_target =
      Respond("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(forged.size()) + "\r\n\r\n") +
      "?later=" + ToHex(forged);
  // Pipelined: the GET goes out as soon as the HEAD is answered, before the late bytes come; on
  // the same backend connection it would be answered by them.
  const TlsExchange x = Send("HEAD " + head_target +
                                 " HTTP/1.1\r\nHost: a\r\n\r\n"
                                 "GET /victim HTTP/1.1\r\nHost: a\r\n\r\n",
                             2);
  EXPECT_EQ(StatusOf(x.All()), 200) << Printable(x.All());
  EXPECT_EQ(CountOccurrences(x.All(), "PWNED"), 0) << Printable(x.All());
  EXPECT_NE(x.All().find("GET /victim\n"), std::string::npos) << Printable(x.All());
}

TEST_F(HttpSemantics, ForwardingHeadersFromATrustedProxyAreKeptAndAppendedTo) {
  ASSERT_TRUE(StartProxy({"--trusted-proxies=127.0.0.0/8"}));
  Forwarded forwarded;
  ASSERT_NO_FATAL_FAILURE(SendExpectingOneForwardedRequest(kSpoofingRequest, forwarded));
  const std::string& head = forwarded.request.head;
  EXPECT_EQ(HeaderValues(head, "X-Forwarded-For"), Values{"6.6.6.6, 127.0.0.1"}) << Printable(head);
  EXPECT_EQ(HeaderValues(head, "X-Forwarded-Proto"), Values{"https"}) << Printable(head);
  EXPECT_EQ(HeaderValues(head, "Forwarded"), Values{"for=6.6.6.6"}) << Printable(head);
  EXPECT_EQ(HeaderValues(head, "X-Real-IP"), Values{"6.6.6.6"}) << Printable(head);
  EXPECT_EQ(HeaderValues(head, "X-Forwarded-Host"), Values{"evil.example"}) << Printable(head);
  EXPECT_EQ(HeaderValues(head, "X-Forwarded-Port"), Values{"80"}) << Printable(head);
}

// --- Responses without a body -----------------------------------------------------------------

// The backend's bodiless response carries Content-Length; the client's pipelined second request
// must be answered at once, not after --upstream-response-timeout (5 s here).
TEST_F(HttpSemantics, NoContentWithContentLengthEndsAtItsHead) {
  ASSERT_TRUE(StartProxy());
  const TlsExchange x =
      RunTlsExchange(proxy_->port(),
                     {{"GET " + Respond("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n") +
                           " HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n",
                       2}},
                     0.3, 8);
  ASSERT_EQ(x.received.size(), 1u) << x.end;
  const std::string& got = x.received[0];
  const std::string head = HeadOf(got);
  EXPECT_EQ(StatusOf(got), 204) << Printable(got);
  EXPECT_EQ(HeaderValues(head, "Content-Length"), Values{}) << Printable(head);
  EXPECT_EQ(HeaderValues(head, "Transfer-Encoding"), Values{}) << Printable(head);
  const std::string rest = got.substr(head.size());
  EXPECT_EQ(rest.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << "bytes after the 204:\n"
                                                      << Printable(rest);
  EXPECT_TRUE(rest.ends_with("\r\n\r\nGET /after\n")) << Printable(rest);
  EXPECT_LT(x.last_byte_ms[0], 2000) << "the next request waited for the 204's body";
}

TEST_F(HttpSemantics, NotModifiedWithContentLengthEndsAtItsHead) {
  ASSERT_TRUE(StartProxy());
  const TlsExchange x = RunTlsExchange(
      proxy_->port(),
      {{"GET " + Respond("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n") +
            " HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n",
        2}},
      0.3, 8);
  ASSERT_EQ(x.received.size(), 1u) << x.end;
  const std::string& got = x.received[0];
  const std::string head = HeadOf(got);
  EXPECT_EQ(StatusOf(got), 304) << Printable(got);
  EXPECT_EQ(HeaderValues(head, "Content-Length"), Values{"100"})
      << "a 304 keeps the representation's length:\n"
      << Printable(head);
  const std::string rest = got.substr(head.size());
  EXPECT_EQ(rest.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << "bytes after the 304:\n"
                                                      << Printable(rest);
  EXPECT_TRUE(rest.ends_with("\r\n\r\nGET /after\n")) << Printable(rest);
  EXPECT_LT(x.last_byte_ms[0], 2000) << "the next request waited for the 304's body";
}

// --- HTTP/1.0 clients ---------------------------------------------------------------------------

TEST_F(HttpSemantics, Http10ClientGetsACloseDelimitedBodyInsteadOfChunks) {
  ASSERT_TRUE(StartProxy());
  const std::string chunked_response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  const TlsExchange x = Send("GET " + Respond(chunked_response) + " HTTP/1.0\r\nHost: a\r\n\r\n");
  const std::string got = x.All();
  const std::string head = HeadOf(got);
  EXPECT_EQ(StatusOf(got), 200) << Printable(got);
  EXPECT_EQ(HeaderValues(head, "Transfer-Encoding"), Values{}) << Printable(head);
  EXPECT_EQ(HeaderValues(head, "Content-Length"), Values{}) << Printable(head);
  EXPECT_EQ(HeaderValues(head, "Connection"), Values{"close"}) << Printable(head);
  EXPECT_EQ(got.substr(head.size()), "hello world") << Printable(got);
  EXPECT_EQ(x.end, "closed") << "a close-delimited body must end with the connection";
}

TEST_F(HttpSemantics, Http10ClientNeverGets100Continue) {
  ASSERT_TRUE(StartProxy());
  const TlsExchange x = RunTlsExchange(
      proxy_->port(),
      {{"POST /expect HTTP/1.0\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", 0},
       {"hello", 1}},
      1.0, 8);
  ASSERT_GE(x.received.size(), 1u) << x.end;
  EXPECT_EQ(x.received[0], "") << "before the body:\n" << Printable(x.received[0]);
  const std::string got = x.All();
  EXPECT_EQ(CountOccurrences(got, " 100 "), 0) << Printable(got);
  EXPECT_EQ(StatusOf(HeadOf(got)), 200) << Printable(got);
  EXPECT_TRUE(got.ends_with("\r\n\r\nPOST /expect\n")) << Printable(got);
}

// --- Host and the request target --------------------------------------------------------------

TEST_F(HttpSemantics, Http11RequestWithoutHostGets400) {
  ASSERT_TRUE(StartProxy());
  ExpectRefusedBeforeForwarding("GET /nohost HTTP/1.1\r\nX-A: 1\r\n\r\n", 400);
}

TEST_F(HttpSemantics, TwoHostHeadersGet400) {
  ASSERT_TRUE(StartProxy());
  ExpectRefusedBeforeForwarding("GET /twohosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

TEST_F(HttpSemantics, HostWithASpaceGets400) {
  ASSERT_TRUE(StartProxy());
  ExpectRefusedBeforeForwarding("GET /badhost HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
}

TEST_F(HttpSemantics, HostWithUserinfoGets400) {
  ASSERT_TRUE(StartProxy());
  ExpectRefusedBeforeForwarding("GET /badhost HTTP/1.1\r\nHost: a@b\r\n\r\n", 400);
}

TEST_F(HttpSemantics, Http10RequestWithoutHostGetsTheBackendsAddress) {
  ASSERT_TRUE(StartProxy());
  Forwarded forwarded;
  ASSERT_NO_FATAL_FAILURE(SendExpectingOneForwardedRequest("GET /old HTTP/1.0\r\n\r\n", forwarded));
  EXPECT_EQ(HeaderValues(forwarded.request.head, "Host"),
            Values{"127.0.0.1:" + std::to_string(backend_->port())})
      << Printable(forwarded.request.head);
}

TEST_F(HttpSemantics, AbsoluteFormTargetIsReducedToOriginFormWithItsHost) {
  ASSERT_TRUE(StartProxy());
  Forwarded forwarded;
  ASSERT_NO_FATAL_FAILURE(SendExpectingOneForwardedRequest(
      "GET http://example.com/x?y HTTP/1.1\r\nHost: other\r\n\r\n", forwarded));
  const std::string& head = forwarded.request.head;
  EXPECT_EQ(head.rfind("GET /x?y HTTP/1.1\r\n", 0), 0u) << Printable(head);
  EXPECT_EQ(HeaderValues(head, "Host"), Values{"example.com"}) << Printable(head);
}

TEST_F(HttpSemantics, ConnectGets405AndNothingIsForwarded) {
  ASSERT_TRUE(StartProxy());
  const TlsExchange x = Send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  EXPECT_EQ(StatusOf(x.All()), 405) << Printable(x.All());
  EXPECT_EQ(HeaderValues(HeadOf(x.All()), "Allow").size(), 1u) << Printable(x.All());
  const std::vector<RecordedConnection> seen = backend_->SettledConnections();
  EXPECT_TRUE(seen.empty()) << Describe(seen);
}

TEST_F(HttpSemantics, TraceGets405AndNothingIsForwarded) {
  ASSERT_TRUE(StartProxy());
  const TlsExchange x = Send("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(StatusOf(x.All()), 405) << Printable(x.All());
  EXPECT_EQ(HeaderValues(HeadOf(x.All()), "Allow").size(), 1u) << Printable(x.All());
  const std::vector<RecordedConnection> seen = backend_->SettledConnections();
  EXPECT_TRUE(seen.empty()) << Describe(seen);
}

// --- Deadlines and limits on a request body ----------------------------------------------------

TEST_F(HttpSemantics, RequestBodyThatStopsArrivingGets408AndReleasesBothConnections) {
  ASSERT_TRUE(StartProxy({"--request-body-timeout=1s"}));
  const TlsExchange x = RunTlsExchange(
      proxy_->port(),
      {{"POST /slow-body HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789", 1}}, 0.3,
      6);
  EXPECT_EQ(StatusOf(x.All()), 408) << Printable(x.All()) << x.end;
  ASSERT_FALSE(x.last_byte_ms.empty());
  EXPECT_LT(x.last_byte_ms[0], 4000);
  EXPECT_EQ(x.end, "closed") << "the rest of the body can no longer be framed";
  EXPECT_EQ(proxy_->LiveConnectionsWithin(3000), "[]\n");
  const std::vector<RecordedConnection> seen = BackendConnectionsOnceClosed();
  for (const RecordedConnection& c : seen) {
    EXPECT_TRUE(c.closed) << "backend connection left open: " << Describe(seen);
    EXPECT_TRUE(c.requests.empty()) << Describe(seen);
  }
}

TEST_F(HttpSemantics, ContentLengthBeyondMaxRequestBodyGets413AndNothingIsForwarded) {
  ASSERT_TRUE(StartProxy({"--max-request-body=100"}));
  ExpectRefusedBeforeForwarding("POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n",
                                413);
}

TEST_F(HttpSemantics, ChunkedBodyGrowingPastMaxRequestBodyGets413) {
  ASSERT_TRUE(StartProxy({"--max-request-body=100"}));
  const TlsExchange x = Send(
      "POST /big-chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
      "\r\n\r\n40\r\n" +
      std::string(64, 'a') + "\r\n40\r\n" + std::string(64, 'b') + "\r\n");
  EXPECT_EQ(StatusOf(x.All()), 413) << Printable(x.All()) << x.end;
  const std::vector<RecordedConnection> seen = BackendConnectionsOnceClosed();
  for (const RecordedConnection& c : seen) {
    EXPECT_TRUE(c.closed) << "backend connection left open: " << Describe(seen);
    EXPECT_TRUE(c.requests.empty()) << Describe(seen);
  }
}

// --- Retries ------------------------------------------------------------------------------------

TEST_F(HttpSemantics, BodylessPostIsNotReplayedAfterThePooledConnectionCloses) {
  ASSERT_TRUE(StartProxy());
  ExpectNotReplayed("POST");
}

TEST_F(HttpSemantics, BodylessPatchIsNotReplayedAfterThePooledConnectionCloses) {
  ASSERT_TRUE(StartProxy());
  ExpectNotReplayed("PATCH");
}

TEST_F(HttpSemantics, DeleteIsNotReplayedAfterThePooledConnectionCloses) {
  ASSERT_TRUE(StartProxy());
  ExpectNotReplayed("DELETE");
}

TEST_F(HttpSemantics, GetIsReplayedOnAFreshConnectionAfterThePooledOneCloses) {
  ASSERT_TRUE(StartProxy());
  const TlsExchange x =
      RunTlsExchange(proxy_->port(), {{"GET /warm HTTP/1.1\r\nHost: a\r\n\r\n", 1},
                                      {"GET /drop-on-reuse HTTP/1.1\r\nHost: a\r\n\r\n", 2}});
  ASSERT_EQ(x.received.size(), 2u) << x.end;
  EXPECT_EQ(StatusOf(x.received[0]), 200) << Printable(x.received[0]);
  EXPECT_EQ(StatusOf(x.received[1]), 200) << Printable(x.received[1]);
  EXPECT_TRUE(x.received[1].ends_with("\r\n\r\nGET /drop-on-reuse\n")) << Printable(x.received[1]);
  const std::vector<RecordedConnection> seen = backend_->SettledConnections();
  ASSERT_EQ(seen.size(), 2u) << Describe(seen);
  ASSERT_EQ(seen[0].requests.size(), 2u) << "not sent on the pooled connection: " << Describe(seen);
  ASSERT_EQ(seen[1].requests.size(), 1u) << Describe(seen);
  EXPECT_EQ(seen[1].requests[0].head.rfind("GET /drop-on-reuse HTTP/1.1\r\n", 0), 0u)
      << Describe(seen);
}

}  // namespace
}  // namespace ringgate::testing
