// flags.h
// The command line. Every ringgate flag is defined in src/config/flags.cc, its default taken from
// DefaultConfig() (config.h), so that a default is written once; ConfigFromFlags turns the
// parsed flags into a Config and refuses, before anything starts, every value that cannot work,
// with a message that names the flag.
//
//   std::vector<std::string> problems =
//       ApplyFlagArguments(ExpandFlagArguments(argc, argv));  // --close-notify-timeout=3s
//   absl::StatusOr<Config> config = ConfigFromFlags();
//   if (!problems.empty() || !config.ok()) { print every problem, one per line; exit 2 }
//
// Start-up, --check-config and the SIGHUP reload all read the flags this way, so a file that
// passes the check is read the same way by the start and by a reload.
#ifndef RINGGATE_CONFIG_FLAGS_H_
#define RINGGATE_CONFIG_FLAGS_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ringgate/config/config.h"

namespace ringgate {

// One argument as ringgate reads it, and where it came from.
struct FlagArgument {
  std::string text;    // the flag name's dashes made underscores: "--close_notify_timeout=3s"
  std::string origin;  // "command line argument 3" or "/etc/ringgate/ringgate.flags:12"
  bool from_file = false;
  std::string problem;  // a --flagfile that was not expanded: why (the text is "--flagfile=PATH")
};

// The command line with its flag files expanded in place. absl spells multi-word flags with
// underscores; the dashed spelling users type (--close-notify-timeout) is rewritten in the name
// part of each flag argument, up to "--". --flagfile=PATH (or a comma list, or "--flagfile PATH"
// on the command line) is read one flag per line, blank lines and `#` comments skipped, nested
// files expanded too. A flag file must be a regular file of at most 1 MiB, nested at most eight
// deep, never including itself, 10,000 arguments in all: one that breaks a rule stays unexpanded
// with its problem.
std::vector<FlagArgument> ExpandFlagArguments(int argc, char** argv);
// The same, texts only.
std::vector<std::string> NormalizeFlagSpelling(int argc, char** argv);

// Sets ringgate's flags from `args` (ExpandFlagArguments's result, the program name first),
// every flag put back at its default first, so the same arguments always give the same flags.
// It never exits: each argument it cannot use (an unknown flag, abseil's own included; a value
// that does not parse; a missing value; a flag file that was not read; a stray argument;
// --check-config inside a file) is one line of the result, naming the file and line it came
// from, and the arguments after it are still applied. A line of a file that is not a flag is not
// repeated (it may be a secret). "--name=value", "--name value" (command line only, and not
// when the next argument is a flag), "--name" and "--noname" (bools), one or two dashes.
std::vector<std::string> ApplyFlagArguments(const std::vector<FlagArgument>& args);
// Command-line arguments already expanded (tests).
std::vector<std::string> ApplyFlagArguments(const std::vector<std::string>& args);

// Appends each line of a refused status to `problems` (nothing for OK): the statuses that list
// several problems (a backend list, a certificate set) hold one per line.
void NoteProblems(std::vector<std::string>& problems, const absl::Status& status);

// Whether a problem line (of ConfigFromFlags) is about a flag a reload does not apply: a reload
// logs it for the next start instead of refusing the certificates it can apply.
bool ProblemWaitsForRestart(std::string_view problem);

// --check-config was given: check and exit instead of serving.
bool CheckConfigRequested();

// Every ringgate flag's current value as text, by (underscored) name: what a reload compares
// with what is running.
std::map<std::string, std::string> FlagValues();
// Whether a SIGHUP reload applies a change of this flag (--cert, --key, --ticket-key-file,
// --tls-groups); any other changed flag waits for the next start.
bool FlagTakesEffectOnReload(std::string_view name);

// --help: every ringgate flag with its default and meaning, grouped as the README's table is,
// and none of abseil's own. A flag missing from the groups is listed under "Other:".
std::string FlagHelp();

// The flags as they were parsed, validated: log settings first, then addresses, files, lists,
// timeouts and limits, last --user (it must exist, and ringgate must start as root, or as that
// user, to use it). Every refused value is found: the status message lists them, one per line.
absl::StatusOr<Config> ConfigFromFlags();
// The same, as far as the flags could be read: every problem appended to `problems`, each
// refused value left at its default (a list with a bad entry left empty), so that a check can
// go on to the files the usable flags name.
Config ConfigFromFlags(std::vector<std::string>& problems);

}  // namespace ringgate

#endif  // RINGGATE_CONFIG_FLAGS_H_
