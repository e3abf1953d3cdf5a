// The command line's flags: definitions (defaults from DefaultConfig()), --help, and the
// validation that turns them into a Config.
#include "ringgate/config/flags.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "fmt/format.h"
#include "ringgate/tls/tls_group.h"

namespace ringgate {
namespace {

const Config& Defaults() { return DefaultConfig(); }
// The flags of the size_t limits are 32-bit.
uint32_t U32(size_t value) { return static_cast<uint32_t>(value); }
std::string LogLevelName(spdlog::level::level_enum level) {
  const auto name = spdlog::level::to_string_view(level);
  return std::string(name.data(), name.size());
}

}  // namespace
}  // namespace ringgate

using ringgate::Defaults;
using ringgate::kDefaultAdminListen;
using ringgate::kDefaultBackend;
using ringgate::kDefaultListen;
using ringgate::kThreadsOnePerCpu;
using ringgate::LbPolicyName;
using ringgate::LogFormatName;
using ringgate::LogLevelName;
using ringgate::U32;

// Empty --tls-groups, --cpus and --trusted-proxies mean Config's defaults: the default groups,
// unpinned, nobody trusted.
ABSL_FLAG(std::string, listen, kDefaultListen, "TLS listen address, host:port");
ABSL_FLAG(
    std::string, backend, kDefaultBackend,
    "plain-HTTP backends, host:port, comma-separated (names resolved at start and on SIGHUP)");
ABSL_FLAG(std::string, lb, std::string(LbPolicyName(Defaults().lb_policy)),
          "how a worker chooses a backend: p2c (the less busy of two random ones), round_robin, "
          "or ip_hash (by client address)");
ABSL_FLAG(uint32_t, backend_max_fails, Defaults().backend_max_fails,
          "refused, reset or timed-out attempts in a row after which a worker skips a backend");
ABSL_FLAG(absl::Duration, backend_fail_timeout, Defaults().backend_fail_timeout,
          "how long a worker skips a failing backend before trying it again");
ABSL_FLAG(std::string, health_check_path, Defaults().health_check_path,
          "active health check: GET this path on every backend (e.g. /healthz; 2xx/3xx is "
          "healthy; down after 2 failures, up after 2 successes). Empty: off");
ABSL_FLAG(absl::Duration, health_check_interval, Defaults().health_check_interval,
          "how often the active health check probes each backend");
ABSL_FLAG(std::string, cert, Defaults().cert_path,
          "PEM certificate chain (ECDSA or RSA), or a comma-separated list of them: each serves "
          "the DNS names of its subjectAltName (SNI), the first also every other name");
ABSL_FLAG(std::string, key, Defaults().key_path,
          "PEM private key matching --cert, or a list matching --cert's, in the same order");
ABSL_FLAG(std::string, ticket_key_file, Defaults().ticket_key_path,
          "session ticket keys shared by every instance given the same file: 1 to 16 keys of 48 "
          "bytes (openssl rand 48); the first encrypts. Reloaded on SIGHUP. Empty: a key of this "
          "process's own");
ABSL_FLAG(std::string, tls_groups, "",
          "key exchange groups in order of preference, colon-separated (X25519MLKEM768, "
          "SecP256r1MLKEM768, x25519, secp256r1 or P-256, secp384r1 or P-384). Empty: "
          "X25519MLKEM768:x25519:secp256r1:secp384r1 (without ML-KEM in the fallback wolfSSL)");
ABSL_FLAG(std::string, user, Defaults().run_as_user,
          "after opening every socket and file, run as this user (and its groups); needs start "
          "as root. A SIGHUP reload then reads --cert, --key and --ticket-key-file as that user");
ABSL_FLAG(bool, core_dumps, Defaults().core_dumps,
          "allow core dumps and ptrace by the same user (off: they would expose private keys)");
ABSL_FLAG(int, threads, kThreadsOnePerCpu, "worker threads, one ring each (0: one per online CPU)");
ABSL_FLAG(std::string, cpus, "", "CPUs to pin workers to, e.g. 0,1 or 0-3 (empty: unpinned)");
ABSL_FLAG(absl::Duration, handshake_timeout, Defaults().handshake_timeout,
          "TLS handshake deadline");
ABSL_FLAG(absl::Duration, request_header_timeout, Defaults().request_header_timeout,
          "deadline for a begun request head to complete");
ABSL_FLAG(absl::Duration, request_body_timeout, Defaults().request_body_timeout,
          "longest wait for the next byte of a request body (then 408, or a cut once the response "
          "has begun)");
ABSL_FLAG(absl::Duration, idle_timeout, Defaults().idle_timeout,
          "keep-alive: how long a connection may wait for its next request");
ABSL_FLAG(absl::Duration, upstream_connect_timeout, Defaults().upstream_connect_timeout,
          "backend connect deadline (then 504)");
ABSL_FLAG(absl::Duration, upstream_response_timeout, Defaults().upstream_response_timeout,
          "longest wait for backend bytes once the request is sent (then 504)");
ABSL_FLAG(absl::Duration, close_notify_timeout, Defaults().close_notify_timeout,
          "after our close_notify, how long to wait for the client's close_notify or FIN");
