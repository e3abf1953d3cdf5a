// The command line into a Config: the defaults, and for every validated flag a value that is
// taken and values that are refused with a message naming the flag.
#include "ringgate/config/flags.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "ringgate/config/config.h"
#include "ringgate/tls/tls_group.h"

// A flag that exists but is not ringgate's (abseil's own are not linked into the tests): the
// parser must refuse it as it refuses --fromenv or --helpfull in the binary.
ABSL_FLAG(bool, not_ringgates, false, "defined by the test, outside src/config/flags.cc");

namespace ringgate {
namespace {

int OnlineCpus() { return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)); }

class FlagsTest : public ::testing::Test {
 protected:
  // Sets `args` ("--name=value" or "--name", dashes or underscores) the way the command line
  // would, after --cert and --key (required), and builds the Config. Every flag is back at its
  // default before each Parse (ApplyFlagArguments starts there) and after the test.
  absl::StatusOr<Config> Parse(std::vector<std::string> args) {
    args.insert(args.begin(), {"ringgate", "--cert=cert.pem", "--key=key.pem"});
    const std::vector<std::string> problems = ApplyFlagArguments(Normalized(args));
    if (!problems.empty()) return absl::InvalidArgumentError(problems.front());
    return ConfigFromFlags();
  }

  static std::vector<FlagArgument> Normalized(std::vector<std::string> args) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    return ExpandFlagArguments(static_cast<int>(argv.size()), argv.data());
  }

  void TearDown() override { EXPECT_TRUE(ApplyFlagArguments({"ringgate"}).empty()); }

  // The flag `arg` is refused, with a message that contains `message`.
  void ExpectRefused(const std::string& arg, const std::string& message) {
    absl::StatusOr<Config> config = Parse({arg});
    ASSERT_FALSE(config.ok()) << arg;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << arg;
    EXPECT_NE(config.status().message().find(message), std::string::npos)
        << arg << ": " << config.status().message();
  }
  Config ExpectTaken(const std::vector<std::string>& args) {
    absl::StatusOr<Config> config = Parse(args);
    EXPECT_TRUE(config.ok()) << (args.empty() ? "" : args[0]) << ": " << config.status();
    return config.ok() ? *std::move(config) : Config{};
  }
};

TEST_F(FlagsTest, NothingGivenMeansConfigsDefaults) {
  const Config c = ExpectTaken({});
  const Config& d = DefaultConfig();
  EXPECT_EQ(c.listen.text, "127.0.0.1:8443");
  EXPECT_EQ(c.listen.family(), AF_INET);
  EXPECT_EQ(c.backends[0].text, "127.0.0.1:8080");
  EXPECT_TRUE(c.admin_enabled);
  EXPECT_EQ(c.admin_listen.text, "127.0.0.1:9901");
  EXPECT_EQ(c.admin_token, "");
  EXPECT_EQ(c.cert_path, "cert.pem");
  EXPECT_EQ(c.key_path, "key.pem");
  EXPECT_EQ(c.ticket_key_path, "");
  EXPECT_EQ(c.tls_groups, DefaultTlsGroups());
  EXPECT_EQ(c.threads, OnlineCpus());
  EXPECT_TRUE(c.cpus.empty());
  EXPECT_EQ(c.run_as_user, "");
  EXPECT_FALSE(c.core_dumps);
  EXPECT_EQ(c.handshake_timeout, absl::Seconds(10));
  EXPECT_EQ(c.request_header_timeout, absl::Seconds(30));
  EXPECT_EQ(c.request_body_timeout, absl::Seconds(30));
  EXPECT_EQ(c.idle_timeout, absl::Seconds(60));
  EXPECT_EQ(c.upstream_connect_timeout, absl::Seconds(5));
  EXPECT_EQ(c.upstream_response_timeout, absl::Seconds(60));
  EXPECT_EQ(c.close_notify_timeout, absl::Seconds(5));
  EXPECT_EQ(c.drain_timeout, absl::Seconds(30));
  EXPECT_EQ(c.send_timeout, absl::Seconds(60));
  EXPECT_EQ(c.upstream_idle_timeout, absl::Seconds(30));
  EXPECT_EQ(c.upstream_idle_max, 1024u);
  EXPECT_EQ(c.ring_entries, 4096u);
  EXPECT_EQ(c.recv_buffers, 256u);
  EXPECT_EQ(c.recv_buffer_size, 16384u);
  EXPECT_FALSE(c.sqpoll);
  EXPECT_EQ(c.sqpoll_idle_ms, 1000u);
  EXPECT_EQ(c.send_zc_threshold, 0u);
  EXPECT_EQ(c.max_request_head_bytes, 64u * 1024);
  EXPECT_EQ(c.max_request_headers, 100u);
  EXPECT_EQ(c.max_request_target_bytes, 8u * 1024);
  EXPECT_EQ(c.max_request_body_bytes, 0u);
  EXPECT_EQ(c.max_pipelined, 32u);
  EXPECT_EQ(c.max_conn_buffer_bytes, 256u * 1024);
  EXPECT_TRUE(c.trusted_proxies.empty());
  EXPECT_EQ(c.max_conns_per_worker, 0u);
  EXPECT_EQ(c.log_level, spdlog::level::info);
  EXPECT_EQ(c.log_format, LogFormat::kText);
  EXPECT_EQ(c.access_log_path, "off");
  EXPECT_TRUE(c.diagnostics);
  EXPECT_EQ(c.closures_per_worker, 256u);
  // Every default above is Config's own: the flags take theirs from it.
  EXPECT_EQ(c.handshake_timeout, d.handshake_timeout);
  EXPECT_EQ(c.ring_entries, d.ring_entries);
  EXPECT_EQ(c.max_conn_buffer_bytes, d.max_conn_buffer_bytes);
  EXPECT_EQ(c.sqpoll_idle_ms, d.sqpoll_idle_ms);
  EXPECT_EQ(c.closures_per_worker, d.closures_per_worker);
}

