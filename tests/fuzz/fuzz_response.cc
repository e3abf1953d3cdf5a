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

using ringgate::fuzz::Require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t slice = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  ringgate::HttpParser parser(ringgate::HttpParser::Kind::kResponse, 4096);
  ringgate::fuzz::Relayed relayed = ringgate::fuzz::RelayInSlices(
      parser, input, slice, [](const ringgate::HttpParser& p, std::string& out) {
        if (p.head().status_code == 101) return false;  // refused (502): no tunnels
        // Interim responses pass through as their own messages; the next one follows.
        out += ringgate::BuildClientResponseHead(p.head(), p.needs_eof());
        return true;
      });

  // A body that runs to EOF ends with the backend's close; the relay closes the client too.
  bool ends_at_eof = false;
  if (!relayed.failed && parser.in_message() && parser.needs_eof()) {
    std::string body;
    if (parser.Finish(body)) {
      relayed.bytes += body;
      relayed.current.body += body;
      relayed.messages.push_back(std::move(relayed.current));
      relayed.complete_size = relayed.bytes.size();
      ends_at_eof = true;
    }
  }

  const std::vector<ringgate::fuzz::ParsedMessage> reparsed = ringgate::fuzz::ReparseOrAbort(
      ringgate::HttpParser::Kind::kResponse,
      std::string_view(relayed.bytes).substr(0, relayed.complete_size), ends_at_eof);
  Require(reparsed.size() == relayed.messages.size());
  for (size_t i = 0; i < reparsed.size(); ++i) {
    Require(reparsed[i].head.status_code == relayed.messages[i].head.status_code);
    Require(reparsed[i].body == relayed.messages[i].body);
  }
  return 0;
}
