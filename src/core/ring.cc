#include "ringgate/core/ring.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "ringgate/core/sq_room.h"

namespace ringgate {

UringRing::~UringRing() {
  if (owned_) io_uring_queue_exit(&own_);
}

absl::Status UringRing::Init(const Options& options) {
  io_uring_params params{};
  // NO_SQARRAY (6.6): submission entries are taken from the queue in order, without the index
  // array between them, one indirection less per entry.
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_CQSIZE | IORING_SETUP_NO_SQARRAY;
  if (options.sqpoll) {
    // The kernel's polling thread submits; DEFER_TASKRUN cannot be combined with it (the
    // shutdown chain's deadline then relies on the connection's own back-up timer).
    params.flags |= IORING_SETUP_SQPOLL;
    params.sq_thread_idle = options.sqpoll_idle_ms;
  } else {
    params.flags |= IORING_SETUP_DEFER_TASKRUN;
  }
  params.cq_entries = options.entries * 4;
  io_uring_params asked = params;
  int ret = io_uring_queue_init_params(options.entries, &own_, &params);
  if (ret == -EINVAL) {
    params = asked;  // a kernel before 6.6: the same without NO_SQARRAY
    params.flags &= ~IORING_SETUP_NO_SQARRAY;
    ret = io_uring_queue_init_params(options.entries, &own_, &params);
  } else if (ret == 0) {
    no_sq_array_ = true;
  }
  if (ret == -EINVAL && !options.sqpoll) {
    // Older kernels: no DEFER_TASKRUN / SINGLE_ISSUER. Same semantics, a little slower.
    used_default_flags_ = true;
    params = io_uring_params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = options.entries * 4;
    ret = io_uring_queue_init_params(options.entries, &own_, &params);
  }
  if (ret != 0) {
    return absl::UnavailableError(absl::StrCat(
        "io_uring_queue_init", options.sqpoll ? " (--sqpoll)" : "", ": ", std::strerror(-ret)));
  }
  owned_ = true;
  ring_ = &own_;
  // (main checked the kernel before any worker started: CheckBatchWaitSupport.)
  batch_wait_us_ = (ring_->features & IORING_FEAT_MIN_TIMEOUT) != 0 ? options.batch_wait_us : 0;
  // Every io_uring_enter then skips looking up the ring's descriptor. Optional: a kernel that
  // cannot register it costs that lookup and nothing else.
  (void)io_uring_register_ring_fd(ring_);
  return absl::OkStatus();
}

io_uring_sqe* UringRing::Sqe() {
  int submits = 0;
  io_uring_sqe* sqe = TakeSqe(ring_, &submits);
  room_submissions_ += static_cast<uint64_t>(submits);
  return sqe;
}

void UringRing::Reserve(unsigned count) {
  room_submissions_ += static_cast<uint64_t>(MakeSqRoom(ring_, count));
}

int UringRing::SubmitAndWait(int64_t timeout_ns, bool busy) {
  io_uring_cqe* cqe = nullptr;
  int ret;
  if (batch_wait_us_ != 0 && busy) {
    // The min-wait path needs a timeout: without a timer due, a day stands for none.
    const int64_t limit_ns = timeout_ns >= 0 ? timeout_ns : int64_t{86400} * 1'000'000'000;
    __kernel_timespec ts{limit_ns / 1'000'000'000, limit_ns % 1'000'000'000};
    ret = io_uring_submit_and_wait_min_timeout(ring_, &cqe, kBatchWaitCompletions, &ts,
                                               batch_wait_us_, nullptr);
  } else {
    __kernel_timespec ts{timeout_ns / 1'000'000'000, timeout_ns % 1'000'000'000};
    ret =
        io_uring_submit_and_wait_timeout(ring_, &cqe, 1, timeout_ns >= 0 ? &ts : nullptr, nullptr);
  }
  return ret < 0 ? ret : 0;
}

}  // namespace ringgate
