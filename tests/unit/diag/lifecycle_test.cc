#include "ringgate/diag/lifecycle.h"

#include <gtest/gtest.h>

#include <set>
#include <string_view>

namespace ringgate {
namespace {

TEST(LifecycleTest, ServerInitiatedCleanClosePath) {
  Lifecycle life(100);
  life.Enter(LifecycleState::kHandshake, 110);
  life.Enter(LifecycleState::kDataTransfer, 120);
  life.Enter(LifecycleState::kShutdownInitiated, 130);
  life.Enter(LifecycleState::kBufferFlushed, 140);
  life.Enter(LifecycleState::kCloseNotifySent, 150);
  life.Enter(LifecycleState::kPeerClosed, 160);
  life.End(TerminationCause::kClean, 170);
  EXPECT_EQ(life.state(), LifecycleState::kTcpClosed);
  EXPECT_EQ(life.cause(), TerminationCause::kClean);
  EXPECT_EQ(life.Path(),
            "created>handshake>data_transfer>shutdown_initiated>buffer_flushed>close_notify_sent>"
            "peer_closed>tcp_closed");
  EXPECT_EQ(life.entered_ns(LifecycleState::kCloseNotifySent), 150);
  EXPECT_FALSE(life.reached(LifecycleState::kTimedOut));
}

TEST(LifecycleTest, ClientClosingFirstKeepsItsEarlierTimestamp) {
  Lifecycle life(100);
  life.Enter(LifecycleState::kDataTransfer, 120);
  life.Enter(LifecycleState::kPeerClosed, 125);  // the client's close_notify came first
  life.Enter(LifecycleState::kShutdownInitiated, 130);
  life.Enter(LifecycleState::kCloseNotifySent, 140);
  EXPECT_EQ(life.state(), LifecycleState::kPeerClosed);
  EXPECT_EQ(life.entered_ns(LifecycleState::kPeerClosed), 125);
  EXPECT_EQ(life.entered_ns(LifecycleState::kShutdownInitiated), 130);
}

TEST(LifecycleTest, FirstTimestampAndFirstCauseWin) {
  Lifecycle life(100);
  life.Enter(LifecycleState::kHandshake, 110);
  life.Enter(LifecycleState::kHandshake, 999);
  life.End(TerminationCause::kTimeout, 200);
  life.End(TerminationCause::kClean, 300);
  EXPECT_EQ(life.entered_ns(LifecycleState::kHandshake), 110);
  EXPECT_EQ(life.cause(), TerminationCause::kTimeout);
  EXPECT_EQ(life.entered_ns(LifecycleState::kTcpClosed), 200);
}

TEST(LifecycleTest, NamesAreStableForLogsAndMetrics) {
  EXPECT_EQ(TerminationCauseName(TerminationCause::kPeerFin), "peer_fin");
  EXPECT_EQ(TerminationCauseName(TerminationCause::kReset), "reset");
  EXPECT_EQ(LifecycleStateName(LifecycleState::kCloseNotifySent), "close_notify_sent");
  EXPECT_EQ(CloseInitiatorName(CloseInitiator::kServerTimeout), "server_timeout");
}

// The names and counts come from the X-macro lists: every value has a distinct name, and the
// count is the number of values.
TEST(LifecycleTest, EveryValueHasItsOwnName) {
  EXPECT_EQ(kLifecycleStateCount, 9);
  EXPECT_EQ(kTerminationCauseCount, 6);
  EXPECT_EQ(kCloseInitiatorCount, 7);
  std::set<std::string_view> states;
  for (int i = 0; i < kLifecycleStateCount; ++i) {
    states.insert(LifecycleStateName(static_cast<LifecycleState>(i)));
  }
  EXPECT_EQ(states.size(), static_cast<size_t>(kLifecycleStateCount));
  std::set<std::string_view> causes;
  for (int i = 0; i < kTerminationCauseCount; ++i) {
    causes.insert(TerminationCauseName(static_cast<TerminationCause>(i)));
  }
  EXPECT_EQ(causes,
            (std::set<std::string_view>{"none", "clean", "peer_fin", "timeout", "reset", "error"}));
  std::set<std::string_view> initiators;
  for (int i = 0; i < kCloseInitiatorCount; ++i) {
    initiators.insert(CloseInitiatorName(static_cast<CloseInitiator>(i)));
  }
  EXPECT_EQ(initiators,
            (std::set<std::string_view>{"none", "client", "server_timeout", "server_error",
                                        "server_policy", "drain", "backend"}));
  EXPECT_EQ(LifecycleStateName(static_cast<LifecycleState>(kLifecycleStateCount)), "unknown");
  EXPECT_EQ(TerminationCauseName(static_cast<TerminationCause>(200)), "unknown");
  static_assert(LifecycleStateName(LifecycleState::kCreated) == "created");
  static_assert(LifecycleStateName(LifecycleState::kTcpClosed) == "tcp_closed");
}

}  // namespace
}  // namespace ringgate
