// Several certificates chosen by SNI (--cert and --key as comma lists): each name gets the
// certificate whose subjectAltName lists it (exact, or a one-label wildcard), every other name
// and a client without SNI the first; tickets resume on every certificate; SIGHUP swaps the
// whole set while handshakes run, and a set with one bad file is refused whole.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "harness.h"

namespace ringgate::testing {
namespace {

// The names each certificate serves (its subjectAltName); the first is the default.
struct TestCertificate {
  std::string label;  // its subject's CN is "<label>-<generation>"
  std::string san;
};
const std::vector<TestCertificate> kCertificates = {
    {"a", "DNS:a.test"}, {"b", "DNS:b.test"}, {"wild", "DNS:*.wild.test"}};

class SniTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(backend_.Start());
    char tmpl[] = "/tmp/ringgate-sni-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    MakeCertificates("1");
  }
  void TearDown() override { RunCommand("rm -rf " + dir_); }

  std::string Cert(const TestCertificate& c) const { return dir_ + "/" + c.label + ".pem"; }
  std::string Key(const TestCertificate& c) const { return dir_ + "/" + c.label + ".key"; }

  // Writes every certificate and key, each subject's CN ending in `generation`, beside the files
  // in use; Install() moves them in (at once, so a reload can be timed to the millisecond).
  void StageCertificates(const std::string& generation) {
    std::string commands;
    for (const TestCertificate& c : kCertificates) {
      commands +=
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
          "-subj /CN=" +
          c.label + "-" + generation + " -addext subjectAltName=" + c.san + " -keyout " + Key(c) +
          ".new -out " + Cert(c) + ".new 2>/dev/null && chmod 600 " + Key(c) + ".new && ";
    }
    ASSERT_EQ(RunCommand(commands + "true").exit_code, 0);
  }
  void Install() {
    std::string commands;
    for (const TestCertificate& c : kCertificates) {
      commands +=
          "mv " + Key(c) + ".new " + Key(c) + " && mv " + Cert(c) + ".new " + Cert(c) + " && ";
    }
    ASSERT_EQ(RunCommand(commands + "true").exit_code, 0);
  }
  void MakeCertificates(const std::string& generation) {
    StageCertificates(generation);
    Install();
  }

  std::vector<std::string> Flags() const {
    std::string certs, keys;
    for (const TestCertificate& c : kCertificates) {
      if (!certs.empty()) {
        certs += ',';
        keys += ',';
      }
      certs += Cert(c);
      keys += Key(c);
    }
    return {"--cert=" + certs, "--key=" + keys};
  }

  // The subject and subjectAltName of the certificate served for `name` ("" for no SNI).
  static std::string Served(const ProxyUnderTest& proxy, const std::string& name) {
    return RunCommand("echo | timeout 5 openssl s_client -connect 127.0.0.1:" +
                      std::to_string(proxy.port()) +
                      (name.empty() ? " -noservername" : " -servername " + name) +
                      " 2>/dev/null | openssl x509 -noout -subject -ext subjectAltName "
                      "2>/dev/null")
        .output;
  }

  std::string SniClient(const ProxyUnderTest& proxy, const std::string& args) const {
    return "python3 " + SourceDir() + "/tests/integration/sni_client.py " + args + " --port " +
           std::to_string(proxy.port());
  }

  DemoBackend backend_;
  std::string dir_;
};

TEST_F(SniTest, EachNameGetsItsCertificateAndEveryOtherTheFirst) {
  ProxyUnderTest proxy(Flags(), backend_.port());
  ASSERT_TRUE(proxy.Start());
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"a.test", "CN = a-1"},         {"b.test", "CN = b-1"},       {"x.wild.test", "CN = wild-1"},
      {"Y.Wild.TEST", "CN = wild-1"}, {"unknown.test", "CN = a-1"}, {"", "CN = a-1"},
      {"a.b.wild.test", "CN = a-1"},  // a wildcard covers one label only
      {"wild.test", "CN = a-1"},
  };
  for (const auto& [name, subject] : expected) {
    const std::string served = Served(proxy, name);
    EXPECT_NE(served.find(subject), std::string::npos) << "'" << name << "' got:\n" << served;
  }
  EXPECT_NE(Served(proxy, "x.wild.test").find("DNS:*.wild.test"), std::string::npos);
  // The start-up log lists the set, and each close line names what the client asked for.
  EXPECT_NE(proxy.Log().find("names=*.wild.test"), std::string::npos) << proxy.Log();
  EXPECT_TRUE(WaitUntil([&] { return proxy.Log().find("sni=y.wild.test") != std::string::npos; },
                        std::chrono::seconds(3), "a closed line names the SNI, lower-cased"));
}

