#include "ringgate/shutdown/shutdown_chain.h"

#include <sys/socket.h>

#include <array>

#include "ringgate/core/user_data.h"

namespace ringgate {

int PrepareShutdownChain(Ring& ring, const ShutdownChainSpec& spec) {
  const bool has_flush = !spec.flush.empty();
  const bool has_close_notify = !spec.close_notify.empty();
  const bool wait_for_peer = spec.wait_for_peer && spec.drain_buffer != nullptr &&
                             spec.deadline != nullptr;
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
    sqes[i]->flags |= IOSQE_IO_HARDLINK;
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