ABSL_FLAG(
    absl::Duration, send_timeout, Defaults().send_timeout,
    "a client that accepts none of our bytes for this long is cut (also bounds the close's flush)");
ABSL_FLAG(absl::Duration, upstream_idle_timeout, Defaults().upstream_idle_timeout,
          "idle pooled backend connections are closed after this long");
ABSL_FLAG(uint32_t, upstream_idle_max, U32(Defaults().upstream_idle_max),
          "idle pooled backend connections kept per worker");
ABSL_FLAG(absl::Duration, tunnel_idle_timeout, Defaults().tunnel_idle_timeout,
          "a WebSocket tunnel with no bytes either way for this long is closed gracefully");
ABSL_FLAG(absl::Duration, drain_timeout, Defaults().drain_timeout,
          "SIGTERM/SIGINT: how long in-flight requests may take before they are cut");
ABSL_FLAG(std::string, log_level, LogLevelName(Defaults().log_level),
          "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(std::string, log_format, std::string(LogFormatName(Defaults().log_format)),
          "text (key=value) or json (one object per line)");
ABSL_FLAG(std::string, access_log, Defaults().access_log_path,
          "file for one line per request, or off");
ABSL_FLAG(std::string, admin_listen, kDefaultAdminListen,
          "plain-HTTP admin address (/metrics /connections /closures /healthz /readyz), or off");
ABSL_FLAG(std::string, admin_token, Defaults().admin_token,
          "every admin request must carry 'Authorization: Bearer <token>' (16 to 512 visible "
          "characters); required for a non-loopback --admin-listen");
ABSL_FLAG(uint32_t, closures_per_worker, U32(Defaults().closures_per_worker),
          "closed connections each worker remembers for /closures");
ABSL_FLAG(bool, diagnostics, Defaults().diagnostics,
          "metrics, flight recorder and the kernel's view at close (false: only logs)");
ABSL_FLAG(uint32_t, max_conns, U32(Defaults().max_conns_per_worker),
          "client connections per worker; beyond it new ones are closed at once (0: no limit)");
ABSL_FLAG(uint32_t, max_request_head, U32(Defaults().max_request_head_bytes),
          "request head bytes before 431");
ABSL_FLAG(uint32_t, max_request_headers, U32(Defaults().max_request_headers),
          "request header fields before 431");
ABSL_FLAG(uint32_t, max_request_line, U32(Defaults().max_request_target_bytes),
          "request target bytes before 414");
ABSL_FLAG(uint64_t, max_request_body, Defaults().max_request_body_bytes,
          "request body bytes before 413 (0: no limit)");
ABSL_FLAG(uint32_t, max_pipelined, Defaults().max_pipelined,
          "complete requests read ahead of the one being answered; reading pauses beyond them, "
          "and after the client has gone no more than these are answered");
ABSL_FLAG(
    uint32_t, max_conn_buffer, U32(Defaults().max_conn_buffer_bytes),
    "bytes one connection may hold in user space (unparsed input, bytes owed to either peer); "
    "reading pauses on the side that fills it");
ABSL_FLAG(std::string, trusted_proxies, "",
          "CIDR blocks (comma-separated) whose X-Forwarded-For is appended to and whose other "
          "forwarding headers are kept; from any other peer they are replaced (empty: none)");
ABSL_FLAG(bool, proxy_protocol, Defaults().proxy_protocol,
          "every client connection starts with a PROXY protocol header (v1 or v2) from an L4 "
          "balancer in --proxy-protocol-from; its source address becomes the client's address");
ABSL_FLAG(std::string, proxy_protocol_from, "",
          "CIDR blocks (comma-separated) of the L4 balancers that send the PROXY header; required "
          "with --proxy-protocol, which refuses connections from any other peer");
ABSL_FLAG(uint32_t, ring_entries, Defaults().ring_entries,
          "submission queue entries per worker ring");
ABSL_FLAG(uint32_t, recv_buffers, Defaults().recv_buffers,
          "provided recv buffers per worker (a power of two)");
ABSL_FLAG(uint32_t, recv_buffer_size, Defaults().recv_buffer_size,
          "bytes per provided recv buffer");
ABSL_FLAG(bool, sqpoll, Defaults().sqpoll,
          "a kernel thread per worker polls its submission queue (needs a spare core per worker)");
ABSL_FLAG(absl::Duration, sqpoll_idle, absl::Milliseconds(Defaults().sqpoll_idle_ms),
          "how long an idle --sqpoll thread keeps polling before it sleeps");
ABSL_FLAG(absl::Duration, batch_wait, absl::Microseconds(Defaults().batch_wait_us),
          "min-wait batching: each wait for completions may last this long to gather a batch "
          "(fewer wake-ups at moderate load, at most this much added latency; Linux 6.12). 0: off");
ABSL_FLAG(uint32_t, send_zc_threshold, Defaults().send_zc_threshold,
          "client sends of at least this many bytes use zero-copy send (0: never)");
ABSL_FLAG(bool, check_config, false,
          "check the configuration and exit without serving: every flag, certificate, key and "
          "ticket file (each pair proven by a handshake in memory), every backend name; exit 0, "
          "or 1 listing every problem");

