// A lossy network: 5% of packets dropped at random (nftables; netem is not available on this
// kernel), inside a network namespace the test creates, so the machine's own loopback is never
// touched. The proxy, the backend and the clients all talk over that namespace's loopback.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "harness.h"

namespace ringgate::testing {
namespace {

// Runs the LossyLoopbackTest cases inside a private network namespace whose loopback drops 5% of
// incoming packets.
TEST(LossyNetworkTest, BurstsAndLargeTransfersLoseNothingWithFivePercentPacketLoss) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  CommandResult r = RunCommand(
      "unshare --net sh -c 'ip link set lo up && "
      "nft add table inet lossy && "
      "nft add chain inet lossy in \"{ type filter hook input priority 0; }\" && "
      "nft add rule inet lossy in iifname lo numgen random mod 100 \"<\" 5 counter drop && "
      "RINGGATE_LOSSY_NETNS=1 " +
      self +
      " --gtest_filter=LossyLoopbackTest.*; "
      "status=$?; nft list ruleset; exit $status' 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("[  PASSED  ] 1 test"), std::string::npos) << r.output;
  // The rule really dropped packets (its counter is listed after the run).
  const size_t counter = r.output.find("counter packets ");
  ASSERT_NE(counter, std::string::npos) << r.output;
  EXPECT_GT(std::atol(r.output.c_str() + counter + 16), 100) << r.output;
}

TEST(LossyLoopbackTest, InsideTheNamespace) {
  if (getenv("RINGGATE_LOSSY_NETNS") == nullptr) {
    GTEST_SKIP() << "runs inside LossyNetworkTest";
  }
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({"--close-notify-timeout=2s"}, backend.port());
  ASSERT_TRUE(proxy.Start());
  const std::string client = "python3 " + SourceDir() + "/tests/integration/tls_client.py ";
  const std::string port = std::to_string(proxy.port());

  // Burst-then-close: 30 connections x 10 pipelined requests, every one must reach the backend.
  // The clients end with a half-close (see tls_client.py burst --halfclose).
  CommandResult burst =
      RunCommand(client + "burst --port " + port + " --run lossy --reps 30 --halfclose");
  EXPECT_EQ(burst.exit_code, 0) << burst.output;
  const std::string count_url =
      "http://127.0.0.1:" + std::to_string(backend.port()) + "/requests?prefix=/burst/lossy/";
  std::string seen;
  WaitUntil(  // retransmissions delay the last ones
      [&] {
        seen = RunCommand("curl -s --max-time 10 " + count_url).output;
        return seen == "300";
      },
      std::chrono::seconds(15), "all 300 requests reached the backend");
  EXPECT_EQ(seen, "300");

  // 8 MiB each way, byte for byte.
  const int size = 8 << 20;
  const std::string expected_download = ExpectedPatternSha256Of(size);
  CommandResult download = RunCommand("curl -sk --max-time 60 " +
                                      proxy.Url("/bytes/" + std::to_string(size)) + " | sha256sum");
  EXPECT_EQ(download.output.substr(0, 64), expected_download);
  const std::string file = CertificateDir() + "/lossy-upload.bin";
  RunCommand("head -c " + std::to_string(size) + " /dev/urandom > " + file);
  const std::string expected_upload = RunCommand("sha256sum " + file).output.substr(0, 64);
  CommandResult upload =
      RunCommand("curl -sk --max-time 60 --data-binary @" + file + " " + proxy.Url("/sha256"));
  EXPECT_NE(upload.output.find(expected_upload), std::string::npos) << upload.output;
  EXPECT_NE(upload.output.find("\"bytes\": " + std::to_string(size)), std::string::npos);
  std::remove(file.c_str());
}

}  // namespace
}  // namespace ringgate::testing