TEST_F(SniTest, TicketsResumeOnEveryCertificateWithOrWithoutAKeyFile) {
  const std::string ticket_keys = dir_ + "/tickets.key";
  ASSERT_EQ(
      RunCommand("openssl rand 48 > " + ticket_keys + " && chmod 600 " + ticket_keys).exit_code, 0);
  std::vector<std::string> with_file = Flags();
  with_file.push_back("--ticket-key-file=" + ticket_keys);
  ProxyUnderTest keyed(with_file, backend_.port());
  ProxyUnderTest unkeyed(Flags(), backend_.port());
  ASSERT_TRUE(keyed.Start());
  ASSERT_TRUE(unkeyed.Start());
  for (const ProxyUnderTest* proxy : {&keyed, &unkeyed}) {
    for (const char* name : {"a.test", "b.test", "x.wild.test"}) {
      EXPECT_EQ(RunCommand(SniClient(*proxy, std::string("resume --name ") + name)).output,
                "TLSv1.3 resumed=True\nTLSv1.2 resumed=True\n")
          << name << (proxy == &keyed ? " with" : " without") << " --ticket-key-file";
    }
  }
}

TEST_F(SniTest, SighupSwapsTheWholeSetWhileHandshakesRunAndABadFileKeepsIt) {
  ProxyUnderTest proxy(Flags(), backend_.port());
  ASSERT_TRUE(proxy.Start());
  StageCertificates("2");
  // At most 400 handshakes or 8 s (about 0.6 s here), cycling through the names; the reload
  // comes right after the first.
  FILE* loop = popen((SniClient(proxy,
                                "handshakes --name a.test --name b.test --name x.wild.test "
                                "--name - --count 400 --max 8") +
                      " 2>&1")
                         .c_str(),
                     "r");
  ASSERT_NE(loop, nullptr);
  char line[256] = {};
  ASSERT_NE(fgets(line, sizeof line, loop), nullptr);
  ASSERT_STREQ(line, "ready\n");
  Install();
  proxy.Signal(SIGHUP);
  std::string output;
  while (fgets(line, sizeof line, loop) != nullptr) output += line;
  EXPECT_EQ(pclose(loop), 0) << output;
  EXPECT_NE(output.find(" failed=0\n"), std::string::npos) << output;
  // Each name saw its old certificate and then its new one: the reload came mid-loop.
  for (const char* name : {"a.test", "b.test", "x.wild.test", "-"}) {
    EXPECT_NE(output.find(std::string(name) + " certificates=2\n"), std::string::npos)
        << name << "\n"
        << output;
  }
  EXPECT_NE(Served(proxy, "b.test").find("CN = b-2"), std::string::npos);
  EXPECT_NE(Served(proxy, "x.wild.test").find("CN = wild-2"), std::string::npos);

  // One bad file in the set: nothing is swapped, the log says which file and why.
  MakeCertificates("3");
  RunCommand("echo garbage > " + Cert(kCertificates[1]));
  proxy.Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return proxy.Log().find("reload failed") != std::string::npos; },
                        std::chrono::seconds(5), "the proxy has tried the set with a bad file"));
  const std::string log = proxy.Log();
  EXPECT_NE(log.find("certificate 2 of 3 ('" + Cert(kCertificates[1])), std::string::npos) << log;
  EXPECT_NE(log.find("is not a PEM certificate chain"), std::string::npos) << log;
  for (const auto& [name, subject] : std::vector<std::pair<std::string, std::string>>{
           {"a.test", "CN = a-2"}, {"b.test", "CN = b-2"}, {"x.wild.test", "CN = wild-2"}}) {
    const std::string served = Served(proxy, name);
    EXPECT_NE(served.find(subject), std::string::npos) << name << " got:\n" << served;
  }
}

TEST_F(SniTest, StartRefusesAMismatchedPairOrAnOpenKeyNamingThePair) {
  // b's key with a's certificate; wild's key readable by every user.
  std::vector<std::string> flags = {
      "--cert=" + Cert(kCertificates[0]) + "," + Cert(kCertificates[1]),
      "--key=" + Key(kCertificates[1]) + "," + Key(kCertificates[1])};
  auto start = [&](const std::vector<std::string>& args) {
    std::string command =
        BinaryPath() + " --listen=127.0.0.1:" + std::to_string(FreePort()) + " --admin-listen=off";
    for (const std::string& a : args) command += std::string(" '") + a + std::string("'");
    return RunCommand(command + " 2>&1; echo exit=$?").output;
  };
  const std::string mismatched = start(flags);
  EXPECT_NE(mismatched.find("certificate 1 of 2 ('" + Cert(kCertificates[0]) + "', key '" +
                            Key(kCertificates[1]) + "')"),
            std::string::npos)
      << mismatched;
  EXPECT_NE(mismatched.find("does not match"), std::string::npos) << mismatched;
  EXPECT_NE(mismatched.find("exit=1"), std::string::npos) << mismatched;

  chmod(Key(kCertificates[2]).c_str(), 0644);
  const std::string open_key = start(Flags());
  EXPECT_NE(open_key.find("certificate 3 of 3"), std::string::npos) << open_key;
  EXPECT_NE(open_key.find("every user"), std::string::npos) << open_key;
  EXPECT_NE(open_key.find("exit=1"), std::string::npos) << open_key;

  EXPECT_NE(start({"--cert=" + Cert(kCertificates[0]) + "," + Cert(kCertificates[1]),
                   "--key=" + Key(kCertificates[0])})
                .find("--cert lists 2 files and --key 1"),
            std::string::npos);
}

}  // namespace
}  // namespace ringgate::testing
