// http_forwarding_test.cc
// The heads ringgate writes (src/http/http_forwarding.cc): the backend's request head under the
// forwarding policy, the client's response framing and head, and the proxy's error responses.
#include "ringgate/http/http_forwarding.h"

#include <gtest/gtest.h>

#include <string>

#include "ringgate/http/http_parser.h"

// Heads are filled with std::string(...) rather than literals: GCC 12 reports a false
// -Wrestrict on assigning a short literal to a std::string (its bug 105329).
namespace ringgate {
namespace {

TEST(HeaderRewriteTest, UpstreamRequestDropsHopByHopAndUntrustedForwardingHeaders) {
  HttpHead head;
  head.method = std::string("POST");
  head.target = std::string("/p?q=1");
  head.host = std::string("example.com");
  head.has_content_length = true;
  head.content_length = 3;
  head.headers = {{"Host", "example.com"},
                  {"Connection", "keep-alive, X-Private"},
                  {"Keep-Alive", "timeout=5"},
                  {"X-Private", "secret"},
                  {"TE", "trailers"},
                  {"Upgrade", "h2c"},
                  {"Expect", "100-continue"},
                  {"X-Forwarded-For", "10.0.0.1"},
                  {"X-Forwarded-Proto", "http"},
                  {"X-Forwarded-Host", "evil"},
                  {"X-Forwarded-Port", "1"},
                  {"X-Real-IP", "6.6.6.6"},
                  {"Forwarded", "for=6.6.6.6"},
                  {"Accept", "*/*"},
                  {"Content-Length", "0003"}};
  EXPECT_EQ(BuildUpstreamRequestHead(head, ForwardingContext{"192.0.2.7", false, "backend"}),
            "POST /p?q=1 HTTP/1.1\r\n"
            "Host: example.com\r\n"
            "Accept: */*\r\n"
            "Content-Length: 3\r\n"
            "X-Forwarded-For: 192.0.2.7\r\n"
            "X-Forwarded-Proto: https\r\n\r\n");
  EXPECT_EQ(BuildUpstreamRequestHead(head, ForwardingContext{"192.0.2.7", true, "backend"}),
            "POST /p?q=1 HTTP/1.1\r\n"
            "Host: example.com\r\n"
            "X-Forwarded-Host: evil\r\n"
            "X-Forwarded-Port: 1\r\n"
            "X-Real-IP: 6.6.6.6\r\n"
            "Forwarded: for=6.6.6.6\r\n"
            "Accept: */*\r\n"
            "Content-Length: 3\r\n"
            "X-Forwarded-For: 10.0.0.1, 192.0.2.7\r\n"
            "X-Forwarded-Proto: https\r\n\r\n")
      << "a trusted peer's forwarding headers stay, its X-Forwarded-For is appended to";
}

// Found in review: WSGI, PHP-FPM and Rack turn X_Forwarded_For into HTTP_X_FORWARDED_FOR, the
// same variable as X-Forwarded-For, so an underscore variant would carry a spoofed address past
// the forwarding policy.
TEST(HeaderRewriteTest, HeadersWithUnderscoresAreNotForwarded) {
  HttpHead head;
  head.method = std::string("GET");
  head.target = std::string("/");
  head.host = std::string("a");
  head.headers = {{"Host", "a"},
                  {"X_Forwarded_For", "6.6.6.6"},
                  {"X-Real_IP", "6.6.6.6"},
                  {"X_Custom", "1"},
                  {"X-Custom", "2"}};
  for (bool trusted : {false, true}) {
    EXPECT_EQ(BuildUpstreamRequestHead(head, ForwardingContext{"192.0.2.7", trusted, "backend"}),
              "GET / HTTP/1.1\r\nHost: a\r\nX-Custom: 2\r\n"
              "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\r\n");
  }
}

// Headers named by Connection are dropped however many Connection fields there are (the first
// few are kept aside once per head; more are read again).
TEST(HeaderRewriteTest, HeadersNamedInAnyOfManyConnectionFieldsAreDropped) {
  HttpHead head;
  head.method = std::string("GET");
  head.target = std::string("/");
  head.host = std::string("a");
  head.headers = {{"Host", "a"}};
  for (int i = 0; i < 5; ++i) head.headers.emplace_back("Connection", "keep-alive");
  head.headers.emplace_back("Connection", "X-Private");
  head.headers.emplace_back("X-Private", "secret");
  head.headers.emplace_back("X-Public", "shown");
  EXPECT_EQ(BuildUpstreamRequestHead(head, ForwardingContext{"192.0.2.7", false, "backend"}),
            "GET / HTTP/1.1\r\nHost: a\r\nX-Public: shown\r\n"
            "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\r\n");
  head.headers.erase(head.headers.begin() + 1, head.headers.begin() + 6);  // one Connection field
  EXPECT_EQ(BuildUpstreamRequestHead(head, ForwardingContext{"192.0.2.7", false, "backend"}),
            "GET / HTTP/1.1\r\nHost: a\r\nX-Public: shown\r\n"
            "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\r\n");
}

TEST(HeaderRewriteTest, UpstreamFramingIsTheParsersNotTheClientsFields) {
  HttpHead head;
  head.method = std::string("POST");
  head.target = std::string("/");
  head.host = std::string("a");
  head.chunked = true;
  head.headers = {{"Host", "a"}, {"Transfer-Encoding", "chunked"}};
  EXPECT_EQ(BuildUpstreamRequestHead(head, ForwardingContext{"192.0.2.7", false, "backend"}),
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
            "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\r\n");
  HttpHead http10;
  http10.method = std::string("GET");
  http10.target = std::string("/");
  http10.version_minor = 0;
  EXPECT_EQ(
      BuildUpstreamRequestHead(http10, ForwardingContext{"192.0.2.7", false, "127.0.0.1:8080"}),
      "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
      "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\r\n")
      << "an HTTP/1.0 request without Host gets the backend's address";
}

TEST(HeaderRewriteTest, ClientResponseGetsConnectionCloseOnlyWhenClosing) {
  HttpHead head;
  head.status_code = 200;
  head.reason = std::string("OK");
  head.has_content_length = true;
  head.content_length = 2;
  head.headers = {{"Content-Length", "2"}, {"Connection", "keep-alive"}, {"Keep-Alive", "x"}};
  EXPECT_EQ(BuildClientResponseHead(head, BodyFraming::kContentLength, false),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(BuildClientResponseHead(head, BodyFraming::kContentLength, true),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(BuildClientResponseHead(head, BodyFraming::kContentLength, false, true),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n")
      << "an HTTP/1.0 client keeps the connection only when told";
}

TEST(HeaderRewriteTest, ResponseFramingFollowsStatusMethodAndClientVersion) {
  HttpHead chunked;
  chunked.status_code = 200;
  chunked.chunked = true;
  chunked.headers = {{"Transfer-Encoding", "chunked"}};
  EXPECT_EQ(ChooseResponseFraming(chunked, false, false), BodyFraming::kChunked);
  EXPECT_EQ(ChooseResponseFraming(chunked, false, true), BodyFraming::kUntilClose);
  EXPECT_EQ(ChooseResponseFraming(chunked, true, false), BodyFraming::kNone);
  EXPECT_EQ(BuildClientResponseHead(chunked, BodyFraming::kUntilClose, true, true),
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
      << "no chunked coding for HTTP/1.0";
  HttpHead no_content;
  no_content.status_code = 204;
  no_content.has_content_length = true;
  no_content.content_length = 5;
  no_content.headers = {{"Content-Length", "5"}};
  EXPECT_EQ(ChooseResponseFraming(no_content, false, false), BodyFraming::kNone);
  EXPECT_EQ(BuildClientResponseHead(no_content, BodyFraming::kNone, false),
            "HTTP/1.1 204 No Content\r\n\r\n");
  HttpHead not_modified = no_content;
  not_modified.status_code = 304;
  EXPECT_EQ(BuildClientResponseHead(not_modified, BodyFraming::kNone, false),
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n");
}

TEST(HeaderRewriteTest, ErrorResponsesAreCompleteAndClose) {
  std::string r = BuildErrorResponse(502);
  HttpParser parser(HttpParser::Kind::kResponse, 65536);
  std::string body;
  EXPECT_EQ(parser.Execute(r, body), r.size());
  EXPECT_TRUE(parser.message_complete());
  EXPECT_EQ(parser.head().status_code, 502);
  EXPECT_FALSE(parser.head().keep_alive);
  EXPECT_EQ(body, "502 Bad Gateway\n");
}

// WebSocket upgrades, parsed by the real request parser: only a body-less GET over HTTP/1.1
// whose Connection names upgrade and whose Upgrade names websocket opens a tunnel.
HttpHead ParsedHead(HttpParser::Kind kind, std::string_view text) {
  HttpParser parser(kind, 64 * 1024);
  std::string body;
  parser.Execute(text, body);
  EXPECT_EQ(parser.error(), HttpError::kNone) << parser.error_reason();
  EXPECT_TRUE(parser.TakeHead());
  return parser.head();
}

TEST(WebSocketUpgradeTest, OnlyABodylessGetToWebSocketIsATunnelRequest) {
  const auto request = [](std::string_view text) {
    return ParsedHead(HttpParser::Kind::kRequest, text);
  };
  EXPECT_TRUE(IsWebSocketUpgrade(
      request("GET /chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
              "Upgrade: WebSocket\r\nSec-WebSocket-Key: k\r\n\r\n")));
  EXPECT_FALSE(IsWebSocketUpgrade(
      request("GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")))
      << "h2c is not relayed";
  EXPECT_FALSE(
      IsWebSocketUpgrade(request("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n")))
      << "Connection must name upgrade";
  EXPECT_FALSE(IsWebSocketUpgrade(
      request("POST /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
              "Content-Length: 0\r\n\r\n")));
  EXPECT_FALSE(IsWebSocketUpgrade(
      request("GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
              "Content-Length: 5\r\n\r\nhello")))
      << "a body would be forwarded as the start of the tunnel";
  EXPECT_FALSE(IsWebSocketUpgrade(request(
      "GET /chat HTTP/1.0\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")));
}

TEST(WebSocketUpgradeTest, TunnelRequestHeadCarriesUpgradeAndTheClientSeesOnlyOurs) {
  const HttpHead request = ParsedHead(
      HttpParser::Kind::kRequest,
      "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, X-Drop\r\nX-Drop: 1\r\n"
      "Upgrade: websocket, h2c\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n");
  EXPECT_EQ(
      BuildUpstreamRequestHead(request, ForwardingContext{"192.0.2.7", false, "backend", true}),
      "GET /chat HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n"
      "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"
      "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
  const HttpHead switched = ParsedHead(
      HttpParser::Kind::kResponse,
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nKeep-Alive: timeout=5\r\n\r\n");
  EXPECT_TRUE(IsWebSocketSwitch(switched));
  EXPECT_EQ(BuildSwitchingProtocolsHead(switched),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Upgrade: websocket\r\nConnection: upgrade\r\n\r\n");
  EXPECT_FALSE(IsWebSocketSwitch(ParsedHead(
      HttpParser::Kind::kResponse,
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")));
}

}  // namespace
}  // namespace ringgate