namespace ringgate {

namespace {

// "-name..." or "--name...": dashes in the name (up to '=') become underscores.
void UnderscoreFlagName(std::string& arg) {
  if (arg.size() < 2 || arg[0] != '-' || arg == "--") return;
  const size_t begin = arg[1] == '-' ? 2 : 1;
  size_t end = arg.find('=');
  if (end == std::string::npos) end = arg.size();
  for (size_t j = begin; j < end; ++j) {
    if (arg[j] == '-') arg[j] = '_';
  }
}

// Flag files are configuration, not data: small, regular, and never including themselves.
constexpr off_t kMaxFlagFileBytes = 1 << 20;
constexpr size_t kMaxFlagArguments = 10000;
constexpr int kMaxFlagFileDepth = 8;

class FlagExpander {
 public:
  explicit FlagExpander(std::vector<FlagArgument>& out) : out_(out) {}

  // One argument, from the command line or a file line; a --flagfile is expanded in place.
  // `next` is the command line's following argument, for "--flagfile PATH".
  size_t Add(std::string text, const std::string& origin, bool from_file, const std::string* next) {
    UnderscoreFlagName(text);
    const size_t dashes = text.rfind("--", 0) == 0 ? 2 : (text.rfind('-', 0) == 0 ? 1 : 0);
    const absl::string_view name_and_value = absl::string_view(text).substr(dashes);
    if (dashes > 0 && absl::StartsWith(name_and_value, "flagfile=")) {
      ExpandList(std::string(name_and_value.substr(9)), origin, from_file);
      return 1;
    }
    if (dashes > 0 && name_and_value == "flagfile" && !from_file && next != nullptr) {
      ExpandList(*next, origin, from_file);
      return 2;
    }
    Push({std::move(text), origin, from_file, ""});
    return 1;
  }

 private:
  void Push(FlagArgument argument) {
    if (out_.size() >= kMaxFlagArguments) {
      if (!overflowed_) {
        out_.push_back({"--flagfile", argument.origin, argument.from_file,
                        absl::StrCat("more than ", kMaxFlagArguments, " flags in all")});
      }
      overflowed_ = true;
      return;
    }
    out_.push_back(std::move(argument));
  }

  // "a.flags,b.flags": each file in turn, as absl reads the list.
  void ExpandList(const std::string& list, const std::string& origin, bool from_file) {
    for (absl::string_view path : absl::StrSplit(list, ',')) {
      ExpandFile(std::string(path), origin, from_file);
    }
  }

