// Tests for the fuzz targets' RFC 9112 framing oracle (tests/fuzz/rfc9112_framing.h). The oracle
// is only worth something if it refuses what it should: every refusal rule has a test here, as
// do the framings it must get right (Content-Length, chunked with extensions and trailers, the
// close, and responses that have no body).
#include "../../fuzz/rfc9112_framing.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace ringgate::fuzz::rfc9112 {
namespace {

using namespace std::string_view_literals;  // "...\0..."sv keeps the NUL

Parsed Requests(std::string_view stream) { return Parse(Kind::kRequest, stream); }

Parsed Responses(std::string_view stream, bool at_eof = false, bool to_head = false) {
  Options options;
  options.at_eof = at_eof;
  options.responses_to_head = to_head;
  return Parse(Kind::kResponse, stream, options);
}

// The oracle refuses the first message of `stream`, in its head or in its body.
void ExpectRejected(const Parsed& parsed, bool in_head = true) {
  EXPECT_EQ(parsed.stop, Stop::kRejected);
  EXPECT_TRUE(parsed.messages.empty());
  EXPECT_EQ(parsed.rejected_in_head, in_head) << parsed.reason;
}

constexpr std::string_view kGet = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";

TEST(Rfc9112Framing, ReadsPipelinedRequestsWithoutBodies) {
  const Parsed parsed = Requests(std::string(kGet) + "DELETE /b?x=1 HTTP/1.0\r\n\r\n");
  ASSERT_EQ(parsed.stop, Stop::kEndOfInput);
  ASSERT_EQ(parsed.messages.size(), 2u);
  EXPECT_EQ(parsed.messages[0].method, "GET");
  EXPECT_EQ(parsed.messages[0].target, "/a");
  EXPECT_EQ(parsed.messages[0].Find("HOST"), "h");
  EXPECT_EQ(parsed.messages[1].method, "DELETE");
  EXPECT_EQ(parsed.messages[1].target, "/b?x=1");
  EXPECT_EQ(parsed.messages[1].version_minor, 0);
  EXPECT_EQ(parsed.messages[1].framing, Framing::kNoBody);
  EXPECT_TRUE(parsed.messages[0].defects.empty());
}

TEST(Rfc9112Framing, IgnoresEmptyLinesBeforeARequestLine) {
  const Parsed parsed = Requests(std::string("\r\n\r\n") + std::string(kGet) + "\r\n");
  EXPECT_EQ(parsed.stop, Stop::kEndOfInput);
  EXPECT_EQ(parsed.messages.size(), 1u);
}

TEST(Rfc9112Framing, ContentLengthBody) {
  const Parsed parsed = Requests("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET");
  ASSERT_EQ(parsed.messages.size(), 1u);
  EXPECT_EQ(parsed.messages[0].framing, Framing::kContentLength);
  EXPECT_EQ(parsed.messages[0].body, "hello");
  EXPECT_EQ(parsed.stop, Stop::kIncomplete);  // "GET" begins the next one
  EXPECT_EQ(parsed.consumed,
            std::string_view("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").size());
}

TEST(Rfc9112Framing, ShortBodyIsIncomplete) {
  const Parsed parsed = Requests("POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\nhello");
  EXPECT_EQ(parsed.stop, Stop::kIncomplete);
  EXPECT_TRUE(parsed.messages.empty());
}

TEST(Rfc9112Framing, ChunkedBodyWithExtensionsAndTrailers) {
  const Parsed parsed = Requests(
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
      "5;name=value;flag\r\nhello\r\n6 ; q=\"a;b\"\r\n world\r\n0\r\nT: 1\r\nU: 2\r\n\r\n");
  ASSERT_EQ(parsed.stop, Stop::kEndOfInput) << parsed.reason;
  ASSERT_EQ(parsed.messages.size(), 1u);
  const Message& m = parsed.messages[0];
  EXPECT_EQ(m.framing, Framing::kChunked);
  EXPECT_EQ(m.body, "hello world");
  ASSERT_EQ(m.trailers.size(), 2u);
  EXPECT_EQ(m.trailers[1].name, "U");
  EXPECT_TRUE(m.defects.empty());
}

TEST(Rfc9112Framing, ChunkedAcrossSeveralFieldsAndCase) {
  const Parsed parsed = Requests(
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\ntransfer-encoding:\tChunked "
      "\r\n\r\n0\r\n\r\n");
  ASSERT_EQ(parsed.messages.size(), 1u) << parsed.reason;
  EXPECT_EQ(parsed.messages[0].framing, Framing::kChunked);
}

TEST(Rfc9112Framing, MalformedChunkExtensionIsADefectNotARefusal) {
  const Parsed parsed =
      Requests("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;=\"x\r\na\r\n0\r\n\r\n");
  ASSERT_EQ(parsed.messages.size(), 1u) << parsed.reason;
  EXPECT_EQ(parsed.messages[0].body, "a");
  EXPECT_FALSE(parsed.messages[0].defects.empty());
}

TEST(Rfc9112Framing, ChunkedCutShortIsIncomplete) {
  EXPECT_EQ(Requests("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel").stop,
            Stop::kIncomplete);
  EXPECT_EQ(Requests("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n").stop,
            Stop::kIncomplete);  // the trailer section's empty line is missing
}

TEST(Rfc9112Framing, RefusesBareLineEndsAndNul) {
  ExpectRejected(Requests("GET / HTTP/1.1\nHost: h\r\n\r\n"));
  ExpectRejected(Requests("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"));
  ExpectRejected(Requests("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"sv));
  ExpectRejected(Requests("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n"),
                 false);
}

TEST(Rfc9112Framing, RefusesObsFoldAndMalformedFieldLines) {
  ExpectRejected(Requests("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"));
  ExpectRejected(Requests("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n"));
  ExpectRejected(Requests("GET / HTTP/1.1\r\nContent-Length : 0\r\n\r\n"));
  ExpectRejected(Requests("GET / HTTP/1.1\r\nContent-Length\t: 0\r\n\r\n"));
  ExpectRejected(Requests("GET / HTTP/1.1\r\nno colon here\r\n\r\n"));
  ExpectRejected(Requests("GET / HTTP/1.1\r\n: empty name\r\n\r\n"));
  ExpectRejected(Requests("GET / HTTP/1.1\r\nX(y): z\r\n\r\n"));
}

TEST(Rfc9112Framing, RefusesMalformedRequestLines) {
  ExpectRejected(Requests("GET / x HTTP/1.1\r\n\r\n"));
  ExpectRejected(Requests("GET\t/ HTTP/1.1\r\n\r\n"));
  ExpectRejected(Requests("GET /\r\n\r\n"));
  ExpectRejected(Requests("GET / HTTP/2.0\r\n\r\n"));
  ExpectRejected(Requests("GET / http/1.1\r\n\r\n"));
  ExpectRejected(Requests("GET / HTTP/1.10\r\n\r\n"));
}

TEST(Rfc9112Framing, ExtraSpacesInARequestLineAreADefect) {
  const Parsed parsed = Requests("GET  /a   HTTP/1.1 \r\n\r\n");
  ASSERT_EQ(parsed.messages.size(), 1u) << parsed.reason;
  EXPECT_EQ(parsed.messages[0].target, "/a");
  EXPECT_EQ(parsed.messages[0].defects.size(), 1u);
}

TEST(Rfc9112Framing, TargetAndMethodOutsideTheirGrammarAreDefects) {
  const Parsed parsed = Requests("G(T /a#frag HTTP/1.1\r\nX: \x01\r\n\r\n");
  ASSERT_EQ(parsed.messages.size(), 1u) << parsed.reason;
  EXPECT_EQ(parsed.messages[0].defects.size(), 3u);
}

TEST(Rfc9112Framing, RefusesAmbiguousContentLength) {
  ExpectRejected(
      Requests("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"));
  ExpectRejected(Requests("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello"));
  ExpectRejected(Requests("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello"));
  ExpectRejected(Requests("POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\nhello"));
  ExpectRejected(Requests("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n"));
  ExpectRejected(Requests("POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n"));
}

TEST(Rfc9112Framing, RefusesAmbiguousTransferEncoding) {
  const std::string_view body = "\r\n0\r\n\r\n";
  for (std::string_view fields : {
           "Content-Length: 3\r\nTransfer-Encoding: chunked",  // CL.TE
           "Transfer-Encoding: chunked\r\nContent-Length: 3",  // TE.CL
           "Transfer-Encoding: xchunked",
           "Transfer-Encoding: chunked, identity",
           "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
           "Transfer-Encoding: chunked, chunked",
           "Transfer-Encoding: , chunked",
           "Transfer-Encoding: chunked;q=1",
           "Transfer-Encoding: \"chunked\"",
           "Transfer-Encoding: gzip",
       }) {
    SCOPED_TRACE(fields);
    ExpectRejected(
        Requests("POST / HTTP/1.1\r\n" + std::string(fields) + "\r\n" + std::string(body)));
    ExpectRejected(
        Responses("HTTP/1.1 200 OK\r\n" + std::string(fields) + "\r\n" + std::string(body), true));
  }
}

TEST(Rfc9112Framing, Http10WithTransferEncodingMustBeTheLastMessage) {
  // RFC 9112 6.1: read as chunked, then nothing more from this connection.
  const Parsed parsed =
      Requests("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n" +
               std::string(kGet));
  EXPECT_EQ(parsed.stop, Stop::kMustClose);
  ASSERT_EQ(parsed.messages.size(), 1u);
  EXPECT_EQ(parsed.messages[0].body, "a");
  EXPECT_EQ(Responses("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").stop,
            Stop::kMustClose);
}

TEST(Rfc9112Framing, RefusesMalformedChunks) {
  for (std::string_view chunks : {
           "x\r\n",             // not hexadecimal
           "5x\r\nhello\r\n",   // junk after the size
           "0x5\r\nhello\r\n",  // a C-style prefix is junk too
           "-1\r\n",
           "1234567890abcdef0\r\n",    // overflows
           "5\r\nhelloXX0\r\n\r\n",    // data longer than its size
           "5\r\nhello\n0\r\n\r\n",    // data not followed by CRLF
           "0\r\nT: 1\nU: 2\r\n\r\n",  // bare LF in a trailer section
       }) {
    SCOPED_TRACE(chunks);
    ExpectRejected(
        Requests("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(chunks)),
        false);
  }
}

TEST(Rfc9112Framing, MalformedTrailersAreDefects) {
  // Trailers are dropped on the way, and a malformed one cannot move where the message ends.
  const Parsed parsed = Requests(
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\n x\r\nT : 1\r\n: "
      "1\r\nT\r\n\r\n" +
      std::string(kGet));
  ASSERT_EQ(parsed.stop, Stop::kEndOfInput) << parsed.reason;
  ASSERT_EQ(parsed.messages.size(), 2u);
  EXPECT_EQ(parsed.messages[0].defects.size(), 4u);
  EXPECT_EQ(parsed.messages[0].trailers.size(), 1u);
}

TEST(Rfc9112Framing, ResponseBodyRunsToTheClose) {
  const std::string_view stream = "HTTP/1.0 200 OK\r\n\r\nall of it\r\nHTTP/1.1 200 OK\r\n\r\n";
  EXPECT_EQ(Responses(stream).stop, Stop::kIncomplete);
  const Parsed parsed = Responses(stream, /*at_eof=*/true);
  ASSERT_EQ(parsed.messages.size(), 1u);
  EXPECT_EQ(parsed.messages[0].framing, Framing::kUntilEof);
  EXPECT_EQ(parsed.messages[0].body, stream.substr(19));
  EXPECT_EQ(parsed.stop, Stop::kEndOfInput);
}

TEST(Rfc9112Framing, ResponsesWithoutABody) {
  // Interim, 204 and 304 end with their head whatever their Content-Length says; the bytes after
  // them are the next response.
  const Parsed parsed = Responses(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_EQ(parsed.stop, Stop::kEndOfInput) << parsed.reason;
  ASSERT_EQ(parsed.messages.size(), 5u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(parsed.messages[i].framing, Framing::kNoBody);
  EXPECT_EQ(parsed.messages[4].status, 200);
  EXPECT_EQ(parsed.messages[4].body, "ok");
}

TEST(Rfc9112Framing, ResponsesToHeadHaveNoBody) {
  const std::string_view stream =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: "
      "chunked\r\n\r\n";
  const Parsed parsed = Responses(stream, false, /*to_head=*/true);
  ASSERT_EQ(parsed.messages.size(), 2u) << parsed.reason;
  EXPECT_EQ(parsed.stop, Stop::kEndOfInput);
  EXPECT_TRUE(parsed.messages[0].body.empty());
  EXPECT_EQ(Responses(stream).stop,
            Stop::kRejected);  // not HEAD: the body takes "HTTP/", then no status line
}

TEST(Rfc9112Framing, RejectedHeadsStillNeedValidFramingHeaders) {
  ExpectRejected(
      Responses("HTTP/1.1 204 No Content\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"));
  ExpectRejected(Responses(
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"));
}

TEST(Rfc9112Framing, RefusesMalformedStatusLines) {
  ExpectRejected(Responses("HTTP/1.1 20 OK\r\n\r\n", true));
  ExpectRejected(Responses("HTTP/1.1 2000 OK\r\n\r\n", true));
  ExpectRejected(Responses("HTTP/1.1 099 Low\r\n\r\n", true));
  ExpectRejected(Responses("HTTP/1.1  200 OK\r\n\r\n", true));
  ExpectRejected(Responses("HTTP/2 200 OK\r\n\r\n", true));
  ExpectRejected(Responses("ICY 200 OK\r\n\r\n", true));
  const Parsed no_reason = Responses("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(no_reason.messages.size(), 1u);
  EXPECT_FALSE(no_reason.messages[0].defects.empty());
}

}  // namespace
}  // namespace ringgate::fuzz::rfc9112
