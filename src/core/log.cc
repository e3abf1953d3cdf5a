#include "ringgate/core/log.h"

#include <time.h>

#include <ctime>
#include <iterator>

#include "spdlog/async.h"
#include "spdlog/sinks/basic_file_sink.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace ringgate {
namespace {

LogFormat g_format = LogFormat::kText;
std::shared_ptr<spdlog::logger> g_access;

// Control characters and every byte from 0x7f up become \u00XX (the byte's value): fields such
// as the request target hold whatever bytes a client sent, which need not be UTF-8, and a line
// must stay valid UTF-8 (here: plain ASCII) for every JSON reader. The original bytes come back
// by reading each escaped code point as one byte.
void AppendJsonEscaped(fmt::memory_buffer& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '"':
        out.append(std::string_view("\\\""));
        break;
      case '\\':
        out.append(std::string_view("\\\\"));
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      default:
        if (const auto byte = static_cast<unsigned char>(c); byte < 0x20 || byte >= 0x7f) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(byte));
        } else {
          out.push_back(c);
        }
    }
  }
}

bool NeedsQuotes(std::string_view s) {
  if (s.empty()) return true;
  for (char c : s) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

}  // namespace

absl::Status InitLogging(LogFormat format, spdlog::level::level_enum level,
                         const std::string& access_log_path) {
  g_format = format;
  spdlog::init_thread_pool(16384, 1);
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::async_logger>(
      "ringgate", sink, spdlog::thread_pool(), spdlog::async_overflow_policy::overrun_oldest);
  const char* pattern = format == LogFormat::kJson
                            ? "{\"ts\":\"%Y-%m-%dT%H:%M:%S.%fZ\",\"level\":\"%l\",%v}"
                            : "%Y-%m-%dT%H:%M:%S.%fZ %l %v";
  logger->set_pattern(pattern, spdlog::pattern_time_type::utc);
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  if (!access_log_path.empty() && access_log_path != "off") {
    try {
      auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(access_log_path);
      g_access = std::make_shared<spdlog::async_logger>(
          "access", file, spdlog::thread_pool(), spdlog::async_overflow_policy::overrun_oldest);
      g_access->set_pattern("%v");  // each line carries its own timestamp (see LogLine batches)
      g_access->set_level(spdlog::level::info);
      spdlog::register_logger(g_access);  // so that flush_every reaches its file
    } catch (const spdlog::spdlog_ex& e) {
      return absl::InvalidArgumentError(
          fmt::format("--access-log: cannot open '{}': {}", access_log_path, e.what()));
    }
  }
  // stderr is unbuffered; the access log file is flushed by the logging thread once a second
  // rather than once per line.
  spdlog::flush_every(std::chrono::seconds(1));
  return absl::OkStatus();
}

void ShutdownLogging() {
  if (g_access) g_access->flush();
  if (auto l = spdlog::default_logger()) l->flush();
  spdlog::shutdown();
}

LogFormat CurrentLogFormat() { return g_format; }
void SetLogFormat(LogFormat format) { g_format = format; }
spdlog::logger* AccessLogger() { return g_access.get(); }

uint64_t DroppedLogLines() {
  auto pool = spdlog::thread_pool();
  return pool ? pool->overrun_counter() : 0;
}

std::string FormatConnectionId(uint64_t id) {
  return fmt::format("{}-{}", id >> 48, id & ((1ull << 48) - 1));
}

LogLine::LogLine(spdlog::level::level_enum level, std::string_view event, uint64_t conn,
                 spdlog::logger* logger)
    : logger_(logger ? logger : spdlog::default_logger_raw()),
      level_(level),
      enabled_(logger_ != nullptr && logger_->should_log(level)),
      json_(g_format == LogFormat::kJson) {
  if (enabled_) StartLine(event, conn);
}

LogLine::LogLine(std::string_view event, uint64_t conn, fmt::memory_buffer* batch)
    : batch_(batch),
      logger_(nullptr),
      level_(spdlog::level::info),
      enabled_(batch != nullptr),
      json_(g_format == LogFormat::kJson) {
  if (enabled_) StartLine(event, conn);
}

void LogLine::StartLine(std::string_view event, uint64_t conn) {
  if (json_) {
    if (conn != kNoConnection) {
      line_.append(std::string_view("\"conn\":\""));
      AppendInt(static_cast<int64_t>(conn >> 48));
      line_.push_back('-');
      AppendInt(static_cast<int64_t>(conn & ((1ull << 48) - 1)));
      line_.append(std::string_view("\","));
    }
    line_.append(std::string_view("\"event\":\""));
    AppendJsonEscaped(line_, event);
    line_.push_back('"');
  } else {
    if (conn != kNoConnection) {
      Append("conn=");
      AppendInt(static_cast<int64_t>(conn >> 48));
      line_.push_back('-');
      AppendInt(static_cast<int64_t>(conn & ((1ull << 48) - 1)));
      line_.push_back(' ');
    }
    Append(event);
  }
}

void LogLine::AppendKey(std::string_view key) {
  if (json_) {
    Append(",\"");
    Append(key);
    Append("\":");
  } else {
    line_.push_back(' ');
    Append(key);
    line_.push_back('=');
  }
}

void LogLine::AppendString(std::string_view key, std::string_view value) {
  if (json_) {
    AppendKey(key);
    line_.push_back('"');
    AppendJsonEscaped(line_, value);
    line_.push_back('"');
  } else if (NeedsQuotes(value)) {
    AppendKey(key);
    line_.push_back('"');
    for (char c : value) {
      if (c == '"' || c == '\\') line_.push_back('\\');
      line_.push_back(c < 0x20 && c >= 0 ? ' ' : c);
    }
    line_.push_back('"');
  } else {
    AppendKey(key);
    Append(value);
  }
}

namespace {

// "2026-11-21T06:25:42.087145Z", with the seconds part cached per thread.
void AppendUtcTimestamp(fmt::memory_buffer& out) {
  thread_local time_t cached_second = -1;
  thread_local char cached[24];
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  if (now.tv_sec != cached_second) {
    tm parts;
    gmtime_r(&now.tv_sec, &parts);
    strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &parts);
    cached_second = now.tv_sec;
  }
  out.append(std::string_view(cached));
  char frac[8] = {'.', '0', '0', '0', '0', '0', '0', 'Z'};
  for (long us = now.tv_nsec / 1000, i = 6; i >= 1; --i, us /= 10)
    frac[i] = static_cast<char>('0' + us % 10);
  out.append(frac, frac + 8);
}

}  // namespace

LogLine::~LogLine() {
  if (!enabled_) return;
  if (batch_ != nullptr) {
    if (batch_->size() > 0) batch_->push_back('\n');
    if (json_) {
      batch_->append(std::string_view("{\"ts\":\""));
      AppendUtcTimestamp(*batch_);
      batch_->append(std::string_view("\","));
      batch_->append(std::string_view(line_.data(), line_.size()));
      batch_->push_back('}');
    } else {
      AppendUtcTimestamp(*batch_);
      batch_->push_back(' ');
      batch_->append(std::string_view(line_.data(), line_.size()));
    }
    return;
  }
  logger_->log(level_, std::string_view(line_.data(), line_.size()));
}

}  // namespace ringgate
