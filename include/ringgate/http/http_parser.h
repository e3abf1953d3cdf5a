// http_parser.h
// HTTP/1.1 framing for the relay, over llhttp. A parser consumes one direction of a connection
// and stops after every complete message, so that a pipelined next request stays unparsed
// until the current one is answered.
// Bodies are streamed, never buffered whole: Content-Length bodies pass through verbatim,
// chunked bodies are re-chunked (trailers are dropped). The parser refuses what would let the
// next hop frame a message differently: ambiguous lengths, obs-fold, bare CR or LF, a
// Connection header naming a framing or routing header, and (requests) a missing, repeated or
// malformed Host (those checks are in src/http/http_parser_checks.cc).
//
//   HttpParser parser(HttpParser::Kind::kRequest, /*max_head_bytes=*/65536);
//   std::string body;
//   size_t used = parser.Execute(bytes, body);
//   if (parser.TakeHead()) { ...parser.head()... }
//   if (parser.message_complete()) { ...; parser.StartNextMessage(); }
//   if (parser.error() != HttpError::kNone) reply with RequestErrorStatus(parser.error());
#ifndef RINGGATE_HTTP_HTTP_PARSER_H_
#define RINGGATE_HTTP_HTTP_PARSER_H_

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ringgate/http/http_head.h"

namespace ringgate {

enum class HttpError : uint8_t {
  kNone,
  kMalformed,         // 400 for requests, 502 for responses
  kHeadTooLarge,      // 431 for requests (too many bytes or headers), 502 for responses
  kTargetTooLong,     // 414 for requests
  kMethodNotAllowed,  // 405 for requests: CONNECT and TRACE
  kBodyTooLarge,      // 413 for requests: the body exceeds HttpLimits::max_body_bytes
};

// The status a client gets for a request the parser refused.
int RequestErrorStatus(HttpError error);

struct HttpLimits {
  size_t max_head_bytes = 64 * 1024;
  size_t max_headers = 100;
  size_t max_target_bytes = 8 * 1024;
  uint64_t max_body_bytes = 0;  // requests; 0: no limit
};

// Where Execute puts a message's body bytes, re-framed: a string (Into), or a consumer that
// passes them on without a copy (the response relay encrypts large pieces straight out of the
// receive buffer). Each piece is valid only during the call. A function and its context, not a
// virtual call: UBSan's check of a virtual call needs a spare descriptor, which a proxy out of
// descriptors does not have (it then reports a sound call as invalid).
struct BodySink {
  void (*append)(void* context, std::string_view bytes) = nullptr;
  void* context = nullptr;

  void Append(std::string_view bytes) const { append(context, bytes); }
  static BodySink Into(std::string& out) {
    return {[](void* to, std::string_view bytes) { static_cast<std::string*>(to)->append(bytes); },
            &out};
  }
};

class HttpParser {
 public:
  enum class Kind : uint8_t { kRequest, kResponse };
  HttpParser(Kind kind, size_t max_head_bytes);
  HttpParser(Kind kind, const HttpLimits& limits);
  HttpParser(const HttpParser&) = delete;
  HttpParser& operator=(const HttpParser&) = delete;

  // Parses from `data`, appending re-framed body bytes to `body_out`. Returns how many bytes
  // were consumed; it stops right after a complete message. A head parsed in this call is
  // reported by TakeHead(); the body bytes in `body_out` all come after it.
  size_t Execute(std::string_view data, const BodySink& body_out);
  size_t Execute(std::string_view data, std::string& body_out) {
    return Execute(data, BodySink::Into(body_out));
  }
  // The peer closed: completes a message framed by EOF. Returns false if a message was cut.
  bool Finish(const BodySink& body_out);
  bool Finish(std::string& body_out) { return Finish(BodySink::Into(body_out)); }

  // True once, right after a head was parsed.
  bool TakeHead();
  const HttpHead& head() const { return head_; }
  bool in_message() const { return in_message_; }
  bool message_complete() const { return message_complete_; }
  bool needs_eof() const;  // the response body ends only at EOF
  // The message ended with its head whatever its framing said (a response to HEAD, 1xx, 204, 304).
  bool ended_at_head() const { return no_body_; }
  void StartNextMessage();
  // For responses: the request was HEAD, so a body must not be read.
  void set_skip_body(bool skip) { skip_body_ = skip; }
  // For responses to an HTTP/1.0 client: a chunked body is passed on decoded (the client reads
  // it to the connection's close), not re-chunked.
  void set_dechunk(bool dechunk) { dechunk_ = dechunk; }

  HttpError error() const { return error_; }
  std::string_view error_reason() const { return error_reason_; }

 private:
  static HttpParser* Self(llhttp_t* p) { return static_cast<HttpParser*>(p->data); }
  static int OnMessageBegin(llhttp_t* p);
  static int OnUrl(llhttp_t* p, const char* at, size_t len);
  static int OnStatus(llhttp_t* p, const char* at, size_t len);
  static int OnHeaderField(llhttp_t* p, const char* at, size_t len);
  static int OnHeaderValue(llhttp_t* p, const char* at, size_t len);
  static int OnHeadersComplete(llhttp_t* p);
  static int OnBody(llhttp_t* p, const char* at, size_t len);
  static int OnChunkHeader(llhttp_t* p);
  static int OnChunkComplete(llhttp_t* p);
  static int OnMessageComplete(llhttp_t* p);
  bool CountHeadBytes(size_t len);
  const char* ScanHeadLines(std::string_view data);
  bool Refuse(HttpError error, const char* reason);
  // OnHeadersComplete's checks; false (with error_ set) refuses the message.
  bool CheckFraming();
  bool CheckRequestTarget();

  Kind kind_;
  HttpLimits limits_;
  llhttp_settings_t settings_;
  llhttp_t parser_;
  HttpHead head_;
  size_t head_bytes_ = 0;
  bool in_message_ = false;
  bool head_ready_ = false;
  bool head_taken_ = false;
  bool message_complete_ = false;
  bool skip_body_ = false;
  bool dechunk_ = false;
  bool no_body_ = false;         // this response's head is the whole message
  bool trailers_begin_ = false;  // OnChunkHeader paused at the last chunk (see Execute)
  bool last_was_value_ = false;
  uint64_t chunk_size_ = 0;
  uint64_t body_bytes_ = 0;  // of the current message, decoded
  BodySink body_out_;        // Execute's or Finish's, during the call
  struct HeadScan {
    bool done = false;              // the head's empty line was seen
    bool seen_content = false;      // a non-empty line was seen (leading CRLFs are allowed)
    bool after_lf = false;          // the last byte ended a line
    bool after_cr = false;          // the last byte was a CR (an LF must follow)
    bool line_has_content = false;  // the current line has a byte other than CR
    // Responses: the status line's first bytes ("HTTP/1.1 200 "), to see that the code has
    // exactly three digits (llhttp takes "HTTP/1.1 0200").
    char status_line[13] = {};
    uint8_t status_line_bytes = 0;
  } head_scan_;
  HttpError error_ = HttpError::kNone;
  std::string error_reason_;
};

}  // namespace ringgate

#endif  // RINGGATE_HTTP_HTTP_PARSER_H_
