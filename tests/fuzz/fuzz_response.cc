// libFuzzer target: backend bytes through the response path.
//
// The input's first byte chooses how the rest is delivered and relayed: its low six bits the
// slice size, bit 6 that the request was HEAD, bit 7 that the client speaks HTTP/1.0. The rest
// is what the backend sends, followed by its close. The responses are parsed in slices, the
// client-facing head is rebuilt (ringgate's own framing) and the body streamed, as the relay
// does; interim 1xx responses pass through as their own messages (not to HTTP/1.0 clients). What
// the client would receive and what the backend sent are both read by the independent RFC 9112
// oracle (reparse.h): they must frame the same responses with the same status codes and bodies.
// A difference would let a backend desynchronise the client's connection.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "reparse.h"
#include "rfc9112_framing.h"
#include "ringgate/http/http_codec.h"

using ringgate::fuzz::Require;
using ringgate::fuzz::rfc9112::Message;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t slice = 1 + data[0] % 64;
  const bool request_was_head = (data[0] & 0x40) != 0;
  const bool client_http10 = (data[0] & 0x80) != 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  ringgate::HttpParser parser(ringgate::HttpParser::Kind::kResponse, 4096);
  parser.set_skip_body(request_was_head);
  parser.set_dechunk(client_http10);
  ringgate::fuzz::Relayed relayed = ringgate::fuzz::RelayInSlices(
      parser, input, slice, [&](const ringgate::HttpParser& p, ringgate::fuzz::Relayed& out) {
        const ringgate::HttpHead& head = p.head();
        if (head.status_code == 101) return false;  // refused (502): no tunnels
        const ringgate::BodyFraming framing =
            ringgate::ChooseResponseFraming(head, request_was_head, client_http10);
        if (head.status_code < 200) {
          // Interim responses pass through as their own messages; the final one follows.
          if (client_http10) {
            out.current.sent = false;  // HTTP/1.0 has no 1xx
          } else {
            out.bytes += ringgate::BuildClientResponseHead(head, framing, false, client_http10);
          }
          return true;
        }
        out.close_after_current = framing == ringgate::BodyFraming::kUntilClose || !head.keep_alive;
        out.bytes += ringgate::BuildClientResponseHead(head, framing, out.close_after_current,
                                                       client_http10);
        return true;
      });

  // A body that runs to EOF ends with the backend's close; the relay closes the client too.
  if (!relayed.failed && !relayed.closed && parser.in_message() && parser.needs_eof()) {
    std::string body;
    if (parser.Finish(body)) {
      relayed.bytes += body;
      relayed.current.body += body;
      relayed.messages.push_back(std::move(relayed.current));
      relayed.complete_size = relayed.bytes.size();
      relayed.closed = true;
    }
  }

  namespace rfc9112 = ringgate::fuzz::rfc9112;
  rfc9112::Options towards_client;
  towards_client.at_eof = relayed.closed;
  towards_client.responses_to_head = request_was_head;
  const rfc9112::Parsed forwarded = ringgate::fuzz::CheckForwarded(
      rfc9112::Kind::kResponse, relayed, towards_client,
      [&](const ringgate::HttpHead& head, const Message& out) {
        const bool bodiless_status = out.status < 200 || out.status == 204;
        return head.status_code == out.status &&
               // docs/http.md: a 1xx or 204 goes on without framing headers, and an HTTP/1.0
               // client never gets a 1xx or chunked coding.
               !(bodiless_status &&
                 (out.Count("content-length") + out.Count("transfer-encoding")) > 0) &&
               !(client_http10 && (out.status < 200 || out.framing == rfc9112::Framing::kChunked));
      });
  rfc9112::Options from_backend;
  from_backend.at_eof = true;
  from_backend.responses_to_head = request_was_head;
  const rfc9112::Parsed original = rfc9112::Parse(rfc9112::Kind::kResponse, input, from_backend);
  ringgate::fuzz::CheckAgainstInput(relayed, ringgate::fuzz::DecodedBodies(relayed, forwarded),
                                    original,
                                    [](const ringgate::HttpHead& head, const Message& oracle) {
                                      return head.status_code == oracle.status;
                                    });
  return 0;
}
