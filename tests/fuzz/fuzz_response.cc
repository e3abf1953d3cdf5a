// libFuzzer target: backend bytes through the response path.
//
// The backend's bytes are parsed in slices, the client-facing head is rebuilt and the body
// streamed, as the relay does. The client-facing stream is then parsed again: it must frame
// the same responses, with the same status codes and bodies (a response whose body ends at the
// backend's EOF is closed with the connection). Interim 1xx responses pass through as their own
// messages. A difference would let a backend desynchronise the client's connection.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "reparse.h"
#include "ringgate/http_codec.h"

namespace {

using ringgate::fuzz::Require;

struct Response {
  int status = 0;
  std::string body;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t slice = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  ringgate::HttpParser parser(ringgate::HttpParser::Kind::kResponse, 4096);
  std::string relayed;
  std::vector<Response> relayed_responses;
  Response current;
  size_t complete_size = 0;
  bool failed = false;
  size_t offset = 0;
  std::string pending;
  while (!failed && offset < input.size()) {
    const size_t n = std::min(slice, input.size() - offset);
    pending.append(input.substr(offset, n));
    offset += n;
    size_t consumed = 0;
    while (consumed < pending.size()) {
      std::string body;
      const size_t used = parser.Execute(std::string_view(pending).substr(consumed), body);
      consumed += used;
      if (parser.error() != ringgate::HttpError::kNone) {
        failed = true;  // 502 (or an abort, once a response has started)
        break;
      }
      if (parser.TakeHead()) {
        const int status = parser.head().status_code;
        if (status == 101) {  // refused: no tunnels
          failed = true;
          break;
        }
        current.status = status;
        relayed += ringgate::BuildClientResponseHead(parser.head(), parser.needs_eof());
      }
      relayed += body;
      current.body += body;
      if (parser.message_complete()) {
        relayed_responses.push_back(std::move(current));
        current = {};
        complete_size = relayed.size();
        parser.StartNextMessage();  // an interim or the next exchange's response follows
      } else if (used == 0) {
        break;
      }
    }
    pending.erase(0, consumed);
  }

  // A body that runs to EOF ends with the backend's close; the relay closes the client too.
  bool ends_at_eof = false;
  if (!failed && parser.in_message() && parser.needs_eof()) {
    std::string body;
    if (parser.Finish(body)) {
      relayed += body;
      current.body += body;
      relayed_responses.push_back(std::move(current));
      complete_size = relayed.size();
      ends_at_eof = true;
    }
  }

  const std::vector<ringgate::fuzz::ParsedMessage> reparsed = ringgate::fuzz::ReparseOrAbort(
      ringgate::HttpParser::Kind::kResponse, std::string_view(relayed).substr(0, complete_size),
      ends_at_eof);
  Require(reparsed.size() == relayed_responses.size());
  for (size_t i = 0; i < reparsed.size(); ++i) {
    Require(reparsed[i].head.status_code == relayed_responses[i].status);
    Require(reparsed[i].body == relayed_responses[i].body);
  }
  return 0;
}