  // `origin` and `from_file`: where the file was named.
  void ExpandFile(const std::string& path, const std::string& origin, bool from_file) {
    const std::string arg = "--flagfile=" + path;
    auto refuse = [&](std::string why) { Push({arg, origin, from_file, std::move(why)}); };
    struct stat st {};
    if (path.empty()) return refuse("no file named");
    if (stat(path.c_str(), &st) != 0) {
      return refuse(absl::StrCat("cannot read '", path, "': ", std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode)) return refuse(absl::StrCat("'", path, "' is not a regular file"));
    if (st.st_size > kMaxFlagFileBytes) {
      return refuse(absl::StrCat("'", path, "' is larger than 1 MiB: not a flag file"));
    }
    for (const auto& [dev, ino] : open_files_) {
      if (dev == st.st_dev && ino == st.st_ino) {
        return refuse(absl::StrCat("'", path, "' includes itself"));
      }
    }
    if (open_files_.size() >= kMaxFlagFileDepth) {
      return refuse(absl::StrCat("'", path, "' is nested more than eight deep"));
    }
    std::ifstream in(path);
    if (!in) return refuse(absl::StrCat("cannot read '", path, "': ", std::strerror(errno)));
    open_files_.emplace_back(st.st_dev, st.st_ino);
    int number = 0;
    for (std::string line; std::getline(in, line);) {
      ++number;
      const size_t first = line.find_first_not_of(" \t\r");
      if (first == std::string::npos || line[first] == '#') continue;
      const size_t last = line.find_last_not_of(" \t\r");
      // One line is one argument: a flag there never takes the next line as its value.
      Add(line.substr(first, last - first + 1), absl::StrCat(path, ":", number), true, nullptr);
    }
    if (in.bad()) refuse(absl::StrCat("reading '", path, "' failed: ", std::strerror(errno)));
    open_files_.pop_back();
  }

  std::vector<FlagArgument>& out_;
  std::vector<std::pair<dev_t, ino_t>> open_files_;
  bool overflowed_ = false;
};

}  // namespace

std::vector<FlagArgument> ExpandFlagArguments(int argc, char** argv) {
  std::vector<FlagArgument> out;
  if (argc == 0) return out;
  out.push_back({argv[0], "the command line", false, ""});
  FlagExpander expander(out);
  int i = 1;
  while (i < argc && std::string_view(argv[i]) != "--") {
    const std::string next_text = i + 1 < argc ? argv[i + 1] : "";
    const std::string* next = i + 1 < argc ? &next_text : nullptr;
    i += static_cast<int>(
        expander.Add(argv[i], absl::StrCat("command line argument ", i), false, next));
  }
  for (; i < argc; ++i) {  // "--" and what follows, untouched
    out.push_back({argv[i], absl::StrCat("command line argument ", i), false, ""});
  }
  return out;
}

std::vector<std::string> NormalizeFlagSpelling(int argc, char** argv) {
  std::vector<std::string> texts;
  for (FlagArgument& a : ExpandFlagArguments(argc, argv)) texts.push_back(std::move(a.text));
  return texts;
}

namespace {

// ringgate's own flags are the ones defined in this file; abseil's (--flagfile, --fromenv,
// --helpfull, ...) are not taken.
bool IsRinggateFlag(const absl::CommandLineFlag& flag) {
  return flag.Filename().find("src/config/flags.cc") != std::string::npos;
}

std::string DashedName(absl::string_view name) {
  std::string dashed(name.data(), name.size());
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  return dashed;
}

// The flag name at the start of `body` (letters, digits, underscores): all that a message
// repeats of an argument it cannot use, since a line that is not a flag may hold a secret.
std::string LeadingName(absl::string_view body) {
  size_t n = 0;
  while (n < body.size() &&
         (absl::ascii_isalnum(static_cast<unsigned char>(body[n])) || body[n] == '_')) {
    ++n;
  }
  return std::string(body.substr(0, n));
}

// Sets one flag from "--name=value", "--name value" (`next` is the command line's following
// argument, taken when the flag is not a bool, has no '=' and the next one is no flag), "--name"
// or "--noname" (bools). Returns how many arguments it used; a problem is noted, prefixed with
// where the argument came from when that was a file.
size_t ApplyOneFlag(const FlagArgument& arg, const FlagArgument* next,
                    std::vector<std::string>& problems) {
  const std::string where = arg.from_file ? arg.origin + ": " : "";
  absl::string_view body(arg.text);
  absl::ConsumePrefix(&body, "-");
  absl::ConsumePrefix(&body, "-");
  const size_t eq = body.find('=');
  const std::string name(body.substr(0, eq));
  std::optional<std::string> value;
  if (eq != absl::string_view::npos) value = std::string(body.substr(eq + 1));
  absl::CommandLineFlag* flag =
      LeadingName(name) == name ? absl::FindCommandLineFlag(name) : nullptr;
  if (flag != nullptr && !IsRinggateFlag(*flag)) flag = nullptr;
  if (flag == nullptr && !value && absl::StartsWith(name, "no")) {
    absl::CommandLineFlag* negated = absl::FindCommandLineFlag(name.substr(2));
    if (negated != nullptr && IsRinggateFlag(*negated) && negated->IsOfType<bool>()) {
      flag = negated;
      value = "false";
    }
  }
  if (flag == nullptr) {
    const std::string leading = LeadingName(name);
    const absl::CommandLineFlag* known = absl::FindCommandLineFlag(leading);
    if (leading != name && known != nullptr && IsRinggateFlag(*known)) {
      // "--admin-token SECRET" on one line: the flag is known, the rest is not repeated.
      problems.push_back(absl::StrCat(where, "--", DashedName(leading), ": write it as --",
                                      DashedName(leading), "=VALUE, one flag per line"));
    } else {
      problems.push_back(
          absl::StrCat(where, "unknown flag --", DashedName(leading), " (see --help)"));
    }
    return 1;
  }
  if (arg.from_file && flag->Name() == "check_config") {
    problems.push_back(absl::StrCat(where,
                                    "--check-config belongs on the command line: in a flag file "
                                    "it would turn every start into a check"));
    return 1;
  }
  size_t used = 1;
  if (!value) {
    if (flag->IsOfType<bool>()) {
      value = "true";
    } else if (next != nullptr && !next->from_file && !arg.from_file &&
               !absl::StartsWith(next->text, "-")) {
      value = next->text;
      used = 2;
    } else {
      problems.push_back(absl::StrCat(where, "--", DashedName(name), " needs a value"));
      return 1;
    }
  }
  std::string error;
  if (!flag->ParseFrom(*value, &error)) {
    // Only flags of numbers, durations and bools refuse a value, and those hold no secret.
    const char* expected = flag->IsOfType<absl::Duration>() ? "a duration such as 500ms, 30s, 1h"
                           : flag->IsOfType<bool>()         ? "true or false"
                                                            : "a whole number in range";
    problems.push_back(absl::StrCat(where, "--", DashedName(name), ": '", *value,
                                    "' is not a valid value (", expected, ")"));
  }
  return used;
}

}  // namespace

std::vector<std::string> ApplyFlagArguments(const std::vector<FlagArgument>& args) {
  std::vector<std::string> problems;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!IsRinggateFlag(*flag)) continue;
    std::string error;
    if (!flag->ParseFrom(flag->DefaultValue(), &error)) {
      problems.push_back(absl::StrCat("--", DashedName(name), ": its default does not parse"));
    }
  }
  bool flags_ended = false;
  for (size_t i = 1; i < args.size();) {
    const FlagArgument& arg = args[i];
    if (!arg.problem.empty()) {
      problems.push_back(
          absl::StrCat(arg.from_file ? arg.origin + ": " : "", "--flagfile: ", arg.problem));
      ++i;
      continue;
    }
    if (!flags_ended && !arg.from_file && arg.text == "--") {
      flags_ended = true;
      ++i;
      continue;
    }
    if (flags_ended || arg.text.size() < 2 || arg.text[0] != '-') {
      // A file's line is not repeated: it may be a secret (a key file given as a flag file).
      problems.push_back(arg.from_file
                             ? absl::StrCat(arg.origin,
                                            ": not a --flag (the line is not shown: it may hold "
                                            "a secret)")
                             : absl::StrCat("unexpected argument '", arg.text, "' (see --help)"));
      ++i;
      continue;
    }
    const FlagArgument* next = i + 1 < args.size() ? &args[i + 1] : nullptr;
    i += ApplyOneFlag(arg, next, problems);
  }
  return problems;
}

