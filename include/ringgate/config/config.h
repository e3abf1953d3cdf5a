// config.h
// Everything the command line decides, validated once at start-up (flags.h builds it from the
// flags). Configuration errors are absl::Status values whose message tells the user what to fix.
// The defaults written here are the flags' defaults too: `ringgate --help` shows these.
//
//   absl::StatusOr<SocketAddress> addr = ParseSocketAddress("127.0.0.1:8443");
#ifndef RINGGATE_CONFIG_CONFIG_H_
#define RINGGATE_CONFIG_CONFIG_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ringgate/core/log.h"
#include "ringgate/tls/certificate_files.h"
#include "ringgate/tls/tls_group.h"

namespace ringgate {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string text;  // as the user wrote it, for messages
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
};

// "127.0.0.1:8443", "[::1]:8443" or "localhost:8443".
absl::StatusOr<SocketAddress> ParseSocketAddress(std::string_view text);
// "10.0.0.1:80,10.0.0.2:80,app.internal:8080": at least one and at most kMaxBackends backends,
// each resolved now. An empty entry, one that does not parse or resolve, and a backend named twice
// (or two names of the same address) are refused with the entry named in the message.
absl::StatusOr<std::vector<SocketAddress>> ParseBackendList(std::string_view text);
// Resolves each backend's name again (SIGHUP). A name that no longer resolves keeps its current
// address, and `problems` gets one line saying which and why.
std::vector<SocketAddress> ReresolveBackends(const std::vector<SocketAddress>& current,
                                             std::vector<std::string>& problems);
// "0,1,4-7" -> {0,1,4,5,6,7}.
absl::StatusOr<std::vector<int>> ParseCpuList(std::string_view text);

// An address block: 16 bytes (IPv4 as IPv4-mapped IPv6) and how many leading bits must match.
struct Cidr {
  uint8_t address[16] = {};
  int prefix_bits = 0;
};
// "10.0.0.0/8,192.0.2.1,2001:db8::/32" (a bare address is a /32 or /128). Empty: none.
absl::StatusOr<std::vector<Cidr>> ParseCidrList(std::string_view text);
// The IP address of an AF_INET or AF_INET6 socket address as text, without its port ("" for any
// other family): how a peer is named in logs, /connections and X-Forwarded-For.
std::string AddressText(const sockaddr_storage& address);
// Whether the peer `address` (AF_INET or AF_INET6, v4-mapped included) is inside one of `blocks`.
bool AddressInCidrs(const sockaddr_storage& address, const std::vector<Cidr>& blocks);

// 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104.
bool IsLoopbackAddress(const SocketAddress& address);
// The admin endpoint on `address` may be exposed with `token` (empty: none): a non-loopback
// address needs a token, and a token must be 16 to 512 visible ASCII characters (no spaces).
absl::Status CheckAdminAccess(const SocketAddress& address, std::string_view token);

// Defaults of the flags whose Config field is parsed from text or resolved at start-up.
inline constexpr char kDefaultListen[] = "127.0.0.1:8443";
inline constexpr char kDefaultBackend[] = "127.0.0.1:8080";
inline constexpr char kDefaultAdminListen[] = "127.0.0.1:9901";  // or "off"
inline constexpr int kThreadsOnePerCpu = 0;  // --threads=0: one per online CPU (or per --cpus)
inline constexpr size_t kMaxBackends = 64;   // --backend entries (metrics keep a cell per backend)

// --lb: how each worker chooses a backend for a request (docs/operations.md).
enum class LbPolicy : uint8_t {
  kP2c,  // power of two choices: the one of two random backends with fewer requests in flight
  kRoundRobin,  // the next usable backend in turn
  kIpHash,      // the client address decides (rendezvous hashing), stable while backends are up
};
// "p2c", "round_robin", "ip_hash".
std::string_view LbPolicyName(LbPolicy policy);
absl::StatusOr<LbPolicy> ParseLbPolicy(std::string_view text);

