// config_check.h
// --check-config: what start-up would refuse, found without starting, every problem listed. The
// flags themselves are checked by ApplyFlagArguments and ConfigFromFlags (flags.h), which also
// resolve every backend name; this adds what start-up reads from elsewhere: every certificate,
// key and ticket file (the whole set loaded, each pair proven by a handshake in memory), the
// access log's file, and zero-copy send where it is asked for. It binds no socket: a running
// instance holds the ports, and a check must not disturb it.
//
//   std::vector<std::string> problems = CheckStartupResources(*config);
#ifndef RINGGATE_CONFIG_CONFIG_CHECK_H_
#define RINGGATE_CONFIG_CONFIG_CHECK_H_

#include <string>
#include <vector>

#include "ringgate/config/config.h"

namespace ringgate {

// One line per problem; empty when start-up would get past them.
std::vector<std::string> CheckStartupResources(const Config& config);

}  // namespace ringgate

#endif  // RINGGATE_CONFIG_CONFIG_CHECK_H_
