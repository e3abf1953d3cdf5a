#include "ringgate/core/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
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
  EXPECT_EQ(j.substr(j.find("Z\",") + 3),
            "\"conn\":\"3-42\",\"event\":\"request\",\"target\":\"/a\\\"b\"}");
}

// A request target is whatever bytes the client sent. Bytes from 0x7f up are written as
// \u00XX (the byte's value), so every JSON line is ASCII, hence valid UTF-8, and parses; the
// original bytes come back by reading each code point as one byte.
TEST_F(LogLineTest, JsonEscapesNonAsciiBytesSoTheLineIsValidUtf8) {
  SetLogFormat(LogFormat::kJson);
  const std::string target = std::string("/a\xff") + "\xc3\x28" + "\x01\x1f\x7f" + "\xc3\xa9";
  LogLine(spdlog::level::info, "bad request", kConn, logger_.get()).With("target", target);
  std::string line = out_.str();
  ASSERT_FALSE(line.empty());
  line.pop_back();  // the sink's newline
  EXPECT_EQ(line,
            "\"conn\":\"3-42\",\"event\":\"bad request\","
            "\"target\":\"/a\\u00ff\\u00c3(\\u0001\\u001f\\u007f\\u00c3\\u00a9\"");
  for (unsigned char c : line) ASSERT_LT(c, 0x7f) << "every byte is printable ASCII";

  // An independent parser: python3's json, reading the file as strict UTF-8.
  char path[] = "/tmp/ringgate-log-test-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string object = "{" + line + "}\n";
  ASSERT_EQ(write(fd, object.data(), object.size()), static_cast<ssize_t>(object.size()));
  close(fd);
  const std::string command =
      std::string(
          "python3 -c 'import json,sys; "
          "d=json.loads(open(sys.argv[1],\"rb\").read().decode(\"utf-8\",\"strict\")); "
          "print(d[\"target\"].encode(\"latin-1\").hex())' ") +
      path;
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char hex[256] = {};
  const size_t n = fread(hex, 1, sizeof hex - 1, pipe);
  const int status = pclose(pipe);
  unlink(path);
  EXPECT_EQ(status, 0) << "python3 could not parse: " << object;
  std::string expected_hex;
  for (unsigned char c : target) expected_hex += fmt::format("{:02x}", c);
  EXPECT_EQ(std::string(hex, n), expected_hex + "\n") << "the client's bytes, recoverable";

  // The access log's batched lines go through the same escaping.
  fmt::memory_buffer batch;
  LogLine("request", kConn, &batch).With("target", target);
  const std::string batched = fmt::to_string(batch);
  for (unsigned char c : batched) ASSERT_LT(c, 0x7f) << batched;
  EXPECT_NE(batched.find("\\u00ff\\u00c3("), std::string::npos) << batched;
}

TEST(ConnectionIdTest, WorkerAndSequence) {
  EXPECT_EQ(FormatConnectionId((1ull << 48) | 7), "1-7");
  EXPECT_EQ(FormatConnectionId(5), "0-5");
}

}  // namespace
}  // namespace ringgate
