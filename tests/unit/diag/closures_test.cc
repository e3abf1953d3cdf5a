#include "ringgate/diag/closures.h"

#include <gtest/gtest.h>

#include <string>

namespace ringgate {
namespace {

ClosureRecord Record(uint64_t seq) {
  ClosureRecord r;
  r.id = seq;
  r.cause = TerminationCause::kClean;
  r.initiator = CloseInitiator::kClient;
  r.entered_ns[static_cast<int>(LifecycleState::kCreated)] = 1000000;
  r.entered_ns[static_cast<int>(LifecycleState::kCloseNotifySent)] = 3500000;
  r.entered_ns[static_cast<int>(LifecycleState::kTcpClosed)] = 4000000;
  return r;
}

TEST(ClosureRecorderTest, KeepsTheLastNOldestFirst) {
  ClosureRecorder recorder(3);
  for (uint64_t i = 1; i <= 5; ++i) recorder.Add(Record(i));
  fmt::memory_buffer out;
  recorder.AppendJson(out, 0);
  std::string json = fmt::to_string(out);
  EXPECT_EQ(recorder.size(), 3u);
  EXPECT_EQ(json.find("\"conn\":\"0-1\""), std::string::npos);
  EXPECT_EQ(json.find("\"conn\":\"0-2\""), std::string::npos);
  size_t c3 = json.find("\"conn\":\"0-3\"");
  size_t c4 = json.find("\"conn\":\"0-4\"");
  size_t c5 = json.find("\"conn\":\"0-5\"");
  ASSERT_NE(c3, std::string::npos);
  EXPECT_LT(c3, c4);
  EXPECT_LT(c4, c5);
}

TEST(ClosureRecorderTest, TimelineIsRelativeToCreationAndSkipsUnreachedStages) {
  fmt::memory_buffer out;
  AppendClosureJson(out, Record(9), 2);
  std::string json = fmt::to_string(out);
  EXPECT_NE(json.find("\"timeline_ms\":{\"created\":0.000,\"close_notify_sent\":2.500,"
                      "\"tcp_closed\":3.000}"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"worker\":2"), std::string::npos);
  EXPECT_NE(json.find("\"tcp_at_close\":null"), std::string::npos);
}

TEST(ClosureRecorderTest, ZeroCapacityRecordsNothing) {
  ClosureRecorder recorder(0);
  recorder.Add(Record(1));
  EXPECT_EQ(recorder.size(), 0u);
}

}  // namespace
}  // namespace ringgate
