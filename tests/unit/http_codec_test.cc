#include "ringgate/http_codec.h"

#include <gtest/gtest.h>

#include <string>

namespace ringgate {
namespace {

TEST(HttpParserTest, StopsAfterEachPipelinedRequest) {
  HttpParser parser(HttpParser::Kind::kRequest, 65536);
  const std::string first = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string second = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string input = first + second;
  std::string body;
  size_t used = parser.Execute(input, body);
  EXPECT_EQ(used, first.size());
  ASSERT_TRUE(parser.TakeHead());
  EXPECT_EQ(parser.head().target, "/a");
  EXPECT_TRUE(parser.message_complete());
  EXPECT_EQ(parser.Execute(std::string_view(input).substr(used), body), 0u)
      << "no progress until the caller starts the next message";
  parser.StartNextMessage();
  size_t used2 = parser.Execute(std::string_view(input).substr(used), body);
  EXPECT_EQ(used2, second.size());
  ASSERT_TRUE(parser.TakeHead());
  EXPECT_EQ(parser.head().target, "/b");
  EXPECT_TRUE(body.empty());
}

TEST(HttpParserTest, ContentLengthBodyPassesThroughVerbatimAcrossCalls) {
  HttpParser parser(HttpParser::Kind::kRequest, 65536);
  std::string body;
  parser.Execute("POST /u HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123", body);
  EXPECT_TRUE(parser.TakeHead());
  EXPECT_EQ(body, "0123");
  EXPECT_FALSE(parser.message_complete());
  parser.Execute("456789GET", body);
  EXPECT_EQ(body, "0123456789");
  EXPECT_TRUE(parser.message_complete());
}

TEST(HttpParserTest, ChunkedBodyIsRechunkedAndTrailersDropped) {
  HttpParser parser(HttpParser::Kind::kRequest, 65536);
  std::string body;
  const std::string input =
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n0A\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
  // Byte by byte: framing must not depend on how the input is split.
  for (char c : input) parser.Execute(std::string_view(&c, 1), body);
  ASSERT_TRUE(parser.message_complete());
  EXPECT_TRUE(parser.head().chunked);
  EXPECT_EQ(body, "5\r\nhello\r\na\r\n0123456789\r\n0\r\n\r\n");
}

TEST(HttpParserTest, RejectsBothContentLengthAndTransferEncoding) {
  HttpParser parser(HttpParser::Kind::kRequest, 65536);
  std::string body;
  parser.Execute(
      "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", body);
  EXPECT_EQ(parser.error(), HttpError::kMalformed);
}

// Found by tests/fuzz/fuzz_request: on the Upgrade path llhttp let a request with a
// non-chunked Transfer-Encoding through as body-less; the backend would have framed it otherwise.
TEST(HttpParserTest, RejectsTransferEncodingThatDoesNotEndInChunkedEvenWithUpgrade) {
  for (const char* request :
       {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Transfer-Encoding: hunked\r\n\r\n"}) {
    HttpParser parser(HttpParser::Kind::kRequest, 65536);
    std::string body;
    parser.Execute(request, body);
    EXPECT_EQ(parser.error(), HttpError::kMalformed) << request;
    EXPECT_FALSE(parser.TakeHead()) << "nothing of it may be forwarded";
  }
}

TEST(HttpParserTest, MalformedRequestLineIsAnError) {
  HttpParser parser(HttpParser::Kind::kRequest, 65536);
  std::string body;
  parser.Execute("GARBAGE\r\n\r\n", body);
  EXPECT_EQ(parser.error(), HttpError::kMalformed);
  EXPECT_FALSE(parser.error_reason().empty());
}

TEST(HttpParserTest, HeadLargerThanTheLimitIsReported) {
  HttpParser parser(HttpParser::Kind::kRequest, 1024);
  std::string body;
  std::string input = "GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n";
  parser.Execute(input, body);
  EXPECT_EQ(parser.error(), HttpError::kHeadTooLarge);
}

TEST(HttpParserTest, TooManyHeaderFieldsIsReported) {
  HttpParser parser(HttpParser::Kind::kRequest, HttpLimits{65536, 3, 8192});
  std::string body;
  parser.Execute("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", body);
  EXPECT_EQ(parser.error(), HttpError::kNone) << "three is the limit, not over it";
  HttpParser over(HttpParser::Kind::kRequest, HttpLimits{65536, 3, 8192});
  over.Execute("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", body);
  EXPECT_EQ(over.error(), HttpError::kHeadTooLarge);
}

TEST(HttpParserTest, OverlongTargetIsReported) {
  HttpParser parser(HttpParser::Kind::kRequest, HttpLimits{65536, 100, 64});
  std::string body;
  parser.Execute("GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n", body);
  EXPECT_EQ(parser.error(), HttpError::kTargetTooLong);
}

TEST(HttpParserTest, ObsFoldIsRefusedHoweverTheInputIsSplit) {
  const std::string folded = "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n   two\r\n\r\n";
  HttpParser whole(HttpParser::Kind::kRequest, 65536);
  std::string body;
  whole.Execute(folded, body);
  EXPECT_EQ(whole.error(), HttpError::kMalformed);
  HttpParser bytewise(HttpParser::Kind::kRequest, 65536);
  for (char c : folded) bytewise.Execute(std::string_view(&c, 1), body);
  EXPECT_EQ(bytewise.error(), HttpError::kMalformed);
}

TEST(HttpParserTest, SpacesInsideValuesAndBodiesAreNotObsFold) {
  const std::string ok =
      "POST / HTTP/1.1\r\nX-A: one two\r\nContent-Length: 9\r\n\r\nline\n two";
  HttpParser parser(HttpParser::Kind::kRequest, 65536);
  std::string body;
  for (char c : ok) parser.Execute(std::string_view(&c, 1), body);
  EXPECT_EQ(parser.error(), HttpError::kNone) << parser.error_reason();
  EXPECT_EQ(body, "line\n two");
  EXPECT_EQ(parser.head().Find("x-a"), "one two");
}

TEST(HttpParserTest, WhitespaceBeforeTheColonIsRefused) {
  HttpParser parser(HttpParser::Kind::kRequest, 65536);
  std::string body;
  parser.Execute("GET / HTTP/1.1\r\nContent-Length : 0\r\n\r\n", body);
  EXPECT_EQ(parser.error(), HttpError::kMalformed);
}

TEST(HttpParserTest, ResponseToHeadHasNoBodyDespiteContentLength) {
  HttpParser parser(HttpParser::Kind::kResponse, 65536);
  parser.set_skip_body(true);
  std::string body;
  const std::string input = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
  EXPECT_EQ(parser.Execute(input, body), input.size());
  EXPECT_TRUE(parser.message_complete());
  EXPECT_TRUE(body.empty());
}

TEST(HttpParserTest, ResponseWithoutFramingEndsAtEof) {
  HttpParser parser(HttpParser::Kind::kResponse, 65536);
  std::string body;
  parser.Execute("HTTP/1.1 200 OK\r\n\r\nabc", body);
  EXPECT_TRUE(parser.TakeHead());
  EXPECT_TRUE(parser.needs_eof());
  EXPECT_FALSE(parser.message_complete());
  EXPECT_TRUE(parser.Finish(body));
  EXPECT_EQ(body, "abc");
}

TEST(HttpParserTest, ResponseCutShortByEofIsDetected) {
  HttpParser parser(HttpParser::Kind::kResponse, 65536);
  std::string body;
  parser.Execute("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", body);
  EXPECT_FALSE(parser.Finish(body));
}

TEST(HttpParserTest, NoContentAndNotModifiedResponsesHaveNoBody) {
  for (const char* status : {"204 No Content", "304 Not Modified"}) {
    HttpParser parser(HttpParser::Kind::kResponse, 65536);
    std::string body;
    std::string input = std::string("HTTP/1.1 ") + status + "\r\n\r\n";
    parser.Execute(input, body);
    EXPECT_TRUE(parser.message_complete()) << status;
  }
}

TEST(HeaderRewriteTest, UpstreamRequestDropsHopByHopAndAddsForwardedHeaders) {
  HttpHead head;
  head.method = "POST";
  head.target = "/p?q=1";
  head.headers = {{"Host", "example.com"},
                  {"Connection", "keep-alive, X-Private"},
                  {"Keep-Alive", "timeout=5"},
                  {"X-Private", "secret"},
                  {"TE", "trailers"},
                  {"Upgrade", "h2c"},
                  {"Expect", "100-continue"},
                  {"X-Forwarded-For", "10.0.0.1"},
                  {"X-Forwarded-Proto", "http"},
                  {"Content-Length", "3"}};
  std::string out = BuildUpstreamRequestHead(head, "192.0.2.7");
  EXPECT_EQ(out,
            "POST /p?q=1 HTTP/1.1\r\n"
            "Host: example.com\r\n"
            "Content-Length: 3\r\n"
            "X-Forwarded-For: 10.0.0.1, 192.0.2.7\r\n"
            "X-Forwarded-Proto: https\r\n\r\n");
}

TEST(HeaderRewriteTest, ClientResponseGetsConnectionCloseOnlyWhenClosing) {
  HttpHead head;
  head.status_code = 200;
  head.reason = "OK";
  head.headers = {{"Content-Length", "2"}, {"Connection", "keep-alive"}, {"Keep-Alive", "x"}};
  EXPECT_EQ(BuildClientResponseHead(head, false), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(BuildClientResponseHead(head, true),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
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

}  // namespace
}  // namespace ringgate
