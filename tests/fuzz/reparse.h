// reparse.h
// The fuzz targets' oracle: what the relay would send on is parsed again by an independent
// parser, as the next hop would; a parse error aborts (it is a finding).
#ifndef RINGGATE_TESTS_FUZZ_REPARSE_H_
#define RINGGATE_TESTS_FUZZ_REPARSE_H_

#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringgate/http_codec.h"

namespace ringgate::fuzz {

inline void Require(bool condition) {
  if (!condition) std::abort();
}

struct ParsedMessage {
  HttpHead head;
  std::string body;
};

// Every message in `stream`. `ends_at_eof`: the last message's body may run to the end of the
// stream (a response without framing); otherwise nothing may be left half-framed.
inline std::vector<ParsedMessage> ReparseOrAbort(HttpParser::Kind kind, std::string_view stream,
                                                 bool ends_at_eof = false) {
  HttpParser parser(kind, HttpLimits{});
  std::vector<ParsedMessage> seen;
  ParsedMessage current;
  while (!stream.empty()) {
    std::string body;
    const size_t used = parser.Execute(stream, body);
    Require(parser.error() == HttpError::kNone);
    stream.remove_prefix(used);
    if (parser.TakeHead()) current.head = parser.head();
    current.body += body;
    if (parser.message_complete()) {
      seen.push_back(std::move(current));
      current = {};
      parser.StartNextMessage();
    } else if (used == 0) {
      break;
    }
  }
  if (ends_at_eof && parser.in_message()) {
    std::string body;
    Require(parser.Finish(body));
    current.body += body;
    seen.push_back(std::move(current));
  }
  Require(!parser.in_message() || ends_at_eof);
  return seen;
}

}  // namespace ringgate::fuzz

#endif  // RINGGATE_TESTS_FUZZ_REPARSE_H_
