// clock.h
// Where a worker and its connections read the time: an injected Clock, so that tests move time
// by hand (ManualClock) instead of sleeping. Monotonic nanoseconds; 0 means "never" in the
// callers' fields, so clocks start above it.
//
//   MonotonicClock clock;               // the real one
//   ManualClock manual;                 // tests
//   manual.Advance(absl::Seconds(5));   // every deadline up to now + 5 s is due
#ifndef RINGGATE_CORE_CLOCK_H_
#define RINGGATE_CORE_CLOCK_H_

#include <time.h>

#include <cstdint>

#include "absl/time/time.h"

namespace ringgate {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowNs() const = 0;
};

// CLOCK_MONOTONIC.
class MonotonicClock final : public Clock {
 public:
  int64_t NowNs() const override { return Now(); }
  static int64_t Now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  }
};

// Time that moves only when a test says so.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ns = 1'000'000'000) : now_ns_(start_ns) {}
  int64_t NowNs() const override { return now_ns_; }
  void Advance(absl::Duration by) { now_ns_ += absl::ToInt64Nanoseconds(by); }

 private:
  int64_t now_ns_;
};

}  // namespace ringgate

#endif  // RINGGATE_CORE_CLOCK_H_
