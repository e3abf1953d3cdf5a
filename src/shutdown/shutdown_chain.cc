#include "ringgate/shutdown/shutdown_chain.h"

#include <sys/socket.h>

#include <array>

#include "ringgate/core/user_data.h"

namespace ringgate {

int PrepareShutdownChain(Ring& ring, const ShutdownChainSpec& spec) {
  const bool has_flush = !spec.flush.empty();
  const bool has_close_notify = !spec.close_notify.empty();
  const bool wait_for_peer =
      spec.wait_for_peer && spec.drain_buffer != nullptr && spec.deadline != nullptr;
  const int count = (has_flush ? 1 : 0) + (has_close_notify ? 1 : 0) + (spec.half_close ? 1 : 0) +
                    (wait_for_peer ? 2 : 0) + 1;

  // Room for the whole chain first: a submission between two of its entries would cut the link.
  ring.Reserve(static_cast<unsigned>(count));
  std::array<io_uring_sqe*, 6> sqes{};
  for (int i = 0; i < count; ++i) sqes[i] = ring.Sqe();

  auto tag = [&](Op op) { return EncodeTag({op, spec.generation, spec.slot}); };
  int i = 0;
  constexpr int kSendFlags = MSG_WAITALL | MSG_NOSIGNAL;
  if (has_flush) {
    io_uring_prep_send(sqes[i], spec.fd, spec.flush.data(), spec.flush.size(), kSendFlags);
    sqes[i]->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(sqes[i++], tag(Op::kShutdownFlush));
  }
  if (has_close_notify) {
    io_uring_prep_send(sqes[i], spec.fd, spec.close_notify.data(), spec.close_notify.size(),
                       kSendFlags);
    sqes[i]->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(sqes[i++], tag(Op::kShutdownCloseNotify));
  }
  if (spec.half_close) {
    io_uring_prep_shutdown(sqes[i], spec.fd, SHUT_WR);
    sqes[i]->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(sqes[i++], tag(Op::kShutdownHalfClose));
  }
  if (wait_for_peer) {
    io_uring_prep_recv(sqes[i], spec.fd, spec.drain_buffer, spec.drain_buffer_size, MSG_WAITALL);
    // HARDLINK: the deadline cancelling this recv must not cancel the close behind it.
    // ASYNC: the shutdown before it always runs on an io-wq worker, and when that worker drops
    // the shutdown's last reference it starts this recv itself, blocking (without ASYNC io-wq
    // issues a socket op blocking, with no poll). Kernel 6.18 starts a linked timeout's timer
    // only after its request's issue returns (traced: io_link_timeout_fn's hrtimer_start comes
    // when the recv ends), so a blocking recv on a silent peer never gets its deadline. That
    // happens in most closes on a plain or SQPOLL ring, and under DEFER_TASKRUN when the
    // submitter reaps the shutdown's completion before the worker lets go of it. With ASYNC
    // io-wq tries the recv non-blocking first and parks it on poll, so the timer starts at
    // once wherever the recv is issued from.
    sqes[i]->flags |= IOSQE_IO_HARDLINK | IOSQE_ASYNC;
    io_uring_sqe_set_data64(sqes[i++], tag(Op::kShutdownDrainRecv));
    io_uring_prep_link_timeout(sqes[i], spec.deadline, 0);
    sqes[i]->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(sqes[i++], tag(Op::kShutdownDeadline));
  }
  io_uring_prep_close(sqes[i], spec.fd);
  io_uring_sqe_set_data64(sqes[i++], tag(Op::kShutdownClose));
  return count;
}

}  // namespace ringgate
