// OpsInFlight and the FakeRing that unit tests drive connections with.
#include "ringgate/core/ring.h"

#include <gtest/gtest.h>
#include <liburing.h>

#include <chrono>

#include "ringgate/core/user_data.h"
#include "unit/support/fake_ring.h"

namespace ringgate {
namespace {

TEST(OpsInFlightTest, CountsStartsAndFinishes) {
  OpsInFlight ops;
  EXPECT_TRUE(ops.none());
  ops.Started();
  ops.Started(5);  // a chain
  EXPECT_EQ(ops.count(), 6);
  for (int i = 0; i < 6; ++i) {
    EXPECT_FALSE(ops.none());
    ops.Finished();
  }
  EXPECT_TRUE(ops.none());
  ops.Started(2);
  ops.Reset();
  EXPECT_EQ(ops.count(), 0);
}

TEST(OpsInFlightDeathTest, ACompletionThatWasNeverCountedAborts) {
  OpsInFlight ops;
  EXPECT_DEATH(ops.Finished(), "not in flight");
  ops.Started();
  ops.Finished();
  EXPECT_DEATH(ops.Finished(), "not in flight");
}

TEST(FakeRingTest, KeepsEntriesInOrderAndHandsThemOverOnce) {
  FakeRing ring;
  ring.Reserve(2);
  io_uring_sqe* a = ring.Sqe();
  io_uring_sqe* b = ring.Sqe();
  io_uring_prep_nop(a);
  io_uring_sqe_set_data64(a, EncodeTag({Op::kShutdownHalfClose, 3, 4}));
  io_uring_prep_close(b, 9);
  io_uring_sqe_set_data64(b, EncodeTag({Op::kShutdownClose, 3, 4}));
  EXPECT_EQ(ring.pending(), 2u);
  std::vector<io_uring_sqe> taken = ring.Take();
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(FakeRing::OpOf(taken[0]), Op::kShutdownHalfClose);
  EXPECT_EQ(FakeRing::OpOf(taken[1]), Op::kShutdownClose);
  EXPECT_EQ(taken[1].fd, 9);
  EXPECT_EQ(ring.pending(), 0u);
  EXPECT_TRUE(ring.Take().empty());
  EXPECT_EQ(ring.reservations(), std::vector<unsigned>{2});
}

TEST(FakeRingTest, EntriesAreZeroedAndStayPutAsTheQueueGrows) {
  FakeRing ring;
  io_uring_sqe* first = ring.Sqe();
  EXPECT_EQ(first->user_data, 0u);
  EXPECT_EQ(first->flags, 0);
  first->user_data = 77;
  for (int i = 0; i < 1000; ++i) ring.Sqe();
  EXPECT_EQ(first->user_data, 77u) << "a pointer handed out stays valid";
  EXPECT_EQ(ring.Take().front().user_data, 77u);
}

// --batch-wait gathers only for a busy worker: a wait after a light wake-up returns with the
// first completion, a busy one waits out the batch wait for more (min-wait, Linux 6.12).
TEST(UringRingTest, BatchWaitGathersOnlyWhenBusy) {
  UringRing ring;
  UringRing::Options options;
  options.entries = 8;
  options.batch_wait_us = 300'000;  // far above any scheduling delay
  ASSERT_TRUE(ring.Init(options).ok());
  if (!(ring.raw()->features & IORING_FEAT_MIN_TIMEOUT)) GTEST_SKIP() << "no min-wait (6.12)";
  auto time_one_nop = [&](bool busy) {
    io_uring_prep_nop(ring.Sqe());
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(ring.SubmitAndWait(/*timeout_ns=*/2'000'000'000, busy), 0);
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(ring.DrainCompletions([](const io_uring_cqe&) {}), 1u);
    return waited;
  };
  EXPECT_LT(time_one_nop(/*busy=*/false), std::chrono::milliseconds(150));
  EXPECT_GE(time_one_nop(/*busy=*/true), std::chrono::milliseconds(250));
}

}  // namespace
}  // namespace ringgate
