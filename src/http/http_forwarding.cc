// http_forwarding.cc
// The heads ringgate writes from a parsed one: the request head for the backend (forwarding
// policy, hop-by-hop removal, the parser's framing), the response framing and head for the
// client, and the proxy's own error responses.
#include "ringgate/http/http_forwarding.h"

#include <array>
#include <cstddef>
#include <cstdint>

#include "fmt/format.h"
#include "header_fields.h"

namespace ringgate {

namespace {

bool IsHopByHop(std::string_view name) {
  return IsOneOf(name, {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
                        "proxy-authenticate", "proxy-authorization"});
}

// Which headers this hop never passes on as they came: hop-by-hop ones, those the message's
// Connection fields name, and the framing ones, which the proxy writes itself. The Connection
// fields are found once per head, not once per header (this runs for every forwarded message).
class DroppedHeaders {
 public:
  explicit DroppedHeaders(const HttpHead& head) : head_(head) {
    for (const auto& [field, value] : head.headers) {
      if (!EqualsIgnoreCase(field, "connection")) continue;
      if (count_ < connection_.size()) connection_[count_] = value;
      ++count_;
    }
  }

  bool Drops(std::string_view name) const {
    if (IsHopByHop(name) || IsOneOf(name, {"content-length", "transfer-encoding"})) return true;
    if (count_ == 0) return false;
    bool named = false;
    auto names = [&](std::string_view token) {
      named = EqualsIgnoreCase(token, name);
      return !named;
    };
    if (count_ <= connection_.size()) {
      for (size_t i = 0; i < count_ && !named; ++i) ForEachListToken(connection_[i], names);
      return named;
    }
    // More Connection fields than kept above (no real client sends that many): read them all.
    for (const auto& [field, value] : head_.headers) {
      if (EqualsIgnoreCase(field, "connection")) ForEachListToken(value, names);
      if (named) return true;
    }
    return false;
  }

 private:
  const HttpHead& head_;
  std::array<std::string_view, 4> connection_;
  size_t count_ = 0;
};

// Plain appends, not fmt: this runs once per request and fmt's format-string parsing showed up
// in its profile (bench/micro).
void AppendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

void AppendContentLength(std::string& out, uint64_t length) {
  char digits[20];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + length % 10);
    length /= 10;
  } while (length != 0);
  out.append("Content-Length: ");
  while (n > 0) out.push_back(digits[--n]);
  out.append("\r\n");
}

}  // namespace

std::string BuildUpstreamRequestHead(const HttpHead& request, const ForwardingContext& forwarding) {
  size_t size = 128 + request.method.size() + request.target.size() + request.host.size() +
                forwarding.client_ip.size() + forwarding.default_host.size();
  for (const auto& [name, value] : request.headers) size += name.size() + value.size() + 4;
  std::string out;
  out.reserve(size);
  out.append(request.method).append(" ").append(request.target).append(" HTTP/1.1\r\n");
  AppendField(out, "Host", request.host.empty() ? forwarding.default_host : request.host);
  const DroppedHeaders dropped(request);
  std::string_view first_forwarded_for;
  std::string more_forwarded_for;  // only when a client sent several X-Forwarded-For fields
  for (const auto& [name, value] : request.headers) {
    if (dropped.Drops(name) || IsOneOf(name, {"host", "expect", "x-forwarded-proto"})) {
      continue;
    }
    // Backends that map header names to CGI-style variables (WSGI, PHP-FPM, Rack) read
    // X_Forwarded_For as X-Forwarded-For: a name with an underscore could smuggle in what the
    // forwarding policy removes. As nginx does by default, such headers are not forwarded.
    if (name.find('_') != std::string::npos) continue;
    if (IsForwardingHeader(name)) {
      // From an untrusted peer, none of them: it could claim any address.
      if (!forwarding.client_trusted) continue;
      if (EqualsIgnoreCase(name, "x-forwarded-for")) {
        if (first_forwarded_for.empty()) {
          first_forwarded_for = value;
        } else {
          more_forwarded_for.append(", ").append(value);
        }
        continue;
      }
    }
    AppendField(out, name, value);
  }
  if (request.chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  } else if (request.has_content_length) {
    AppendContentLength(out, request.content_length);
  }
  out.append("X-Forwarded-For: ");
  if (!first_forwarded_for.empty()) {
    out.append(first_forwarded_for).append(more_forwarded_for).append(", ");
  }
  out.append(forwarding.client_ip).append("\r\nX-Forwarded-Proto: https\r\n");
  if (forwarding.websocket_upgrade) out.append("Connection: upgrade\r\nUpgrade: websocket\r\n");
  out.append("\r\n");
  return out;
}

