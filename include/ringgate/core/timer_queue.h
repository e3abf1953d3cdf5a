// timer_queue.h
// A worker's wake-ups for its connections: (deadline, slot, generation) entries in a min-heap.
// An entry is only a wake-up: the connection decides when it comes due whether its real
// deadline has moved (so re-arming never needs to find and remove the old entry), and an entry
// whose slot was reused is dropped by its stale generation.
//
//   TimerQueue timers;
//   timers.Arm(now + 5'000'000'000, slot, generation);
//   timers.FireExpired(clock.NowNs(), [&](const TimerQueue::Entry& e) { ... });
#ifndef RINGGATE_CORE_TIMER_QUEUE_H_
#define RINGGATE_CORE_TIMER_QUEUE_H_

#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

namespace ringgate {

class TimerQueue {
 public:
  struct Entry {
    int64_t deadline_ns;
    uint32_t slot;
    uint32_t generation;
    bool operator>(const Entry& o) const { return deadline_ns > o.deadline_ns; }
  };

  void Arm(int64_t deadline_ns, uint32_t slot, uint32_t generation) {
    heap_.push(Entry{deadline_ns, slot, generation});
  }
  // The earliest deadline, or -1 when nothing is queued.
  int64_t NextDeadlineNs() const { return heap_.empty() ? -1 : heap_.top().deadline_ns; }
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }

  // Pops every entry due at `now_ns` and hands it to `fire`, earliest first. `fire` may arm new
  // entries; one due at `now_ns` or earlier fires in the same call.
  template <class Fire>
  void FireExpired(int64_t now_ns, Fire&& fire) {
    while (!heap_.empty() && heap_.top().deadline_ns <= now_ns) {
      const Entry entry = heap_.top();
      heap_.pop();
      fire(entry);
    }
  }

 private:
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
};

}  // namespace ringgate

#endif  // RINGGATE_CORE_TIMER_QUEUE_H_
