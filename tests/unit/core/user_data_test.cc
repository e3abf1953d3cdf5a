#include "ringgate/core/user_data.h"

#include <gtest/gtest.h>

namespace ringgate {
namespace {

TEST(UserDataTest, RoundTripsEveryOpAcrossGenerationAndSlotExtremes) {
  for (int op = 0; op <= static_cast<int>(Op::kAcceptRetry); ++op) {
    for (uint32_t generation : {0u, 1u, 0x7fffffu, 0xffffffu}) {
      for (uint32_t slot : {0u, 1u, 0x12345678u, 0xffffffffu}) {
        OpTag in{static_cast<Op>(op), generation, slot};
        OpTag out = DecodeTag(EncodeTag(in));
        EXPECT_EQ(out.op, in.op);
        EXPECT_EQ(out.generation, generation);
        EXPECT_EQ(out.slot, slot);
      }
    }
  }
}

TEST(UserDataTest, GenerationWrapsWithoutCorruptingTheOp) {
  OpTag out = DecodeTag(EncodeTag({Op::kClientRecv, 0x1000005u, 9}));
  EXPECT_EQ(out.op, Op::kClientRecv);
  EXPECT_EQ(out.generation, 5u);
  EXPECT_EQ(out.slot, 9u);
}

TEST(UserDataTest, DifferentGenerationsOfOneSlotNeverCollide) {
  EXPECT_NE(EncodeTag({Op::kClientRecv, 1, 3}), EncodeTag({Op::kClientRecv, 2, 3}));
  EXPECT_NE(EncodeTag({Op::kClientRecv, 1, 3}), EncodeTag({Op::kClientSend, 1, 3}));
}

}  // namespace
}  // namespace ringgate
