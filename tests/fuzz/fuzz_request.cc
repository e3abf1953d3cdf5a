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

namespace {

using ringgate::fuzz::Require;

struct ForwardedRequest {
  std::string method;
  std::string target;
  std::string body;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t slice = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  ringgate::HttpLimits limits;
  limits.max_head_bytes = 4096;  // small limits reach the 431/414 paths with small inputs
  limits.max_headers = 16;
  limits.max_target_bytes = 512;
  ringgate::HttpParser parser(ringgate::HttpParser::Kind::kRequest, limits);

  std::string forwarded;
  size_t forwarded_complete = 0;  // the prefix of `forwarded` that holds complete requests
  std::vector<ForwardedRequest> accepted;
  ForwardedRequest current;
  std::string pending;  // bytes received but not yet consumed by the parser
  size_t offset = 0;
  bool failed = false;
  while (!failed && (offset < input.size() || !pending.empty())) {
    if (offset < input.size()) {
      const size_t n = std::min(slice, input.size() - offset);
      pending.append(input.substr(offset, n));
      offset += n;
    }
    size_t consumed = 0;
    while (consumed < pending.size()) {
      std::string body;
      const size_t used = parser.Execute(std::string_view(pending).substr(consumed), body);
      consumed += used;
      if (parser.error() != ringgate::HttpError::kNone) {
        failed = true;  // answered 400/431/414; nothing more of this connection is forwarded
        break;
      }
      if (parser.TakeHead()) {
        current.method = parser.head().method;
        current.target = parser.head().target;
        forwarded += ringgate::BuildUpstreamRequestHead(parser.head(), "192.0.2.1");
      }
      forwarded += body;
      current.body += body;
      if (parser.message_complete()) {
        accepted.push_back(std::move(current));
        current = {};
        forwarded_complete = forwarded.size();
        parser.StartNextMessage();
      } else if (used == 0) {
        break;
      }
    }
    pending.erase(0, consumed);
    if (offset >= input.size()) break;  // input over: a partial request stays unanswered
  }

  // What went to the backend for the requests that completed (before any error) must parse
  // identically. A request still in progress at the end was partly streamed and is not compared.
  if (std::getenv("RINGGATE_FUZZ_VERBOSE") != nullptr) {  // replaying a finding by hand
    std::fprintf(stderr, "accepted %zu requests; forwarded:\n%s\n", accepted.size(),
                 forwarded.substr(0, forwarded_complete).c_str());
  }
  const std::vector<ringgate::fuzz::ParsedMessage> reparsed = ringgate::fuzz::ReparseOrAbort(
      ringgate::HttpParser::Kind::kRequest, std::string_view(forwarded).substr(0, forwarded_complete));
  Require(reparsed.size() == accepted.size());
  for (size_t i = 0; i < accepted.size(); ++i) {
    Require(reparsed[i].head.method == accepted[i].method);
    Require(reparsed[i].head.target == accepted[i].target);
    Require(reparsed[i].body == accepted[i].body);
  }
  return 0;
}
