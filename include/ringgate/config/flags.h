// flags.h
// The command line. Every ringgate flag is defined in src/config/flags.cc, its default taken from
// DefaultConfig() (config.h), so that a default is written once; ConfigFromFlags turns the
// parsed flags into a Config and refuses, before anything starts, every value that cannot work,
// with a message that names the flag.
//
//   std::vector<std::string> args = NormalizeFlagSpelling(argc, argv);  // --close-notify-timeout
//   ... absl::ParseCommandLine over args ...
//   absl::StatusOr<Config> config = ConfigFromFlags();
//   if (!config.ok()) { print config.status().message(); exit 2 }
#ifndef RINGGATE_CONFIG_FLAGS_H_
#define RINGGATE_CONFIG_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ringgate/config/config.h"

namespace ringgate {

// absl spells multi-word flags with underscores; the dashed spelling users type
// (--close-notify-timeout) is rewritten in the name part of each --flag argument, up to "--".
// A readable --flagfile=PATH is expanded in place (its flags, one per line, blank lines and
// `#` comments skipped, nested flag files too, eight deep at most), so the same spelling works
// there; an unreadable one is left for absl to refuse with its own message.
std::vector<std::string> NormalizeFlagSpelling(int argc, char** argv);

// --help: every ringgate flag with its default and meaning, grouped as the README's table is,
// and none of abseil's own. A flag missing from the groups is listed under "Other:".
std::string FlagHelp();

// The flags as they were parsed, validated: log settings first, then addresses, files, lists,
// timeouts and limits, last --user (it must exist, and ringgate must start as root to use it).
absl::StatusOr<Config> ConfigFromFlags();

}  // namespace ringgate

#endif  // RINGGATE_CONFIG_FLAGS_H_
