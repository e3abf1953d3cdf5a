// http_parser_test.cc
// HttpParser (src/http/http_parser.cc, http_parser_checks.cc): pipelining stops, body
// re-framing, limits, and every head, framing, Host and trailer refusal; and that llhttp itself
// runs strict.
#include "ringgate/http/http_parser.h"

#include <gtest/gtest.h>
#include <llhttp.h>

#include <cstring>
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
  parser.Execute("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123", body);
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
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
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
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: "
      "chunked\r\n\r\n0\r\n\r\n",
      body);
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
  parser.Execute("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nHost: 3\r\n\r\n", body);
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
      "POST / HTTP/1.1\r\nHost: a\r\nX-A: one two\r\nContent-Length: 9\r\n\r\nline\n two";
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
  parser.Execute("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 0\r\n\r\n", body);
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

// Parses one request; the parser's error (kNone if it was accepted).
HttpError ParseRequest(std::string_view input, HttpLimits limits = HttpLimits{}) {
  HttpParser parser(HttpParser::Kind::kRequest, limits);
  std::string body;
  parser.Execute(input, body);
  return parser.error();
}

TEST(HttpParserTest, ConnectionMayNotNameFramingRoutingOrForwardingHeaders) {
  for (const char* named : {"content-length", "Transfer-Encoding", "host", "keep-alive, Host",
                            "X-Forwarded-For", "forwarded", "x-real-ip"}) {
    const std::string request = std::string("POST / HTTP/1.1\r\nHost: a\r\nConnection: ") + named +
                                "\r\nContent-Length: 2\r\n\r\nhi";
    EXPECT_EQ(ParseRequest(request), HttpError::kMalformed) << named;
  }
  // Named in a second Connection field, too.
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n"
                         "Connection: content-length\r\n\r\n"),
            HttpError::kMalformed);
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, x-private\r\n\r\n"),
            HttpError::kNone);
  HttpParser response(HttpParser::Kind::kResponse, 65536);
  std::string body;
  response.Execute("HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 2\r\n\r\nhi",
                   body);
  EXPECT_EQ(response.error(), HttpError::kMalformed);
}

TEST(HttpParserTest, HostIsRequiredOnceAndWellFormedInHttp11) {
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\n\r\n"), HttpError::kMalformed);
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), HttpError::kMalformed);
  for (const char* bad : {"a b", "a@b", "", "a:", "a:8x", "[::1", "a/b", "a:123456"}) {
    EXPECT_EQ(ParseRequest(std::string("GET / HTTP/1.1\r\nHost: ") + bad + "\r\n\r\n"),
              HttpError::kMalformed)
        << bad;
  }
  for (const char* good : {"a", "example.com:8443", "192.0.2.1", "[2001:db8::1]:443", "a%41b"}) {
    EXPECT_EQ(ParseRequest(std::string("GET / HTTP/1.1\r\nHost: ") + good + "\r\n\r\n"),
              HttpError::kNone)
        << good;
  }
  EXPECT_EQ(ParseRequest("GET / HTTP/1.0\r\n\r\n"), HttpError::kNone) << "optional in HTTP/1.0";
}

