// ringgate: a TLS-terminating HTTP/1.1 reverse proxy on io_uring, one worker per core.
//
//   ringgate --listen 127.0.0.1:8443 --backend 127.0.0.1:8080 --cert cert.pem --key key.pem
//
// main turns flags into a Config (config/flags.h), checks everything else a user can get wrong
// before serving (certificate and key, the listen address), starts the workers and waits for a
// signal.
#include <grp.h>
#include <llhttp.h>  // LLHTTP_VERSION_*, for --version
#include <malloc.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "ringgate/config/config.h"
#include "ringgate/config/config_check.h"
#include "ringgate/config/flags.h"
#include "ringgate/core/log.h"
#include "ringgate/core/service_notify.h"
#include "ringgate/core/uring_features.h"
#include "ringgate/diag/admin_server.h"
#include "ringgate/diag/metrics.h"
#include "ringgate/proxy/backend_group.h"
#include "ringgate/proxy/health_checker.h"
#include "ringgate/proxy/worker.h"
#include "ringgate/tls/tls_context.h"
#include "ringgate/tls/wolfssl.h"  // LIBWOLFSSL_VERSION_STRING, for --version

namespace ringgate {
namespace {

// ringgate's version and build type, then each dependency's version and where it came from.
void PrintVersion() {
  std::printf("ringgate %s (%s build)\n", RINGGATE_VERSION, RINGGATE_BUILD_TYPE);
  std::printf("wolfSSL %s (%s; %s; %s)\n", LIBWOLFSSL_VERSION_STRING, RINGGATE_WOLFSSL_ORIGIN,
              RINGGATE_WOLFSSL_PIN,
              TlsContext::UsesAssemblyBuild() ? "x86-64 assembly"
                                              : "no assembly: AES-GCM about 28x slower");
  std::printf("TLS key exchange groups by default: %s\n", TlsGroupList(DefaultTlsGroups()).c_str());
  std::printf("liburing %s (%s, static, with libc)\n", RINGGATE_LIBURING_VERSION,
              RINGGATE_LIBURING_ORIGIN);
  std::printf("llhttp %d.%d.%d (%s, static, strict: no lenient flags)\n", LLHTTP_VERSION_MAJOR,
              LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH, RINGGATE_LLHTTP_ORIGIN);
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

// Drops root for good: supplementary groups, group, then user; checks that root cannot be had
// back. Called once every listener is bound and every key file read, before the workers start.
absl::Status RunAsUser(const std::string& user) {
  const passwd* entry = getpwnam(user.c_str());
  if (entry == nullptr)
    return absl::InvalidArgumentError(absl::StrCat("--user: no user named '", user, "'"));
  const uid_t uid = entry->pw_uid;
  const gid_t gid = entry->pw_gid;
  if (getuid() == uid && geteuid() == uid && uid != 0) return absl::OkStatus();  // already
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

// SIGHUP: every --backend name is resolved again. New connections (workers, health checks) go
// to the fresh addresses; a name that no longer resolves keeps its old address, logged.
void ReresolveBackendsOnReload(BackendHealthBoard& board,
                               const std::vector<std::unique_ptr<Worker>>& workers) {
  std::vector<std::string> problems;
  const std::vector<SocketAddress> current = board.addresses();
  std::vector<SocketAddress> fresh = ReresolveBackends(current, problems);
  for (const std::string& problem : problems) {
    LogLine(spdlog::level::warn, "reload: backend name no longer resolves").With("detail", problem);
  }
  for (size_t b = 0; b < fresh.size(); ++b) {
    if (fresh[b].length != current[b].length ||
        std::memcmp(&fresh[b].storage, &current[b].storage, fresh[b].length) != 0) {
      LogLine(spdlog::level::info, "reload: backend resolves to a new address")
          .With("backend", fresh[b].text);
    }
  }
  for (auto& w : workers) w->ReplaceBackendAddresses(fresh);
  board.set_addresses(std::move(fresh));
}

// --check-config's answer: what was checked on stdout and 0, or every problem on stderr and 1.
int ReportConfigCheck(const std::vector<std::string>& problems, const Config& config) {
  if (!problems.empty()) {
    std::fprintf(stderr, "ringgate: the configuration has %zu problem%s:\n", problems.size(),
                 problems.size() == 1 ? "" : "s");
    for (const std::string& p : problems) std::fprintf(stderr, "  %s\n", p.c_str());
    return 1;
  }
  std::vector<std::string> backends;
  for (const SocketAddress& b : config.backends) {
    backends.push_back(absl::StrCat(b.text, " (", AddressText(b.storage), ")"));
  }
  std::printf(
      "ringgate: the configuration is valid: listen %s, %zu certificate%s (each pair proven by a "
      "handshake), backends %s, %d worker%s\n",
      config.listen.text.c_str(), config.certificates.size(),
      config.certificates.size() == 1 ? "" : "s", absl::StrJoin(backends, ", ").c_str(),
      config.threads, config.threads == 1 ? "" : "s");
  return 0;
}

// SIGHUP reads the command line again, its flag files included, by the start's rules, and
// checks the result as --check-config does. What a reload applies is the TLS configuration
// (--cert, --key, --ticket-key-file, --tls-groups), returned as a new context; a problem with
// it, or with the files themselves (an unknown flag, an unreadable file), refuses the reload and
// keeps everything as it runs, every problem logged. A problem with a flag that only a restart
// would apply (a backend name that does not resolve now, say) does not hold the certificates
// back: it is logged for the next start. Another flag changed in the file is logged as waiting
// for the next start. `running_flags` holds what runs, and follows each successful reload.
absl::StatusOr<TlsContext> ReadConfigurationAgain(
    int argc, char** argv, std::map<std::string, std::string>& running_flags) {
  std::vector<std::string> problems = ApplyFlagArguments(ExpandFlagArguments(argc, argv));
  std::vector<std::string> at_next_start_problems;
  Config next = ConfigFromFlags(at_next_start_problems);
  for (auto p = at_next_start_problems.begin(); p != at_next_start_problems.end();) {
    if (ProblemWaitsForRestart(*p)) {
      ++p;
    } else {
      problems.push_back(std::move(*p));
      p = at_next_start_problems.erase(p);
    }
  }
  absl::StatusOr<TlsContext> tls = absl::InvalidArgumentError("the flags are not usable");
  if (problems.empty()) {
    tls = TlsContext::CreateServer(next.certificates, next.ticket_key_path, next.tls_groups);
    if (!tls.ok()) NoteProblems(problems, tls.status());
  }
  for (const std::string& p : at_next_start_problems) {
    LogLine(spdlog::level::err, "reload: the next start would refuse this flag (runs as started)")
        .With("problem", p);
  }
  if (!problems.empty()) {
    for (const std::string& p : problems) {
      LogLine(spdlog::level::err, "reload failed: keeping the running configuration")
          .With("problem", p);
    }
    return absl::InvalidArgumentError(absl::StrCat(problems.size(), " problems"));
  }
  std::vector<std::string> at_next_start;
  for (const auto& [name, value] : FlagValues()) {
    std::string& running = running_flags[name];
    if (value == running) continue;
    if (FlagTakesEffectOnReload(name)) {
      running = value;
    } else {
      at_next_start.push_back(absl::StrCat("--", absl::StrReplaceAll(name, {{"_", "-"}})));
    }
  }
  if (!at_next_start.empty()) {
    LogLine(spdlog::level::warn, "reload: changed flags that take effect at the next start")
        .With("flags", absl::StrJoin(at_next_start, ","));
  }
  LogLine(spdlog::level::info, "reloading certificate")
      .With("cert", next.cert_path)
      .With("certificates", next.certificates.size())
      .With("ticket_key_file", next.ticket_key_path.empty() ? "none" : next.ticket_key_path)
      .With("tls_groups", TlsGroupList(next.tls_groups));
  return tls;
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
  // --help and --version are read from the command line alone, never from a flag file (a file
  // that said --version would make the unit's configuration check pass without checking).
  for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "-help") {
      std::fputs(FlagHelp().c_str(), stdout);
      return 0;
    }
    if (arg == "--version" || arg == "-version") {
      PrintVersion();
      return 0;
    }
  }
  // Every problem is found before one is reported: a configuration is fixed in one round.
  std::vector<std::string> problems = ApplyFlagArguments(ExpandFlagArguments(argc, argv));
  if (CheckConfigRequested()) {
    const Config checked = ConfigFromFlags(problems);
    for (std::string& p : CheckStartupResources(checked)) problems.push_back(std::move(p));
    return ReportConfigCheck(problems, checked);
  }
  absl::StatusOr<Config> config = ConfigFromFlags();
  if (!config.ok()) NoteProblems(problems, config.status());
  if (!problems.empty()) {
    for (const std::string& p : problems) std::fprintf(stderr, "ringgate: %s\n", p.c_str());
    return 2;
  }
  if (absl::Status s = InitLogging(config->log_format, config->log_level, config->access_log_path);
      !s.ok()) {
    std::fprintf(stderr, "ringgate: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (config->send_zc_threshold != 0) {
    if (absl::Status s = CheckZeroCopySendSupport(); !s.ok()) {
      std::fprintf(stderr, "ringgate: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  if (config->batch_wait_us != 0) {
    if (absl::Status s = CheckBatchWaitSupport(); !s.ok()) {
      std::fprintf(stderr, "ringgate: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  absl::StatusOr<TlsContext> tls =
      TlsContext::CreateServer(config->certificates, config->ticket_key_path, config->tls_groups);
  if (!tls.ok()) {
    std::fprintf(stderr, "ringgate: %s\n", std::string(tls.status().message()).c_str());
    return 1;
  }
  for (size_t i = 0; i < tls->certificate_count(); ++i) {
    LogLine(spdlog::level::info, "certificate")
        .With("index", i)
        .With("cert", tls->certificate_path(i))
        .With("names", absl::StrJoin(tls->certificate_names(i), ","))
        .With("default", i == 0);
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
  // What runs, for the reload to compare the flag files with.
  std::map<std::string, std::string> running_flags = FlagValues();
  // Taken (and unset) before any thread starts: unsetenv is not safe beside another thread.
  const ServiceNotifier service_manager = ServiceNotifier::FromEnvironment();
  RaiseFdLimit();
  KeepLargeBuffersInTheHeap();
  const std::string& run_as = config->run_as_user;

  // The backend group: metric labels named once before any thread reads them, the active
  // check's shared verdicts, and the admin endpoint's view of every worker's choices.
  std::vector<std::string> backend_names;
  for (const SocketAddress& b : config->backends) backend_names.push_back(b.text);
  SetBackendLabelValues(std::move(backend_names));
  BackendHealthBoard backend_health(config->backends, !config->health_check_path.empty());
  HealthChecker health_checker(*config, backend_health);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < config->threads; ++i) {
    workers.push_back(std::make_unique<Worker>(i, *config, *tls));
    workers.back()->set_backend_health(&backend_health);
    if (absl::Status s = workers.back()->Listen(); !s.ok()) {
      std::fprintf(stderr, "ringgate: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  std::atomic<bool> draining{false};
  std::vector<WorkerView*> worker_ptrs;
  for (auto& w : workers) worker_ptrs.push_back(w.get());
  std::vector<const BackendSelectorSource*> backend_sources;
  for (auto& w : workers) backend_sources.push_back(w.get());
  const BackendGroupView backends_view(*config, backend_health, backend_sources);
  AdminServer admin(worker_ptrs, draining, config->admin_token);
  admin.set_backends(&backends_view);
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
  prctl(PR_SET_DUMPABLE, config->core_dumps ? 1 : 0);
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
  if (absl::Status s = health_checker.Start(); !s.ok()) {
    LogLine(spdlog::level::err, "active health check not started")
        .With("error", std::string(s.message()));
  }
  std::vector<std::string> backend_texts;
  for (const SocketAddress& b : config->backends) backend_texts.push_back(b.text);
  LogLine(spdlog::level::info, "listening")
      .With("listen", config->listen.text)
      .With("backend", absl::StrJoin(backend_texts, ","))
      .With("lb", LbPolicyName(config->lb_policy))
      .With("health_check",
            config->health_check_path.empty() ? std::string("off") : config->health_check_path)
      .With("workers", workers.size())
      .With("cpus", absl::StrJoin(config->cpus, ","))
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
  // The service manager (systemd Type=notify) hears READY=1 once every worker accepts, and a
  // STATUS= line with the live count every few seconds.
  auto all_accepting = [&] {
    for (auto& w : workers) {
      if (!w->accepting()) return false;
    }
    return true;
  };
  auto status_line = [&] {
    size_t connections = 0;
    for (auto& w : workers) connections += w->live_connections();
    return absl::StrCat("STATUS=", draining.load() ? "draining" : "serving", " on ",
                        config->listen.text, ": ", connections, " connections, ", workers.size(),
                        " workers");
  };
  bool ready_sent = false;
  auto last_status = std::chrono::steady_clock::now();
  bool stopping = false;
  while (!all_finished()) {
    if (!ready_sent && all_accepting()) {
      ready_sent = true;
      service_manager.Send(absl::StrCat("READY=1\n", status_line()));
    } else if (ready_sent &&
               std::chrono::steady_clock::now() - last_status > std::chrono::seconds(2)) {
      last_status = std::chrono::steady_clock::now();
      service_manager.Send(status_line());
    }
    // Until every worker accepts, look more often: READY=1 should not wait for a signal's poll.
    timespec poll_interval{0, ready_sent ? 100'000'000 : 5'000'000};
    int received = sigtimedwait(&signals, nullptr, &poll_interval);
    if (received < 0) continue;  // timeout or EINTR: look at the workers again
    if (received == SIGHUP) {
      service_manager.Send(
          absl::StrCat("RELOADING=1\nMONOTONIC_USEC=", ServiceNotifier::MonotonicMicros(),
                       "\nSTATUS=reloading the configuration"));
      absl::StatusOr<TlsContext> fresh = ReadConfigurationAgain(argc, argv, running_flags);
      // The backends' names are resolved again whether or not the rest reloads.
      ReresolveBackendsOnReload(backend_health, workers);
      if (!fresh.ok()) {
        service_manager.Send(absl::StrCat("READY=1\n", status_line(), " (reload failed)"));
        continue;
      }
      for (auto& w : workers) w->ReplaceTls(*fresh);
      service_manager.Send(absl::StrCat("READY=1\n", status_line()));
      continue;
    }
    if (!draining.load()) {
      draining.store(true);
      LogLine(spdlog::level::info, "draining")
          .With("signal", strsignal(received))
          .With("deadline", absl::FormatDuration(config->drain_timeout));
      for (auto& w : workers) w->RequestDrain();
      health_checker.Stop();  // nothing new is routed; the verdicts in use stay as they are
      service_manager.Send(absl::StrCat("STOPPING=1\n", status_line()));
      continue;
    }
    if (!stopping) {
      stopping = true;
      LogLine(spdlog::level::warn, "second signal: stopping now")
          .With("signal", strsignal(received));
      for (auto& w : workers) w->RequestStop();
    }
  }
  for (auto& w : workers) w->RequestStop();
  for (auto& t : threads) t.join();
  health_checker.Stop();
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
