// reparse.h
// The fuzz targets' two halves: the relay (bytes fed to ringgate's parser in slices, as recv
// completions deliver them, and rebuilt as ringgate would send them on) and the oracle (what the
// relay sent is parsed again by an independent parser, as the next hop would; a parse error
// aborts: it is a finding).
#ifndef RINGGATE_TESTS_FUZZ_REPARSE_H_
#define RINGGATE_TESTS_FUZZ_REPARSE_H_

#include <algorithm>
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

// What the relay sent on: `bytes`, of which the first `complete_size` hold the `messages` that
// completed; `current` is the message still in progress when the input ended or failed.
struct Relayed {
  std::string bytes;
  size_t complete_size = 0;
  std::vector<ParsedMessage> messages;
  ParsedMessage current;
  bool failed = false;  // the parser rejected the stream, or `send_head` refused a head
};

// Feeds `input` to `parser` `slice` bytes at a time. Each head goes on as `send_head(parser,
// out)` appends it (parser.head() is the head), or stops the relay when it returns false; body
// bytes go on as they are. Stops at the first parse error, or once the last slice has been parsed.
template <class SendHead>
Relayed RelayInSlices(HttpParser& parser, std::string_view input, size_t slice,
                      SendHead send_head) {
  Relayed relayed;
  std::string pending;  // bytes received but not yet consumed by the parser
  size_t offset = 0;
  while (!relayed.failed && offset < input.size()) {
    const size_t n = std::min(slice, input.size() - offset);
    pending.append(input.substr(offset, n));
    offset += n;
    size_t consumed = 0;
    while (consumed < pending.size()) {
      std::string body;
      const size_t used = parser.Execute(std::string_view(pending).substr(consumed), body);
      consumed += used;
      if (parser.error() != HttpError::kNone) {
        relayed.failed = true;  // answered with an error status; nothing more goes on
        break;
      }
      if (parser.TakeHead()) {
        if (!send_head(parser, relayed.bytes)) {
          relayed.failed = true;
          break;
        }
        relayed.current.head = parser.head();
      }
      relayed.bytes += body;
      relayed.current.body += body;
      if (parser.message_complete()) {
        relayed.messages.push_back(std::move(relayed.current));
        relayed.current = {};
        relayed.complete_size = relayed.bytes.size();
        parser.StartNextMessage();
      } else if (used == 0) {
        break;
      }
    }
    pending.erase(0, consumed);
  }
  return relayed;
}

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
