// http_head.h
// A parsed HTTP/1.1 message head: what HttpParser (http_parser.h) fills in and what the
// forwarding functions (http_forwarding.h) read to write the head the next hop gets. The
// framing fields are the parser's verdict, not the peer's header text: the heads built from
// this never copy the peer's Content-Length or Transfer-Encoding.
//
//   const HttpHead& head = parser.head();
//   if (head.expect_continue) ...;
//   std::string_view accept = head.Find("accept");  // case-insensitive, first match
#ifndef RINGGATE_HTTP_HTTP_HEAD_H_
#define RINGGATE_HTTP_HTTP_HEAD_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringgate {

struct HttpHead {
  std::string method;   // requests
  std::string target;   // requests
  int status_code = 0;  // responses
  std::string reason;   // responses
  int version_major = 1;
  int version_minor = 1;
  std::vector<std::pair<std::string, std::string>> headers;
  // Requests: the Host to forward, from an absolute-form target's authority or else the Host
  // field; empty for an HTTP/1.0 request without one.
  std::string host;
  bool keep_alive = true;  // llhttp's verdict from version and Connection
  bool chunked = false;
  bool has_content_length = false;
  uint64_t content_length = 0;  // when has_content_length
  bool expect_continue = false;
  bool upgrade = false;

  // Case-insensitive lookup of the first header with this name; empty if absent.
  std::string_view Find(std::string_view name) const;
  bool http10() const { return version_major == 1 && version_minor == 0; }
};

}  // namespace ringgate

#endif  // RINGGATE_HTTP_HTTP_HEAD_H_
