// harness.h
// Starts the real ringgate binary in front of the demo backend on free loopback ports, and
// runs real clients (curl, openssl s_client, tls_client.py) against it.
//
//   ProxyUnderTest proxy({"--close-notify-timeout=1s"});
//   ASSERT_TRUE(proxy.Start());
//   CommandResult r = RunCommand("curl -sk " + proxy.Url("/"));
#ifndef RINGGATE_TESTS_INTEGRATION_HARNESS_H_
#define RINGGATE_TESTS_INTEGRATION_HARNESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ringgate::testing {

// How the tests wait: never a fixed sleep for something to happen, but a condition checked
// until it holds or a deadline passes. It is checked at once, then at intervals that start at
// 1 ms and double up to `longest_interval` (each check of the admin endpoint runs curl; a
// cheap check of /proc may pass a shorter one).
//
//   ASSERT_TRUE(WaitUntil([&] { return proxy.OpenClientSockets() == 0; },
//                         std::chrono::milliseconds(1800), "every client socket is released"));
//
// WaitUntil is for a condition the test requires: when it does not come true in time, the
// test fails with "timed out after N ms waiting until <what>". PollUntil only says whether it
// came true, for helpers that hand what they saw back to the caller's assertion.
bool PollUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
               std::chrono::microseconds longest_interval = std::chrono::milliseconds(50));
bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
               std::string_view what,
               std::chrono::microseconds longest_interval = std::chrono::milliseconds(50));

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout only
};

// Runs `command` with /bin/sh and captures its stdout.
CommandResult RunCommand(const std::string& command);

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests on one machine).
int FreePort();
// Waits until something accepts on 127.0.0.1:port.
bool WaitForPort(int port, int timeout_ms);

std::string SourceDir();
std::string BinaryPath();  // $RINGGATE_BINARY if set, else the one this build made
// Whether BinaryPath() was built with AddressSanitizer (its runtime is linked in).
bool BinaryHasAddressSanitizer();
// A temporary directory with cert.pem and key.pem (ECDSA P-256, self-signed) and rsa-cert.pem
// and rsa-key.pem (RSA 2048), made once.
std::string CertificateDir();

// A child process with its stderr (and stdout) in a log file.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess() { Stop(); }
  bool Start(const std::vector<std::string>& argv, const std::string& log_path);
  void Stop();
  pid_t pid() const { return pid_; }
  // Waits for the process to exit; returns its exit code, or -1 on timeout.
  int Wait(int timeout_ms);
  // Whether the process has been started and not exited yet.
  bool Running() const;
  void Signal(int signal);

 private:
  pid_t pid_ = -1;
};

// tests/integration/tls_client.py in the background, its output in a log file, for clients that
// hold their connections open for longer than the test needs them: the destructor ends the
// client (SIGTERM) instead of waiting out the rest of its hold.
//
//   BackgroundClient silent;
//   ASSERT_EQ(silent.Start(proxy.port(), "silent", {"--count", "5", "--hold", "4"}), "ready\n");
class BackgroundClient {
 public:
  // Starts `tls_client.py <mode> --port <port> <args>` and returns its first line once it has
  // printed one (at most 10 s), or everything it printed if it ended without one.
  std::string Start(int port, const std::string& mode, const std::vector<std::string>& args);

 private:
  ChildProcess process_;
};

class DemoBackend {
 public:
  bool Start();
  int port() const { return port_; }
  // How many requests whose path starts with `path_prefix` the backend has seen (at arrival,
  // before it answers them).
  int RequestsSeen(const std::string& path_prefix) const;

 private:
  int port_ = 0;
  ChildProcess process_;
};

// A request as tests/integration/recording_backend.py framed it.
struct RecordedRequest {
  std::string head;     // request line and header fields through the empty line, exact bytes
  std::string body;     // the body, decoded from its framing
  std::string framing;  // "content-length", "chunked" or "none"
};

// One backend connection as the recording backend saw it since its last Reset().
struct RecordedConnection {
  int id = 0;  // in order of accept, never reused
  bool closed = false;
  std::string received;  // every byte that arrived, exactly
  std::vector<RecordedRequest> requests;
  std::string error;  // why the backend refused to frame what arrived (it then sent 400), if so
};

