#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

namespace ringgate::testing {

bool PollUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
               std::chrono::microseconds longest_interval) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + timeout;
  std::chrono::microseconds interval =
      std::min<std::chrono::microseconds>(std::chrono::milliseconds(1), longest_interval);
  while (!condition()) {
    const Clock::time_point now = Clock::now();
    if (now >= deadline) return false;
    // Never past the deadline: the last check comes at it, not an interval after it.
    std::this_thread::sleep_for(std::min<Clock::duration>(interval, deadline - now));
    interval = std::min(interval * 2, longest_interval);
  }
  return true;
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
               std::string_view what, std::chrono::microseconds longest_interval) {
  if (PollUntil(condition, timeout, longest_interval)) return true;
  ADD_FAILURE() << "timed out after " << timeout.count() << " ms waiting until " << what;
  return false;
}

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool WaitForPort(int port, int timeout_ms) {
  auto accepts = [port] {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    return ok;
  };
  return PollUntil(accepts, std::chrono::milliseconds(timeout_ms));
}

std::string SourceDir() { return RINGGATE_SOURCE_DIR; }
std::string BinaryPath() {
  // RINGGATE_BINARY in the environment runs the tests against another build (before and after a
  // fix, for example).
  const char* other = std::getenv("RINGGATE_BINARY");
  return other != nullptr && *other != '\0' ? other : RINGGATE_BINARY;
}

bool BinaryHasAddressSanitizer() {
  static const bool sanitized = [] {
    std::ifstream binary(BinaryPath(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(binary)),
                            std::istreambuf_iterator<char>());
    return bytes.find("__asan_init") != std::string::npos;
  }();
  return sanitized;
}

std::string CertificateDir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/ringgate-it-XXXXXX";
    std::string d = mkdtemp(tmpl);
    RunCommand(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        "-subj /CN=localhost -keyout " +
        d + "/key.pem -out " + d + "/cert.pem 2>/dev/null");
    RunCommand("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout " +
               d + "/rsa-key.pem -out " + d + "/rsa-cert.pem 2>/dev/null");
    return d;
  }();
  return dir;
}

