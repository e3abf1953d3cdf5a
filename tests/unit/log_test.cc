#include "ringgate/log.h"

#include <gtest/gtest.h>

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

TEST(ConnectionIdTest, WorkerAndSequence) {
  EXPECT_EQ(FormatConnectionId((1ull << 48) | 7), "1-7");
  EXPECT_EQ(FormatConnectionId(5), "0-5");
}

}  // namespace
}  // namespace ringgate