namespace {

// Whether one of the message's `name` fields lists `token` (case-insensitive).
bool ListsToken(const HttpHead& head, std::string_view name, std::string_view token) {
  bool found = false;
  for (const auto& [field, value] : head.headers) {
    if (!EqualsIgnoreCase(field, name)) continue;
    ForEachListToken(value, [&](std::string_view t) {
      found = EqualsIgnoreCase(t, token);
      return !found;
    });
    if (found) return true;
  }
  return false;
}

}  // namespace

bool IsWebSocketUpgrade(const HttpHead& request) {
  return request.upgrade && request.method == "GET" && request.version_major == 1 &&
         request.version_minor == 1 && !request.chunked && request.content_length == 0 &&
         ListsToken(request, "connection", "upgrade") &&
         ListsToken(request, "upgrade", "websocket");
}

bool IsWebSocketSwitch(const HttpHead& response) {
  return response.status_code == 101 && ListsToken(response, "upgrade", "websocket");
}

std::string BuildSwitchingProtocolsHead(const HttpHead& response) {
  std::string out = "HTTP/1.1 101 Switching Protocols\r\n";
  const DroppedHeaders dropped(response);
  for (const auto& [name, value] : response.headers) {
    if (dropped.Drops(name)) continue;
    AppendField(out, name, value);
  }
  out.append("Upgrade: websocket\r\nConnection: upgrade\r\n\r\n");
  return out;
}

BodyFraming ChooseResponseFraming(const HttpHead& response, bool request_was_head,
                                  bool client_http10) {
  const int code = response.status_code;
  if (request_was_head || code < 200 || code == 204 || code == 304) return BodyFraming::kNone;
  if (response.chunked) return client_http10 ? BodyFraming::kUntilClose : BodyFraming::kChunked;
  if (response.has_content_length) return BodyFraming::kContentLength;
  return BodyFraming::kUntilClose;
}

std::string BuildClientResponseHead(const HttpHead& response, BodyFraming framing,
                                    bool close_connection, bool client_http10) {
  size_t size = 96 + response.reason.size();
  for (const auto& [name, value] : response.headers) size += name.size() + value.size() + 4;
  std::string out;
  out.reserve(size);
  // llhttp accepts only three-digit status codes, so the digits are written directly (this runs
  // once per response; snprintf's format parsing showed in keep-alive profiles).
  const int code = response.status_code;
  const char status[] = {'H',
                         'T',
                         'T',
                         'P',
                         '/',
                         '1',
                         '.',
                         '1',
                         ' ',
                         static_cast<char>('0' + code / 100 % 10),
                         static_cast<char>('0' + code / 10 % 10),
                         static_cast<char>('0' + code % 10),
                         ' '};
  out.append(status, sizeof status);
  out.append(response.reason.empty() ? StatusReason(response.status_code)
                                     : std::string_view(response.reason));
  out.append("\r\n");
  const DroppedHeaders dropped(response);
  for (const auto& [name, value] : response.headers) {
    if (dropped.Drops(name)) continue;
    AppendField(out, name, value);
  }
  switch (framing) {
    case BodyFraming::kContentLength:
      AppendContentLength(out, response.content_length);
      break;
    case BodyFraming::kChunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case BodyFraming::kNone:
      // A 304 or a response to HEAD describes the representation's length: it is kept. A 204 or
      // 1xx has none (RFC 9110 8.6).
      if (response.has_content_length && code != 204 && code >= 200) {
        AppendContentLength(out, response.content_length);
      }
      break;
    case BodyFraming::kUntilClose:
      break;
  }
  if (close_connection) {
    out += "Connection: close\r\n";
  } else if (client_http10) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  return out;
}

std::string_view StatusReason(int status_code) {
  switch (status_code) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

std::string BuildErrorResponse(int status_code) {
  std::string body = fmt::format("{} {}\n", status_code, StatusReason(status_code));
  // 405 must say what is allowed (RFC 9110 15.5.6).
  const std::string_view allow =
      status_code == 405 ? "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n" : "";
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}"
      "Connection: close\r\n\r\n{}",
      status_code, StatusReason(status_code), body.size(), allow, body);
}

std::string BuildServiceUnavailableResponse(int64_t retry_after_seconds, bool close_connection,
                                            bool request_was_head, bool client_http10) {
  constexpr std::string_view kBody = "503 Service Unavailable: no backend is available\n";
  // An HTTP/1.0 client keeps the connection only when told so (RFC 9112 9.3).
  const std::string_view connection = close_connection ? "Connection: close\r\n"
                                      : client_http10  ? "Connection: keep-alive\r\n"
                                                       : "";
  return fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n"
      "Retry-After: {}\r\n{}\r\n{}",
      kBody.size(), retry_after_seconds, connection, request_was_head ? "" : kBody);
}

}  // namespace ringgate
