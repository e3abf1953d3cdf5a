// ringgate: a TLS-terminating HTTP/1.1 reverse proxy on io_uring, one worker per core.
//
//   ringgate --listen 127.0.0.1:8443 --backend 127.0.0.1:8080 --cert cert.pem --key key.pem
//
// main turns flags into a Config, checks everything a user can get wrong before serving (flags,
// certificate and key, the listen address), starts the workers and waits for a signal.
#include <malloc.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <llhttp.h>  // LLHTTP_VERSION_*, for --version

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "ringgate/core/uring_features.h"
#include "ringgate/proxy/worker.h"
#include "ringgate/diag/admin_server.h"
#include "ringgate/config/config.h"
#include "ringgate/core/log.h"
#include "ringgate/tls/tls_context.h"
#include "ringgate/tls/wolfssl.h"  // LIBWOLFSSL_VERSION_STRING, for --version

ABSL_FLAG(std::string, listen, "127.0.0.1:8443", "TLS listen address, host:port");
ABSL_FLAG(std::string, backend, "127.0.0.1:8080", "plain-HTTP backend address, host:port");
ABSL_FLAG(std::string, cert, "", "PEM certificate chain (ECDSA or RSA)");
ABSL_FLAG(std::string, key, "", "PEM private key matching --cert");
ABSL_FLAG(std::string, ticket_key_file, "",
          "session ticket keys shared by every instance given the same file: 1 to 16 keys of 48 "
          "bytes (openssl rand 48); the first encrypts. Reloaded on SIGHUP. Empty: a key of this "
          "process's own");
ABSL_FLAG(std::string, tls_groups, "",
          "key exchange groups in order of preference, colon-separated (X25519MLKEM768, "
          "SecP256r1MLKEM768, x25519, secp256r1 or P-256, secp384r1 or P-384). Empty: "
          "X25519MLKEM768:x25519:secp256r1:secp384r1 (without ML-KEM in the fallback wolfSSL)");
ABSL_FLAG(std::string, user, "",
          "after opening every socket and file, run as this user (and its groups); needs start "
          "as root. A SIGHUP reload then reads --cert, --key and --ticket-key-file as that user");
ABSL_FLAG(bool, core_dumps, false,
          "allow core dumps and ptrace by the same user (off: they would expose private keys)");
ABSL_FLAG(int, threads, 0, "worker threads, one ring each (0: one per online CPU)");
ABSL_FLAG(std::string, cpus, "", "CPUs to pin workers to, e.g. 0,1 or 0-3 (empty: unpinned)");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10), "TLS handshake deadline");
ABSL_FLAG(absl::Duration, request_header_timeout, absl::Seconds(30),
          "deadline for a begun request head to complete");
ABSL_FLAG(absl::Duration, request_body_timeout, absl::Seconds(30),
          "longest wait for the next byte of a request body (then 408, or a cut once the response "
          "has begun)");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Seconds(60),
          "keep-alive: how long a connection may wait for its next request");
ABSL_FLAG(absl::Duration, upstream_connect_timeout, absl::Seconds(5),
          "backend connect deadline (then 504)");
ABSL_FLAG(absl::Duration, upstream_response_timeout, absl::Seconds(60),
          "longest wait for backend bytes once the request is sent (then 504)");
ABSL_FLAG(absl::Duration, close_notify_timeout, absl::Seconds(5),
          "after our close_notify, how long to wait for the client's close_notify or FIN");
ABSL_FLAG(absl::Duration, send_timeout, absl::Seconds(60),
          "a client that accepts none of our bytes for this long is cut (also bounds the close's flush)");
ABSL_FLAG(absl::Duration, upstream_idle_timeout, absl::Seconds(30),
          "idle pooled backend connections are closed after this long");
ABSL_FLAG(uint32_t, upstream_idle_max, 1024, "idle pooled backend connections kept per worker");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(30),
          "SIGTERM/SIGINT: how long in-flight requests may take before they are cut");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(std::string, log_format, "text", "text (key=value) or json (one object per line)");
ABSL_FLAG(std::string, access_log, "off", "file for one line per request, or off");
ABSL_FLAG(std::string, admin_listen, "127.0.0.1:9901",
          "plain-HTTP admin address (/metrics /connections /closures /healthz /readyz), or off");
ABSL_FLAG(std::string, admin_token, "",
          "every admin request must carry 'Authorization: Bearer <token>' (16 to 512 visible "
          "characters); required for a non-loopback --admin-listen");