TEST(HttpParserTest, AbsoluteFormBecomesOriginFormWithItsAuthorityAsHost) {
  HttpParser parser(HttpParser::Kind::kRequest, 65536);
  std::string body;
  parser.Execute("GET http://Example.com:8080/x?y=1 HTTP/1.1\r\nHost: other\r\n\r\n", body);
  ASSERT_EQ(parser.error(), HttpError::kNone) << parser.error_reason();
  EXPECT_EQ(parser.head().target, "/x?y=1");
  EXPECT_EQ(parser.head().host, "Example.com:8080");
  HttpParser bare(HttpParser::Kind::kRequest, 65536);
  bare.Execute("GET https://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", body);
  EXPECT_EQ(bare.head().target, "/");
  EXPECT_EQ(ParseRequest("GET ftp://example.com/ HTTP/1.1\r\nHost: a\r\n\r\n"),
            HttpError::kMalformed);
  EXPECT_EQ(ParseRequest("GET http://user@example.com/ HTTP/1.1\r\nHost: a\r\n\r\n"),
            HttpError::kMalformed);
  EXPECT_EQ(ParseRequest("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), HttpError::kMalformed);
  EXPECT_EQ(ParseRequest("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), HttpError::kNone);
}

// Found by the differential fuzz oracle: llhttp reads chunked coding in an HTTP/1.0 message,
// which RFC 9112 6.1 says to treat as faulty framing.
TEST(HttpParserTest, TransferEncodingInHttp10IsFaultyFraming) {
  EXPECT_EQ(
      ParseRequest("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
      HttpError::kMalformed);
  HttpParser response(HttpParser::Kind::kResponse, 65536);
  std::string body;
  response.Execute("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                   body);
  EXPECT_EQ(response.error(), HttpError::kMalformed);
}

// Found by the differential fuzz oracle (tests/fuzz/rfc9112_framing.h): llhttp 8.1, even in
// strict mode, took each of these but the last, and a next hop may read them otherwise. llhttp 9
// refuses the bare LFs itself but still takes the CR before the request line.
TEST(HttpParserTest, LineEndingsInAHeadAreCrlfOnlyHoweverTheInputIsSplit) {
  for (const char* request :
       {"GET / HTTP/1.1\r\nHost: a\r\n\n", "GET / HTTP/1.1\nHost: a\r\n\r\n",
        "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\r\n\r\n"}) {
    EXPECT_EQ(ParseRequest(request), HttpError::kMalformed) << request;
    HttpParser bytewise(HttpParser::Kind::kRequest, 65536);
    std::string body;
    for (const char* c = request; *c != '\0'; ++c) bytewise.Execute(std::string_view(c, 1), body);
    EXPECT_EQ(bytewise.error(), HttpError::kMalformed) << request;
  }
  EXPECT_EQ(ParseRequest("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), HttpError::kNone)
      << "an empty CRLF line before the request line is allowed (RFC 9112 2.2)";
  const std::string split = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nx\ny";
  HttpParser bytewise(HttpParser::Kind::kRequest, 65536);
  std::string body;
  for (char c : split) bytewise.Execute(std::string_view(&c, 1), body);
  EXPECT_EQ(bytewise.error(), HttpError::kNone) << "a bare LF in a body is data";
  EXPECT_EQ(body, "x\ny");
}

TEST(HttpParserTest, TrailerLinesGetTheHeadsLineChecks) {
  const std::string ok =
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1\r\na\r\n0\r\nX-Sum: 9\r\n\r\n";
  EXPECT_EQ(ParseRequest(ok), HttpError::kNone);
  for (const char* trailers : {"0\r\n\n", "0\r\nX-Sum: 9\n\r\n", "0\r\nX-Sum: 9\r\n folded\r\n\r\n",
                               "0\r\nX-Sum: 9\r\r\n\r\n"}) {
    const std::string request =
        std::string(
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            "1\r\na\r\n") +
        trailers;
    EXPECT_EQ(ParseRequest(request), HttpError::kMalformed) << trailers;
    HttpParser bytewise(HttpParser::Kind::kRequest, 65536);
    std::string body;
    for (char c : request) bytewise.Execute(std::string_view(&c, 1), body);
    EXPECT_EQ(bytewise.error(), HttpError::kMalformed) << "byte by byte: " << trailers;
  }
  HttpParser parser(HttpParser::Kind::kRequest, 65536);
  std::string body;
  EXPECT_EQ(parser.Execute(ok + "GET / HTTP/1.1\r\n", body), ok.size());
  EXPECT_TRUE(parser.message_complete());
  EXPECT_EQ(body, "1\r\na\r\n0\r\n\r\n");
}

TEST(HttpParserTest, RefusesEmptyNamesFragmentsAndCodingsOtherThanChunked) {
  EXPECT_EQ(ParseRequest("GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n"), HttpError::kMalformed);
  EXPECT_EQ(ParseRequest("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"), HttpError::kMalformed);
  EXPECT_EQ(ParseRequest("GET http://h/a?b=#c HTTP/1.1\r\nHost: h\r\n\r\n"), HttpError::kMalformed);
  EXPECT_EQ(ParseRequest(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
            HttpError::kMalformed);
  EXPECT_EQ(ParseRequest("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            HttpError::kMalformed);
  EXPECT_EQ(
      ParseRequest("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n"),
      HttpError::kNone);
}

TEST(HttpParserTest, RefusesResponseStatusesOutsideTheRangeAndControlCharactersInTheReason) {
  for (std::string head :
       {std::string("HTTP/1.1 2\r\n"), std::string("HTTP/1.1 678 X\r\n"),
        std::string("HTTP/1.1 099 X\r\n"), std::string("HTTP/1.1 200 O\x0bK\r\n"),
        std::string("HTTP/1.1 200 O\0K\r\n", 17)}) {
    HttpParser parser(HttpParser::Kind::kResponse, 65536);
    std::string body;
    parser.Execute(head + "Content-Length: 0\r\n\r\n", body);
    EXPECT_EQ(parser.error(), HttpError::kMalformed) << head;
  }
}

// Found by the differential fuzz oracle: lengths no real body has, and versions other than 1.x,
// which a next hop may read otherwise.
TEST(HttpParserTest, RefusesAbsurdLengthsAndVersionsOtherThan10And11) {
  EXPECT_EQ(
      ParseRequest("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000\r\n\r\n"),
      HttpError::kMalformed);
  EXPECT_EQ(
      ParseRequest("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\n"),
      HttpError::kNone)
      << "just under 10^18 is a length (the body would follow)";
  EXPECT_EQ(ParseRequest("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "1000000000000000\r\n"),
            HttpError::kMalformed);
  EXPECT_EQ(ParseRequest("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "0fffffffffffffff\r\n"),
            HttpError::kNone)
      << "just under 2^60 is a chunk size";
  HttpParser response(HttpParser::Kind::kResponse, 65536);
  std::string body;
  response.Execute("HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", body);
  EXPECT_EQ(response.error(), HttpError::kMalformed);
}

TEST(HttpParserTest, ConnectAndTraceAreNotAllowed) {
  EXPECT_EQ(ParseRequest("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
            HttpError::kMethodNotAllowed);
  EXPECT_EQ(ParseRequest("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"), HttpError::kMethodNotAllowed);
  EXPECT_EQ(RequestErrorStatus(HttpError::kMethodNotAllowed), 405);
}

TEST(HttpParserTest, BodyLimitRefusesALargerContentLengthAtOnceAndAGrowingChunkedBody) {
  HttpLimits limits;
  limits.max_body_bytes = 10;
  EXPECT_EQ(ParseRequest("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", limits),
            HttpError::kBodyTooLarge);
  EXPECT_EQ(
      ParseRequest("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", limits),
      HttpError::kNone);
  EXPECT_EQ(ParseRequest("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "6\r\n012345\r\n6\r\n012345\r\n0\r\n\r\n",
                         limits),
            HttpError::kBodyTooLarge);
  EXPECT_EQ(RequestErrorStatus(HttpError::kBodyTooLarge), 413);
}

TEST(HttpParserTest, InterimNoContentAndNotModifiedEndAtTheirHeadWhateverTheirFraming) {
  for (const char* head : {"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                           "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n",
                           "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
                           "HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\n\r\n"}) {
    HttpParser parser(HttpParser::Kind::kResponse, 65536);
    std::string body;
    const std::string input = std::string(head) + "HTTP/1.1 200 OK\r\n";
    EXPECT_EQ(parser.Execute(input, body), std::strlen(head)) << head;
    EXPECT_TRUE(parser.message_complete()) << head;
    EXPECT_TRUE(body.empty()) << head;
  }
}

TEST(HttpParserTest, ChunkedResponseIsDecodedForAnHttp10Client) {
  HttpParser parser(HttpParser::Kind::kResponse, 65536);
  parser.set_dechunk(true);
  std::string body;
  parser.Execute("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                 body);
  EXPECT_TRUE(parser.message_complete());
  EXPECT_EQ(body, "hello");
}

// llhttp 9 is strict unless a llhttp_set_lenient_* call says otherwise (LLHTTP_STRICT_MODE of
// 8.1 is gone); ringgate makes no such call, so a parser starts, and stays, with none set.
TEST(LlhttpTest, AFreshParserHasNoLenientFlags) {
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &settings);
  EXPECT_EQ(parser.lenient_flags, 0);
  EXPECT_EQ(LLHTTP_VERSION_MAJOR, 9);
}

// A framing field in the trailer section is refused. Content-Length there is what moved with
// llhttp 8.1 -> 9.4 (8.1 took it); ringgate drops trailers, but a hop behind it might not.
TEST(HttpParserTest, FramingFieldsInTheTrailerSectionAreRefused) {
  for (const char* field : {"Content-Length: 50", "Transfer-Encoding: chunked"}) {
    const std::string request =
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n" +
        std::string(field) + "\r\n\r\n";
    EXPECT_EQ(ParseRequest(request), HttpError::kMalformed) << field;
  }
}

// QUERY (a safe method with a body) is a method llhttp 9 knows; 8.1 refused it as invalid.
TEST(HttpParserTest, QueryMethodIsParsed) {
  HttpParser parser(HttpParser::Kind::kRequest, 65536);
  std::string body;
  const std::string request = "QUERY /search HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nq=1";
  EXPECT_EQ(parser.Execute(request, body), request.size());
  ASSERT_TRUE(parser.TakeHead());
  EXPECT_EQ(parser.head().method, "QUERY");
  EXPECT_EQ(body, "q=1");
  EXPECT_TRUE(parser.message_complete());
}

// Chunk extensions are read by their grammar (RFC 9112 7.1.1), not skipped to the line end.
TEST(HttpParserTest, ChunkExtensionsFollowTheirGrammar) {
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(ParseRequest(head + "1;a=b\r\nx\r\n0\r\n\r\n"), HttpError::kNone);
  EXPECT_EQ(ParseRequest(head + "1;a=\"b c\"\r\nx\r\n0\r\n\r\n"), HttpError::kNone);
  for (const char* chunk : {"1;a=b\x01\r\nx\r\n0\r\n\r\n",            // a control character
                            "1;a\nGET / HTTP/1.1\r\nx\r\n0\r\n\r\n",  // a bare LF ends the line
                            "1 \r\nx\r\n0\r\n\r\n",                   // a space after the size
                            "1\r\nx\n0\r\n\r\n"}) {                   // no CR after the data
    EXPECT_EQ(ParseRequest(head + chunk), HttpError::kMalformed) << chunk;
  }
}

}  // namespace
}  // namespace ringgate