std::vector<std::string> ApplyFlagArguments(const std::vector<std::string>& args) {
  std::vector<FlagArgument> arguments;
  for (size_t i = 0; i < args.size(); ++i) {
    arguments.push_back({args[i], absl::StrCat("argument ", i), false, ""});
  }
  return ApplyFlagArguments(arguments);
}

bool ProblemWaitsForRestart(std::string_view text) {
  absl::string_view problem(text.data(), text.size());
  if (!absl::ConsumePrefix(&problem, "--")) return false;
  const std::string name = LeadingName(absl::StrReplaceAll(problem, {{"-", "_"}}));
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  return flag != nullptr && IsRinggateFlag(*flag) && !FlagTakesEffectOnReload(name);
}

bool CheckConfigRequested() { return absl::GetFlag(FLAGS_check_config); }

std::map<std::string, std::string> FlagValues() {
  std::map<std::string, std::string> values;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (IsRinggateFlag(*flag) && name != "check_config") {
      values.emplace(std::string(name), flag->CurrentValue());
    }
  }
  return values;
}

bool FlagTakesEffectOnReload(std::string_view name) {
  return name == "cert" || name == "key" || name == "ticket_key_file" || name == "tls_groups";
}

// (absl's own --help lists only flags from a file named after the program.)
std::string FlagHelp() {
  std::string out;
  static constexpr struct {
    const char* title;
    std::initializer_list<const char*> flags;
  } kGroups[] = {
      {"Listen and backends",
       {"listen", "backend", "lb", "backend_max_fails", "backend_fail_timeout", "health_check_path",
        "health_check_interval", "trusted_proxies", "proxy_protocol", "proxy_protocol_from"}},
      {"TLS", {"cert", "key", "ticket_key_file", "tls_groups"}},
      {"Configuration", {"check_config"}},
      {"Privileges", {"user", "core_dumps"}},
      {"Timeouts",
       {"handshake_timeout", "request_header_timeout", "request_body_timeout", "idle_timeout",
        "upstream_connect_timeout", "upstream_response_timeout", "close_notify_timeout",
        "send_timeout", "tunnel_idle_timeout", "drain_timeout"}},
      {"Limits",
       {"max_conns", "upstream_idle_max", "upstream_idle_timeout", "max_request_head",
        "max_request_headers", "max_request_line", "max_request_body", "max_pipelined",
        "max_conn_buffer"}},
      {"Logs and diagnostics",
       {"log_level", "log_format", "access_log", "admin_listen", "admin_token",
        "closures_per_worker", "diagnostics"}},
      {"Tuning",
       {"threads", "cpus", "ring_entries", "recv_buffers", "recv_buffer_size", "sqpoll",
        "sqpoll_idle", "batch_wait", "send_zc_threshold"}},
  };
  auto print_flag = [&out](const absl::CommandLineFlag& flag) {
    std::string line = absl::StrCat("  --", DashedName(flag.Name()), "=", flag.DefaultValue());
    if (line.size() < 40) line.resize(40, ' ');
    absl::StrAppend(&out, line, " ", flag.Help(), "\n");
  };
  absl::StrAppend(&out,
                  "ringgate: TLS-terminating HTTP/1.1 reverse proxy.\n\n"
                  "  ringgate --listen 127.0.0.1:8443 --backend 127.0.0.1:8080 --cert cert.pem "
                  "--key key.pem\n\n"
                  "Flags may be spelled with dashes or underscores. Signals: SIGTERM/SIGINT drain, "
                  "SIGHUP reloads the certificate.\n");
  std::vector<std::string> listed;
  for (const auto& group : kGroups) {
    absl::StrAppend(&out, "\n", group.title, ":\n");
    for (const char* name : group.flags) {
      if (const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name)) {
        print_flag(*flag);
        listed.emplace_back(name);
      }
    }
  }
  // A flag defined here but missing from the groups above still shows (and the test that
  // compares --help with the README catches it).
  std::vector<const absl::CommandLineFlag*> others;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!IsRinggateFlag(*flag)) continue;
    if (std::find(listed.begin(), listed.end(), std::string(name.data(), name.size())) ==
        listed.end()) {
      others.push_back(flag);
    }
  }
  if (!others.empty()) {
    std::sort(others.begin(), others.end(),
              [](const auto* a, const auto* b) { return a->Name() < b->Name(); });
    absl::StrAppend(&out, "\nOther:\n");
    for (const absl::CommandLineFlag* flag : others) print_flag(*flag);
  }
  absl::StrAppend(&out,
                  "\nMore: README.md, docs/operations.md, docs/http.md, docs/diagnostics.md.\n");
  return out;
}

