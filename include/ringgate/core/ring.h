// ring.h
// Every submission ringgate makes goes through a Ring. It hands out entries that are never
// null (submitting what is queued when the queue is full, and under --sqpoll waiting for the
// kernel's thread), and reserves room for a chain of linked entries first, because a link does
// not span two submissions. UringRing is the kernel's io_uring; tests use a FakeRing
// (tests/unit/support/fake_ring.h) that records each entry, so that a connection's state machine
// is driven by completions a test writes by hand.
//
//   ring.Reserve(3);                                   // the next three Sqe()s go out together
//   io_uring_sqe* sqe = ring.Sqe();
//   io_uring_prep_send(sqe, fd, data, size, MSG_NOSIGNAL);
//   io_uring_sqe_set_data64(sqe, EncodeTag({Op::kClientSend, generation, slot}));
//   ops.Started();                                     // OpsInFlight: this connection's count
#ifndef RINGGATE_CORE_RING_H_
#define RINGGATE_CORE_RING_H_

#include <liburing.h>

#include <cstdint>

#include "absl/status/status.h"
#include "ringgate/core/check.h"

namespace ringgate {

class Ring {
 public:
  virtual ~Ring() = default;
  // One entry, never null.
  virtual io_uring_sqe* Sqe() = 0;
  // Makes room for `count` entries (at most the queue's size), so that the next `count` Sqe()
  // calls cannot be split by a submission.
  virtual void Reserve(unsigned count) = 0;
};

// The operations one connection has submitted and not yet seen the last completion of. A
// connection's slot may be reused only at zero; a completion that was never counted means the
// accounting is wrong, which is a bug in ringgate, so it aborts.
class OpsInFlight {
 public:
  void Started(int count = 1) { count_ += count; }
  void Finished() {
    RINGGATE_CHECK(count_ > 0, "a completion arrived for an operation that was not in flight");
    --count_;
  }
  int count() const { return count_; }
  bool none() const { return count_ == 0; }
  void Reset() { count_ = 0; }

 private:
  int count_ = 0;
};

class UringRing final : public Ring {
 public:
  struct Options {
    unsigned entries = 4096;
    bool sqpoll = false;
    unsigned sqpoll_idle_ms = 1000;
    // Min-wait batching: each wait may last up to this long for kBatchWaitCompletions
    // completions before it returns with what has come (0: return on the first completion).
    unsigned batch_wait_us = 0;
  };
  // The batch a --batch-wait wait collects before returning early: more than a loop iteration
  // sees at moderate load, so that the wait's deadline, not the count, normally ends it.
  static constexpr unsigned kBatchWaitCompletions = 64;

  UringRing() = default;
  // A ring someone else set up and will tear down (tests that run real chains).
  explicit UringRing(io_uring* borrowed) : ring_(borrowed) {}
  ~UringRing() override;
  UringRing(const UringRing&) = delete;
  UringRing& operator=(const UringRing&) = delete;

  // SINGLE_ISSUER with DEFER_TASKRUN (or SQPOLL), NO_SQARRAY, a completion queue four times the
  // submission queue; on kernels that refuse those flags, the defaults (used_default_flags()
  // says so). batch_wait_us is dropped on a kernel without IORING_FEAT_MIN_TIMEOUT (6.12;
  // start-up refuses the flag there first: CheckBatchWaitSupport).
  absl::Status Init(const Options& options);
  bool used_default_flags() const { return used_default_flags_; }
  bool no_sq_array() const { return no_sq_array_; }

  io_uring_sqe* Sqe() override;
  void Reserve(unsigned count) override;

  // Submits what is queued and waits for a completion, at most `timeout_ns` (-1: no limit). With
  // batch_wait_us and `busy` (the caller's last batch was large), for up to that long for a
  // batch first (min-wait batching: the kernel returns once the batch is in, or once the batch
  // wait is over and any completion is in, or at `timeout_ns` if none is): a worker that sees
  // one completion at a time has nothing to gather, and would only add the wait to its latency.
  // Returns 0 or a negative errno (-ETIME and -EINTR are normal).
  int SubmitAndWait(int64_t timeout_ns, bool busy = true);
  // Hands every completion that is ready to `handle`, then marks them seen. Returns how many.
  template <class Handle>
  unsigned DrainCompletions(Handle&& handle) {
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(ring_, head, cqe) {
      ++seen;
      handle(*cqe);
    }
    io_uring_cq_advance(ring_, seen);
    return seen;
  }
  // More completions than the queue holds were posted; the kernel keeps the rest (NODROP).
  bool completions_overflowed() const { return io_uring_cq_has_overflow(ring_); }
  // Submissions made to free room (a full queue, a reservation) since the last call.
  uint64_t TakeRoomSubmissions() {
    const uint64_t n = room_submissions_;
    room_submissions_ = 0;
    return n;
  }
  io_uring* raw() { return ring_; }

 private:
  io_uring own_{};
  io_uring* ring_ = nullptr;
  bool owned_ = false;
  bool used_default_flags_ = false;
  bool no_sq_array_ = false;
  unsigned batch_wait_us_ = 0;
  uint64_t room_submissions_ = 0;
};

}  // namespace ringgate

#endif  // RINGGATE_CORE_RING_H_