TEST_F(FlagsTest, DashesAndUnderscoresAreTheSameFlag) {
  EXPECT_EQ(ExpectTaken({"--close-notify-timeout=7s"}).close_notify_timeout, absl::Seconds(7));
  EXPECT_EQ(ExpectTaken({"--close_notify_timeout=8s"}).close_notify_timeout, absl::Seconds(8));
}

TEST(NormalizeFlagSpellingTest, RewritesOnlyFlagNames) {
  std::vector<std::string> args = {
      "ring-gate",   "--close-notify-timeout=5s", "--cpus=0-3", "-h", "--sqpoll", "--",
      "--not-a-flag"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  EXPECT_EQ(NormalizeFlagSpelling(static_cast<int>(argv.size()), argv.data()),
            (std::vector<std::string>{"ring-gate", "--close_notify_timeout=5s", "--cpus=0-3", "-h",
                                      "--sqpoll", "--", "--not-a-flag"}));
}

// A flag file is read with the same spelling rules as the command line (the packaged example
// uses dashes), comments and blank lines skipped, a nested file expanded where it is named;
// an unreadable one is left for absl to refuse.
TEST(NormalizeFlagSpellingTest, ExpandsFlagFilesWithTheSameSpelling) {
  const std::string dir = ::testing::TempDir();
  const std::string outer = dir + "/ringgate-outer.flags";
  const std::string inner = dir + "/ringgate-inner.flags";
  std::ofstream(inner) << "--tunnel-idle-timeout=5m\n";
  std::ofstream(outer) << "# ringgate\n\n  --close-notify-timeout=7s  \n--flagfile=" << inner
                       << "\n--log_level=debug\n";
  std::vector<std::string> args = {
      "ringgate", "--threads=2", "--flagfile=" + outer, "--flagfile=/nonexistent/ringgate.flags",
      "--",       "--x-y"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  EXPECT_EQ(NormalizeFlagSpelling(static_cast<int>(argv.size()), argv.data()),
            (std::vector<std::string>{"ringgate", "--threads=2", "--close_notify_timeout=7s",
                                      "--tunnel_idle_timeout=5m", "--log_level=debug",
                                      "--flagfile=/nonexistent/ringgate.flags", "--", "--x-y"}));
}

TEST(FlagHelpTest, ListsEveryFlagInAGroupWithItsDefault) {
  const std::string help = FlagHelp();
  for (const char* line :
       {"  --listen=127.0.0.1:8443 ", "  --backend=127.0.0.1:8080 ", "  --close-notify-timeout=5s ",
        "  --sqpoll-idle=1s ", "  --recv-buffers=256 ", "  --max-conn-buffer=262144 ",
        "  --max-request-head=65536 ", "  --log-level=info ", "  --log-format=text ",
        "  --access-log=off ", "  --admin-listen=127.0.0.1:9901 ", "  --diagnostics=true ",
        "  --threads=0 ", "  --upstream-idle-max=1024 ", "  --lb=p2c ", "  --backend-max-fails=3 ",
        "  --backend-fail-timeout=10s ",
        "  --health-check-path= ", "  --health-check-interval=2s "}) {
    EXPECT_NE(help.find(line), std::string::npos) << line << "\n" << help;
  }
  for (const char* group :
       {"\nListen and backends:\n", "\nTLS:\n", "\nPrivileges:\n", "\nTimeouts:\n", "\nLimits:\n",
        "\nLogs and diagnostics:\n", "\nTuning:\n"}) {
    EXPECT_NE(help.find(group), std::string::npos) << group;
  }
  EXPECT_EQ(help.find("\nOther:\n"), std::string::npos) << "a flag outside the groups:\n" << help;
  EXPECT_EQ(help.find("--flagfile"), std::string::npos) << "none of abseil's own";
}

TEST_F(FlagsTest, CertAndKeyAreRequired) {
  ExpectRefused("--cert=", "--cert and --key are required");
  ExpectRefused("--key=", "--cert and --key are required");
  EXPECT_EQ(ExpectTaken({"--ticket-key-file=/etc/tickets"}).ticket_key_path, "/etc/tickets");
}

TEST_F(FlagsTest, CertAndKeyTakeCommaListsOfEqualLength) {
  const Config one = ExpectTaken({});
  ASSERT_EQ(one.certificates.size(), 1u);
  EXPECT_EQ(one.certificates[0].cert_path, "cert.pem");
  EXPECT_EQ(one.certificates[0].key_path, "key.pem");
  const Config three = ExpectTaken({"--cert=a.pem,b.pem,c.pem", "--key=a.key,b.key,c.key"});
  ASSERT_EQ(three.certificates.size(), 3u);
  EXPECT_EQ(three.certificates[1].cert_path, "b.pem");
  EXPECT_EQ(three.certificates[2].key_path, "c.key");
  EXPECT_EQ(three.cert_path, "a.pem") << "the first is the default";
  EXPECT_EQ(three.key_path, "a.key");
  ExpectRefused("--cert=a.pem,b.pem", "--cert lists 2 files and --key 1");
  absl::StatusOr<Config> stray_comma = Parse({"--cert=a.pem,", "--key=a.key,"});
  ASSERT_FALSE(stray_comma.ok());
  EXPECT_NE(stray_comma.status().message().find("entry 2 is empty"), std::string_view::npos)
      << stray_comma.status();
}

TEST_F(FlagsTest, ListenAndBackendAreHostPort) {
  Config c = ExpectTaken({"--listen=[::1]:9443"});
  EXPECT_EQ(c.listen.family(), AF_INET6);
  EXPECT_EQ(c.listen.text, "[::1]:9443");
  EXPECT_EQ(ExpectTaken({"--listen=:8443"}).listen.family(), AF_INET) << "no host: every address";
  EXPECT_EQ(ExpectTaken({"--backend=10.1.2.3:80"}).backends[0].text, "10.1.2.3:80");
  ExpectRefused("--listen=nonsense", "--listen: address 'nonsense' has no :port");
  ExpectRefused("--listen=127.0.0.1:0", "--listen: address '127.0.0.1:0' has an invalid port");
  ExpectRefused("--listen=127.0.0.1:65536", "invalid port '65536'");
  ExpectRefused("--listen=127.0.0.1:http", "invalid port 'http'");
  ExpectRefused("--listen=[::1]8443", "--listen: address '[::1]8443' is not [ipv6]:port");
  ExpectRefused("--backend=127.0.0.1", "--backend: address '127.0.0.1' has no :port");
}

TEST_F(FlagsTest, BackendGroupFlags) {
  const Config d = ExpectTaken({});
  EXPECT_EQ(d.lb_policy, LbPolicy::kP2c);
  EXPECT_EQ(d.backend_max_fails, 3u);
  EXPECT_EQ(d.backend_fail_timeout, absl::Seconds(10));
  EXPECT_EQ(d.health_check_path, "");
  EXPECT_EQ(d.health_check_interval, absl::Seconds(2));
  const Config c = ExpectTaken({"--backend=127.0.0.1:81,[::1]:82,localhost:83", "--lb=ip_hash",
                                "--backend-max-fails=5", "--backend-fail-timeout=1s",
                                "--health-check-path=/healthz", "--health-check-interval=100ms"});
  ASSERT_EQ(c.backends.size(), 3u);
  EXPECT_EQ(c.backends[1].text, "[::1]:82");
  EXPECT_EQ(c.backends[2].text, "localhost:83");
  EXPECT_EQ(c.lb_policy, LbPolicy::kIpHash);
  EXPECT_EQ(c.backend_max_fails, 5u);
  EXPECT_EQ(c.backend_fail_timeout, absl::Seconds(1));
  EXPECT_EQ(c.health_check_path, "/healthz");
  EXPECT_EQ(c.health_check_interval, absl::Milliseconds(100));
  EXPECT_EQ(ExpectTaken({"--lb=round_robin"}).lb_policy, LbPolicy::kRoundRobin);
  ExpectRefused("--lb=least_conn", "--lb: 'least_conn' is not one of p2c, round_robin, ip_hash");
  ExpectRefused("--backend=127.0.0.1:81,127.0.0.1:81", "'127.0.0.1:81' is the same backend");
  ExpectRefused("--backend=127.0.0.1:81,,127.0.0.1:82", "--backend: an empty entry");
  ExpectRefused("--backend=127.0.0.1:81,127.0.0.1", "--backend: address '127.0.0.1' has no :port");
  ExpectRefused("--backend-max-fails=0", "--backend-max-fails must be between 1 and 1000");
  ExpectRefused("--backend-fail-timeout=0s", "--backend-fail-timeout must be between 10ms and 1h");
  ExpectRefused("--health-check-path=healthz", "--health-check-path must start with '/'");
  ExpectRefused("--health-check-path=/a b", "--health-check-path must start with '/'");
  ExpectRefused("--health-check-interval=1ms", "--health-check-interval must be between 50ms");
}

TEST_F(FlagsTest, TlsGroupsAreNamesInOrder) {
  EXPECT_EQ(ExpectTaken({"--tls-groups=x25519:P-256"}).tls_groups,
            (std::vector<TlsGroup>{TlsGroup::kX25519, TlsGroup::kSecp256r1}));
  EXPECT_EQ(ExpectTaken({"--tls-groups=secp384r1"}).tls_groups,
            (std::vector<TlsGroup>{TlsGroup::kSecp384r1}));
  EXPECT_FALSE(Parse({"--tls-groups=x25519:x25519"}).ok());
  EXPECT_FALSE(Parse({"--tls-groups=ffdhe2048"}).ok());
  EXPECT_FALSE(Parse({"--tls-groups=x25519:"}).ok());
}

TEST_F(FlagsTest, ThreadsAndCpus) {
  EXPECT_EQ(ExpectTaken({"--threads=3"}).threads, 3);
  EXPECT_EQ(ExpectTaken({"--threads=1024"}).threads, 1024);
  EXPECT_EQ(ExpectTaken({"--cpus=0"}).threads, 1) << "one worker per listed CPU";
  Config pinned = ExpectTaken({"--cpus=0-0,0", "--threads=2"});
  EXPECT_EQ(pinned.cpus, (std::vector<int>{0, 0}));
  EXPECT_EQ(pinned.threads, 2);
  ExpectRefused("--threads=-1", "--threads: -1 is out of range");
  ExpectRefused("--threads=1025", "--threads: 1025 is out of range");
  ExpectRefused("--cpus=" + std::to_string(OnlineCpus()),
                "--cpus: CPU " + std::to_string(OnlineCpus()) + " does not exist");
  ExpectRefused("--cpus=1-0", "--cpus: range '1-0' is backwards");
  ExpectRefused("--cpus=a", "--cpus: 'a' is not a CPU or range");
  ExpectRefused("--cpus=0,", "--cpus: '' is not a CPU or range");
}

TEST_F(FlagsTest, EveryTimeoutMustBePositive) {
  struct {
    const char* flag;
    absl::Duration Config::*field;
  } timeouts[] = {
      {"--handshake-timeout", &Config::handshake_timeout},
      {"--request-header-timeout", &Config::request_header_timeout},
      {"--request-body-timeout", &Config::request_body_timeout},
      {"--idle-timeout", &Config::idle_timeout},
      {"--upstream-connect-timeout", &Config::upstream_connect_timeout},
      {"--upstream-response-timeout", &Config::upstream_response_timeout},
      {"--close-notify-timeout", &Config::close_notify_timeout},
      {"--drain-timeout", &Config::drain_timeout},
      {"--send-timeout", &Config::send_timeout},
      {"--upstream-idle-timeout", &Config::upstream_idle_timeout},
  };
  for (const auto& t : timeouts) {
    const std::string flag = t.flag;
    EXPECT_EQ(ExpectTaken({flag + "=1ms"}).*t.field, absl::Milliseconds(1)) << flag;
    EXPECT_EQ(ExpectTaken({flag + "=2m"}).*t.field, absl::Minutes(2)) << flag;
    ExpectRefused(flag + "=0s", flag + " must be positive, got 0");
    ExpectRefused(flag + "=-1s", flag + " must be positive, got -1s");
    EXPECT_FALSE(Parse({flag + "=5"}).ok()) << flag << ": a duration needs its unit";
  }
}

TEST_F(FlagsTest, RingEntries) {
  EXPECT_EQ(ExpectTaken({"--ring-entries=64"}).ring_entries, 64u);
  EXPECT_EQ(ExpectTaken({"--ring-entries=32768"}).ring_entries, 32768u);
  ExpectRefused("--ring-entries=63", "--ring-entries must be between 64 and 32768");
  ExpectRefused("--ring-entries=32769", "--ring-entries must be between 64 and 32768");
}

// Refused before any worker starts (not only by the worker's buffer ring, once it runs).
TEST_F(FlagsTest, RecvBuffersArePowersOfTwo) {
  for (uint32_t n : {1u, 2u, 4u, 64u, 256u, 32768u}) {
    EXPECT_EQ(ExpectTaken({"--recv-buffers=" + std::to_string(n)}).recv_buffers, n);
  }
  for (const char* n : {"0", "3", "100", "255", "65536"}) {
    ExpectRefused(
        std::string("--recv-buffers=") + n,
        std::string("--recv-buffers must be a power of two between 1 and 32768, got ") + n);
  }
  EXPECT_FALSE(Parse({"--recv-buffers=-1"}).ok());
}

TEST_F(FlagsTest, RecvBufferSize) {
  EXPECT_EQ(ExpectTaken({"--recv-buffer-size=1024"}).recv_buffer_size, 1024u);
  EXPECT_EQ(ExpectTaken({"--recv-buffer-size=1048576"}).recv_buffer_size, 1048576u);
  ExpectRefused("--recv-buffer-size=1023", "--recv-buffer-size must be between 1024 and 1048576");
  ExpectRefused("--recv-buffer-size=1048577", "--recv-buffer-size must be between");
}

TEST_F(FlagsTest, SqpollIdle) {
  Config c = ExpectTaken({"--sqpoll", "--sqpoll-idle=1ms"});
  EXPECT_TRUE(c.sqpoll);
  EXPECT_EQ(c.sqpoll_idle_ms, 1u);
  EXPECT_EQ(ExpectTaken({"--sqpoll-idle=60s"}).sqpoll_idle_ms, 60000u);
  ExpectRefused("--sqpoll-idle=0s", "--sqpoll-idle must be between 1ms and 60s");
  ExpectRefused("--sqpoll-idle=999us", "--sqpoll-idle must be between 1ms and 60s");
  ExpectRefused("--sqpoll-idle=61s", "--sqpoll-idle must be between 1ms and 60s");
}

TEST_F(FlagsTest, RequestLimits) {
  Config c = ExpectTaken({"--max-request-head=1024", "--max-request-headers=1",
                          "--max-request-line=16", "--max-request-body=5000000000"});
  EXPECT_EQ(c.max_request_head_bytes, 1024u);
  EXPECT_EQ(c.max_request_headers, 1u);
  EXPECT_EQ(c.max_request_target_bytes, 16u);
  EXPECT_EQ(c.max_request_body_bytes, 5000000000u);
  ExpectRefused("--max-request-head=1023", "--max-request-head must be at least 1024");
  ExpectRefused("--max-request-headers=0", "--max-request-headers at least 1");
  ExpectRefused("--max-request-line=15", "--max-request-line at least 16");
}

TEST_F(FlagsTest, MaxPipelined) {
  EXPECT_EQ(ExpectTaken({"--max-pipelined=1"}).max_pipelined, 1u);
  EXPECT_EQ(ExpectTaken({"--max-pipelined=1024"}).max_pipelined, 1024u);
  ExpectRefused("--max-pipelined=0", "--max-pipelined must be between 1 and 1024");
  ExpectRefused("--max-pipelined=1025", "--max-pipelined must be between 1 and 1024");
}

TEST_F(FlagsTest, MaxConnBuffer) {
  EXPECT_EQ(ExpectTaken({"--max-conn-buffer=65536"}).max_conn_buffer_bytes, 65536u);
  EXPECT_EQ(ExpectTaken({"--max-conn-buffer=67108864"}).max_conn_buffer_bytes, 67108864u);
  ExpectRefused("--max-conn-buffer=65535", "--max-conn-buffer must be between 65536 and 67108864");
  ExpectRefused("--max-conn-buffer=67108865", "--max-conn-buffer must be between");
}

TEST_F(FlagsTest, UnvalidatedNumbersAndSwitchesPassThrough) {
  Config c = ExpectTaken({"--max-conns=7", "--upstream-idle-max=0", "--send-zc-threshold=16384",
                          "--closures-per-worker=3", "--diagnostics=false", "--core-dumps",
                          "--access-log=/tmp/access.log"});
  EXPECT_EQ(c.max_conns_per_worker, 7u);
  EXPECT_EQ(c.upstream_idle_max, 0u);
  EXPECT_EQ(c.send_zc_threshold, 16384u);
  EXPECT_EQ(c.closures_per_worker, 3u);
  EXPECT_FALSE(c.diagnostics);
  EXPECT_TRUE(c.core_dumps);
  EXPECT_EQ(c.access_log_path, "/tmp/access.log");
  EXPECT_FALSE(Parse({"--max-conns=many"}).ok()) << "absl refuses a non-number";
  EXPECT_FALSE(Parse({"--max-conns=-1"}).ok());
}

TEST_F(FlagsTest, TrustedProxiesAreCidrBlocks) {
  Config c = ExpectTaken({"--trusted-proxies=10.0.0.0/8,192.0.2.7,2001:db8::/32"});
  ASSERT_EQ(c.trusted_proxies.size(), 3u);
  EXPECT_EQ(c.trusted_proxies[0].prefix_bits, 96 + 8);
  EXPECT_EQ(c.trusted_proxies[1].prefix_bits, 128);
  EXPECT_EQ(c.trusted_proxies[2].prefix_bits, 32);
  ExpectRefused("--trusted-proxies=10.0.0.0/33",
                "--trusted-proxies: '10.0.0.0/33' has an invalid prefix length");
  ExpectRefused("--trusted-proxies=example.com",
                "--trusted-proxies: 'example.com' is not an IP address or CIDR block");
  ExpectRefused("--trusted-proxies=10.0.0.0/8,,10.1.0.0/16",
                "--trusted-proxies: an empty entry in the list");
}

TEST_F(FlagsTest, ProxyProtocolNeedsTheBalancersItTrusts) {
  EXPECT_FALSE(ExpectTaken({}).proxy_protocol) << "off unless asked for";
  EXPECT_TRUE(ExpectTaken({}).proxy_protocol_from.empty());
  Config on = ExpectTaken({"--proxy-protocol", "--proxy-protocol-from=10.0.0.0/8,2001:db8::7"});
  EXPECT_TRUE(on.proxy_protocol);
  ASSERT_EQ(on.proxy_protocol_from.size(), 2u);
  EXPECT_EQ(on.proxy_protocol_from[0].prefix_bits, 96 + 8);
  EXPECT_EQ(on.proxy_protocol_from[1].prefix_bits, 128);
  ExpectRefused("--proxy-protocol", "--proxy-protocol needs --proxy-protocol-from");
  ExpectRefused("--proxy-protocol-from=10.0.0.0/8",
                "--proxy-protocol-from is set but --proxy-protocol is off");
  absl::StatusOr<Config> bad = Parse({"--proxy-protocol", "--proxy-protocol-from=10.0.0.0/40"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "--proxy-protocol-from: '10.0.0.0/40' has an invalid prefix length");
  EXPECT_NE(FlagHelp().find("  --proxy-protocol=false "), std::string::npos);
  EXPECT_NE(FlagHelp().find("  --proxy-protocol-from= "), std::string::npos);
}

TEST_F(FlagsTest, AdminListenAndToken) {
  const std::string token(32, 'f');
  Config off = ExpectTaken({"--admin-listen=off", "--admin-token=short"});
  EXPECT_FALSE(off.admin_enabled) << "off: the token is not looked at";
  Config local = ExpectTaken({"--admin-listen=[::1]:9902"});
  EXPECT_TRUE(local.admin_enabled);
  EXPECT_EQ(local.admin_listen.family(), AF_INET6);
  Config exposed = ExpectTaken({"--admin-listen=0.0.0.0:9901", "--admin-token=" + token});
  EXPECT_EQ(exposed.admin_token, token);
  ExpectRefused("--admin-listen=0.0.0.0:9901",
                "--admin-listen 0.0.0.0:9901 is not a loopback address");
  ExpectRefused("--admin-listen=nonsense", "--admin-listen: address 'nonsense' has no :port");
  ExpectRefused("--admin-token=short", "--admin-token must be 16 to 512 visible ASCII characters");
  ExpectRefused("--admin-token=" + std::string(513, 'x'), "--admin-token must be 16 to 512");
}

TEST_F(FlagsTest, LogLevelAndFormat) {
  EXPECT_EQ(ExpectTaken({"--log-level=debug"}).log_level, spdlog::level::debug);
  EXPECT_EQ(ExpectTaken({"--log-level=off"}).log_level, spdlog::level::off);
  EXPECT_EQ(ExpectTaken({"--log-level=critical"}).log_level, spdlog::level::critical);
  EXPECT_EQ(ExpectTaken({"--log-format=json"}).log_format, LogFormat::kJson);
  ExpectRefused("--log-level=loud", "--log-level: unknown level 'loud'");
  ExpectRefused("--log-format=xml", "--log-format: 'xml' is neither text nor json");
}

TEST_F(FlagsTest, TheUserToRunAsMustExistAndNeedsRoot) {
  ExpectRefused("--user=no-such-user-here", "--user: no user named 'no-such-user-here'");
  absl::StatusOr<Config> root = Parse({"--user=root"});
  if (geteuid() == 0) {
    ASSERT_TRUE(root.ok()) << root.status();
    EXPECT_EQ(root->run_as_user, "root");
  } else {
    ASSERT_FALSE(root.ok());
    EXPECT_NE(root.status().message().find("--user root: ringgate must start as root"),
              std::string::npos)
        << root.status();
  }
}

// With several bad flags, the log settings are reported first (as before they moved here).
TEST_F(FlagsTest, LogSettingsAreCheckedFirst) {
  absl::StatusOr<Config> c = Parse({"--listen=nonsense", "--log-level=loud"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("--log-level"), std::string::npos) << c.status();
}

// The one parser of start-up, --check-config and reload: it never exits, names every argument
// it cannot use, and applies the others.
TEST_F(FlagsTest, ArgumentsAreAppliedInEveryFormAbslTakes) {
  EXPECT_TRUE(
      ApplyFlagArguments(Normalized({"ringgate", "--cert=c.pem", "-key", "k.pem", "--idle-timeout",
                                     "7s", "--core-dumps", "--nodiagnostics", "--threads=3"}))
          .empty());
  absl::StatusOr<Config> config = ConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->cert_path, "c.pem");
  EXPECT_EQ(config->key_path, "k.pem");
  EXPECT_EQ(config->idle_timeout, absl::Seconds(7));
  EXPECT_TRUE(config->core_dumps);
  EXPECT_FALSE(config->diagnostics);
  EXPECT_EQ(config->threads, 3);
  // A second application starts from the defaults: what it does not name is not kept.
  EXPECT_TRUE(ApplyFlagArguments(Normalized({"ringgate", "--cert=c.pem", "--key=k.pem"})).empty());
  config = ConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->idle_timeout, DefaultConfig().idle_timeout);
  EXPECT_TRUE(config->diagnostics);
  EXPECT_FALSE(config->core_dumps);
}

TEST_F(FlagsTest, EveryUnusableArgumentIsNamedAndTheRestStillApplied) {
  const std::vector<std::string> problems = ApplyFlagArguments(Normalized(
      {"ringgate", "--no-such-flag=1", "--not-ringgates=1", "--idle-timeout=soon", "--threads=many",
       "--core-dumps=maybe", "stray", "--flagfile=/nonexistent/ringgate.flags", "--cert=c.pem",
       "--key", "k.pem", "--backend", "--", "after"}));
  const std::vector<std::string> expected = {
      "unknown flag --no-such-flag (see --help)",
      "unknown flag --not-ringgates (see --help)",  // a flag defined outside ringgate's file
      "--idle-timeout: 'soon' is not a valid value (a duration such as 500ms, 30s, 1h)",
      "--threads: 'many' is not a valid value (a whole number in range)",
      "--core-dumps: 'maybe' is not a valid value (true or false)",
      "unexpected argument 'stray' (see --help)",
      "--flagfile: cannot read '/nonexistent/ringgate.flags': No such file or directory",
      "--backend needs a value",
      "unexpected argument 'after' (see --help)",
  };
  EXPECT_EQ(problems, expected);
  absl::StatusOr<Config> config = ConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->cert_path, "c.pem") << "arguments after a bad one are applied";
  EXPECT_EQ(config->key_path, "k.pem");
}

TEST_F(FlagsTest, ConfigFromFlagsListsEveryRefusedValueNotJustTheFirst) {
  ASSERT_TRUE(ApplyFlagArguments(Normalized({"ringgate", "--threads=-1", "--lb=fastest",
                                             "--backend=127.0.0.1:1,,127.0.0.1:1", "--cert=a,b",
                                             "--key=k", "--log-format=xml", "--idle-timeout=-1s"}))
                  .empty());
  std::vector<std::string> problems;
  const Config partial = ConfigFromFlags(problems);
  const std::vector<std::string> expected = {
      "--log-format: 'xml' is neither text nor json",
      "--backend: an empty entry in the list",
      "--backend: '127.0.0.1:1' is the same backend as '127.0.0.1:1'; list each once",
      "--lb: 'fastest' is not one of p2c, round_robin, ip_hash",
      "--cert lists 2 files and --key 1: give one key per certificate, in the same order "
      "(comma-separated)",
      "--threads: -1 is out of range",
      "--idle-timeout must be positive, got -1s",
  };
  EXPECT_EQ(problems, expected);
  EXPECT_TRUE(partial.certificates.empty()) << "a refused list is left out, not half taken";
  absl::StatusOr<Config> config = ConfigFromFlags();
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(), absl::StrJoin(expected, "\n"));
}

