// reparse.h
// The fuzz targets' two halves. The relay feeds bytes to ringgate's parser in slices, as recv
// completions deliver them, and rebuilds them as ringgate would send them on. The checks read
// both sides with the independent RFC 9112 framing oracle (rfc9112_framing.h), never with
// ringgate's own llhttp-based parser, which would agree with itself:
//   - what ringgate sent must frame, under the strict oracle, into exactly the messages ringgate
//     accepted, with ringgate's own framing headers (one Content-Length at most, never with
//     Transfer-Encoding);
//   - where ringgate accepted a message from its peer, the oracle must have read the same
//     message (same start line, same decoded body) from the same bytes. ringgate refusing what
//     the oracle accepts is fine (limits, Host rules, methods); ringgate accepting a message whose
//     framing the oracle refuses, or ending a message elsewhere, is a finding.
// A finding prints what disagreed and aborts, so libFuzzer keeps the input.
#ifndef RINGGATE_TESTS_FUZZ_REPARSE_H_
#define RINGGATE_TESTS_FUZZ_REPARSE_H_

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rfc9112_framing.h"
#include "ringgate/http/http_parser.h"

namespace ringgate::fuzz {

[[noreturn]] inline void Finding(std::string_view what, std::string_view detail = {}) {
  std::fprintf(stderr, "FINDING: %.*s%s%.*s\n", static_cast<int>(what.size()), what.data(),
               detail.empty() ? "" : ": ", static_cast<int>(detail.size()), detail.data());
  std::abort();
}

inline void Require(bool condition, std::string_view finding) {
  if (!condition) Finding(finding);
}

struct ParsedMessage {
  HttpHead head;
  std::string body;  // as ringgate sent it on (re-chunked when chunked)
  bool sent = true;  // false: ringgate consumed it without passing it on (1xx to HTTP/1.0)
};

// What the relay sent on: `bytes`, of which the first `complete_size` hold the `messages` that
// completed; `current` is the message still in progress when the input ended or failed.
struct Relayed {
  std::string bytes;
  size_t complete_size = 0;
  std::vector<ParsedMessage> messages;
  ParsedMessage current;
  size_t heads_accepted = 0;  // heads ringgate passed on (or consumed), the current one included
  bool failed = false;        // the parser rejected the stream, or `send_head` refused a head
  bool close_after_current = false;  // set by `send_head`: this message ends the connection
  bool closed = false;  // a message that ends the connection completed; nothing more was relayed
};

// Feeds `input` to `parser` `slice` bytes at a time. For each head, `send_head(parser, relayed)`
// appends what ringgate would send (relayed.current.head is the head) or returns false to
// refuse it, which stops the relay; body bytes go on as they are. Stops at the first parse
// error, after a message that closes the connection, or once the last slice has been parsed.
template <class SendHead>
Relayed RelayInSlices(HttpParser& parser, std::string_view input, size_t slice,
                      SendHead send_head) {
  Relayed relayed;
  std::string pending;  // bytes received but not yet consumed by the parser
  size_t offset = 0;
  while (!relayed.failed && !relayed.closed && offset < input.size()) {
    const size_t n = std::min(slice, input.size() - offset);
    pending.append(input.substr(offset, n));
    offset += n;
    size_t consumed = 0;
    while (consumed < pending.size() && !relayed.closed) {
      std::string body;
      const size_t used = parser.Execute(std::string_view(pending).substr(consumed), body);
      consumed += used;
      if (parser.error() != HttpError::kNone) {
        relayed.failed = true;  // answered with an error status; nothing more goes on
        break;
      }
      if (parser.TakeHead()) {
        relayed.current.head = parser.head();
        if (!send_head(parser, relayed)) {
          relayed.failed = true;
          break;
        }
        ++relayed.heads_accepted;
      }
      if (relayed.current.sent) relayed.bytes += body;
      relayed.current.body += body;
      if (parser.message_complete()) {
        relayed.messages.push_back(std::move(relayed.current));
        relayed.current = {};
        relayed.complete_size = relayed.bytes.size();
        relayed.closed = relayed.close_after_current;
        parser.StartNextMessage();
      } else if (used == 0) {
        break;
      }
    }
    pending.erase(0, consumed);
  }
  return relayed;
}

// The oracle's reading of the messages ringgate sent on, checked for what every forwarded
// message must be: strictly valid, framed once, and the same messages ringgate accepted
// (`same_start_line(ringgate's head, oracle's message)`).
template <class SameStartLine>
rfc9112::Parsed CheckForwarded(rfc9112::Kind kind, const Relayed& relayed,
                               const rfc9112::Options& options, SameStartLine same_start_line) {
  rfc9112::Parsed forwarded = rfc9112::Parse(kind, relayed.bytes, options);
  if (forwarded.stop == rfc9112::Stop::kRejected) {
    Finding("ringgate sent bytes the RFC 9112 oracle refuses", forwarded.reason);
  }
  size_t sent = 0;
  for (const ParsedMessage& message : relayed.messages) sent += message.sent ? 1 : 0;
  Require(forwarded.messages.size() == sent,
          "the oracle frames ringgate's output into a different number of messages");
  size_t next = 0;
  for (const ParsedMessage& accepted : relayed.messages) {
    if (!accepted.sent) continue;
    const rfc9112::Message& out = forwarded.messages[next++];
    if (!out.defects.empty()) Finding("ringgate sent a malformed message", out.defects.front());
    Require(out.Count("content-length") <= 1, "ringgate sent more than one Content-Length");
    Require(out.Count("content-length") == 0 || out.Count("transfer-encoding") == 0,
            "ringgate sent Content-Length and Transfer-Encoding");
    Require(same_start_line(accepted.head, out), "ringgate sent a different start line");
  }
  return forwarded;
}

// The decoded body of each message ringgate accepted, as the oracle read it from ringgate's
// output (empty for a message ringgate consumed without sending).
inline std::vector<std::string> DecodedBodies(const Relayed& relayed,
                                              const rfc9112::Parsed& forwarded) {
  std::vector<std::string> bodies;
  size_t next = 0;
  for (const ParsedMessage& message : relayed.messages) {
    bodies.push_back(message.sent ? forwarded.messages[next++].body : std::string());
  }
  return bodies;
}

// The differential: the oracle's reading of ringgate's input against what ringgate accepted.
template <class SameStartLine>
void CheckAgainstInput(const Relayed& relayed, const std::vector<std::string>& decoded_bodies,
                       const rfc9112::Parsed& original, SameStartLine same_start_line) {
  const size_t oracle_count = original.messages.size();
  const size_t ringgate_count = relayed.messages.size();
  for (size_t i = 0; i < std::min(oracle_count, ringgate_count); ++i) {
    Require(same_start_line(relayed.messages[i].head, original.messages[i]),
            "ringgate and the oracle read different start lines from the input");
    Require(decoded_bodies[i] == original.messages[i].body,
            "ringgate and the oracle read different bodies from the input");
  }
  if (relayed.heads_accepted > oracle_count && original.stop == rfc9112::Stop::kRejected &&
      (original.rejected_in_head || ringgate_count > oracle_count)) {
    Finding("ringgate accepted a message the oracle refuses", original.reason);
  }
  if (ringgate_count > oracle_count) {
    Finding(original.stop == rfc9112::Stop::kIncomplete
                ? "ringgate completed a message the oracle says is unfinished"
            : original.stop == rfc9112::Stop::kMustClose
                ? "ringgate read on after a message that must close the connection (RFC 9112 6.1)"
                : "ringgate read more messages from the input than the oracle");
  }
  if (ringgate_count < oracle_count && !relayed.failed && !relayed.closed) {
    Finding("ringgate still waits inside a message the oracle says is complete");
  }
}

}  // namespace ringgate::fuzz

#endif  // RINGGATE_TESTS_FUZZ_REPARSE_H_