struct Config {
  SocketAddress listen;                 // default kDefaultListen
  std::vector<SocketAddress> backends;  // default kDefaultBackend; resolved again on SIGHUP
  std::string cert_path;                // the first (default) certificate of `certificates`
  std::string key_path;
  // --cert and --key as comma lists of equal length: each certificate with its key, in order.
  std::vector<CertificateFiles> certificates;
  std::string ticket_key_path;  // empty: tickets under a key of this process's own
  std::vector<TlsGroup> tls_groups = DefaultTlsGroups();  // key exchange, in order of preference
  int threads = 1;          // resolved: --threads=0 becomes the CPU count
  std::vector<int> cpus;    // empty: not pinned
  std::string run_as_user;  // empty: stay who we are (else start as root, then become this user)
  bool core_dumps = false;  // off: a core file or ptrace would expose the private key

  absl::Duration handshake_timeout = absl::Seconds(10);
  absl::Duration request_header_timeout = absl::Seconds(30);
  absl::Duration request_body_timeout = absl::Seconds(30);  // between bytes of a request body
  absl::Duration idle_timeout = absl::Seconds(60);
  absl::Duration upstream_connect_timeout = absl::Seconds(5);
  absl::Duration upstream_response_timeout = absl::Seconds(60);
  absl::Duration close_notify_timeout = absl::Seconds(5);
  absl::Duration drain_timeout = absl::Seconds(30);  // hard deadline of a graceful stop
  absl::Duration send_timeout = absl::Seconds(60);   // a client that reads nothing for this long
  absl::Duration upstream_idle_timeout = absl::Seconds(30);  // pooled backend connections
  absl::Duration tunnel_idle_timeout =
      absl::Hours(1);               // a WebSocket tunnel with no bytes either way
  size_t upstream_idle_max = 1024;  // pooled backend connections per worker

  uint32_t ring_entries = 4096;
  uint32_t recv_buffers = 256;        // per worker, a power of two up to 32768
  uint32_t recv_buffer_size = 16384;  // one TLS record
  bool sqpoll = false;                // a kernel thread polls each worker's submission queue
  uint32_t sqpoll_idle_ms = 1000;     // before that thread sleeps
  uint32_t batch_wait_us = 0;         // min-wait batching: how long a wait may gather completions
  uint32_t send_zc_threshold = 0;     // client sends this large or larger: zero-copy (0: never)
  size_t max_request_head_bytes = 64 * 1024;   // over it: 431
  size_t max_request_headers = 100;            // over it: 431
  size_t max_request_target_bytes = 8 * 1024;  // over it: 414
  uint64_t max_request_body_bytes = 0;         // over it: 413 (0: no limit)
  uint32_t max_pipelined = 32;                 // complete requests read ahead of the one answered
  size_t max_conn_buffer_bytes = 256 * 1024;   // user-space bytes one connection may hold
  std::vector<Cidr> trusted_proxies;           // peers whose forwarding headers are believed
  // --proxy-protocol: every client connection starts with a PROXY header (v1 or v2), sent by
  // one of the L4 balancers in proxy_protocol_from (required then; any other peer is refused);
  // the header's source address is the connection's peer from then on (docs/operations.md).
  bool proxy_protocol = false;
  std::vector<Cidr> proxy_protocol_from;
  size_t max_conns_per_worker = 0;  // 0: no limit; over it new connections are closed

  // Backend groups and health (docs/operations.md, "Backend groups and health checks").
  LbPolicy lb_policy = LbPolicy::kP2c;
  uint32_t backend_max_fails = 3;  // failures in a row before a worker skips a backend
  absl::Duration backend_fail_timeout = absl::Seconds(10);  // how long it is skipped
  std::string health_check_path;                            // empty: no active health check
  absl::Duration health_check_interval = absl::Seconds(2);

  // Logs and diagnostics.
  spdlog::level::level_enum log_level = spdlog::level::info;
  LogFormat log_format = LogFormat::kText;
  std::string access_log_path = "off";  // a file, or off
  bool diagnostics = true;              // metrics, flight recorder, kernel view at close
  bool admin_enabled = true;
  SocketAddress admin_listen;        // plain HTTP: /metrics /connections /closures /healthz /readyz
  std::string admin_token;           // empty: none, and admin_listen must be loopback
  size_t closures_per_worker = 256;  // flight recorder depth
};

// Config{}, for the flags' defaults.
const Config& DefaultConfig();
// "text" or "json", as --log-format takes it.
std::string_view LogFormatName(LogFormat format);

}  // namespace ringgate

#endif  // RINGGATE_CONFIG_CONFIG_H_
