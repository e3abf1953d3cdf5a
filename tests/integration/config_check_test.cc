// The configuration file and its check: `--check-config` finds every problem start-up would
// (each bad input with its message, all of them in one run) without disturbing a running
// instance, and SIGHUP reads the flag file again, applying what a reload can and naming what
// waits for a restart.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "harness.h"

namespace ringgate::testing {
namespace {

class ConfigCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = CertificateDir() + "/config-check";
    RunCommand("mkdir -p " + dir_);
    MakeCertificate("first");
    MakeCertificate("second");
    ASSERT_TRUE(backend_.Start());
  }

  // <dir>/<name>.pem and <dir>/<name>.key (0600), subject CN=<name>.
  void MakeCertificate(const std::string& name) {
    RunCommand(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        "-subj /CN=" +
        name + " -keyout " + dir_ + "/" + name + ".key -out " + dir_ + "/" + name +
        ".pem 2>/dev/null && chmod 600 " + dir_ + "/" + name + ".key");
  }
  std::string Path(const std::string& file) const { return dir_ + "/" + file; }

  // Writes `lines` as a flag file (with a comment and a blank line, as an operator writes one).
  std::string WriteFlagFile(const std::string& name, const std::vector<std::string>& lines) {
    const std::string path = Path(name);
    std::ofstream out(path, std::ios::trunc);
    out << "# ringgate configuration for a test\n\n";
    for (const std::string& line : lines) out << line << "\n";
    return path;
  }

  // A configuration that passes: the first certificate, the demo backend by name.
  std::vector<std::string> ValidLines() const {
    return {"--listen=127.0.0.1:" + std::to_string(FreePort()),
            "--backend=localhost:" + std::to_string(backend_.port()),
            "--cert=" + Path("first.pem"),
            "--key=" + Path("first.key"),
            "--admin-listen=off",
            "--threads=1"};
  }

  struct Outcome {
    int exit_code;
    std::string stdout_text;
    std::string stderr_text;
  };
  Outcome Check(const std::string& flag_file) {
    const std::string err = Path("check.err");
    CommandResult r =
        RunCommand(BinaryPath() + " --check-config --flagfile=" + flag_file + " 2>" + err);
    std::ifstream in(err);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return {r.exit_code, r.output, text};
  }

  std::string dir_;
  DemoBackend backend_;
};

TEST_F(ConfigCheckTest, AValidFileIsAcceptedWithoutTouchingARunningInstance) {
  // The running instance holds the port and the admin port the file names: the check binds
  // neither, so it neither fails on them nor takes them away.
  ProxyUnderTest running({"--cert=" + Path("first.pem"), "--key=" + Path("first.key")},
                         backend_.port());
  ASSERT_TRUE(running.Start());
  std::vector<std::string> lines = ValidLines();
  lines[0] = "--listen=127.0.0.1:" + std::to_string(running.port());
  lines[4] = "--admin-listen=127.0.0.1:" + std::to_string(running.admin_port());
  const Outcome outcome = Check(WriteFlagFile("valid.flags", lines));
  EXPECT_EQ(outcome.exit_code, 0) << outcome.stderr_text;
  EXPECT_EQ(outcome.stderr_text, "");
  EXPECT_NE(outcome.stdout_text.find("the configuration is valid"), std::string::npos)
      << outcome.stdout_text;
  EXPECT_NE(outcome.stdout_text.find("1 certificate (each pair proven by a handshake)"),
            std::string::npos)
      << outcome.stdout_text;
  EXPECT_NE(
      outcome.stdout_text.find("localhost:" + std::to_string(backend_.port()) + " (127.0.0.1)"),
      std::string::npos)
      << "the backend's name resolved: " << outcome.stdout_text;
  CommandResult served = RunCommand("curl -sk -o /dev/null -w '%{http_code}' " + running.Url("/"));
  EXPECT_EQ(served.output, "200") << "the running instance still serves";
}

