// rfc9112_framing.h
// A second, independent reading of HTTP/1.1 message framing (RFC 9112), used by the fuzz targets
// as the oracle for what ringgate accepts and what it forwards. It is deliberately written apart
// from ringgate's parser and does not use llhttp: the point is that two implementations read
// the same bytes, and any disagreement on where a message ends is how requests get smuggled.
//
// It is strict where framing is at stake and refuses (Stop::kRejected) instead of guessing:
// bare CR or LF, NUL, obs-fold, whitespace before a colon, a field line without a colon, a
// malformed start line, Content-Length that is repeated, list-valued or not all digits,
// Content-Length together with Transfer-Encoding, Transfer-Encoding whose final coding is not
// chunked, a malformed chunk size, chunk data not followed by CRLF. An HTTP/1.0 message with
// Transfer-Encoding is read, but must be the connection's last (Stop::kMustClose).
// Mistakes that do not move a message's end (a control character in a field value, a malformed
// chunk extension, a status code above 599) are recorded as the message's `defects` and parsing
// goes on, so that the fuzz targets can still compare what follows.
//
// Whole streams only, no incremental API: fuzz inputs are small, and a parser that sees the
// whole input at once is easier to trust.
//
//   using namespace ringgate::fuzz::rfc9112;
//   Parsed parsed = Parse(Kind::kRequest, bytes);
//   for (const Message& m : parsed.messages) Use(m.method, m.target, m.body);
//   if (parsed.stop == Stop::kRejected) Log(parsed.reason);
#ifndef RINGGATE_TESTS_FUZZ_RFC9112_FRAMING_H_
#define RINGGATE_TESTS_FUZZ_RFC9112_FRAMING_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringgate::fuzz::rfc9112 {

enum class Kind : uint8_t { kRequest, kResponse };

// How a message's body is delimited (RFC 9112 6.3).
enum class Framing : uint8_t {
  kNoBody,         // requests without CL or TE; 1xx, 204, 304 and responses to HEAD
  kContentLength,  // exactly that many bytes
  kChunked,        // chunked transfer coding, decoded into `body`
  kUntilEof,       // responses only: the body ends when the connection closes
};

struct Field {
  std::string name;
  std::string value;  // without the surrounding optional whitespace
};

struct Message {
  std::string method;     // requests
  std::string target;     // requests, as sent
  int status = 0;         // responses
  std::string reason;     // responses
  int version_minor = 1;  // HTTP/1.x
  std::vector<Field> fields;
  std::vector<Field> trailers;  // chunked messages only
  Framing framing = Framing::kNoBody;
  std::string body;                  // the content, with the chunked coding removed
  std::vector<std::string> defects;  // malformed in ways that do not move the message's end

  // The first field with this name (case-insensitive), or empty; and how many there are.
  std::string_view Find(std::string_view name) const;
  size_t Count(std::string_view name) const;
};

enum class Stop : uint8_t {
  kEndOfInput,  // the stream ended between two messages
  kIncomplete,  // the stream ended inside a message (it needs more bytes, or the close)
  kRejected,    // the message after `messages` cannot be framed without guessing
  kMustClose,   // the last message's framing is suspect (RFC 9112 6.1: HTTP/1.0 with
                // Transfer-Encoding): it is read as chunked, but the connection must close after
                // it, and nothing that follows is read
};

struct Parsed {
  std::vector<Message> messages;  // the complete messages, in order
  Stop stop = Stop::kEndOfInput;
  std::string reason;             // for kRejected: which rule
  bool rejected_in_head = false;  // for kRejected: the fault is in the head (else in the body)
  size_t consumed = 0;            // bytes that hold `messages`
};

struct Options {
  // The stream ended with the connection's close, which completes a close-delimited body.
  bool at_eof = false;
  // Every final response in the stream answers a HEAD request, so none has a body.
  bool responses_to_head = false;
};

Parsed Parse(Kind kind, std::string_view stream, const Options& options = {});

// ---------------------------------------------------------------------------------------------
// Implementation.

