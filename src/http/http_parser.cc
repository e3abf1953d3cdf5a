// http_parser.cc
// HttpParser over llhttp: the callbacks that fill in the head and re-frame the body, the pauses
// that stop after each message (and at the trailer section, so that its lines get the head's
// checks), and the mapping of llhttp's errors to HttpError. What a head must satisfy to be
// taken is in http_parser_checks.cc.
#include "ringgate/http/http_parser.h"

#include <iterator>

#include "fmt/format.h"
#include "header_fields.h"

namespace ringgate {

// HttpHead (http_head.h) has no file of its own: its one function lives with the parser.
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

int HttpParser::OnBody(llhttp_t* p, const char* at, size_t len) {
  HttpParser* self = Self(p);
  self->body_bytes_ += len;
  if (self->limits_.max_body_bytes != 0 && self->body_bytes_ > self->limits_.max_body_bytes) {
    self->Refuse(HttpError::kBodyTooLarge, "request body above the limit");
    return -1;
  }
  self->body_out_.Append({at, len});
  return 0;
}

int HttpParser::OnChunkHeader(llhttp_t* p) {
  HttpParser* self = Self(p);
  self->chunk_size_ = p->content_length;
  if (self->chunk_size_ > 0 && !self->dechunk_) {
    char line[24];  // 16 hex digits and CRLF
    const char* end = fmt::format_to(line, "{:x}\r\n", self->chunk_size_);
    self->body_out_.Append({line, static_cast<size_t>(end - line)});
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
  if (self->chunk_size_ > 0 && !self->dechunk_) self->body_out_.Append("\r\n");
  return 0;
}

int HttpParser::OnMessageComplete(llhttp_t* p) {
  HttpParser* self = Self(p);
  if (self->head_.chunked && !self->dechunk_ && !self->no_body_) {
    self->body_out_.Append("0\r\n\r\n");
  }
  self->message_complete_ = true;
  self->in_message_ = false;
  return HPE_PAUSED;  // let the caller finish this exchange before the next message
}

size_t HttpParser::Execute(std::string_view data, const BodySink& body_out) {
  if (error_ != HttpError::kNone || message_complete_ || data.empty()) return 0;
  if (const char* refused = ScanHeadLines(data)) {
    error_ = HttpError::kMalformed;
    error_reason_ = refused;
    return 0;
  }
  body_out_ = body_out;
  const char* const end = data.data() + data.size();
  llhttp_errno_t err = llhttp_execute(&parser_, data.data(), data.size());
  while (err == HPE_PAUSED && trailers_begin_) {
    trailers_begin_ = false;
    const char* trailers = llhttp_get_error_pos(&parser_);
    llhttp_resume(&parser_);
    head_scan_ = HeadScan{};
    head_scan_.seen_content = head_scan_.after_lf = true;  // no status line in a trailer section
    if (const char* refused = ScanHeadLines({trailers, static_cast<size_t>(end - trailers)})) {
      body_out_ = BodySink{};
      error_ = HttpError::kMalformed;
      error_reason_ = fmt::format("{} (trailer section)", refused);
      return 0;
    }
    err = llhttp_execute(&parser_, trailers, static_cast<size_t>(end - trailers));
  }
  body_out_ = BodySink{};
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

bool HttpParser::Finish(const BodySink& body_out) {
  if (!in_message_) return true;
  body_out_ = body_out;
  llhttp_errno_t err = llhttp_finish(&parser_);
  body_out_ = BodySink{};
  if (err == HPE_OK || err == HPE_PAUSED) return message_complete_;
  error_ = HttpError::kMalformed;
  error_reason_ = "message cut short by EOF";
  return false;
}

bool HttpParser::needs_eof() const { return llhttp_message_needs_eof(&parser_) != 0; }

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

int RequestErrorStatus(HttpError error) {
  switch (error) {
    case HttpError::kHeadTooLarge:
      return 431;
    case HttpError::kTargetTooLong:
      return 414;
    case HttpError::kMethodNotAllowed:
      return 405;
    case HttpError::kBodyTooLarge:
      return 413;
    default:
      return 400;
  }
}

}  // namespace ringgate