bool ChildProcess::Start(const std::vector<std::string>& argv, const std::string& log_path) {
  pid_ = fork();
  if (pid_ < 0) return false;
  if (pid_ == 0) {
    int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return true;
}

int ChildProcess::Wait(int timeout_ms) {
  if (pid_ <= 0) return -1;
  int status = 0;
  if (!PollUntil([&] { return waitpid(pid_, &status, WNOHANG) == pid_; },
                 std::chrono::milliseconds(timeout_ms))) {
    return -1;
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool ChildProcess::Running() const {
  if (pid_ <= 0) return false;
  siginfo_t info{};
  // WNOWAIT: an exited process stays a zombie, so that Wait() still gets its exit code.
  return waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == 0;
}

void ChildProcess::Signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

void ChildProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  if (Wait(3000) == -1 && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
}

std::string BackgroundClient::Start(int port, const std::string& mode,
                                    const std::vector<std::string>& args) {
  const std::string log =
      CertificateDir() + "/client-" + mode + "-" + std::to_string(port) + ".log";
  std::vector<std::string> argv = {"python3", SourceDir() + "/tests/integration/tls_client.py",
                                   mode, "--port", std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  if (!process_.Start(argv, log)) return "";
  auto printed = [&] {
    std::ifstream in(log);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  WaitUntil([&] { return printed().find('\n') != std::string::npos || !process_.Running(); },
            std::chrono::seconds(10), "tls_client.py " + mode + " prints its first line");
  const std::string output = printed();
  const size_t end_of_line = output.find('\n');
  return end_of_line == std::string::npos ? output : output.substr(0, end_of_line + 1);
}

bool DemoBackend::Start() {
  port_ = FreePort();
  std::string log = CertificateDir() + "/backend-" + std::to_string(port_) + ".log";
  if (!process_.Start(
          {"python3", SourceDir() + "/tools/demo_backend.py", "--port", std::to_string(port_)},
          log)) {
    return false;
  }
  return WaitForPort(port_, 10000);
}

bool RecordingBackend::Start() {
  port_ = FreePort();
  control_port_ = FreePort();
  for (int i = 0; i < 10 && control_port_ == port_; ++i) control_port_ = FreePort();
  std::string log = CertificateDir() + "/recording-backend-" + std::to_string(port_) + ".log";
  if (!process_.Start({"python3", SourceDir() + "/tests/integration/recording_backend.py", "--port",
                       std::to_string(port_), "--control-port", std::to_string(control_port_)},
                      log)) {
    return false;
  }
  return WaitForPort(port_, 10000) && WaitForPort(control_port_, 10000);
}

std::string RecordingBackend::Control(const std::string& method, const std::string& path) const {
  return RunCommand("curl -s --max-time 5 -X " + method +
                    " http://127.0.0.1:" + std::to_string(control_port_) + path)
      .output;
}

void RecordingBackend::Reset() const { Control("POST", "/reset"); }

std::vector<RecordedConnection> RecordingBackend::Connections() const {
  std::vector<RecordedConnection> connections;
  std::istringstream lines(Control("GET", "/log.txt"));
  std::string line;
  auto field = [](const std::string& hex) { return hex == "-" ? std::string() : FromHex(hex); };
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string kind, a, b, c;
    int id = 0;
    words >> kind >> id >> a >> b >> c;
    if (kind == "connection") {
      connections.push_back({id, a == "closed", field(b), {}, ""});
    } else if (kind == "request" && !connections.empty()) {
      connections.back().requests.push_back({field(a), field(b), c});
    } else if (kind == "error" && !connections.empty()) {
      connections.back().error = field(a);
    }
  }
  return connections;
}

int DemoBackend::RequestsSeen(const std::string& path_prefix) const {
  return std::atoi(RunCommand("curl -s --max-time 5 'http://127.0.0.1:" + std::to_string(port_) +
                              "/requests?prefix=" + path_prefix + "'")
                       .output.c_str());
}

std::vector<RecordedConnection> RecordingBackend::SettledConnections(int settle_ms,
                                                                     int timeout_ms) const {
  std::string last = Control("GET", "/log.txt");
  for (int waited = 0; waited < timeout_ms; waited += settle_ms) {
    // Not a wait for a condition: the point is that nothing more arrives, and an absence can
    // only be seen as a quiet period.
    std::this_thread::sleep_for(std::chrono::milliseconds(settle_ms));
    std::string now = Control("GET", "/log.txt");
    if (now == last) break;
    last = now;
  }
  return Connections();
}

std::string TlsExchange::All() const {
  std::string all;
  for (const std::string& r : received) all += r;
  return all;
}

TlsExchange RunTlsExchange(int port, const std::vector<ExchangeStep>& steps, double quiet_s,
                           double max_s) {
  std::string command = "python3 " + SourceDir() + "/tests/integration/tls_client.py exchange" +
                        " --port " + std::to_string(port) + " --quiet " + std::to_string(quiet_s) +
                        " --max " + std::to_string(max_s);
  for (const ExchangeStep& step : steps) {
    command += " --step " + (step.bytes.empty() ? std::string("-") : ToHex(step.bytes)) + "@" +
               std::to_string(step.responses);
  }
  TlsExchange exchange;
  std::istringstream lines(RunCommand(command + " 2>&1").output);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string kind, index, ms, hex;
    words >> kind;
    if (kind == "step") {
      words >> index >> ms >> hex;
      exchange.last_byte_ms.push_back(std::atoi(ms.c_str() + 3));  // "ms=N"
      exchange.received.push_back(hex == "-" ? std::string() : FromHex(hex));
    } else if (kind == "end") {
      words >> exchange.end;
    } else {
      exchange.end += "[client: " + line + "]";  // a traceback: the test shows it
    }
  }
  return exchange;
}

std::string ToHex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : bytes) {
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  return hex;
}

std::string FromHex(std::string_view hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return bytes;
}

bool ProxyUnderTest::Start() { return StartOn(FreePort()); }

bool ProxyUnderTest::StartOn(int port) {
  port_ = port;
  admin_port_ = FreePort();
  log_path_ = CertificateDir() + "/proxy-" + std::to_string(port_) + ".log";
  std::vector<std::string> argv;
  if (descriptor_limit_ > 0) {
    argv = {
        "prlimit",
        "--nofile=" + std::to_string(descriptor_limit_) + ":" + std::to_string(descriptor_limit_),
        "--"};
  }
  std::vector<std::string> proxy_argv = {BinaryPath(),
                                         "--listen=127.0.0.1:" + std::to_string(port_),
                                         "--backend=127.0.0.1:" + std::to_string(backend_port_),
                                         "--cert=" + CertificateDir() + "/cert.pem",
                                         "--key=" + CertificateDir() + "/key.pem",
                                         "--threads=2",
                                         "--admin-listen=127.0.0.1:" + std::to_string(admin_port_)};
  // Later flags win: a test may pass its own --cert/--key.
  proxy_argv.insert(proxy_argv.end(), extra_flags_.begin(), extra_flags_.end());
  argv.insert(argv.end(), proxy_argv.begin(), proxy_argv.end());
  for (const std::string& flag : extra_flags_) {
    if (flag.rfind("--admin-token=", 0) == 0) admin_token_ = flag.substr(flag.find('=') + 1);
  }
  if (!process_.Start(argv, log_path_)) return false;
  // The listeners are bound before the admin endpoint is, so "ready" there means the TLS port
  // accepts; asking the admin endpoint leaves no probe connection behind on the TLS port.
  bool exited = false;
  const bool ready = WaitUntil(
      [&] {
        exited = !process_.Running();
        return exited || Admin("/readyz") == "ready\n";
      },
      std::chrono::seconds(10), "ringgate on port " + std::to_string(port_) + " says ready");
  if (exited) ADD_FAILURE() << "ringgate exited during start-up; its log:\n" << Log();
  return ready && !exited;
}

std::string ProxyUnderTest::Admin(const std::string& path) const {
  const std::string authorization =
      admin_token_.empty() ? "" : "-H 'Authorization: Bearer " + admin_token_ + "' ";
  return RunCommand("curl -s --max-time 5 " + authorization +
                    "http://127.0.0.1:" + std::to_string(admin_port_) + path)
      .output;
}

double ProxyUnderTest::Metric(const std::string& name) const {
  const std::string metrics = Admin("/metrics");
  const std::string key = "\n" + name + " ";
  const size_t at = metrics.find(key);
  if (at == std::string::npos) return -1;
  return std::strtod(metrics.c_str() + at + key.size(), nullptr);
}

std::string ProxyUnderTest::LiveConnectionsWithin(int timeout_ms) const {
  std::string live;
  PollUntil(
      [&] {
        live = Admin("/connections");
        return live == "[]\n";
      },
      std::chrono::milliseconds(timeout_ms));
  return live;
}

std::string ProxyUnderTest::Url(const std::string& path) const {
  return "https://127.0.0.1:" + std::to_string(port_) + path;
}

std::string ProxyUnderTest::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int ProxyUnderTest::OpenFds() const {
  int count = 0;
  DIR* dir = opendir(("/proc/" + std::to_string(pid()) + "/fd").c_str());
  if (dir == nullptr) return -1;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

int ProxyUnderTest::OpenClientSockets() const { return AcceptedSocketsOn(port_); }
int ProxyUnderTest::OpenAdminSockets() const { return AcceptedSocketsOn(admin_port_); }

int ProxyUnderTest::AcceptedSocketsOn(int port) const {
  // Socket inodes this process holds.
  std::set<std::string> inodes;
  std::string fd_dir = "/proc/" + std::to_string(pid()) + "/fd";
  DIR* dir = opendir(fd_dir.c_str());
  if (dir == nullptr) return -1;
  while (dirent* e = readdir(dir)) {
    char target[256] = {};
    std::string link = fd_dir + "/" + e->d_name;
    ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    if (n > 0 && std::string(target, 8) == "socket:[") {
      inodes.insert(std::string(target + 8, static_cast<size_t>(n) - 9));
    }
  }
  closedir(dir);
  // TCP sockets whose local port is ours and that are not listening (state 0A).
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);
  int count = 0;
  char port_hex[8];
  std::snprintf(port_hex, sizeof port_hex, "%04X", port);
  while (std::getline(tcp, line)) {
    std::istringstream fields(line);
    std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
    fields >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
    if (local.substr(local.find(':') + 1) == port_hex && state != "0A" && inodes.count(inode)) {
      ++count;
    }
  }
  return count;
}

std::string ExpectedPatternSha256Of(int bytes) {
  return RunCommand(
             "python3 -c 'import sys,hashlib; sys.path.insert(0,\"" + SourceDir() +
             "/tools\"); import demo_backend; print(hashlib.sha256(demo_backend.pattern_bytes(" +
             std::to_string(bytes) + ")).hexdigest())'")
      .output.substr(0, 64);
}

int CountOccurrences(const std::string& haystack, const std::string& needle) {
  int count = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

}  // namespace ringgate::testing

namespace ringgate::testing {

std::string ServedSubject(int port) {
  return RunCommand(
             "echo | timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
             " 2>/dev/null | openssl x509 -noout -subject 2>/dev/null")
      .output;
}

}  // namespace ringgate::testing
