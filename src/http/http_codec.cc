#include "ringgate/http/http_codec.h"

#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <iterator>

#include "fmt/format.h"

namespace ringgate {
namespace {

// Debian's abseil has its own string_view type, so these few helpers stay local.
char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

std::string_view StripWhitespace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `visit` with each element of a comma-separated field value, trimmed, empty ones
// included, until it returns false.
template <class Visit>
void ForEachListElement(std::string_view list, Visit visit) {
  while (true) {
    const size_t comma = list.find(',');
    if (!visit(StripWhitespace(list.substr(0, comma)))) return;
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

// The same for the non-empty elements only (recipients ignore empty ones, RFC 9110 5.6.1).
template <class Visit>
void ForEachListToken(std::string_view list, Visit visit) {
  ForEachListElement(list, [&](std::string_view token) { return token.empty() || visit(token); });
}

bool IsOneOf(std::string_view name, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) {
    if (EqualsIgnoreCase(name, n)) return true;
  }
  return false;
}

// Headers a client may set only as far as ringgate's forwarding policy allows (docs/http.md).
bool IsForwardingHeader(std::string_view name) {
  return IsOneOf(name, {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                        "x-forwarded-port", "x-real-ip", "forwarded"});
}

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

std::string_view HttpHead::Find(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return {};
}

HttpParser::HttpParser(Kind kind, size_t max_head_bytes)
    : HttpParser(kind, HttpLimits{max_head_bytes, 1000, max_head_bytes}) {}

HttpParser::HttpParser(Kind kind, const HttpLimits& limits) : kind_(kind), limits_(limits) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = &HttpParser::OnMessageBegin;
  settings_.on_url = &HttpParser::OnUrl;
  settings_.on_status = &HttpParser::OnStatus;
  settings_.on_header_field = &HttpParser::OnHeaderField;
  settings_.on_header_value = &HttpParser::OnHeaderValue;
  settings_.on_headers_complete = &HttpParser::OnHeadersComplete;
  settings_.on_body = &HttpParser::OnBody;
  settings_.on_chunk_header = &HttpParser::OnChunkHeader;
  settings_.on_chunk_complete = &HttpParser::OnChunkComplete;
  settings_.on_message_complete = &HttpParser::OnMessageComplete;
  llhttp_init(&parser_, kind == Kind::kRequest ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
  parser_.data = this;
}

bool HttpParser::CountHeadBytes(size_t len) {
  head_bytes_ += len;
  if (head_bytes_ <= limits_.max_head_bytes) return true;
  error_ = HttpError::kHeadTooLarge;
  error_reason_ = "head larger than the limit";
  return false;
}

int HttpParser::OnMessageBegin(llhttp_t* p) {
  HttpParser* self = Self(p);
  // Reset field by field: clear() keeps the strings' and the vector's storage for the next
  // message on this connection.
  HttpHead& h = self->head_;
  h.method.clear();
  h.target.clear();
  h.status_code = 0;
  h.reason.clear();
  h.version_major = h.version_minor = 1;
  h.headers.clear();
  h.host.clear();
  h.content_length = 0;
  h.keep_alive = true;
  h.chunked = h.has_content_length = h.expect_continue = h.upgrade = false;
  self->head_bytes_ = 0;
  self->no_body_ = false;
  self->in_message_ = true;
  self->last_was_value_ = false;
  return 0;
}

int HttpParser::OnUrl(llhttp_t* p, const char* at, size_t len) {
  HttpParser* self = Self(p);
  if (!self->CountHeadBytes(len)) return -1;
  self->head_.target.append(at, len);
  if (self->head_.target.size() > self->limits_.max_target_bytes) {
    self->error_ = HttpError::kTargetTooLong;
    self->error_reason_ = "request target longer than the limit";
    return -1;
  }
  return 0;
}

int HttpParser::OnStatus(llhttp_t* p, const char* at, size_t len) {
  HttpParser* self = Self(p);
  if (!self->CountHeadBytes(len)) return -1;
  self->head_.reason.append(at, len);
  return 0;
}

int HttpParser::OnHeaderField(llhttp_t* p, const char* at, size_t len) {
  HttpParser* self = Self(p);
  if (!self->CountHeadBytes(len)) return -1;
  if (self->head_taken_ || self->head_ready_) return 0;  // trailers: dropped
  if (self->last_was_value_ || self->head_.headers.empty()) {
    if (self->head_.headers.size() >= self->limits_.max_headers) {
      self->error_ = HttpError::kHeadTooLarge;
      self->error_reason_ = "more header fields than the limit";
      return -1;
    }
    self->head_.headers.emplace_back();
  }
  self->last_was_value_ = false;
  self->head_.headers.back().first.append(at, len);
  return 0;
}

int HttpParser::OnHeaderValue(llhttp_t* p, const char* at, size_t len) {
  HttpParser* self = Self(p);
  if (!self->CountHeadBytes(len)) return -1;
  if (self->head_taken_ || self->head_ready_) return 0;
  self->last_was_value_ = true;
  self->head_.headers.back().second.append(at, len);
  return 0;
}

bool HttpParser::Refuse(HttpError error, const char* reason) {
  error_ = error;
  error_reason_ = reason;
  return false;
}

int HttpParser::OnHeadersComplete(llhttp_t* p) {
  HttpParser* self = Self(p);
  HttpHead& h = self->head_;
  h.version_major = p->http_major;
  h.version_minor = p->http_minor;
  if (self->kind_ == Kind::kRequest) {
    h.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
  } else {
    h.status_code = p->status_code;
  }
  h.keep_alive = llhttp_should_keep_alive(p) != 0;
  h.chunked = (p->flags & F_CHUNKED) != 0;
  h.has_content_length = (p->flags & F_CONTENT_LENGTH) != 0;
  h.content_length = h.has_content_length ? p->content_length : 0;
  h.upgrade = p->upgrade != 0;
  h.expect_continue = EqualsIgnoreCase(StripWhitespace(h.Find("expect")), "100-continue");
  if (!self->CheckFraming()) return -1;
  if (self->kind_ == Kind::kRequest && !self->CheckRequestTarget()) return -1;
  self->head_ready_ = true;
  self->body_bytes_ = 0;
  if (self->kind_ == Kind::kResponse) {
    // No body, whatever Content-Length or Transfer-Encoding say (RFC 9110 6.4.1): a response to
    // HEAD, an interim response, 204 and 304. Reading one would wait for bytes that never come.
    const int code = h.status_code;
    if ((self->skip_body_ && code >= 200) || (code >= 100 && code < 200 && code != 101) ||
        code == 204 || code == 304) {
      self->no_body_ = true;
      return 1;
    }
  }
  return 0;
}

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

int HttpParser::OnBody(llhttp_t* p, const char* at, size_t len) {
  HttpParser* self = Self(p);
  self->body_bytes_ += len;
  if (self->limits_.max_body_bytes != 0 && self->body_bytes_ > self->limits_.max_body_bytes) {
    self->Refuse(HttpError::kBodyTooLarge, "request body above the limit");
    return -1;
  }
  self->body_out_->append(at, len);
  return 0;
}

int HttpParser::OnChunkHeader(llhttp_t* p) {
  HttpParser* self = Self(p);
  self->chunk_size_ = p->content_length;
  if (self->chunk_size_ > 0 && !self->dechunk_) {
    fmt::format_to(std::back_inserter(*self->body_out_), "{:x}\r\n", self->chunk_size_);
  }
  // Sizes this large are no real body, and a next hop may parse them differently.
  if (self->chunk_size_ >= (uint64_t{1} << 60)) {
    self->Refuse(HttpError::kMalformed, "chunk size beyond 2^60");
    return -1;
  }
  if (self->chunk_size_ == 0) {
    // The last chunk: the trailer section follows, whose lines get the head's checks. Execute
    // learns where it starts from this pause.
    self->trailers_begin_ = true;
    return HPE_PAUSED;
  }
  return 0;
}

int HttpParser::OnChunkComplete(llhttp_t* p) {
  HttpParser* self = Self(p);
  if (self->chunk_size_ > 0 && !self->dechunk_) self->body_out_->append("\r\n");
  return 0;
}

int HttpParser::OnMessageComplete(llhttp_t* p) {
  HttpParser* self = Self(p);
  if (self->head_.chunked && !self->dechunk_ && !self->no_body_) {
    self->body_out_->append("0\r\n\r\n");
  }
  self->message_complete_ = true;
  self->in_message_ = false;
  return HPE_PAUSED;  // let the caller finish this exchange before the next message
}

size_t HttpParser::Execute(std::string_view data, std::string& body_out) {
  if (error_ != HttpError::kNone || message_complete_ || data.empty()) return 0;
  if (const char* refused = ScanHeadLines(data)) {
    error_ = HttpError::kMalformed;
    error_reason_ = refused;
    return 0;
  }
  body_out_ = &body_out;
  const char* const end = data.data() + data.size();
  llhttp_errno_t err = llhttp_execute(&parser_, data.data(), data.size());
  while (err == HPE_PAUSED && trailers_begin_) {
    trailers_begin_ = false;
    const char* trailers = llhttp_get_error_pos(&parser_);
    llhttp_resume(&parser_);
    head_scan_ = HeadScan{};
    head_scan_.seen_content = head_scan_.after_lf = true;  // no status line in a trailer section
    if (const char* refused = ScanHeadLines({trailers, static_cast<size_t>(end - trailers)})) {
      body_out_ = nullptr;
      error_ = HttpError::kMalformed;
      error_reason_ = fmt::format("{} (trailer section)", refused);
      return 0;
    }
    err = llhttp_execute(&parser_, trailers, static_cast<size_t>(end - trailers));
  }
  body_out_ = nullptr;
  if (err == HPE_OK) return data.size();
  if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
    const char* pos = llhttp_get_error_pos(&parser_);
    llhttp_resume(&parser_);
    if (err == HPE_PAUSED_UPGRADE) llhttp_resume_after_upgrade(&parser_);
    return pos == nullptr ? data.size() : static_cast<size_t>(pos - data.data());
  }
  if (error_ == HttpError::kNone) {
    error_ = HttpError::kMalformed;
    const char* reason = llhttp_get_error_reason(&parser_);
    error_reason_ = fmt::format("{}: {}", llhttp_errno_name(err), reason ? reason : "");
  }
  return 0;
}

bool HttpParser::Finish(std::string& body_out) {
  if (!in_message_) return true;
  body_out_ = &body_out;
  llhttp_errno_t err = llhttp_finish(&parser_);
  body_out_ = nullptr;
  if (err == HPE_OK || err == HPE_PAUSED) return message_complete_;
  error_ = HttpError::kMalformed;
  error_reason_ = "message cut short by EOF";
  return false;
}

bool HttpParser::needs_eof() const { return llhttp_message_needs_eof(&parser_) != 0; }

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
    const size_t end = lf != nullptr ? static_cast<size_t>(static_cast<const char*>(lf) - data.data()) : n;
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

bool HttpParser::TakeHead() {
  if (!head_ready_ || head_taken_) return false;
  head_taken_ = true;
  return true;
}

void HttpParser::StartNextMessage() {
  head_scan_ = HeadScan{};
  message_complete_ = false;
  head_ready_ = false;
  head_taken_ = false;
  chunk_size_ = 0;
}

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

int RequestErrorStatus(HttpError error) {
  switch (error) {
    case HttpError::kHeadTooLarge: return 431;
    case HttpError::kTargetTooLong: return 414;
    case HttpError::kMethodNotAllowed: return 405;
    case HttpError::kBodyTooLarge: return 413;
    default: return 400;
  }
}

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
  out.append(forwarding.client_ip).append("\r\nX-Forwarded-Proto: https\r\n\r\n");
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
  const char status[] = {'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ',
                         static_cast<char>('0' + code / 100 % 10),
                         static_cast<char>('0' + code / 10 % 10),
                         static_cast<char>('0' + code % 10), ' '};
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
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
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

}  // namespace ringgate
