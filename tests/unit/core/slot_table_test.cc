#include "ringgate/core/slot_table.h"

#include <gtest/gtest.h>

#include <memory>

namespace ringgate {
namespace {

struct Thing {
  explicit Thing(uint32_t s) : slot(s) {}
  uint32_t slot;
  int uses = 0;
};

class SlotTableTest : public ::testing::Test {
 protected:
  Thing& Acquire() {
    return table_.Acquire([&](uint32_t slot) {
      ++made_;
      return std::make_unique<Thing>(slot);
    });
  }
  SlotTable<Thing> table_;
  int made_ = 0;
};

TEST_F(SlotTableTest, HandsOutConsecutiveSlotsWhileNoneIsFree) {
  EXPECT_EQ(Acquire().slot, 0u);
  EXPECT_EQ(Acquire().slot, 1u);
  EXPECT_EQ(Acquire().slot, 2u);
  EXPECT_EQ(table_.capacity(), 3u);
  EXPECT_EQ(table_.in_use(), 3u);
  EXPECT_EQ(made_, 3);
}

TEST_F(SlotTableTest, AFreedSlotIsReusedBeforeTheTableGrowsAndTheObjectKept) {
  Acquire();
  Thing& second = Acquire();
  second.uses = 7;
  Acquire();
  table_.Release(1);
  EXPECT_EQ(table_.in_use(), 2u);
  Thing& again = Acquire();
  EXPECT_EQ(&again, &second) << "objects never move: the slot's object is handed out again";
  EXPECT_EQ(again.uses, 7) << "the table does not reset it; the object decides";
  EXPECT_EQ(made_, 3);
  EXPECT_EQ(table_.capacity(), 3u);
}

TEST_F(SlotTableTest, MostRecentlyFreedSlotComesBackFirst) {
  for (int i = 0; i < 4; ++i) Acquire();
  table_.Release(0);
  table_.Release(2);
  EXPECT_EQ(Acquire().slot, 2u);
  EXPECT_EQ(Acquire().slot, 0u);
  EXPECT_EQ(Acquire().slot, 4u);
}

TEST_F(SlotTableTest, AtReturnsNullPastTheEndAndTheObjectOtherwise) {
  Thing& t = Acquire();
  EXPECT_EQ(table_.At(0), &t);
  EXPECT_EQ(table_.At(1), nullptr);
  table_.Release(0);
  EXPECT_EQ(table_.At(0), &t) << "in use or not";
}

TEST_F(SlotTableTest, ForEachVisitsEveryObjectAndClearEmpties) {
  for (int i = 0; i < 3; ++i) Acquire();
  table_.Release(1);
  int visited = 0;
  table_.ForEach([&](Thing&) { ++visited; });
  EXPECT_EQ(visited, 3) << "free slots too: the object knows whether it is in use";
  table_.Clear();
  EXPECT_EQ(table_.capacity(), 0u);
  EXPECT_EQ(table_.in_use(), 0u);
  EXPECT_EQ(Acquire().slot, 0u);
}

}  // namespace
}  // namespace ringgate
