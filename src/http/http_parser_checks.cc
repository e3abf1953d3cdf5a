// http_parser_checks.cc
// What HttpParser refuses beyond llhttp's own checks, because the next hop might frame or route
// the message differently from us: line endings other than CRLF and obs-fold (ScanHeadLines),
// ambiguous or unsupported framing and a Connection header naming a control header
// (CheckFraming), and a missing, repeated or malformed Host or request target
// (CheckRequestTarget, which also rewrites an absolute-form target to origin-form).
#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>

#include "header_fields.h"
#include "ringgate/http/http_parser.h"

namespace ringgate {
namespace {

// End-to-end headers that frame or route a message, or say where it came from: a Connection
// header may not name them (that would make this hop drop them).
bool IsEndToEndControlHeader(std::string_view name) {
  return IsOneOf(name, {"host", "content-length", "transfer-encoding"}) || IsForwardingHeader(name);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsDigit(c) || (AsciiLower(c) >= 'a' && AsciiLower(c) <= 'z'); }

// RFC 3986 host [ ":" port ] as Host and absolute-form authorities carry it: a reg-name
// (unreserved, sub-delims, pct-encoded), an IPv4 address (a reg-name's characters), or an IP
// literal in brackets. No userinfo, no whitespace, nothing empty.
bool IsValidHost(std::string_view authority) {
  std::string_view host = authority;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : host.substr(1, close - 1)) {
      if (!(IsAlnum(c) || c == ':' || c == '.')) return false;
    }
    std::string_view after = host.substr(close + 1);
    if (!after.empty() && after.front() != ':') return false;
    port = after.empty() ? after : after.substr(1);
    if (after.empty()) return true;
  } else {
    const size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
      if (port.empty()) return false;
    }
    if (host.empty()) return false;
    for (size_t i = 0; i < host.size(); ++i) {
      const char c = host[i];
      if (IsAlnum(c) || std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos) {
        continue;
      }
      if (c == '%' && i + 2 < host.size() &&
          std::isxdigit(static_cast<unsigned char>(host[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(host[i + 2]))) {
        i += 2;
        continue;
      }
      return false;
    }
  }
  if (port.size() > 5) return false;
  for (char c : port) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

}  // namespace

// Everything about a head that could make the next hop frame the message differently from us.
bool HttpParser::CheckFraming() {
  const HttpHead& h = head_;
  if (h.version_major != 1 || h.version_minor > 1) {
    return Refuse(HttpError::kMalformed, "HTTP version other than 1.0 or 1.1");
  }
  bool transfer_encoding = false;
  int codings = 0;
  bool only_chunked = true;
  for (const auto& [name, value] : h.headers) {
    // RFC 9112 5.1: whitespace between a field name and its colon must be answered with 400
    // (an intermediary might otherwise read "Content-Length " differently from the backend).
    if (name.find_first_of(" \t") != std::string::npos) {
      return Refuse(HttpError::kMalformed, "whitespace in a header name");
    }
    if (name.empty()) return Refuse(HttpError::kMalformed, "a header line without a name");
    if (EqualsIgnoreCase(name, "transfer-encoding")) {
      transfer_encoding = true;
      // Every element counts, empty ones too: "Transfer-Encoding: , chunked" is not taken.
      ForEachListElement(value, [&](std::string_view coding) {
        ++codings;
        only_chunked &= EqualsIgnoreCase(coding, "chunked");
        return true;
      });
    }
    if (EqualsIgnoreCase(name, "connection")) {
      // Connection names headers this hop removes. Removing one that frames or routes the
      // message is how a body becomes a second request at the backend.
      bool names_control_header = false;
      ForEachListToken(value, [&](std::string_view token) {
        names_control_header |= IsEndToEndControlHeader(token);
        return !names_control_header;
      });
      if (names_control_header) {
        return Refuse(HttpError::kMalformed,
                      "Connection names a framing, routing or forwarding header");
      }
    }
  }
  // RFC 9112 6.3: a Transfer-Encoding that does not end in chunked leaves a request without a
  // reliable length, and a response with only close-delimited framing (llhttp checks requests,
  // except on the Upgrade path, which would forward such a request as body-less while the
  // backend frames it some other way). And the proxy re-frames chunked bodies and writes
  // `Transfer-Encoding: chunked` itself: any other coding (gzip, chunked) would reach the next
  // hop undeclared. So chunked alone is the only Transfer-Encoding taken.
  if (transfer_encoding && (!h.chunked || codings != 1 || !only_chunked)) {
    return Refuse(HttpError::kMalformed, "a Transfer-Encoding other than chunked alone");
  }
  if (kind_ == Kind::kResponse) {
    // The status line is rebuilt from these: a code outside 100-599 or a reason phrase with
    // control characters would be passed on as something the client reads differently.
    if (h.status_code < 100 || h.status_code > 599) {
      return Refuse(HttpError::kMalformed, "status code outside 100-599");
    }
    for (char c : h.reason) {
      const auto byte = static_cast<unsigned char>(c);
      if ((byte < 0x20 && c != '\t') || byte == 0x7f) {
        return Refuse(HttpError::kMalformed, "control character in the reason phrase");
      }
    }
  }
  // RFC 9112 6.1: HTTP/1.0 has no Transfer-Encoding; a message that carries one has faulty
  // framing (a 1.0 peer downstream would read the chunks as the body itself).
  if (transfer_encoding && h.http10()) {
    return Refuse(HttpError::kMalformed, "Transfer-Encoding in an HTTP/1.0 message");
  }
  if (h.has_content_length && h.content_length >= 1'000'000'000'000'000'000) {
    return Refuse(HttpError::kMalformed, "Content-Length of 10^18 bytes or more");
  }
  if (transfer_encoding && h.has_content_length) {
    return Refuse(HttpError::kMalformed, "both Content-Length and Transfer-Encoding");
  }
  if (kind_ == Kind::kRequest && limits_.max_body_bytes != 0 && h.has_content_length &&
      h.content_length > limits_.max_body_bytes) {
    return Refuse(HttpError::kBodyTooLarge, "Content-Length above the body limit");
  }
  return true;
}

// RFC 9112 3.2: Host and the request target. Leaves head_.host (what to forward as Host) and
// head_.target in origin-form (or "*").
bool HttpParser::CheckRequestTarget() {
  HttpHead& h = head_;
  if (h.method == "CONNECT" || h.method == "TRACE") {
    return Refuse(HttpError::kMethodNotAllowed, "CONNECT and TRACE are not served");
  }
  int hosts = 0;
  for (const auto& [name, value] : h.headers) {
    if (!EqualsIgnoreCase(name, "host")) continue;
    if (++hosts > 1) return Refuse(HttpError::kMalformed, "more than one Host");
    h.host = std::string(StripWhitespace(value));
  }
  if (hosts == 0 && !h.http10()) {
    return Refuse(HttpError::kMalformed, "HTTP/1.1 request without Host");
  }
  if (hosts == 1 && !IsValidHost(h.host)) return Refuse(HttpError::kMalformed, "malformed Host");

  std::string_view target = h.target;
  // A fragment is the client's own business (RFC 9110 4.2.4); in a request target it is one
  // more thing the backend might read differently.
  if (target.find('#') != std::string_view::npos) {
    return Refuse(HttpError::kMalformed, "a fragment (#) in the request target");
  }
  if (target == "*") {
    if (h.method != "OPTIONS") {
      return Refuse(HttpError::kMalformed, "* target for a method other than OPTIONS");
    }
    return true;
  }
  if (!target.empty() && target.front() == '/') return true;
  // Absolute-form: the authority replaces Host (RFC 9112 3.2.2), the backend gets origin-form.
  const size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos ||
      !(EqualsIgnoreCase(target.substr(0, scheme_end), "http") ||
        EqualsIgnoreCase(target.substr(0, scheme_end), "https"))) {
    return Refuse(HttpError::kMalformed, "request target neither origin-form nor an http(s) URI");
  }
  std::string_view rest = target.substr(scheme_end + 3);
  const size_t path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  if (!IsValidHost(authority)) {
    return Refuse(HttpError::kMalformed, "malformed authority in the request target");
  }
  std::string_view path =
      path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
  std::string origin_form = path.empty() || path.front() != '/' ? "/" : "";
  origin_form.append(path);
  h.host = std::string(authority);
  h.target = std::move(origin_form);
  return true;
}

