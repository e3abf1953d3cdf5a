// The per-core tuning flags that change how a worker talks to the kernel: each must leave the
// proxy's behaviour exactly as it is without them.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "harness.h"

namespace ringgate::testing {
namespace {

// Zero-copy sends keep their buffer untouched until the kernel's notification: four parallel
// 8 MiB downloads must arrive intact, and every connection must be released (a send counted
// in flight until its notification must still come back to zero).
TEST(ProxyTuningTest, ZeroCopySendsDeliverLargeResponsesIntact) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({"--threads=1", "--send-zc-threshold=16384"}, backend.port());
  ASSERT_TRUE(proxy.Start());
  const int size = 8 << 20;
  const std::string url = proxy.Url("/bytes/" + std::to_string(size));
  CommandResult r = RunCommand("for i in 1 2 3 4; do (curl -sk --max-time 60 " + url +
                               " | sha256sum | cut -c1-64) & done; wait");
  EXPECT_EQ(CountOccurrences(r.output, ExpectedPatternSha256Of(size)), 4) << r.output;
  const double zero_copy = proxy.Metric("ringgate_send_zc_total");
  EXPECT_GT(zero_copy, 0) << "no send went out as zero-copy: the test did not test it";
  // Over loopback the kernel copies every zero-copy send (the receiver would otherwise see the
  // sender's pages), and the notification says so: docs/tuning.md rests on this.
  EXPECT_EQ(proxy.Metric("ringgate_send_zc_copied_total"), zero_copy);
  EXPECT_EQ(proxy.LiveConnectionsWithin(5000), "[]\n");
}

// A kernel thread polls the submission queue, and the ring has no DEFER_TASKRUN (the two do
// not combine): requests, large responses and the close_notify deadline must all work as on
// the default ring.
TEST(ProxyTuningTest, SqpollRingServesAndKeepsTheCloseNotifyDeadline) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({"--threads=1", "--sqpoll", "--sqpoll-idle=10ms",
                        "--close-notify-timeout=1s", "--log-level=debug"},
                       backend.port());
  ASSERT_TRUE(proxy.Start());
  CommandResult keep_alive = RunCommand("curl -sk --max-time 20 " + proxy.Url("/") + " " +
                                        proxy.Url("/") + " " + proxy.Url("/"));
  EXPECT_EQ(CountOccurrences(keep_alive.output, "hello from the ringgate demo backend"), 3)
      << keep_alive.output;
  const int size = 4 << 20;
  CommandResult download = RunCommand("curl -sk --max-time 60 " +
                                      proxy.Url("/bytes/" + std::to_string(size)) + " | sha256sum");
  EXPECT_EQ(download.output.substr(0, 64), ExpectedPatternSha256Of(size));

  const int timeouts_before = CountOccurrences(proxy.Log(), "cause=timeout");
  BackgroundClient silent;  // ended when the test is, not after the rest of its hold
  ASSERT_EQ(silent.Start(proxy.port(), "silent", {"--count", "5", "--hold", "4"}), "ready\n");
  EXPECT_EQ(proxy.OpenClientSockets(), 5);
  // The clients hold on for 4 s; the 1 s deadline (plus the worker's back-up timer on a ring
  // without DEFER_TASKRUN) must have closed ours well before: within 2.5 s, and logged.
  WaitUntil(
      [&] {
        return proxy.OpenClientSockets() == 0 &&
               CountOccurrences(proxy.Log(), "cause=timeout") - timeouts_before >= 5;
      },
      std::chrono::milliseconds(2500), "the close_notify deadline has closed and logged all 5");
  EXPECT_EQ(proxy.OpenClientSockets(), 0) << "descriptors left behind after the deadline";
  EXPECT_EQ(CountOccurrences(proxy.Log(), "cause=timeout") - timeouts_before, 5);
  EXPECT_EQ(proxy.LiveConnectionsWithin(5000), "[]\n");
}

}  // namespace
}  // namespace ringgate::testing
