// fake_ring.h
// A Ring for unit tests: every entry a connection prepares is kept, in order, for the test to
// read; nothing reaches a kernel. The test then plays the kernel's part by handing completions
// to Worker::Dispatch, in whatever order and with whatever results the case needs.
//
//   FakeRing ring;
//   ManualClock clock;
//   Worker worker(0, config, tls, ring, clock);
//   worker.AdoptConnection(fd);
//   std::vector<io_uring_sqe> sqes = ring.Take();   // the recv it armed
//   worker.Dispatch(sqes[0].user_data, 5, 0);        // pretend 5 bytes came
#ifndef RINGGATE_TESTS_UNIT_SUPPORT_FAKE_RING_H_
#define RINGGATE_TESTS_UNIT_SUPPORT_FAKE_RING_H_

#include <liburing.h>

#include <cstring>
#include <deque>
#include <vector>

#include "ringgate/core/ring.h"
#include "ringgate/core/user_data.h"

namespace ringgate {

class FakeRing final : public Ring {
 public:
  io_uring_sqe* Sqe() override {
    io_uring_sqe& sqe = pending_.emplace_back();
    std::memset(&sqe, 0, sizeof sqe);
    return &sqe;
  }
  void Reserve(unsigned count) override { reservations_.push_back(count); }

  // The entries prepared since the last Take, oldest first.
  std::vector<io_uring_sqe> Take() {
    std::vector<io_uring_sqe> taken(pending_.begin(), pending_.end());
    pending_.clear();
    return taken;
  }
  size_t pending() const { return pending_.size(); }
  // Every Reserve(count) so far.
  const std::vector<unsigned>& reservations() const { return reservations_; }

  static Op OpOf(const io_uring_sqe& sqe) { return DecodeTag(sqe.user_data).op; }

 private:
  std::deque<io_uring_sqe> pending_;  // a deque: pointers handed out stay valid as it grows
  std::vector<unsigned> reservations_;
};

}  // namespace ringgate

#endif  // RINGGATE_TESTS_UNIT_SUPPORT_FAKE_RING_H_