ABSL_FLAG(uint32_t, closures_per_worker, 256, "closed connections each worker remembers for /closures");
ABSL_FLAG(bool, diagnostics, true,
          "metrics, flight recorder and the kernel's view at close (false: only logs)");
ABSL_FLAG(uint32_t, max_conns, 0,
           "client connections per worker; beyond it new ones are closed at once (0: no limit)");
ABSL_FLAG(uint32_t, max_request_head, 64 * 1024, "request head bytes before 431");
ABSL_FLAG(uint32_t, max_request_headers, 100, "request header fields before 431");
ABSL_FLAG(uint32_t, max_request_line, 8 * 1024, "request target bytes before 414");
ABSL_FLAG(uint64_t, max_request_body, 0, "request body bytes before 413 (0: no limit)");
ABSL_FLAG(uint32_t, max_pipelined, 32,
          "complete requests read ahead of the one being answered; reading pauses beyond them, "
          "and after the client has gone no more than these are answered");
ABSL_FLAG(uint32_t, max_conn_buffer, 256 * 1024,
          "bytes one connection may hold in user space (unparsed input, bytes owed to either peer); "
          "reading pauses on the side that fills it");
ABSL_FLAG(std::string, trusted_proxies, "",
          "CIDR blocks (comma-separated) whose X-Forwarded-For is appended to and whose other "
          "forwarding headers are kept; from any other peer they are replaced (empty: none)");
ABSL_FLAG(uint32_t, ring_entries, 4096, "submission queue entries per worker ring");
ABSL_FLAG(uint32_t, recv_buffers, 256, "provided recv buffers per worker (a power of two)");
ABSL_FLAG(uint32_t, recv_buffer_size, 16384, "bytes per provided recv buffer");
ABSL_FLAG(bool, sqpoll, false,
          "a kernel thread per worker polls its submission queue (needs a spare core per worker)");
ABSL_FLAG(absl::Duration, sqpoll_idle, absl::Milliseconds(1000),
          "how long an idle --sqpoll thread keeps polling before it sleeps");
ABSL_FLAG(uint32_t, send_zc_threshold, 0,
          "client sends of at least this many bytes use zero-copy send (0: never)");

