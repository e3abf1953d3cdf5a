#include "ringgate/log.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <sstream>

#include "spdlog/sinks/ostream_sink.h"

namespace ringgate {
namespace {

class LogLineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_st>(out_);
    logger_ = std::make_shared<spdlog::logger>("test", sink_);
    logger_->set_pattern("%v");
    logger_->set_level(spdlog::level::info);
  }
  void TearDown() override { SetLogFormat(LogFormat::kText); }

  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_st> sink_;
  std::shared_ptr<spdlog::logger> logger_;
};

constexpr uint64_t kConn = (3ull << 48) | 42;

TEST_F(LogLineTest, TextPutsTheConnectionFirstAndQuotesWhatNeedsIt) {
  SetLogFormat(LogFormat::kText);
  LogLine(spdlog::level::info, "closed", kConn, logger_.get())
      .With("cause", "clean")
      .With("requests", 3)
      .With("reason", "client closed")
      .With("ok", true)
      .WithMs("shutdown_ms", 1500000);
  EXPECT_EQ(out_.str(),
            "conn=3-42 closed cause=clean requests=3 reason=\"client closed\" ok=true "
            "shutdown_ms=1.500\n");
}

TEST_F(LogLineTest, JsonIsOneValidObjectBodyWithEscapes) {
  SetLogFormat(LogFormat::kJson);
  LogLine(spdlog::level::info, "bad request", kConn, logger_.get())
      .With("reason", "quote \" backslash \\ newline \n")
      .With("status", 400);
  EXPECT_EQ(out_.str(),
            "\"conn\":\"3-42\",\"event\":\"bad request\","
            "\"reason\":\"quote \\\" backslash \\\\ newline \\n\",\"status\":400\n");
}

TEST_F(LogLineTest, NothingIsFormattedBelowTheLevel) {
  LogLine(spdlog::level::debug, "noisy", kConn, logger_.get()).With("x", 1);
  EXPECT_EQ(out_.str(), "");
}

TEST_F(LogLineTest, BatchedLinesCarryTheirOwnTimestampsOnePerLine) {
  SetLogFormat(LogFormat::kText);
  fmt::memory_buffer batch;
  LogLine("request", kConn, &batch).With("status", 200).WithMs("total_ms", 1234567);
  LogLine("request", kConn, &batch).With("status", 404).WithMs("total_ms", -2000);
  std::string text = fmt::to_string(batch);
  ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << "lines are joined, not terminated";
  std::string first = text.substr(0, text.find('\n'));
  // 2026-11-21T06:25:42.087145Z conn=3-42 request status=200 total_ms=1.234
  ASSERT_GT(first.size(), 28u);
  EXPECT_EQ(first[10], 'T');
  EXPECT_EQ(first[26], 'Z');
  EXPECT_EQ(first.substr(27), " conn=3-42 request status=200 total_ms=1.234");
  EXPECT_EQ(text.substr(text.find('\n') + 1 + 28), "conn=3-42 request status=404 total_ms=-0.002");

  SetLogFormat(LogFormat::kJson);
  fmt::memory_buffer json;
  LogLine("request", kConn, &json).With("target", "/a\"b");
  std::string j = fmt::to_string(json);
  EXPECT_EQ(j.rfind("{\"ts\":\"", 0), 0u);
  EXPECT_EQ(j.substr(j.find("Z\",") + 3), "\"conn\":\"3-42\",\"event\":\"request\",\"target\":\"/a\\\"b\"}");
}

TEST(ConnectionIdTest, WorkerAndSequence) {
  EXPECT_EQ(FormatConnectionId((1ull << 48) | 7), "1-7");
  EXPECT_EQ(FormatConnectionId(5), "0-5");
}

}  // namespace
}  // namespace ringgate
