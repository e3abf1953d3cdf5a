// http_codec.h
// The HTTP module in one include: the HTTP/1.1 parser over llhttp (http_parser.h), the head it
// fills in (http_head.h), and the heads, framing and error responses ringgate writes from it
// (http_forwarding.h). A parser consumes one direction of a connection and stops after every
// complete message; framing is the proxy's: the heads built here never copy the peer's
// Content-Length or Transfer-Encoding; they write the framing the parser decided (docs/http.md).
// Include the narrower header when only one half is used.
//
//   HttpParser parser(HttpParser::Kind::kRequest, /*max_head_bytes=*/65536);
//   std::string body;
//   size_t used = parser.Execute(bytes, body);
//   if (parser.TakeHead()) upstream_out += BuildUpstreamRequestHead(parser.head(), forwarding);
//   upstream_out += body;
//   if (parser.message_complete()) { ...; parser.StartNextMessage(); }
#ifndef RINGGATE_HTTP_HTTP_CODEC_H_
#define RINGGATE_HTTP_HTTP_CODEC_H_

#include "ringgate/http/http_forwarding.h"
#include "ringgate/http/http_head.h"
#include "ringgate/http/http_parser.h"

#endif  // RINGGATE_HTTP_HTTP_CODEC_H_