namespace ringgate {
namespace {

// absl spells multi-word flags with underscores; accept the dashed spelling users type
// (--close-notify-timeout) by rewriting the name part of each --flag argument.
std::vector<std::string> NormalizeFlagSpelling(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    std::string& a = args[i];
    if (a == "--") break;
    if (a.size() < 3 || a[0] != '-' || a[1] != '-') continue;
    size_t end = a.find('=');
    if (end == std::string::npos) end = a.size();
    for (size_t j = 2; j < end; ++j) {
      if (a[j] == '-') a[j] = '_';
    }
  }
  return args;
}

// --help: every ringgate flag, grouped as the README's table is, with its default; none of
// abseil's own. (absl's --help lists only flags from a file named after the program.)
void PrintHelp() {
  static constexpr struct {
    const char* title;
    std::initializer_list<const char*> flags;
  } kGroups[] = {
      {"Listen and backends", {"listen", "backend", "trusted_proxies"}},
      {"TLS", {"cert", "key", "ticket_key_file", "tls_groups"}},
      {"Privileges", {"user", "core_dumps"}},
      {"Timeouts",
       {"handshake_timeout", "request_header_timeout", "request_body_timeout", "idle_timeout",
        "upstream_connect_timeout", "upstream_response_timeout", "close_notify_timeout",
        "send_timeout", "drain_timeout"}},
      {"Limits",
       {"max_conns", "upstream_idle_max", "upstream_idle_timeout", "max_request_head",
        "max_request_headers", "max_request_line", "max_request_body", "max_pipelined",
        "max_conn_buffer"}},
      {"Logs and diagnostics",
       {"log_level", "log_format", "access_log", "admin_listen", "admin_token",
        "closures_per_worker", "diagnostics"}},
      {"Tuning",
       {"threads", "cpus", "ring_entries", "recv_buffers", "recv_buffer_size", "sqpoll",
        "sqpoll_idle", "send_zc_threshold"}},
  };
  auto print_flag = [](const absl::CommandLineFlag& flag) {
    const absl::string_view flag_name = flag.Name();
    std::string name(flag_name.data(), flag_name.size());
    std::replace(name.begin(), name.end(), '_', '-');
    std::string line = absl::StrCat("  --", name, "=", flag.DefaultValue());
    if (line.size() < 40) line.resize(40, ' ');
    std::printf("%s %s\n", line.c_str(), flag.Help().c_str());
  };
  std::printf("ringgate: TLS-terminating HTTP/1.1 reverse proxy.\n\n"
              "  ringgate --listen 127.0.0.1:8443 --backend 127.0.0.1:8080 --cert cert.pem "
              "--key key.pem\n\n"
              "Flags may be spelled with dashes or underscores. Signals: SIGTERM/SIGINT drain, "
              "SIGHUP reloads the certificate.\n");
  std::vector<std::string> listed;
  for (const auto& group : kGroups) {
    std::printf("\n%s:\n", group.title);
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
    if (flag->Filename().find("src/main.cc") == std::string::npos) continue;
    if (std::find(listed.begin(), listed.end(), std::string(name.data(), name.size())) ==
        listed.end()) {
      others.push_back(flag);
    }
  }
  if (!others.empty()) {
    std::sort(others.begin(), others.end(),
              [](const auto* a, const auto* b) { return a->Name() < b->Name(); });
    std::printf("\nOther:\n");
    for (const absl::CommandLineFlag* flag : others) print_flag(*flag);
  }
  std::printf("\nMore: README.md, docs/operations.md, docs/http.md, docs/diagnostics.md.\n");
}

// ringgate's version and build type, then each dependency's version and where it came from.
void PrintVersion() {
  std::printf("ringgate %s (%s build)\n", RINGGATE_VERSION, RINGGATE_BUILD_TYPE);
  std::printf("wolfSSL %s (%s; %s; %s)\n", LIBWOLFSSL_VERSION_STRING, RINGGATE_WOLFSSL_ORIGIN,
              RINGGATE_WOLFSSL_PIN,
              TlsContext::UsesAssemblyBuild() ? "x86-64 assembly"
                                              : "no assembly: AES-GCM about 28x slower");
  std::printf("TLS key exchange groups by default: %s\n",
              TlsGroupList(DefaultTlsGroups()).c_str());
  std::printf("liburing %s (%s, static, with libc)\n", RINGGATE_LIBURING_VERSION,
              RINGGATE_LIBURING_ORIGIN);
  std::printf("llhttp %d.%d.%d (%s, static, strict: no lenient flags)\n", LLHTTP_VERSION_MAJOR,
              LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH, RINGGATE_LLHTTP_ORIGIN);
}

absl::StatusOr<Config> ConfigFromFlags() {
  Config config;
  auto listen = ParseSocketAddress(absl::GetFlag(FLAGS_listen));
  if (!listen.ok()) return absl::InvalidArgumentError(absl::StrCat("--listen: ", listen.status().message()));
  config.listen = *listen;
  auto backend = ParseSocketAddress(absl::GetFlag(FLAGS_backend));
  if (!backend.ok()) return absl::InvalidArgumentError(absl::StrCat("--backend: ", backend.status().message()));
  config.backend = *backend;
  config.cert_path = absl::GetFlag(FLAGS_cert);
  config.key_path = absl::GetFlag(FLAGS_key);
  config.ticket_key_path = absl::GetFlag(FLAGS_ticket_key_file);
  if (config.cert_path.empty() || config.key_path.empty()) {
    return absl::InvalidArgumentError("--cert and --key are required (PEM files)");
  }
  if (const std::string groups = absl::GetFlag(FLAGS_tls_groups); !groups.empty()) {
    absl::StatusOr<std::vector<TlsGroup>> parsed = ParseTlsGroups(groups);
    if (!parsed.ok()) return parsed.status();
    config.tls_groups = *std::move(parsed);
  }
  auto cpus = ParseCpuList(absl::GetFlag(FLAGS_cpus));
  if (!cpus.ok()) return cpus.status();
  config.cpus = *cpus;
  const int online = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  for (int cpu : config.cpus) {
    if (cpu >= online) {
      return absl::InvalidArgumentError(
          absl::StrCat("--cpus: CPU ", cpu, " does not exist (", online, " online)"));
    }
  }
  config.threads = absl::GetFlag(FLAGS_threads);
  if (config.threads < 0 || config.threads > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("--threads: ", config.threads, " is out of range"));
  }
  if (config.threads == 0) {
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
      {"--send-timeout", absl::GetFlag(FLAGS_send_timeout), &config.send_timeout},
      {"--upstream-idle-timeout", absl::GetFlag(FLAGS_upstream_idle_timeout),
       &config.upstream_idle_timeout},
  };
  for (const NamedDuration& d : durations) {
    if (d.value <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat(d.name, " must be positive, got ", absl::FormatDuration(d.value)));
    }
    *d.into = d.value;
  }
  config.ring_entries = absl::GetFlag(FLAGS_ring_entries);
  if (config.ring_entries < 64 || config.ring_entries > 32768) {
    return absl::InvalidArgumentError("--ring-entries must be between 64 and 32768");
  }
  config.diagnostics = absl::GetFlag(FLAGS_diagnostics);
  config.closures_per_worker = absl::GetFlag(FLAGS_closures_per_worker);
  const std::string admin = absl::GetFlag(FLAGS_admin_listen);
  config.admin_enabled = admin != "off";
  if (config.admin_enabled) {
    auto admin_addr = ParseSocketAddress(admin);
    if (!admin_addr.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--admin-listen: ", admin_addr.status().message()));
    }
    config.admin_listen = *admin_addr;
    config.admin_token = absl::GetFlag(FLAGS_admin_token);
    if (absl::Status s = CheckAdminAccess(config.admin_listen, config.admin_token); !s.ok()) {
      return s;
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
    return absl::InvalidArgumentError("--max-pipelined must be between 1 and 1024");
  }
  config.max_conn_buffer_bytes = absl::GetFlag(FLAGS_max_conn_buffer);
  if (config.max_conn_buffer_bytes < 64 * 1024 || config.max_conn_buffer_bytes > (64u << 20)) {
    return absl::InvalidArgumentError(
        "--max-conn-buffer must be between 65536 and 67108864 (it must hold a few TLS records)");
  }
  auto trusted = ParseCidrList(absl::GetFlag(FLAGS_trusted_proxies));
  if (!trusted.ok()) return trusted.status();
  config.trusted_proxies = *std::move(trusted);
  if (config.max_request_head_bytes < 1024 || config.max_request_headers < 1 ||
      config.max_request_target_bytes < 16) {
    return absl::InvalidArgumentError(
        "--max-request-head must be at least 1024, --max-request-headers at least 1, "
        "--max-request-line at least 16");
  }
  config.recv_buffers = absl::GetFlag(FLAGS_recv_buffers);
  config.recv_buffer_size = absl::GetFlag(FLAGS_recv_buffer_size);
  if (config.recv_buffer_size < 1024 || config.recv_buffer_size > (1u << 20)) {
    return absl::InvalidArgumentError("--recv-buffer-size must be between 1024 and 1048576");
  }
  config.sqpoll = absl::GetFlag(FLAGS_sqpoll);
  const absl::Duration sqpoll_idle = absl::GetFlag(FLAGS_sqpoll_idle);
  if (sqpoll_idle < absl::Milliseconds(1) || sqpoll_idle > absl::Seconds(60)) {
    return absl::InvalidArgumentError("--sqpoll-idle must be between 1ms and 60s");
  }
  config.sqpoll_idle_ms = static_cast<uint32_t>(absl::ToInt64Milliseconds(sqpoll_idle));
  config.send_zc_threshold = absl::GetFlag(FLAGS_send_zc_threshold);
  return config;
}

