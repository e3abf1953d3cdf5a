// libFuzzer target: client bytes through the request parser and the forwarder.
//
// The input's first byte chooses how the rest is delivered and relayed: its low six bits the
// slice size (so the fuzzer explores how a request is split across reads), bit 6 a small
// --max-request-body, bit 7 a client in --trusted-proxies. The rest is what the client sends.
// What ringgate would forward (the rebuilt head and the streamed body of each accepted request)
// and what the client sent are both read by the independent RFC 9112 oracle (reparse.h): the
// forwarded stream must be strictly valid and hold the same requests, and ringgate must not
// accept a request the oracle frames differently or refuses. A difference is request
// smuggling, and the target aborts. RINGGATE_FUZZ_VERBOSE=1 prints what was forwarded.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "reparse.h"
#include "rfc9112_framing.h"
#include "ringgate/http/http_codec.h"

namespace {

using ringgate::fuzz::rfc9112::Message;

// ringgate forwards origin-form; the oracle keeps the target as the client sent it.
std::string OriginForm(std::string_view target) {
  const size_t scheme_end = target.find("://");
  if (target.empty() || target.front() == '/' || target == "*" ||
      scheme_end == std::string_view::npos) {
    return std::string(target);
  }
  const std::string_view after_authority =
      target.substr(std::min(target.size(), target.find_first_of("/?", scheme_end + 3)));
  return (after_authority.empty() || after_authority.front() != '/' ? "/" : "") +
         std::string(after_authority);
}

bool SameRequestLine(const ringgate::HttpHead& ringgate_head, const Message& oracle) {
  if (ringgate_head.method != oracle.method) return false;
  // A fragment is outside the target's grammar (an oracle defect); where it ends is not framing.
  if (oracle.target.find('#') != std::string::npos) return true;
  return ringgate_head.target == OriginForm(oracle.target);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t slice = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  ringgate::HttpLimits limits;
  limits.max_head_bytes = 4096;  // small limits reach the 431/414/413 paths with small inputs
  limits.max_headers = 16;
  limits.max_target_bytes = 512;
  if ((data[0] & 0x40) != 0) limits.max_body_bytes = 16;
  ringgate::HttpParser parser(ringgate::HttpParser::Kind::kRequest, limits);
  ringgate::ForwardingContext forwarding;
  forwarding.client_ip = "192.0.2.1";
  forwarding.client_trusted = (data[0] & 0x80) != 0;
  forwarding.default_host = "backend.test:8080";

  const ringgate::fuzz::Relayed relayed = ringgate::fuzz::RelayInSlices(
      parser, input, slice, [&](const ringgate::HttpParser& p, ringgate::fuzz::Relayed& out) {
        out.bytes += ringgate::BuildUpstreamRequestHead(p.head(), forwarding);
        // As the connection does: after a request that does not keep the connection alive
        // (HTTP/1.0 by default, Connection: close, Upgrade) nothing more is parsed.
        out.close_after_current = !p.head().keep_alive || p.head().upgrade;
        return true;
      });
  if (std::getenv("RINGGATE_FUZZ_VERBOSE") != nullptr) {  // replaying a finding by hand
    std::fprintf(stderr, "accepted %zu requests (%zu heads)%s; forwarded:\n%s\n",
                 relayed.messages.size(), relayed.heads_accepted,
                 relayed.failed ? ", then refused" : "", relayed.bytes.c_str());
  }

  namespace rfc9112 = ringgate::fuzz::rfc9112;
  const rfc9112::Parsed forwarded = ringgate::fuzz::CheckForwarded(
      rfc9112::Kind::kRequest, relayed, {}, [](const ringgate::HttpHead& head, const Message& out) {
        // Exactly one Host, which ringgate writes itself.
        return head.method == out.method && head.target == out.target && out.Count("host") == 1;
      });
  const rfc9112::Parsed original = rfc9112::Parse(rfc9112::Kind::kRequest, input);
  ringgate::fuzz::CheckAgainstInput(relayed, ringgate::fuzz::DecodedBodies(relayed, forwarded),
                                    original, SameRequestLine);
  return 0;
}