// Flag files are configuration: a regular file, at most 1 MiB, nested at most eight deep,
// never including itself. Each file that breaks a rule is named with the rule, where it was
// named, and the arguments around it are still read.
TEST_F(FlagsTest, FlagFilesThatBreakTheRulesAreRefusedWithTheRule) {
  const std::string dir = ::testing::TempDir() + "/ringgate-flagfile-rules";
  ASSERT_EQ(system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()), 0);
  const std::string self = dir + "/self.flags";
  std::ofstream(self) << "--threads=3\n--flagfile=" << self << "\n";
  const std::string big = dir + "/big.flags";
  std::ofstream(big) << std::string((1 << 20) + 1, '#');
  // a0 names a1 names ... a9: the ninth level is one too deep.
  for (int i = 0; i < 10; ++i) {
    std::ofstream(dir + "/a" + std::to_string(i) + ".flags")
        << "--flagfile=" << dir << "/a" << i + 1 << ".flags\n";
  }
  std::ofstream(dir + "/a10.flags") << "--idle-timeout=9s\n";
  std::ofstream(dir + "/one.flags") << "--core-dumps\n";
  std::ofstream(dir + "/two.flags") << "--nodiagnostics\n";
  const std::vector<std::string> problems = ApplyFlagArguments(Normalized(
      {"ringgate", "--flagfile=" + self, "--flagfile=" + dir, "--flagfile=" + big,
       "--flagfile=" + dir + "/a0.flags", "--flagfile=" + dir + "/one.flags," + dir + "/two.flags",
       "--flagfile", dir + "/one.flags", "--cert=c.pem", "--key=k.pem"}));
  const std::vector<std::string> expected = {
      self + ":2: --flagfile: '" + self + "' includes itself",
      "--flagfile: '" + dir + "' is not a regular file",
      "--flagfile: '" + big + "' is larger than 1 MiB: not a flag file",
      dir + "/a7.flags:1: --flagfile: '" + dir + "/a8.flags' is nested more than eight deep",
  };
  EXPECT_EQ(problems, expected);
  absl::StatusOr<Config> config = ConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->threads, 3) << "the self-including file's other lines are read";
  EXPECT_TRUE(config->core_dumps) << "a comma list and the space form are flag files too";
  EXPECT_FALSE(config->diagnostics);
  EXPECT_EQ(config->idle_timeout, DefaultConfig().idle_timeout) << "nothing below the limit";
}