namespace {

// --user: checked before anything starts, so that a typo stops start-up with a message.
absl::Status CheckUserToRunAs(const std::string& user) {
  if (user.empty()) return absl::OkStatus();
  const passwd* entry = getpwnam(user.c_str());
  if (entry == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--user: no user named '", user, "'"));
  }
  // Already that user (a reload after the switch, or a unit that starts it as that user):
  // nothing to change.
  if (geteuid() != 0 && geteuid() != entry->pw_uid) {
    return absl::InvalidArgumentError(
        absl::StrCat("--user ", user, ": ringgate must start as root to change user"));
  }
  return absl::OkStatus();
}

// --lb, passive health (--backend-max-fails, --backend-fail-timeout) and the active check
// (--health-check-path, --health-check-interval).
void BackendGroupFromFlags(Config& config, std::vector<std::string>& problems) {
  if (absl::StatusOr<LbPolicy> policy = ParseLbPolicy(absl::GetFlag(FLAGS_lb)); policy.ok()) {
    config.lb_policy = *policy;
  } else {
    problems.emplace_back(policy.status().message());
  }
  config.backend_max_fails = absl::GetFlag(FLAGS_backend_max_fails);
  if (config.backend_max_fails < 1 || config.backend_max_fails > 1000) {
    problems.push_back(absl::StrCat("--backend-max-fails must be between 1 and 1000, got ",
                                    config.backend_max_fails));
  }
  config.backend_fail_timeout = absl::GetFlag(FLAGS_backend_fail_timeout);
  if (config.backend_fail_timeout < absl::Milliseconds(10) ||
      config.backend_fail_timeout > absl::Hours(1)) {
    problems.push_back(absl::StrCat("--backend-fail-timeout must be between 10ms and 1h, got ",
                                    absl::FormatDuration(config.backend_fail_timeout)));
  }
  config.health_check_path = absl::GetFlag(FLAGS_health_check_path);
  const std::string& path = config.health_check_path;
  if (!path.empty() && (path.front() != '/' || !std::all_of(path.begin(), path.end(), [](char c) {
                          return c > 0x20 && c < 0x7f;
                        }))) {
    problems.push_back(absl::StrCat(
        "--health-check-path must start with '/' and hold no spaces or control characters, got '",
        path, "'"));
  }
  config.health_check_interval = absl::GetFlag(FLAGS_health_check_interval);
  if (config.health_check_interval < absl::Milliseconds(50) ||
      config.health_check_interval > absl::Hours(1)) {
    problems.push_back(absl::StrCat("--health-check-interval must be between 50ms and 1h, got ",
                                    absl::FormatDuration(config.health_check_interval)));
  }
}

// --proxy-protocol and --proxy-protocol-from: one without the other is a mistake either way
// (no balancer may send the header, or the list is silently unused).
absl::Status ProxyProtocolFromFlags(Config& config) {
  config.proxy_protocol = absl::GetFlag(FLAGS_proxy_protocol);
  const std::string from = absl::GetFlag(FLAGS_proxy_protocol_from);
  absl::StatusOr<std::vector<Cidr>> blocks = ParseCidrList(from);
  if (!blocks.ok()) {
    // ParseCidrList names --trusted-proxies, the list it was first written for.
    absl::string_view why = blocks.status().message();
    absl::ConsumePrefix(&why, "--trusted-proxies: ");
    return absl::InvalidArgumentError(absl::StrCat("--proxy-protocol-from: ", why));
  }
  if (config.proxy_protocol && blocks->empty()) {
    return absl::InvalidArgumentError(
        "--proxy-protocol needs --proxy-protocol-from: the addresses of the load balancers that "
        "send the PROXY header (e.g. --proxy-protocol-from=10.0.0.0/8); connections from any "
        "other peer are refused");
  }
  if (!config.proxy_protocol && !blocks->empty()) {
    return absl::InvalidArgumentError(
        "--proxy-protocol-from is set but --proxy-protocol is off: add --proxy-protocol to read "
        "the PROXY header from those peers, or drop --proxy-protocol-from");
  }
  config.proxy_protocol_from = *std::move(blocks);
  return absl::OkStatus();
}

}  // namespace

void NoteProblems(std::vector<std::string>& problems, const absl::Status& status) {
  if (status.ok()) return;
  for (absl::string_view line : absl::StrSplit(status.message(), '\n')) {
    problems.emplace_back(line);
  }
}