// Each bad input alone: exit 1, one problem, its message.
TEST_F(ConfigCheckTest, EachBadInputIsCaughtWithItsMessage) {
  RunCommand("cp " + Path("first.key") + " " + Path("open.key") + " && chmod 644 " +
             Path("open.key"));
  RunCommand("head -c 47 /dev/urandom > " + Path("short.tickets") + " && chmod 600 " +
             Path("short.tickets"));
  RunCommand("echo garbage > " + Path("garbage.pem"));
  struct Case {
    std::string flag;  // replaces the valid line of the same flag, or is added
    std::string message;
  };
  const std::vector<Case> cases = {
      {"--key=" + Path("second.key"),  // another certificate's key
       "private key '" + Path("second.key") + "' does not match certificate '" + Path("first.pem") +
           "'"},
      {"--key=" + Path("open.key"), "can be read or written by every user (mode 0644)"},
      {"--cert=" + Path("missing.pem"),
       "cannot read certificate file '" + Path("missing.pem") + "': No such file or directory"},
      {"--cert=" + Path("garbage.pem"), Path("garbage.pem")},
      {"--ticket-key-file=" + Path("short.tickets"), Path("short.tickets")},
      {"--ticket-key-file=" + Path("missing.tickets"),
       "cannot read ticket key file '" + Path("missing.tickets") + "'"},
      {"--backend=no-such-host.invalid:80", "--backend: cannot resolve 'no-such-host.invalid'"},
      {"--backend=127.0.0.1", "--backend: address '127.0.0.1' has no :port"},
      {"--listen=127.0.0.1:99999", "--listen: "},
      {"--idle-timeout=soon", "--idle-timeout: 'soon' is not a valid value"},
      {"--threads=-1", "--threads: -1 is out of range"},
      {"--colour=yes", "unknown flag --colour"},
      {"--access-log=" + Path("no-such-folder/access.log"), "--access-log: cannot create"},
      {"--user=no-such-user-here", "--user: no user named 'no-such-user-here'"},
      {"--flagfile=" + Path("missing.flags"),
       "--flagfile: cannot read '" + Path("missing.flags") + "': No such file or directory"},
      {"--flagfile=" + Path("one-problem.flags"), "' includes itself"},
      {"--check-config", "--check-config belongs on the command line"},
      // Read from the command line only: in the file, --version would end the unit's check
      // with exit 0 before anything was checked.
      {"--version", "unknown flag --version"},
      {"--help", "unknown flag --help"},
      {"--admin-token " + std::string(20, 's'), "write it as --admin-token=VALUE"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> lines = ValidLines();
    const size_t eq = c.flag.find('=');
    const std::string name = eq == std::string::npos ? "" : c.flag.substr(0, eq + 1);
    bool replaced = false;
    for (std::string& line : lines) {
      if (!name.empty() && line.rfind(name, 0) == 0) {
        line = c.flag;
        replaced = true;
      }
    }
    if (!replaced) lines.push_back(c.flag);
    const Outcome outcome = Check(WriteFlagFile("one-problem.flags", lines));
    EXPECT_EQ(outcome.exit_code, 1) << c.flag << ": " << outcome.stdout_text;
    EXPECT_NE(outcome.stderr_text.find("the configuration has 1 problem:\n"), std::string::npos)
        << c.flag << ": " << outcome.stderr_text;
    EXPECT_NE(outcome.stderr_text.find(c.message), std::string::npos)
        << c.flag << ": " << outcome.stderr_text;
    EXPECT_EQ(outcome.stdout_text, "") << c.flag;
    EXPECT_EQ(outcome.stderr_text.find(std::string(20, 's')), std::string::npos)
        << "a line that may be a secret is repeated: " << outcome.stderr_text;
  }
}

TEST_F(ConfigCheckTest, EveryProblemIsListedInOneRunNotJustTheFirst) {
  RunCommand("head -c 47 /dev/urandom > " + Path("short.tickets") + " && chmod 600 " +
             Path("short.tickets"));
  const std::string file =
      WriteFlagFile("many-problems.flags",
                    {"--listen=127.0.0.1", "--backend=127.0.0.1:1,,no-such-host.invalid:80",
                     "--cert=" + Path("first.pem") + "," + Path("missing.pem"),
                     "--key=" + Path("second.key") + "," + Path("second.key"),
                     "--ticket-key-file=" + Path("short.tickets"), "--idle-timeout=soon",
                     "--lb=fastest", "--colour=yes", "--admin-listen=off"});
  const Outcome outcome = Check(file);
  EXPECT_EQ(outcome.exit_code, 1);
  const std::vector<std::string> expected = {
      "the configuration has 9 problems:",
      "unknown flag --colour",
      "--idle-timeout: 'soon' is not a valid value",
      "--listen: address '127.0.0.1' has no :port",
      "--backend: an empty entry in the list",
      "--backend: cannot resolve 'no-such-host.invalid'",
      "--lb: 'fastest' is not one of p2c, round_robin, ip_hash",
      Path("short.tickets"),
      "certificate 1 of 2 ('" + Path("first.pem") + "', key '" + Path("second.key") +
          "'): private key '" + Path("second.key") + "' does not match",
      "certificate 2 of 2 ('" + Path("missing.pem") + "', key '" + Path("second.key") +
          "'): cannot read certificate file",
  };
  for (const std::string& line : expected) {
    EXPECT_NE(outcome.stderr_text.find(line), std::string::npos) << line << "\nin:\n"
                                                                 << outcome.stderr_text;
  }
  // Start-up refuses the same file, naming every problem of its flags before reading any file.
  CommandResult start =
      RunCommand(BinaryPath() + " --flagfile=" + file + " 2>&1 >/dev/null | grep -c ringgate:");
  EXPECT_EQ(start.output, "6\n") << "one line per flag problem";
}

// SIGHUP reads the flag file again: a new --cert/--key there is applied; a changed flag that a
// reload cannot apply is logged as waiting for the next start; a file with a problem keeps the
// whole running configuration.
TEST_F(ConfigCheckTest, SighupReadsTheFlagFileAgain) {
  const std::string file =
      WriteFlagFile("reload.flags", {"--cert=" + Path("first.pem"), "--key=" + Path("first.key")});
  ProxyUnderTest proxy({"--flagfile=" + file}, backend_.port());
  ASSERT_TRUE(proxy.Start());
  EXPECT_NE(ServedSubject(proxy.port()).find("CN = first"), std::string::npos);

  WriteFlagFile("reload.flags", {"--cert=" + Path("second.pem"), "--key=" + Path("second.key"),
                                 "--idle-timeout=5s", "--max-pipelined=4"});
  proxy.Signal(SIGHUP);
  std::string subject;
  WaitUntil(
      [&] {
        subject = ServedSubject(proxy.port());
        return subject.find("CN = second") != std::string::npos;
      },
      std::chrono::seconds(5), "the certificate named by the rewritten flag file is served");
  EXPECT_NE(subject.find("CN = second"), std::string::npos) << subject;
  EXPECT_NE(proxy.Log().find("reload: changed flags that take effect at the next start "
                             "flags=--idle-timeout,--max-pipelined"),
            std::string::npos)
      << proxy.Log();

  // A problem with the file itself (here an unknown flag beside a valid certificate change)
  // keeps everything as it runs, and the problem is logged with its file and line.
  WriteFlagFile("reload.flags",
                {"--cert=" + Path("first.pem"), "--key=" + Path("first.key"), "--colour=yes"});
  proxy.Signal(SIGHUP);
  WaitUntil([&] { return proxy.Log().find("reload failed") != std::string::npos; },
            std::chrono::seconds(5), "the proxy has read the broken flag file");
  EXPECT_NE(proxy.Log().find("reload failed: keeping the running configuration problem=\"" + file +
                             ":5: unknown flag --colour (see --help)\""),
            std::string::npos)
      << proxy.Log();
  EXPECT_NE(ServedSubject(proxy.port()).find("CN = second"), std::string::npos);

  // A problem with a flag only a restart applies (a backend name that does not resolve now)
  // does not hold the certificate back: it is applied, and the problem logged for the next
  // start.
  WriteFlagFile("reload.flags", {"--cert=" + Path("first.pem"), "--key=" + Path("first.key"),
                                 "--backend=no-such-host.invalid:80"});
  proxy.Signal(SIGHUP);
  WaitUntil([&] { return ServedSubject(proxy.port()).find("CN = first") != std::string::npos; },
            std::chrono::seconds(5), "the certificate is applied despite the backend's problem");
  EXPECT_NE(ServedSubject(proxy.port()).find("CN = first"), std::string::npos);
  EXPECT_NE(proxy.Log().find("reload: the next start would refuse this flag (runs as started) "
                             "problem=\"--backend: cannot resolve 'no-such-host.invalid'"),
            std::string::npos)
      << proxy.Log();
  CommandResult served = RunCommand("curl -sk -o /dev/null -w '%{http_code}' " + proxy.Url("/"));
  EXPECT_EQ(served.output, "200") << "the backend it started with still serves";

  proxy.Signal(SIGTERM);
  EXPECT_EQ(proxy.WaitExit(10000), 0);
}

// The unit runs the check before every start.
TEST(PackagingTest, TheUnitChecksTheConfigurationBeforeStarting) {
  const CommandResult unit = RunCommand("grep -E '^Exec(StartPre|Start)=' " + SourceDir() +
                                        "/packaging/ringgate.service.in");
  EXPECT_EQ(unit.output,
            "ExecStartPre=@BINDIR@/ringgate --check-config "
            "--flagfile=@SYSCONFDIR@/ringgate/ringgate.flags\n"
            "ExecStart=@BINDIR@/ringgate --flagfile=@SYSCONFDIR@/ringgate/ringgate.flags\n");
}

}  // namespace
}  // namespace ringgate::testing