// A flag file may hold secrets (--admin-token), or be a key file named by mistake: a line that
// is not a usable flag is named by file and line, never repeated; a flag without a value never
// takes the next line; --check-config in a file is refused.
TEST_F(FlagsTest, AFlagFileLineThatIsNotAFlagIsNamedNotRepeated) {
  const std::string path = ::testing::TempDir() + "/ringgate-secrets.flags";
  std::ofstream(path) << "--cert=c.pem\n"
                         "--key=k.pem\n"
                         "--admin-token s3cr3t-token-value-1\n"
                         "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49s3cr3t\n"
                         "--access-log\n"
                         "--admin-token=s3cr3t-token-value-2\n"
                         "--check-config\n";
  const std::vector<std::string> problems =
      ApplyFlagArguments(Normalized({"ringgate", "--flagfile=" + path}));
  const std::vector<std::string> expected = {
      path + ":3: --admin-token: write it as --admin-token=VALUE, one flag per line",
      path + ":4: not a --flag (the line is not shown: it may hold a secret)",
      path + ":5: --access-log needs a value",
      path +
          ":7: --check-config belongs on the command line: in a flag file it would turn every "
          "start into a check",
  };
  EXPECT_EQ(problems, expected);
  for (const std::string& p : problems) EXPECT_EQ(p.find("s3cr3t"), std::string::npos) << p;
  absl::StatusOr<Config> config = ConfigFromFlags();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->admin_token, "s3cr3t-token-value-2") << "the line after --access-log is a flag";
  EXPECT_EQ(config->access_log_path, "off");
  EXPECT_FALSE(CheckConfigRequested());
}