// Line endings in a head are CRLF and nothing else, and no line begins with SP or HT (obs-fold).
// A bare LF or CR is where two parsers most often disagree on where a head ends; RFC 9112 2.2
// and 5.2 allow refusing both. llhttp 9 refuses a bare LF and obs-fold itself (8.1 took both),
// but still skips a CR before the request line: this scan keeps the rule in one place whatever
// llhttp's version does. Scans only head bytes (up to the empty line), across Execute calls.
// Returns why the head is refused, or nullptr.
const char* HttpParser::ScanHeadLines(std::string_view data) {
  const size_t n = data.size();
  size_t i = 0;
  while (i < n && !head_scan_.done) {
    // Where the current line ends in this slice: the rest of the line is found with memchr, not
    // byte by byte.
    const void* lf = std::memchr(data.data() + i, '\n', n - i);
    const size_t end =
        lf != nullptr ? static_cast<size_t>(static_cast<const char*>(lf) - data.data()) : n;
    if (i < end) {
      if (head_scan_.after_cr) return "bare CR in the head";  // a CR ended the last slice
      // Only a line's first byte can start a fold.
      if (head_scan_.after_lf && head_scan_.seen_content && (data[i] == ' ' || data[i] == '\t')) {
        return "obsolete line folding in a header";
      }
      head_scan_.after_lf = false;
      if (kind_ == Kind::kResponse && !head_scan_.seen_content) {
        const size_t room = sizeof head_scan_.status_line - head_scan_.status_line_bytes;
        const size_t n_copy = std::min(room, end - i);
        std::memcpy(head_scan_.status_line + head_scan_.status_line_bytes, data.data() + i, n_copy);
        head_scan_.status_line_bytes = static_cast<uint8_t>(head_scan_.status_line_bytes + n_copy);
      }
      const void* cr = std::memchr(data.data() + i, '\r', end - i);
      const size_t cr_at =
          cr != nullptr ? static_cast<size_t>(static_cast<const char*>(cr) - data.data()) : end;
      if (cr_at + 1 < end) return "bare CR in the head";
      if (cr_at > i) head_scan_.line_has_content = true;
      head_scan_.after_cr = cr_at == end - 1 && cr != nullptr;
    }
    if (lf == nullptr) break;
    if (!head_scan_.after_cr) return "bare LF in the head";
    head_scan_.after_cr = false;
    if (kind_ == Kind::kResponse && head_scan_.line_has_content && !head_scan_.seen_content) {
      // "HTTP/1.1 " then three digits, then a space or the line's end.
      const char* s = head_scan_.status_line;
      auto digit = [](char c) { return c >= '0' && c <= '9'; };
      if (head_scan_.status_line_bytes < 13 || !digit(s[9]) || !digit(s[10]) || !digit(s[11]) ||
          (s[12] != ' ' && s[12] != '\r')) {
        return "status code not three digits";
      }
    }
    if (head_scan_.line_has_content) {
      head_scan_.seen_content = true;
    } else if (head_scan_.seen_content) {
      head_scan_.done = true;  // the empty line: the body (if any) follows
    }
    head_scan_.after_lf = true;
    head_scan_.line_has_content = false;
    i = end + 1;
  }
  return nullptr;
}

}  // namespace ringgate
