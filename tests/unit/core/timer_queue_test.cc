#include "ringgate/core/timer_queue.h"

#include <gtest/gtest.h>

#include <vector>

namespace ringgate {
namespace {

std::vector<uint32_t> FireSlots(TimerQueue& timers, int64_t now_ns) {
  std::vector<uint32_t> fired;
  timers.FireExpired(now_ns, [&](const TimerQueue::Entry& e) { fired.push_back(e.slot); });
  return fired;
}

TEST(TimerQueueTest, EmptyQueueHasNoDeadline) {
  TimerQueue timers;
  EXPECT_TRUE(timers.empty());
  EXPECT_EQ(timers.NextDeadlineNs(), -1);
  EXPECT_TRUE(FireSlots(timers, 1'000'000'000).empty());
}

TEST(TimerQueueTest, FiresOnlyWhatIsDueEarliestFirst) {
  TimerQueue timers;
  timers.Arm(300, /*slot=*/3, 1);
  timers.Arm(100, /*slot=*/1, 1);
  timers.Arm(200, /*slot=*/2, 1);
  EXPECT_EQ(timers.NextDeadlineNs(), 100);
  EXPECT_TRUE(FireSlots(timers, 99).empty());
  EXPECT_EQ(FireSlots(timers, 200), (std::vector<uint32_t>{1, 2}))
      << "a deadline equal to now is due";
  EXPECT_EQ(timers.size(), 1u);
  EXPECT_EQ(timers.NextDeadlineNs(), 300);
  EXPECT_EQ(FireSlots(timers, 1000), (std::vector<uint32_t>{3}));
  EXPECT_TRUE(timers.empty());
}

TEST(TimerQueueTest, EntriesCarryTheirSlotGenerationAndDeadline) {
  TimerQueue timers;
  timers.Arm(50, 7, 0xabcdef);
  std::vector<TimerQueue::Entry> fired;
  timers.FireExpired(50, [&](const TimerQueue::Entry& e) { fired.push_back(e); });
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].deadline_ns, 50);
  EXPECT_EQ(fired[0].slot, 7u);
  EXPECT_EQ(fired[0].generation, 0xabcdefu);
}

TEST(TimerQueueTest, ReArmingKeepsTheOldEntryForTheOwnerToIgnore) {
  // Re-arming never removes: the connection compares the entry's deadline with its own.
  TimerQueue timers;
  timers.Arm(100, 1, 1);
  timers.Arm(500, 1, 1);
  EXPECT_EQ(timers.size(), 2u);
  EXPECT_EQ(FireSlots(timers, 100), (std::vector<uint32_t>{1}));
  EXPECT_EQ(timers.NextDeadlineNs(), 500);
}

TEST(TimerQueueTest, AnEntryArmedWhileFiringThatIsAlreadyDueFiresInTheSameCall) {
  TimerQueue timers;
  timers.Arm(10, 1, 1);
  std::vector<uint32_t> fired;
  timers.FireExpired(100, [&](const TimerQueue::Entry& e) {
    fired.push_back(e.slot);
    if (e.slot == 1) {
      timers.Arm(90, 2, 1);   // due: fires now
      timers.Arm(101, 3, 1);  // not yet
    }
  });
  EXPECT_EQ(fired, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(timers.NextDeadlineNs(), 101);
}

TEST(TimerQueueTest, EqualDeadlinesAllFire) {
  TimerQueue timers;
  for (uint32_t slot = 0; slot < 5; ++slot) timers.Arm(42, slot, 1);
  EXPECT_EQ(FireSlots(timers, 42).size(), 5u);
}

}  // namespace
}  // namespace ringgate
