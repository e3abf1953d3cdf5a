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

// Min-wait batching: each wait may gather completions for up to --batch-wait. Keep-alive
// requests, a large download and the close_notify deadline must behave as on the default ring;
// a single request's answer waits at most a few batch waits longer.
TEST(ProxyTuningTest, BatchWaitServesAndKeepsEveryDeadline) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({"--threads=1", "--batch-wait=2ms", "--close-notify-timeout=1s"},
                       backend.port());
  ASSERT_TRUE(proxy.Start());
  // Ten requests on one connection, one at a time: each step of each one (recv, backend
  // connect or reuse, send, backend recv, client send) may wait out a batch, never a timer's
  // worth. 2 ms a wait and a handful of waits a request: well under a second for all ten.
  std::string urls;
  for (int i = 0; i < 10; ++i) urls += " " + proxy.Url("/");
  const auto start = std::chrono::steady_clock::now();
  CommandResult keep_alive = RunCommand("curl -sk --max-time 20" + urls);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(CountOccurrences(keep_alive.output, "hello from the ringgate demo backend"), 10)
      << keep_alive.output;
  EXPECT_LT(took, std::chrono::seconds(2));
  const int size = 4 << 20;
  CommandResult download = RunCommand("curl -sk --max-time 60 " +
                                      proxy.Url("/bytes/" + std::to_string(size)) + " | sha256sum");
  EXPECT_EQ(download.output.substr(0, 64), ExpectedPatternSha256Of(size));

  // Five clients that never answer close_notify (their requests said Connection: close): the
  // close_notify deadline (1 s) must end each close although nothing else completes meanwhile.
  const int timeouts_before = CountOccurrences(proxy.Log(), "cause=timeout");
  BackgroundClient silent;
  ASSERT_EQ(silent.Start(proxy.port(), "silent", {"--count", "5", "--hold", "6"}), "ready\n");
  WaitUntil(
      [&] {
        return proxy.OpenClientSockets() == 0 &&
               CountOccurrences(proxy.Log(), "cause=timeout") - timeouts_before >= 5;
      },
      std::chrono::milliseconds(2500), "the close_notify deadline has closed and logged all 5");
  EXPECT_EQ(proxy.OpenClientSockets(), 0);
  EXPECT_EQ(CountOccurrences(proxy.Log(), "cause=timeout") - timeouts_before, 5);
  EXPECT_EQ(proxy.LiveConnectionsWithin(5000), "[]\n");
}

}  // namespace
}  // namespace ringgate::testing
