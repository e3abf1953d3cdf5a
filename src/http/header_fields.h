// header_fields.h (private to src/http/)
// Case-insensitive field-name matching and comma-separated list walking, shared by the parser's
// checks (http_parser_checks.cc) and the header rewriting (http_forwarding.cc). Inline: they run
// for every header of every message.
//
//   ForEachListToken(connection_value, [&](std::string_view token) {
//     return !EqualsIgnoreCase(token, "close");  // false stops the walk
//   });
#ifndef RINGGATE_SRC_HTTP_HEADER_FIELDS_H_
#define RINGGATE_SRC_HTTP_HEADER_FIELDS_H_

#include <cstddef>
#include <initializer_list>
#include <string_view>

namespace ringgate {

// Debian's abseil has its own string_view type, so these few helpers stay local to this module.
inline char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

inline std::string_view StripWhitespace(std::string_view s) {
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

inline bool IsOneOf(std::string_view name, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) {
    if (EqualsIgnoreCase(name, n)) return true;
  }
  return false;
}

// Headers a client may set only as far as ringgate's forwarding policy allows (docs/http.md).
inline bool IsForwardingHeader(std::string_view name) {
  return IsOneOf(name, {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                        "x-forwarded-port", "x-real-ip", "forwarded"});
}

}  // namespace ringgate

#endif  // RINGGATE_SRC_HTTP_HEADER_FIELDS_H_
