#include "ringgate/http_codec.h"

#include <cstdio>
#include <cstring>
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
  h.keep_alive = true;
  h.chunked = h.has_content_length = h.expect_continue = h.upgrade = false;
  self->head_bytes_ = 0;
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

int HttpParser::OnHeadersComplete(llhttp_t* p) {
  HttpParser* self = Self(p);
  HttpHead& h = self->head_;
  for (const auto& [name, value] : h.headers) {
    // RFC 9112 5.1: whitespace between a field name and its colon must be answered with 400
    // (an intermediary might otherwise read "Content-Length " differently from the backend).
    if (name.find_first_of(" \t") != std::string::npos) {
      self->error_ = HttpError::kMalformed;
      self->error_reason_ = "whitespace in a header name";
      return -1;
    }
  }
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
  h.upgrade = p->upgrade != 0;
  h.expect_continue = EqualsIgnoreCase(StripWhitespace(h.Find("expect")),
                                             "100-continue");
  // RFC 9112 6.3: a request whose Transfer-Encoding does not end in chunked has no reliable
  // length: 400. llhttp checks this, except on the Upgrade path, which would forward such a
  // request as body-less while the backend frames it some other way.
  if (self->kind_ == Kind::kRequest && !h.chunked) {
    for (const auto& [name, value] : h.headers) {
      if (EqualsIgnoreCase(name, "transfer-encoding")) {
        self->error_ = HttpError::kMalformed;
        self->error_reason_ = "Transfer-Encoding without chunked as the final coding";
        return -1;
      }
    }
  }
  self->head_ready_ = true;
  // A response to HEAD has no body whatever its Content-Length says.
  if (self->kind_ == Kind::kResponse && self->skip_body_ && h.status_code >= 200) return 1;
  return 0;
}

int HttpParser::OnBody(llhttp_t* p, const char* at, size_t len) {
  Self(p)->body_out_->append(at, len);
  return 0;
}

int HttpParser::OnChunkHeader(llhttp_t* p) {
  HttpParser* self = Self(p);
  self->chunk_size_ = p->content_length;
  if (self->chunk_size_ > 0) {
    fmt::format_to(std::back_inserter(*self->body_out_), "{:x}\r\n", self->chunk_size_);
  }
  return 0;
}

int HttpParser::OnChunkComplete(llhttp_t* p) {
  HttpParser* self = Self(p);
  if (self->chunk_size_ > 0) self->body_out_->append("\r\n");
  return 0;
}

int HttpParser::OnMessageComplete(llhttp_t* p) {
  HttpParser* self = Self(p);
  if (self->head_.chunked) self->body_out_->append("0\r\n\r\n");
  self->message_complete_ = true;
  self->in_message_ = false;
  return HPE_PAUSED;  // let the caller finish this exchange before the next message
}

size_t HttpParser::Execute(std::string_view data, std::string& body_out) {
  if (error_ != HttpError::kNone || message_complete_ || data.empty()) return 0;
  if (ScanHeadForObsFold(data)) {
    error_ = HttpError::kMalformed;
    error_reason_ = "obsolete line folding in a header";
    return 0;
  }
  body_out_ = &body_out;
  llhttp_errno_t err = llhttp_execute(&parser_, data.data(), data.size());
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

// In a head, no line may begin with SP or HT: that is obs-fold, which llhttp silently joins.
// RFC 9112 5.2 allows refusing it, and the proxy does, so that nothing is reinterpreted on its
// way to the backend. Scans only head bytes (up to the empty line), across Execute calls.
bool HttpParser::ScanHeadForObsFold(std::string_view data) {
  const size_t n = data.size();
  size_t i = 0;
  while (i < n) {
    if (head_scan_.done) return false;
    const char c = data[i];
    if (c == '\n') {
      if (head_scan_.line_has_content) {
        head_scan_.seen_content = true;
      } else if (head_scan_.seen_content) {
        head_scan_.done = true;  // the empty line: the body (if any) follows
      }
      head_scan_.after_lf = true;
      head_scan_.line_has_content = false;
      ++i;
      continue;
    }
    // Only a line's first byte can start a fold.
    if (head_scan_.after_lf && head_scan_.seen_content && (c == ' ' || c == '\t')) return true;
    head_scan_.after_lf = false;
    // The rest of the line up to its LF (found with memchr, not byte by byte): all that matters
    // is whether it holds a byte other than CR.
    const void* lf = std::memchr(data.data() + i, '\n', n - i);
    const size_t end = lf != nullptr ? static_cast<size_t>(static_cast<const char*>(lf) - data.data()) : n;
    for (size_t j = i; j < end && !head_scan_.line_has_content; ++j) {
      if (data[j] != '\r') head_scan_.line_has_content = true;
    }
    i = end;
  }
  return false;
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
  static constexpr std::string_view kHopByHop[] = {
      "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
      "proxy-authenticate", "proxy-authorization"};
  for (std::string_view h : kHopByHop) {
    if (EqualsIgnoreCase(name, h)) return true;
  }
  return false;
}

// True for a header that this hop must not forward: fixed hop-by-hop ones, and any that the
// message's own Connection header (`connection`, its value) names.
bool DropHeader(std::string_view connection, std::string_view name) {
  if (IsHopByHop(name)) return true;
  while (!connection.empty()) {
    size_t comma = connection.find(',');
    std::string_view token = StripWhitespace(connection.substr(0, comma));
    if (EqualsIgnoreCase(token, name)) return true;
    if (comma == std::string_view::npos) break;
    connection.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

// Plain appends, not fmt: this runs once per request and fmt's format-string parsing showed up
// in its profile (bench/micro).
void AppendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

std::string BuildUpstreamRequestHead(const HttpHead& request, std::string_view client_ip) {
  size_t size = 96 + request.method.size() + request.target.size() + client_ip.size();
  for (const auto& [name, value] : request.headers) size += name.size() + value.size() + 4;
  std::string out;
  out.reserve(size);
  out.append(request.method).append(" ").append(request.target).append(" HTTP/1.1\r\n");
  const std::string_view connection = request.Find("connection");
  std::string_view first_forwarded_for;
  std::string more_forwarded_for;  // only when a client sent several X-Forwarded-For fields
  for (const auto& [name, value] : request.headers) {
    if (DropHeader(connection, name) || EqualsIgnoreCase(name, "expect") ||
        EqualsIgnoreCase(name, "x-forwarded-proto")) {
      continue;
    }
    if (EqualsIgnoreCase(name, "x-forwarded-for")) {
      if (first_forwarded_for.empty()) {
        first_forwarded_for = value;
      } else {
        more_forwarded_for.append(", ").append(value);
      }
      continue;
    }
    AppendField(out, name, value);
  }
  out.append("X-Forwarded-For: ");
  if (!first_forwarded_for.empty()) {
    out.append(first_forwarded_for).append(more_forwarded_for).append(", ");
  }
  out.append(client_ip).append("\r\nX-Forwarded-Proto: https\r\n\r\n");
  return out;
}

std::string BuildClientResponseHead(const HttpHead& response, bool close_connection) {
  size_t size = 64 + response.reason.size();
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
  const std::string_view connection = response.Find("connection");
  for (const auto& [name, value] : response.headers) {
    if (DropHeader(connection, name)) continue;
    AppendField(out, name, value);
  }
  if (close_connection) out += "Connection: close\r\n";
  out += "\r\n";
  return out;
}

std::string_view StatusReason(int status_code) {
  switch (status_code) {
    case 100: return "Continue";
    case 200: return "OK";
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
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}",
      status_code, StatusReason(status_code), body.size(), body);
}

}  // namespace ringgate
