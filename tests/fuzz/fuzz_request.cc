// libFuzzer target: client bytes through the request parser and the forwarder.
//
// The bytes are fed in slices (sizes taken from the input's first byte, so the fuzzer also
// explores how a request is split across reads). Whatever the proxy would forward to the backend
// (the rebuilt head and the streamed body of each accepted request) is parsed again by a second,
// independent parser: it must parse without error into the same requests with the same bodies.
// A difference is request smuggling, and the target aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
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

  ringgate::HttpLimits limits;
  limits.max_head_bytes = 4096;  // small limits reach the 431/414 paths with small inputs
  limits.max_headers = 16;
  limits.max_target_bytes = 512;
  ringgate::HttpParser parser(ringgate::HttpParser::Kind::kRequest, limits);

  const ringgate::fuzz::Relayed forwarded = ringgate::fuzz::RelayInSlices(
      parser, input, slice, [](const ringgate::HttpParser& p, std::string& out) {
        out += ringgate::BuildUpstreamRequestHead(p.head(), "192.0.2.1");
        return true;
      });

  // What went to the backend for the requests that completed (before any error) must parse
  // identically. A request still in progress at the end was partly streamed and is not compared.
  if (std::getenv("RINGGATE_FUZZ_VERBOSE") != nullptr) {  // replaying a finding by hand
    std::fprintf(stderr, "accepted %zu requests; forwarded:\n%s\n", forwarded.messages.size(),
                 forwarded.bytes.substr(0, forwarded.complete_size).c_str());
  }
  const std::vector<ringgate::fuzz::ParsedMessage> reparsed = ringgate::fuzz::ReparseOrAbort(
      ringgate::HttpParser::Kind::kRequest,
      std::string_view(forwarded.bytes).substr(0, forwarded.complete_size));
  const std::vector<ringgate::fuzz::ParsedMessage>& accepted = forwarded.messages;
  Require(reparsed.size() == accepted.size());
  for (size_t i = 0; i < accepted.size(); ++i) {
    Require(reparsed[i].head.method == accepted[i].head.method);
    Require(reparsed[i].head.target == accepted[i].head.target);
    Require(reparsed[i].body == accepted[i].body);
  }
  return 0;
}