// tests/integration/recording_backend.py on free ports: a plain HTTP/1.1 backend that frames
// requests itself and records every byte it receives. Routes (see the script): /respond/<hex>
// answers with exactly those bytes, /drop and /drop-on-reuse close without answering, anything
// else gets 200 with the body "<METHOD> <target>\n".
//
//   RecordingBackend backend;
//   ASSERT_TRUE(backend.Start());
//   ProxyUnderTest proxy({}, backend.port());
//   ...
//   std::vector<RecordedConnection> seen = backend.SettledConnections();
class RecordingBackend {
 public:
  bool Start();
  int port() const { return port_; }
  // Forgets everything recorded; open connections record anew from their next byte.
  void Reset() const;
  std::vector<RecordedConnection> Connections() const;
  // Connections() once two reads `settle_ms` apart agree (or after `timeout_ms`): what a test
  // asserts after a refusal, when forwarded bytes, if any, would arrive a little later.
  std::vector<RecordedConnection> SettledConnections(int settle_ms = 300,
                                                     int timeout_ms = 3000) const;

 private:
  std::string Control(const std::string& method, const std::string& path) const;
  int port_ = 0;
  int control_port_ = 0;
  ChildProcess process_;
};

// One conversation of tests/integration/tls_client.py's `exchange` mode: each step's bytes are
// sent in turn on one TLS connection, and what arrives is collected per step. A step ends when
// the connection closes, or once `responses` final responses have arrived on the connection
// in all and then nothing for `quiet_s`, or after `max_s`.
struct ExchangeStep {
  std::string bytes;  // may be empty: only wait
  int responses = 0;
};
struct TlsExchange {
  std::vector<std::string> received;  // per step that ran
  std::vector<int> last_byte_ms;      // per step: from its send to its last byte; -1 if none
  std::string end;                    // "closed", "quiet", "max" or "reset"
  std::string All() const;            // everything received
};
TlsExchange RunTlsExchange(int port, const std::vector<ExchangeStep>& steps, double quiet_s = 0.3,
                           double max_s = 10);

// The subject of the certificate the proxy on `port` serves to a client that sends no server
// name (openssl x509 -subject: "subject=CN = first\n"), or "" if none came.
std::string ServedSubject(int port);

std::string ToHex(std::string_view bytes);
std::string FromHex(std::string_view hex);

class ProxyUnderTest {
 public:
  explicit ProxyUnderTest(std::vector<std::string> extra_flags = {}, int backend_port = 0)
      : extra_flags_(std::move(extra_flags)), backend_port_(backend_port) {}
  bool Start();
  // Starts on a given port (another ringgate may hold it too: SO_REUSEPORT).
  bool StartOn(int port);
  int port() const { return port_; }
  int admin_port() const { return admin_port_; }
  pid_t pid() const { return process_.pid(); }
  // Starts the proxy with RLIMIT_NOFILE at `limit` (soft and hard), through prlimit(1).
  void set_descriptor_limit(int limit) { descriptor_limit_ = limit; }
  // GET on the admin endpoint (with the bearer token, if the proxy was given --admin-token); the
  // body.
  std::string Admin(const std::string& path) const;
  std::string Url(const std::string& path) const;
  std::string Log() const;  // everything the proxy logged so far
  // Accepted client sockets the proxy still holds (from /proc: fds that are TCP sockets whose
  // local port is the proxy's listening port, excluding the listeners).
  int OpenClientSockets() const;
  // Accepted admin connections the proxy still holds (the same, for the admin port).
  int OpenAdminSockets() const;
  int OpenFds() const;
  // The value of an unlabelled metric on /metrics, or -1 if it is not there.
  double Metric(const std::string& name) const;
  // /connections once it lists none, or its last answer after `timeout_ms`: tests expect "[]\n"
  // when every connection should have been finished and released.
  std::string LiveConnectionsWithin(int timeout_ms) const;
  void Signal(int signal) { process_.Signal(signal); }
  // The exit code once the proxy exits within `timeout_ms`, else -1.
  int WaitExit(int timeout_ms) { return process_.Wait(timeout_ms); }

 private:
  std::vector<std::string> extra_flags_;
  int backend_port_;
  int port_ = 0;
  int admin_port_ = 0;
  int AcceptedSocketsOn(int port) const;

  std::string log_path_;
  std::string admin_token_;
  ChildProcess process_;
  int descriptor_limit_ = 0;
};

int CountOccurrences(const std::string& haystack, const std::string& needle);
// The SHA-256 (hex) of the demo backend's /bytes/N body.
std::string ExpectedPatternSha256Of(int bytes);

}  // namespace ringgate::testing

#endif  // RINGGATE_TESTS_INTEGRATION_HARNESS_H_
