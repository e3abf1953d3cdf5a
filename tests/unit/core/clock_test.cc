#include "ringgate/core/clock.h"

#include <gtest/gtest.h>

namespace ringgate {
namespace {

TEST(ManualClockTest, StartsAboveZeroBecauseZeroMeansNever) {
  ManualClock clock;
  EXPECT_GT(clock.NowNs(), 0);
  EXPECT_EQ(ManualClock(5).NowNs(), 5);
}

TEST(ManualClockTest, MovesOnlyWhenAdvanced) {
  ManualClock clock(1'000);
  EXPECT_EQ(clock.NowNs(), 1'000);
  EXPECT_EQ(clock.NowNs(), 1'000);
  clock.Advance(absl::Milliseconds(5));
  EXPECT_EQ(clock.NowNs(), 1'000 + 5'000'000);
  clock.Advance(absl::Nanoseconds(1));
  EXPECT_EQ(clock.NowNs(), 5'001'001);
  clock.Advance(absl::ZeroDuration());
  EXPECT_EQ(clock.NowNs(), 5'001'001);
}

TEST(ManualClockTest, WorksThroughTheClockInterface) {
  ManualClock manual(10);
  const Clock& clock = manual;
  manual.Advance(absl::Seconds(2));
  EXPECT_EQ(clock.NowNs(), 2'000'000'010);
}

TEST(MonotonicClockTest, NeverGoesBackwards) {
  MonotonicClock clock;
  int64_t last = clock.NowNs();
  EXPECT_GT(last, 0);
  for (int i = 0; i < 1000; ++i) {
    const int64_t now = clock.NowNs();
    EXPECT_GE(now, last);
    last = now;
  }
}

}  // namespace
}  // namespace ringgate