TEST(FlagReloadTest, ProblemsOfFlagsAReloadDoesNotApplyWaitForTheRestart) {
  EXPECT_TRUE(ProblemWaitsForRestart("--backend: cannot resolve 'x' in 'x:80': Name unknown"));
  EXPECT_TRUE(ProblemWaitsForRestart("--idle-timeout must be positive, got -1s"));
  EXPECT_TRUE(ProblemWaitsForRestart("--max-request-head must be at least 1024, ..."));
  EXPECT_FALSE(ProblemWaitsForRestart("--cert and --key are required (PEM files)"));
  EXPECT_FALSE(ProblemWaitsForRestart("--tls-groups: 'x' is not a group"));
  EXPECT_FALSE(ProblemWaitsForRestart("/etc/ringgate/ringgate.flags:3: unknown flag --colour"));
  EXPECT_FALSE(ProblemWaitsForRestart("private key 'k.pem' does not match certificate 'c.pem'"));
}

TEST(FlagReloadTest, OnlyTheTlsFlagsTakeEffectOnReload) {
  for (const char* name : {"cert", "key", "ticket_key_file", "tls_groups"}) {
    EXPECT_TRUE(FlagTakesEffectOnReload(name)) << name;
  }
  for (const char* name : {"listen", "backend", "threads", "idle_timeout", "admin_token"}) {
    EXPECT_FALSE(FlagTakesEffectOnReload(name)) << name;
  }
  const std::map<std::string, std::string> values = FlagValues();
  EXPECT_EQ(values.count("check_config"), 0u) << "not configuration";
  EXPECT_EQ(values.count("flagfile"), 0u) << "abseil's";
  ASSERT_EQ(values.count("idle_timeout"), 1u);
  EXPECT_EQ(values.at("idle_timeout"), "1m");
}

}  // namespace
}  // namespace ringgate