// Send and receive buffers of a large response grow to hundreds of KiB and are freed when the
// connection goes idle. By default glibc serves such sizes with mmap and hands freed memory
// back to the kernel, so every response page-faults its buffers in again (perf: about a sixth of
// the CPU of 1 MiB responses). Keeping them in the heap trades a process that does not shrink
// after a peak for a bulk path without page faults.
void KeepLargeBuffersInTheHeap() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

// --user: checked before anything starts, so that a typo stops start-up with a message.
absl::Status CheckUserToRunAs(const std::string& user) {
  if (user.empty()) return absl::OkStatus();
  if (getpwnam(user.c_str()) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--user: no user named '", user, "'"));
  }
  if (geteuid() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--user ", user, ": ringgate must start as root to change user"));
  }
  return absl::OkStatus();
}

// Drops root for good: supplementary groups, group, then user; checks that root cannot be had
// back. Called once every listener is bound and every key file read, before the workers start.
absl::Status RunAsUser(const std::string& user) {
  const passwd* entry = getpwnam(user.c_str());
  if (entry == nullptr) return absl::InvalidArgumentError(absl::StrCat("--user: no user named '", user, "'"));
  const uid_t uid = entry->pw_uid;
  const gid_t gid = entry->pw_gid;
  if (initgroups(user.c_str(), gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
    return absl::InternalError(absl::StrCat("--user ", user, ": ", std::strerror(errno)));
  }
  if (uid != 0 && (setuid(0) == 0 || geteuid() == 0)) {
    return absl::InternalError(absl::StrCat("--user ", user, ": root could be regained"));
  }
  return absl::OkStatus();
}

void RaiseFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int Main(int argc, char** argv) {
  // First of all, before any thread exists (InitLogging starts spdlog's): every thread inherits
  // this mask, so the stop and reload signals wait, pending, for main's sigtimedwait below and
  // never take their default action (death) on a thread that does not block them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::SetProgramUsageMessage(
      "TLS-terminating HTTP/1.1 reverse proxy.\n"
      "  ringgate --listen 127.0.0.1:8443 --backend 127.0.0.1:8080 --cert cert.pem --key key.pem");
  std::vector<std::string> normalized = NormalizeFlagSpelling(argc, argv);
  for (size_t i = 1; i < normalized.size() && normalized[i] != "--"; ++i) {
    if (normalized[i] == "--help" || normalized[i] == "-h" || normalized[i] == "-help") {
      PrintHelp();
      return 0;
    }
    if (normalized[i] == "--version" || normalized[i] == "-version") {
      PrintVersion();
      return 0;
    }
  }
  std::vector<char*> normalized_argv;
  for (std::string& a : normalized) normalized_argv.push_back(a.data());
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(normalized_argv.size()), normalized_argv.data());
  if (positional.size() > 1) {
    std::fprintf(stderr, "ringgate: unexpected argument '%s' (see --help)\n", positional[1]);
    return 2;
  }

  const auto level = spdlog::level::from_str(absl::GetFlag(FLAGS_log_level));
  if (level == spdlog::level::off && absl::GetFlag(FLAGS_log_level) != "off") {
    std::fprintf(stderr, "ringgate: --log-level: unknown level '%s'\n",
                 absl::GetFlag(FLAGS_log_level).c_str());
    return 2;
  }
  const std::string format = absl::GetFlag(FLAGS_log_format);
  if (format != "text" && format != "json") {
    std::fprintf(stderr, "ringgate: --log-format: '%s' is neither text nor json\n", format.c_str());
    return 2;
  }
  if (absl::Status s = InitLogging(format == "json" ? LogFormat::kJson : LogFormat::kText, level,
                                   absl::GetFlag(FLAGS_access_log));
      !s.ok()) {
    std::fprintf(stderr, "ringgate: %s\n", std::string(s.message()).c_str());
    return 2;
  }

  absl::StatusOr<Config> config = ConfigFromFlags();
  if (!config.ok()) {
    std::fprintf(stderr, "ringgate: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (absl::Status s = CheckUserToRunAs(absl::GetFlag(FLAGS_user)); !s.ok()) {
    std::fprintf(stderr, "ringgate: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (config->send_zc_threshold != 0) {
    if (absl::Status s = CheckZeroCopySendSupport(); !s.ok()) {
      std::fprintf(stderr, "ringgate: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  absl::StatusOr<TlsContext> tls = TlsContext::CreateServer(
      config->cert_path, config->key_path, config->ticket_key_path, config->tls_groups);
  if (!tls.ok()) {
    std::fprintf(stderr, "ringgate: %s\n", std::string(tls.status().message()).c_str());
    return 1;
  }
  if (RINGGATE_WOLFSSL_FALLBACK) {
    LogLine(spdlog::level::warn,
            "wolfSSL is the FALLBACK version (the primary could not be fetched at build time): "
            "no ML-KEM groups; see docs/security.md")
        .With("wolfssl_version", LIBWOLFSSL_VERSION_STRING " (" RINGGATE_WOLFSSL_ORIGIN ")");
  }
  if (!TlsContext::UsesAssemblyBuild()) {
    LogLine(spdlog::level::warn,
            "wolfSSL was built without assembly (Debian's binary): AES-GCM is ~28x slower; "
            "run scripts/fetch-wolfssl.sh and rebuild");
  }
  RaiseFdLimit();
  KeepLargeBuffersInTheHeap();
  const std::string run_as = absl::GetFlag(FLAGS_user);

  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < config->threads; ++i) {
    workers.push_back(std::make_unique<Worker>(i, *config, *tls));
    if (absl::Status s = workers.back()->Listen(); !s.ok()) {
      std::fprintf(stderr, "ringgate: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  std::atomic<bool> draining{false};
  std::vector<WorkerView*> worker_ptrs;
  for (auto& w : workers) worker_ptrs.push_back(w.get());
  AdminServer admin(worker_ptrs, draining, config->admin_token);
  if (config->admin_enabled) {
    if (absl::Status s = admin.Listen(config->admin_listen); !s.ok()) {
      std::fprintf(stderr, "ringgate: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  if (!run_as.empty()) {
    if (absl::Status s = RunAsUser(run_as); !s.ok()) {
      std::fprintf(stderr, "ringgate: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    LogLine(spdlog::level::info, "running as").With("user", run_as).With("uid", getuid());
  }
  // Not dumpable unless asked: no core file and no ptrace by the same user, either of which would
  // hand over the private key. Set after the setuid above, which resets it.
  prctl(PR_SET_DUMPABLE, absl::GetFlag(FLAGS_core_dumps) ? 1 : 0);
  std::vector<absl::Status> results(workers.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < workers.size(); ++i) {
    threads.emplace_back([&, i] {
      if (!config->cpus.empty()) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(config->cpus[i % config->cpus.size()], &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
      }
      results[i] = workers[i]->Run();
      if (!results[i].ok()) {
        LogLine(spdlog::level::critical, "worker stopped")
            .With("worker", i)
            .With("error", std::string(results[i].message()));
        kill(getpid(), SIGTERM);
      }
    });
  }
  admin.Start();
  LogLine(spdlog::level::info, "listening")
      .With("listen", config->listen.text)
      .With("backend", config->backend.text)
      .With("workers", workers.size())
      .With("cpus", absl::GetFlag(FLAGS_cpus))
      .With("admin", config->admin_enabled ? config->admin_listen.text : std::string("off"))
      .With("wolfssl", TlsContext::UsesAssemblyBuild() ? "assembly" : "no assembly")
      .With("wolfssl_version", LIBWOLFSSL_VERSION_STRING " (" RINGGATE_WOLFSSL_ORIGIN ")")
      .With("wolfssl_pin", RINGGATE_WOLFSSL_PIN)
      .With("tls_groups", TlsGroupList(config->tls_groups));

  // Signals: SIGHUP reloads the certificate and key; the first SIGTERM/SIGINT drains; a second
  // one (or a worker's failure) stops at once. The loop also ends when every worker has drained.
  auto all_finished = [&] {
    for (auto& w : workers) {
      if (!w->finished()) return false;
    }
    return true;
  };
  bool stopping = false;
  while (!all_finished()) {
    timespec poll_interval{0, 100'000'000};
    int received = sigtimedwait(&signals, nullptr, &poll_interval);
    if (received < 0) continue;  // timeout or EINTR: look at the workers again
    if (received == SIGHUP) {
      absl::StatusOr<TlsContext> fresh =
          TlsContext::CreateServer(config->cert_path, config->key_path, config->ticket_key_path,
                                   config->tls_groups);
      if (!fresh.ok()) {
        LogLine(spdlog::level::err, "reload failed: keeping the current certificate and ticket keys")
            .With("error", std::string(fresh.status().message()));
        continue;
      }
      for (auto& w : workers) w->ReplaceTls(*fresh);
      LogLine(spdlog::level::info, "reloading certificate").With("cert", config->cert_path);
      continue;
    }
    if (!draining.load()) {
      draining.store(true);
      LogLine(spdlog::level::info, "draining")
          .With("signal", strsignal(received))
          .With("deadline", absl::FormatDuration(config->drain_timeout));
      for (auto& w : workers) w->RequestDrain();
      continue;
    }
    if (!stopping) {
      stopping = true;
      LogLine(spdlog::level::warn, "second signal: stopping now").With("signal", strsignal(received));
      for (auto& w : workers) w->RequestStop();
    }
  }
  for (auto& w : workers) w->RequestStop();
  for (auto& t : threads) t.join();
  admin.Stop();
  LogLine(spdlog::level::info, "stopped");
  bool failed = false;
  for (const absl::Status& s : results) failed |= !s.ok();
  ShutdownLogging();
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace ringgate

int main(int argc, char** argv) { return ringgate::Main(argc, argv); }
