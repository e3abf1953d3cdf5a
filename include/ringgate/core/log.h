// log.h
// Structured log lines: an event name, the connection it is about, and fields. Rendered as
//   conn=1-7 closed cause=clean requests=3
// or, with --log-format=json, as one JSON object per line:
//   {"ts":"...","level":"info","conn":"1-7","event":"closed","cause":"clean","requests":3}
// Lines go through spdlog's async logger: a worker never waits for log I/O (when the queue is
// full the oldest line is dropped and counted).
//
//   LogLine(spdlog::level::info, "closed", conn_id).With("cause", "clean").With("requests", 3);
//   // emitted when the temporary is destroyed; nothing is formatted below the log level.
#ifndef RINGGATE_CORE_LOG_H_
#define RINGGATE_CORE_LOG_H_

#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace ringgate {

enum class LogFormat : uint8_t { kText, kJson };

// Sets up the main logger (stderr) and, unless `access_log_path` is empty or "off", the access
// log (a file). Call once, before any worker starts.
absl::Status InitLogging(LogFormat format, spdlog::level::level_enum level,
                         const std::string& access_log_path);
// Flushes and stops the async loggers.
void ShutdownLogging();
LogFormat CurrentLogFormat();
void SetLogFormat(LogFormat format);  // InitLogging does this; tests call it directly
// Lines dropped because the async queue was full.
uint64_t DroppedLogLines();
spdlog::logger* AccessLogger();  // null when the access log is off

inline constexpr uint64_t kNoConnection = ~0ull;
// "worker-sequence", the id printed on every line about a connection.
std::string FormatConnectionId(uint64_t id);

class LogLine {
 public:
  LogLine(spdlog::level::level_enum level, std::string_view event, uint64_t conn = kNoConnection,
          spdlog::logger* logger = nullptr);
  // A line appended, with its own timestamp, to `batch` instead of going to a logger: the access
  // log collects a loop iteration's lines and hands them to spdlog as one message.
  LogLine(std::string_view event, uint64_t conn, fmt::memory_buffer* batch);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  template <typename T>
  LogLine& With(std::string_view key, const T& value) {
    if (!enabled_) return *this;
    if constexpr (std::is_same_v<T, bool>) {
      AppendKey(key);
      Append(value ? "true" : "false");
    } else if constexpr (std::is_integral_v<T>) {
      AppendKey(key);
      AppendInt(static_cast<int64_t>(value));
    } else if constexpr (std::is_arithmetic_v<T>) {
      AppendKey(key);
      fmt::format_to(std::back_inserter(line_), "{}", value);
    } else {
      AppendString(key, std::string_view(value));
    }
    return *this;
  }
  // Milliseconds with microsecond precision, from nanoseconds (integer formatting: this is on
  // the access log's per-request path, where float formatting showed up).
  LogLine& WithMs(std::string_view key, int64_t ns) {
    if (!enabled_) return *this;
    AppendKey(key);
    if (ns < 0) {
      line_.push_back('-');
      ns = -ns;
    }
    const int64_t us = ns / 1000;
    AppendInt(us / 1000);
    const int frac = static_cast<int>(us % 1000);
    const char digits[4] = {'.', static_cast<char>('0' + frac / 100),
                            static_cast<char>('0' + frac / 10 % 10),
                            static_cast<char>('0' + frac % 10)};
    Append(std::string_view(digits, 4));
    return *this;
  }

 private:
  void StartLine(std::string_view event, uint64_t conn);
  // fmt::format_int: no format string to parse (which the profile showed on the per-request path).
  void AppendInt(int64_t value) {
    fmt::format_int digits(value);
    Append(std::string_view(digits.data(), digits.size()));
  }
  // One resize and one memcpy: fmt's generic append showed up per field on the access-log path.
  void Append(std::string_view bytes) {
    const size_t old = line_.size();
    line_.resize(old + bytes.size());
    std::memcpy(line_.data() + old, bytes.data(), bytes.size());
  }
  void AppendKey(std::string_view key);  // ` key=` or `,"key":`
  void AppendString(std::string_view key, std::string_view value);

  fmt::memory_buffer* batch_ = nullptr;
  spdlog::logger* logger_;
  spdlog::level::level_enum level_;
  bool enabled_;
  bool json_;
  fmt::memory_buffer line_;
};

}  // namespace ringgate

#endif  // RINGGATE_CORE_LOG_H_