namespace detail {

inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

inline bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsHexDigit(char c) { return IsDigit(c) || (Lower(c) >= 'a' && Lower(c) <= 'f'); }
inline bool IsWhitespace(char c) { return c == ' ' || c == '\t'; }  // OWS / BWS

// RFC 9110 5.6.2: tchar.
inline bool IsTokenChar(char c) {
  if (IsDigit(c) || (Lower(c) >= 'a' && Lower(c) <= 'z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

inline bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// RFC 9110 5.5: field-content is VCHAR, obs-text, SP and HTAB.
inline bool IsFieldText(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\t') return false;
    if (u == 0x7f) return false;
  }
  return true;
}

inline std::string_view TrimWhitespace(std::string_view s) {
  while (!s.empty() && IsWhitespace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsWhitespace(s.back())) s.remove_suffix(1);
  return s;
}

// Reads messages from one stream; each Read* step either advances `pos_` past what it
// understood or says why it cannot.
class StreamReader {
 public:
  StreamReader(Kind kind, std::string_view stream, const Options& options)
      : kind_(kind), in_(stream), options_(options) {}

  Parsed Run() {
    while (true) {
      // RFC 9112 2.2: empty lines before a start line are ignored.
      while (in_.substr(pos_, 2) == "\r\n") pos_ += 2;
      if (pos_ == in_.size() || in_.substr(pos_) == "\r") {
        result_.stop = pos_ == in_.size() ? Stop::kEndOfInput : Stop::kIncomplete;
        return std::move(result_);
      }
      Message message;
      const Step step = ReadMessage(message);
      if (step != Step::kDone) {
        result_.stop = step == Step::kNeedMore ? Stop::kIncomplete : Stop::kRejected;
        return std::move(result_);
      }
      result_.messages.push_back(std::move(message));
      result_.consumed = pos_;
      if (must_close_) {
        result_.stop = Stop::kMustClose;
        return std::move(result_);
      }
    }
  }

 private:
  enum class Step { kDone, kNeedMore, kRejected };

  Step Reject(std::string reason, bool in_head) {
    result_.reason = std::move(reason);
    result_.rejected_in_head = in_head;
    return Step::kRejected;
  }

  // One line ending in CRLF (RFC 9112 2.2: no bare CR, no bare LF; RFC 9110 5.5: no NUL).
  Step ReadLine(std::string_view& line, bool in_head) {
    for (size_t i = pos_; i < in_.size(); ++i) {
      const char c = in_[i];
      if (c == '\n') return Reject("bare LF", in_head);
      if (c == '\0') return Reject("NUL in a line", in_head);
      if (c != '\r') continue;
      if (i + 1 == in_.size()) return Step::kNeedMore;
      if (in_[i + 1] != '\n') return Reject("bare CR", in_head);
      line = in_.substr(pos_, i - pos_);
      pos_ = i + 2;
      return Step::kDone;
    }
    return Step::kNeedMore;
  }

  Step ReadMessage(Message& m) {
    std::string_view line;
    if (Step s = ReadLine(line, true); s != Step::kDone) return s;
    if (Step s = kind_ == Kind::kRequest ? ParseRequestLine(line, m) : ParseStatusLine(line, m);
        s != Step::kDone) {
      return s;
    }
    if (Step s = ReadFieldLines(m.fields, m, true); s != Step::kDone) return s;
    if (Step s = DecideFraming(m); s != Step::kDone) return s;
    return ReadBody(m);
  }

  // RFC 9112 2.3: "HTTP/" DIGIT "." DIGIT; only major version 1 is framed this way.
  static bool ParseVersion(std::string_view version, Message& m) {
    if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || !IsDigit(version[7])) {
      return false;
    }
    m.version_minor = version[7] - '0';
    if (m.version_minor > 1) m.defects.push_back("HTTP/1 minor version above 1");
    return true;
  }

  // RFC 9112 3: method SP request-target SP HTTP-version. Three words whatever the spaces
  // between them (RFC 9112 3 allows reading it so); more than single spaces are a defect.
  Step ParseRequestLine(std::string_view line, Message& m) {
    std::vector<std::string_view> words;
    for (size_t start = 0; start < line.size();) {
      const size_t end = std::min(line.find(' ', start), line.size());
      if (end > start) words.push_back(line.substr(start, end - start));
      start = end + 1;
    }
    if (words.size() != 3) return Reject("request line is not three words", true);
    if (line.size() != words[0].size() + words[1].size() + words[2].size() + 2) {
      m.defects.push_back("request line with more than single spaces");
    }
    m.method = std::string(words[0]);
    m.target = std::string(words[1]);
    if (!ParseVersion(words[2], m)) return Reject("request line's version is not HTTP/1.x", true);
    if (!IsToken(m.method)) m.defects.push_back("method is not a token");
    for (char c : m.target) {
      const auto u = static_cast<unsigned char>(c);
      // RFC 9112 3.2: the forms of request-target hold only visible ASCII and no fragment.
      if (u <= 0x20 || u >= 0x7f || c == '#') {
        m.defects.push_back("request target holds a character outside its grammar");
        break;
      }
    }
    return Step::kDone;
  }

  // RFC 9112 4: HTTP-version SP 3DIGIT SP [ reason-phrase ].
  Step ParseStatusLine(std::string_view line, Message& m) {
    if (line.size() < 12 || line[8] != ' ' || !ParseVersion(line.substr(0, 8), m)) {
      return Reject("status line's version is not HTTP/1.x", true);
    }
    const std::string_view code = line.substr(9, 3);
    if (!IsDigit(code[0]) || !IsDigit(code[1]) || !IsDigit(code[2])) {
      return Reject("status code is not three digits", true);
    }
    m.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    // The framing rules depend on the class, so an unknown class below 1 is not guessed at.
    if (m.status < 100) return Reject("status code below 100", true);
    if (m.status > 599) m.defects.push_back("status code above 599");
    const std::string_view rest = line.substr(12);
    if (rest.empty()) {
      m.defects.push_back("no space after the status code");
    } else if (rest.front() != ' ') {
      return Reject("status code longer than three digits", true);
    } else {
      m.reason = std::string(rest.substr(1));
      if (!IsFieldText(m.reason)) m.defects.push_back("control character in the reason phrase");
    }
    return Step::kDone;
  }

  // RFC 9112 5: field-name ":" OWS field-value OWS, up to the empty line. In a head a malformed
  // field line is refused. In a trailer section (`in_head` false) it is a defect: trailers are
  // discarded on the way (RFC 9110 6.5.1), and a badly formed one cannot move the message's
  // end, which only a line's CRLF and the empty line decide.
  Step ReadFieldLines(std::vector<Field>& fields, Message& m, bool in_head) {
    while (true) {
      std::string_view line;
      if (Step s = ReadLine(line, in_head); s != Step::kDone) return s;
      if (line.empty()) return Step::kDone;
      const char* fault = nullptr;
      const size_t colon = line.find(':');
      const std::string_view name = line.substr(0, colon);
      if (IsWhitespace(line.front())) {
        fault = "obs-fold (a field line starts with whitespace)";
      } else if (colon == std::string_view::npos) {
        fault = "field line without a colon";
      } else if (!name.empty() && IsWhitespace(name.back())) {
        fault = "whitespace before a colon";
      } else if (!IsToken(name)) {
        fault = "field name is not a token";
      }
      if (fault != nullptr && in_head) return Reject(fault, true);
      if (fault != nullptr) {
        m.defects.push_back(std::string("trailer: ") + fault);
        continue;
      }
      const std::string_view value = TrimWhitespace(line.substr(colon + 1));
      if (!IsFieldText(value)) m.defects.push_back("control character in a field value");
      fields.push_back(Field{std::string(name), std::string(value)});
    }
  }

  // RFC 9112 6.1 and 6.3, strictly: one way to delimit the body, or a refusal.
  Step DecideFraming(Message& m) {
    const size_t lengths = m.Count("content-length");
    const bool has_transfer_encoding = m.Count("transfer-encoding") > 0;
    if (lengths > 0 && has_transfer_encoding)
      return Reject("Content-Length and Transfer-Encoding", true);
    if (lengths > 1) return Reject("more than one Content-Length", true);
    if (lengths == 1) {
      const std::string_view digits = m.Find("content-length");
      // Leading zeros carry no length: only significant digits count against the limit.
      const size_t significant =
          digits.size() - std::min(digits.find_first_not_of('0'), digits.size() - 1);
      if (digits.empty() || significant > 18)
        return Reject("Content-Length empty or too long", true);
      for (char c : digits) {
        if (!IsDigit(c)) return Reject("Content-Length is not a single decimal number", true);
      }
      content_length_ = std::stoull(std::string(digits));
    }
    if (has_transfer_encoding) {
      if (Step s = CheckTransferCodings(m); s != Step::kDone) return s;
      // RFC 9112 6.1: an HTTP/1.0 sender may not know chunked, so a hop before us may have
      // framed this message differently; after it, the connection's bytes cannot be trusted.
      if (m.version_minor == 0) must_close_ = true;
    }
    const bool response = kind_ == Kind::kResponse;
    if (response && ((m.status >= 100 && m.status < 200) || m.status == 204 || m.status == 304 ||
                     (options_.responses_to_head && m.status >= 200))) {
      m.framing = Framing::kNoBody;
    } else if (has_transfer_encoding) {
      m.framing = Framing::kChunked;
    } else if (lengths == 1) {
      m.framing = Framing::kContentLength;
    } else {
      m.framing = response ? Framing::kUntilEof : Framing::kNoBody;
    }
    return Step::kDone;
  }

  // The codings of all Transfer-Encoding fields, in order: tokens, chunked exactly once and last
  // (RFC 9112 6.1). A response whose last coding is not chunked could be read to the close, but a
  // proxy has no business passing such a body on, so it is refused here in both directions.
  Step CheckTransferCodings(const Message& m) {
    std::vector<std::string_view> codings;
    for (const Field& field : m.fields) {
      if (!EqualsNoCase(field.name, "transfer-encoding")) continue;
      std::string_view list = field.value;
      while (true) {
        const size_t comma = list.find(',');
        codings.push_back(TrimWhitespace(list.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
    }
    for (size_t i = 0; i < codings.size(); ++i) {
      std::string_view coding = codings[i];
      if (coding.empty()) return Reject("empty element in Transfer-Encoding", true);
      const std::string_view name = TrimWhitespace(coding.substr(0, coding.find(';')));
      if (!IsToken(name)) return Reject("transfer coding is not a token", true);
      const bool chunked = EqualsNoCase(name, "chunked");
      if (chunked && name.size() != coding.size()) return Reject("parameters on chunked", true);
      if (chunked != (i + 1 == codings.size())) {
        return Reject("chunked is not the final coding, exactly once", true);
      }
    }
    return Step::kDone;
  }

  Step ReadBody(Message& m) {
    switch (m.framing) {
      case Framing::kNoBody:
        return Step::kDone;
      case Framing::kContentLength:
        if (in_.size() - pos_ < content_length_) return Step::kNeedMore;
        m.body = std::string(in_.substr(pos_, content_length_));
        pos_ += content_length_;
        return Step::kDone;
      case Framing::kUntilEof:
        if (!options_.at_eof) return Step::kNeedMore;
        m.body = std::string(in_.substr(pos_));
        pos_ = in_.size();
        return Step::kDone;
      case Framing::kChunked:
        return ReadChunks(m);
    }
    return Step::kRejected;
  }

  // RFC 9112 7.1: chunk-size [ chunk-ext ] CRLF chunk-data CRLF ... last-chunk trailer-section
  // CRLF.
  Step ReadChunks(Message& m) {
    while (true) {
      std::string_view line;
      if (Step s = ReadLine(line, false); s != Step::kDone) return s;
      size_t digits = 0;
      while (digits < line.size() && IsHexDigit(line[digits])) ++digits;
      if (digits == 0) return Reject("chunk size is not hexadecimal", false);
      // Leading zeros carry no size: only significant digits count against the limit.
      size_t leading_zeros = 0;
      while (leading_zeros + 1 < digits && line[leading_zeros] == '0') ++leading_zeros;
      if (digits - leading_zeros > 15) return Reject("chunk size too large", false);
      if (Step s = CheckChunkExtensions(line.substr(digits), m); s != Step::kDone) return s;
      const uint64_t size = std::stoull(std::string(line.substr(0, digits)), nullptr, 16);
      if (size == 0) return ReadFieldLines(m.trailers, m, false);
      if (in_.size() - pos_ < size) return Step::kNeedMore;
      m.body.append(in_.substr(pos_, size));
      pos_ += size;
      const std::string_view end = in_.substr(pos_, 2);
      if (end != std::string_view("\r\n").substr(0, end.size())) {
        return Reject("chunk data not followed by CRLF", false);
      }
      if (end.size() < 2) return Step::kNeedMore;
      pos_ += 2;
    }
  }

  // *( BWS ";" BWS ext-name [ BWS "=" BWS ext-value ] ). Anything but whitespace or ';' right
  // after the size would make the size itself ambiguous ("5x", "0x5"): refused. A malformed
  // extension after a ';' does not move the chunk's end: a defect.
  Step CheckChunkExtensions(std::string_view rest, Message& m) {
    const std::string_view trimmed = TrimWhitespace(rest);
    if (trimmed.empty()) {
      if (!rest.empty()) m.defects.push_back("whitespace after the chunk size");
      return Step::kDone;
    }
    if (trimmed.front() != ';') {
      return Reject("junk after the chunk size", false);
    }
    std::string_view list = trimmed;
    while (!list.empty()) {
      list.remove_prefix(1);  // the ';'
      const size_t next = FindOutsideQuotes(list, ';');
      const std::string_view extension = list.substr(0, next);
      list = next == std::string_view::npos ? std::string_view() : list.substr(next);
      const size_t equals = extension.find('=');
      const std::string_view name = TrimWhitespace(extension.substr(0, equals));
      const std::string_view value = equals == std::string_view::npos
                                         ? std::string_view()
                                         : TrimWhitespace(extension.substr(equals + 1));
      const bool value_ok =
          equals == std::string_view::npos || IsToken(value) || IsQuotedString(value);
      if (!IsToken(name) || !value_ok) {
        m.defects.push_back("malformed chunk extension");
        return Step::kDone;
      }
    }
    return Step::kDone;
  }

  static size_t FindOutsideQuotes(std::string_view s, char wanted) {
    bool quoted = false;
    for (size_t i = 0; i < s.size(); ++i) {
      if (quoted && s[i] == '\\') {
        ++i;
      } else if (s[i] == '"') {
        quoted = !quoted;
      } else if (!quoted && s[i] == wanted) {
        return i;
      }
    }
    return std::string_view::npos;
  }

  // RFC 9110 5.6.4: DQUOTE *( qdtext / quoted-pair ) DQUOTE.
  static bool IsQuotedString(std::string_view s) {
    if (s.size() < 2 || s.front() != '"' || s.back() != '"') return false;
    for (size_t i = 1; i + 1 < s.size(); ++i) {
      if (s[i] == '"') return false;
      if (s[i] == '\\' && ++i + 1 >= s.size()) return false;
    }
    return IsFieldText(s);
  }

  Kind kind_;
  std::string_view in_;
  Options options_;
  size_t pos_ = 0;
  uint64_t content_length_ = 0;  // of the message being read, when it has one
  bool must_close_ = false;      // the message being read must be the connection's last
  Parsed result_;
};

}  // namespace detail

inline std::string_view Message::Find(std::string_view name) const {
  for (const Field& field : fields) {
    if (detail::EqualsNoCase(field.name, name)) return field.value;
  }
  return {};
}

inline size_t Message::Count(std::string_view name) const {
  size_t count = 0;
  for (const Field& field : fields) count += detail::EqualsNoCase(field.name, name) ? 1 : 0;
  return count;
}

inline Parsed Parse(Kind kind, std::string_view stream, const Options& options) {
  return detail::StreamReader(kind, stream, options).Run();
}

}  // namespace ringgate::fuzz::rfc9112

#endif  // RINGGATE_TESTS_FUZZ_RFC9112_FRAMING_H_
