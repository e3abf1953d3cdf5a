// http_codec.h
// HTTP/1.1 framing for the relay, over llhttp. A parser consumes one direction of a connection
// and stops after every complete message, so that a pipelined next request stays unparsed
// until the current one is answered.
// Bodies are streamed, never buffered whole: Content-Length bodies pass through verbatim,
// chunked bodies are re-chunked (trailers are dropped).
//
//   HttpParser parser(HttpParser::Kind::kRequest, /*max_head_bytes=*/65536);
//   std::string body;
//   size_t used = parser.Execute(bytes, body);
//   if (parser.TakeHead()) upstream_out += BuildUpstreamRequestHead(parser.head(), client_ip);
//   upstream_out += body;
//   if (parser.message_complete()) { ...; parser.StartNextMessage(); }
#ifndef RINGGATE_HTTP_CODEC_H_
#define RINGGATE_HTTP_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <llhttp.h>

namespace ringgate {

struct HttpHead {
  std::string method;  // requests
  std::string target;  // requests
  int status_code = 0;  // responses
  std::string reason;   // responses
  int version_major = 1;
  int version_minor = 1;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive = true;  // llhttp's verdict from version and Connection
  bool chunked = false;
  bool has_content_length = false;
  bool expect_continue = false;
  bool upgrade = false;

  // Case-insensitive lookup of the first header with this name; empty if absent.
  std::string_view Find(std::string_view name) const;
};

enum class HttpError : uint8_t {
  kNone,
  kMalformed,       // 400 for requests, 502 for responses
  kHeadTooLarge,    // 431 for requests (too many bytes or headers), 502 for responses
  kTargetTooLong,   // 414 for requests
};

struct HttpLimits {
  size_t max_head_bytes = 64 * 1024;
  size_t max_headers = 100;
  size_t max_target_bytes = 8 * 1024;
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
  size_t Execute(std::string_view data, std::string& body_out);
  // The peer closed: completes a message framed by EOF. Returns false if a message was cut.
  bool Finish(std::string& body_out);

  // True once, right after a head was parsed.
  bool TakeHead();
  const HttpHead& head() const { return head_; }
  bool in_message() const { return in_message_; }
  bool message_complete() const { return message_complete_; }
  bool needs_eof() const;  // the response body ends only at EOF
  void StartNextMessage();
  // For responses: the request was HEAD, so a body must not be read.
  void set_skip_body(bool skip) { skip_body_ = skip; }

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
  bool ScanHeadForObsFold(std::string_view data);

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
  bool last_was_value_ = false;
  uint64_t chunk_size_ = 0;
  std::string* body_out_ = nullptr;
  struct HeadScan {
    bool done = false;              // the head's empty line was seen
    bool seen_content = false;      // a non-empty line was seen (leading CRLFs are allowed)
    bool after_lf = false;          // the last byte ended a line
    bool line_has_content = false;  // the current line has a byte other than CR
  } head_scan_;
  HttpError error_ = HttpError::kNone;
  std::string error_reason_;
};

// The request head sent to the backend: HTTP/1.1, Host kept, hop-by-hop headers (and those
// named by Connection) removed, Expect removed (we answer 100-continue ourselves),
// X-Forwarded-For appended to and X-Forwarded-Proto set.
std::string BuildUpstreamRequestHead(const HttpHead& request, std::string_view client_ip);

// The response head sent to the client: hop-by-hop headers removed; `Connection: close` added
// when this response ends the connection.
std::string BuildClientResponseHead(const HttpHead& response, bool close_connection);

// A complete small response generated by the proxy itself (400, 431, 502, 504), which always
// closes the connection.
std::string BuildErrorResponse(int status_code);

std::string_view StatusReason(int status_code);

}  // namespace ringgate

#endif  // RINGGATE_HTTP_CODEC_H_