namespace {

// The flags into `config`, every refused value noted in `problems` and the check going on with
// the next flag, so that one run names every mistake.
void ReadFlags(Config& config, std::vector<std::string>& problems) {
  const std::string level = absl::GetFlag(FLAGS_log_level);
  config.log_level = spdlog::level::from_str(level);
  if (config.log_level == spdlog::level::off && level != "off") {
    problems.push_back(absl::StrCat("--log-level: unknown level '", level, "'"));
  }
  const std::string format = absl::GetFlag(FLAGS_log_format);
  if (format != "text" && format != "json") {
    problems.push_back(absl::StrCat("--log-format: '", format, "' is neither text nor json"));
  }
  config.log_format = format == "json" ? LogFormat::kJson : LogFormat::kText;
  config.access_log_path = absl::GetFlag(FLAGS_access_log);
  if (auto listen = ParseSocketAddress(absl::GetFlag(FLAGS_listen)); listen.ok()) {
    config.listen = *std::move(listen);
  } else {
    problems.push_back(absl::StrCat("--listen: ", listen.status().message()));
  }
  if (auto backends = ParseBackendList(absl::GetFlag(FLAGS_backend)); backends.ok()) {
    config.backends = *std::move(backends);
  } else {
    NoteProblems(problems, backends.status());
  }
  BackendGroupFromFlags(config, problems);
  config.ticket_key_path = absl::GetFlag(FLAGS_ticket_key_file);
  if (absl::GetFlag(FLAGS_cert).empty() || absl::GetFlag(FLAGS_key).empty()) {
    problems.emplace_back("--cert and --key are required (PEM files)");
  } else {
    const std::vector<std::string> certs = absl::StrSplit(absl::GetFlag(FLAGS_cert), ',');
    const std::vector<std::string> keys = absl::StrSplit(absl::GetFlag(FLAGS_key), ',');
    if (certs.size() != keys.size()) {
      problems.push_back(
          absl::StrCat("--cert lists ", certs.size(), " files and --key ", keys.size(),
                       ": give one key per certificate, in the same order (comma-separated)"));
    } else if (std::any_of(certs.begin(), certs.end(), [](auto& c) { return c.empty(); }) ||
               std::any_of(keys.begin(), keys.end(), [](auto& k) { return k.empty(); })) {
      for (size_t i = 0; i < certs.size(); ++i) {
        if (certs[i].empty() || keys[i].empty()) {
          problems.push_back(
              absl::StrCat("--cert and --key: entry ", i + 1, " is empty (a stray comma?)"));
        }
      }
    } else {
      for (size_t i = 0; i < certs.size(); ++i) config.certificates.push_back({certs[i], keys[i]});
      config.cert_path = certs.front();
      config.key_path = keys.front();
    }
  }
  if (const std::string groups = absl::GetFlag(FLAGS_tls_groups); !groups.empty()) {
    absl::StatusOr<std::vector<TlsGroup>> parsed = ParseTlsGroups(groups);
    if (parsed.ok()) {
      config.tls_groups = *std::move(parsed);
    } else {
      NoteProblems(problems, parsed.status());
    }
  }
  if (auto cpus = ParseCpuList(absl::GetFlag(FLAGS_cpus)); cpus.ok()) {
    config.cpus = *std::move(cpus);
  } else {
    NoteProblems(problems, cpus.status());
  }
  const int online = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  for (int cpu : config.cpus) {
    if (cpu >= online) {
      problems.push_back(
          absl::StrCat("--cpus: CPU ", cpu, " does not exist (", online, " online)"));
    }
  }
  config.threads = absl::GetFlag(FLAGS_threads);
  if (config.threads < 0 || config.threads > 1024) {
    problems.push_back(absl::StrCat("--threads: ", config.threads, " is out of range"));
  } else if (config.threads == 0) {
    config.threads = config.cpus.empty() ? online : static_cast<int>(config.cpus.size());
  }
  struct NamedDuration {
    const char* name;
    absl::Duration value;
    absl::Duration* into;
  } durations[] = {
      {"--handshake-timeout", absl::GetFlag(FLAGS_handshake_timeout), &config.handshake_timeout},
      {"--request-header-timeout", absl::GetFlag(FLAGS_request_header_timeout),
       &config.request_header_timeout},
      {"--request-body-timeout", absl::GetFlag(FLAGS_request_body_timeout),
       &config.request_body_timeout},
      {"--idle-timeout", absl::GetFlag(FLAGS_idle_timeout), &config.idle_timeout},
      {"--upstream-connect-timeout", absl::GetFlag(FLAGS_upstream_connect_timeout),
       &config.upstream_connect_timeout},
      {"--upstream-response-timeout", absl::GetFlag(FLAGS_upstream_response_timeout),
       &config.upstream_response_timeout},
      {"--close-notify-timeout", absl::GetFlag(FLAGS_close_notify_timeout),
       &config.close_notify_timeout},
      {"--drain-timeout", absl::GetFlag(FLAGS_drain_timeout), &config.drain_timeout},
      {"--tunnel-idle-timeout", absl::GetFlag(FLAGS_tunnel_idle_timeout),
       &config.tunnel_idle_timeout},
      {"--send-timeout", absl::GetFlag(FLAGS_send_timeout), &config.send_timeout},
      {"--upstream-idle-timeout", absl::GetFlag(FLAGS_upstream_idle_timeout),
       &config.upstream_idle_timeout},
  };
  for (const NamedDuration& d : durations) {
    if (d.value <= absl::ZeroDuration()) {
      problems.push_back(
          absl::StrCat(d.name, " must be positive, got ", absl::FormatDuration(d.value)));
    }
    *d.into = d.value;
  }
  config.ring_entries = absl::GetFlag(FLAGS_ring_entries);
  if (config.ring_entries < 64 || config.ring_entries > 32768) {
    problems.emplace_back("--ring-entries must be between 64 and 32768");
  }
  config.diagnostics = absl::GetFlag(FLAGS_diagnostics);
  config.closures_per_worker = absl::GetFlag(FLAGS_closures_per_worker);
  const std::string admin = absl::GetFlag(FLAGS_admin_listen);
  config.admin_enabled = admin != "off";
  if (config.admin_enabled) {
    config.admin_token = absl::GetFlag(FLAGS_admin_token);
    if (auto admin_addr = ParseSocketAddress(admin); admin_addr.ok()) {
      config.admin_listen = *std::move(admin_addr);
      NoteProblems(problems, CheckAdminAccess(config.admin_listen, config.admin_token));
    } else {
      problems.push_back(absl::StrCat("--admin-listen: ", admin_addr.status().message()));
    }
  }
  config.max_conns_per_worker = absl::GetFlag(FLAGS_max_conns);
  config.upstream_idle_max = absl::GetFlag(FLAGS_upstream_idle_max);
  config.max_request_head_bytes = absl::GetFlag(FLAGS_max_request_head);
  config.max_request_headers = absl::GetFlag(FLAGS_max_request_headers);
  config.max_request_target_bytes = absl::GetFlag(FLAGS_max_request_line);
  config.max_request_body_bytes = absl::GetFlag(FLAGS_max_request_body);
  config.max_pipelined = absl::GetFlag(FLAGS_max_pipelined);
  if (config.max_pipelined < 1 || config.max_pipelined > 1024) {
    problems.emplace_back("--max-pipelined must be between 1 and 1024");
  }
  config.max_conn_buffer_bytes = absl::GetFlag(FLAGS_max_conn_buffer);
  if (config.max_conn_buffer_bytes < 64 * 1024 || config.max_conn_buffer_bytes > (64u << 20)) {
    problems.emplace_back(
        "--max-conn-buffer must be between 65536 and 67108864 (it must hold a few TLS records)");
  }
  if (auto trusted = ParseCidrList(absl::GetFlag(FLAGS_trusted_proxies)); trusted.ok()) {
    config.trusted_proxies = *std::move(trusted);
  } else {
    NoteProblems(problems, trusted.status());
  }
  NoteProblems(problems, ProxyProtocolFromFlags(config));
  if (config.max_request_head_bytes < 1024 || config.max_request_headers < 1 ||
      config.max_request_target_bytes < 16) {
    problems.emplace_back(
        "--max-request-head must be at least 1024, --max-request-headers at least 1, "
        "--max-request-line at least 16");
  }
  config.recv_buffers = absl::GetFlag(FLAGS_recv_buffers);
  // Checked here as well as by the worker's BufferRing::Init, so that it stops start-up.
  if (config.recv_buffers == 0 || (config.recv_buffers & (config.recv_buffers - 1)) != 0 ||
      config.recv_buffers > 32768) {
    problems.push_back(absl::StrCat(
        "--recv-buffers must be a power of two between 1 and 32768, got ", config.recv_buffers));
  }
  config.recv_buffer_size = absl::GetFlag(FLAGS_recv_buffer_size);
  if (config.recv_buffer_size < 1024 || config.recv_buffer_size > (1u << 20)) {
    problems.emplace_back("--recv-buffer-size must be between 1024 and 1048576");
  }
  config.sqpoll = absl::GetFlag(FLAGS_sqpoll);
  const absl::Duration sqpoll_idle = absl::GetFlag(FLAGS_sqpoll_idle);
  if (sqpoll_idle < absl::Milliseconds(1) || sqpoll_idle > absl::Seconds(60)) {
    problems.emplace_back("--sqpoll-idle must be between 1ms and 60s");
  } else {
    config.sqpoll_idle_ms = static_cast<uint32_t>(absl::ToInt64Milliseconds(sqpoll_idle));
  }
  const absl::Duration batch_wait = absl::GetFlag(FLAGS_batch_wait);
  if (batch_wait < absl::ZeroDuration() || batch_wait > absl::Milliseconds(10)) {
    problems.push_back(absl::StrCat("--batch-wait must be between 0 (off) and 10ms, got ",
                                    absl::FormatDuration(batch_wait)));
  } else {
    config.batch_wait_us = static_cast<uint32_t>(absl::ToInt64Microseconds(batch_wait));
  }
  config.send_zc_threshold = absl::GetFlag(FLAGS_send_zc_threshold);
  config.core_dumps = absl::GetFlag(FLAGS_core_dumps);
  config.run_as_user = absl::GetFlag(FLAGS_user);
  NoteProblems(problems, CheckUserToRunAs(config.run_as_user));
}

}  // namespace

Config ConfigFromFlags(std::vector<std::string>& problems) {
  Config config;
  ReadFlags(config, problems);
  return config;
}

absl::StatusOr<Config> ConfigFromFlags() {
  std::vector<std::string> problems;
  Config config = ConfigFromFlags(problems);
  if (!problems.empty()) return absl::InvalidArgumentError(absl::StrJoin(problems, "\n"));
  return config;
}

}  // namespace ringgate
