#include "ringgate/core/uring_features.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace ringgate {

absl::Status CheckZeroCopySendSupport() {
  io_uring ring;
  if (int ret = io_uring_queue_init(4, &ring, 0); ret < 0) {
    return absl::UnavailableError(absl::StrCat("io_uring_queue_init: ", std::strerror(-ret)));
  }
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    io_uring_queue_exit(&ring);
    return absl::UnavailableError(absl::StrCat("socketpair: ", std::strerror(errno)));
  }
  static const char kByte = 'z';
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  io_uring_prep_send_zc(sqe, pair[0], &kByte, 1, MSG_NOSIGNAL, IORING_SEND_ZC_REPORT_USAGE);
  io_uring_submit(&ring);
  // The send's own completion, then (flagged MORE) its notification.
  int result = -EIO;
  bool more = false;
  for (int seen = 0; seen < 2; ++seen) {
    io_uring_cqe* cqe = nullptr;
    if (io_uring_wait_cqe(&ring, &cqe) != 0) break;
    if (!(cqe->flags & IORING_CQE_F_NOTIF)) {
      result = cqe->res;
      more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    }
    io_uring_cqe_seen(&ring, cqe);
    if (!more) break;
  }
  close(pair[0]);
  close(pair[1]);
  io_uring_queue_exit(&ring);
  // A Unix socket has no zero-copy path and says so (EOPNOTSUPP) when the send reaches it, which
  // means the kernel accepted the opcode and its flags: TCP sockets then take them. A kernel
  // without either refuses the request itself with EINVAL.
  if (result != 1 && result != -EOPNOTSUPP) {
    return absl::UnavailableError(absl::StrCat(
        "--send-zc-threshold needs zero-copy sends with usage reports (Linux 6.2 or later); a "
        "test send returned ",
        result < 0 ? std::strerror(-result) : absl::StrCat(result, " bytes")));
  }
  return absl::OkStatus();
}

absl::Status CheckBatchWaitSupport() {
  io_uring ring;
  if (int ret = io_uring_queue_init(4, &ring, 0); ret < 0) {
    return absl::UnavailableError(absl::StrCat("io_uring_queue_init: ", std::strerror(-ret)));
  }
  const bool supported = (ring.features & IORING_FEAT_MIN_TIMEOUT) != 0;
  io_uring_queue_exit(&ring);
  if (!supported) {
    return absl::UnavailableError(
        "--batch-wait needs io_uring's min-wait batching (IORING_FEAT_MIN_TIMEOUT, Linux 6.12)");
  }
  return absl::OkStatus();
}

bool MultishotRecvTakesByteLimit() {
  static const bool supported = [] {
    io_uring ring;
    if (io_uring_queue_init(4, &ring, 0) < 0) return false;
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      io_uring_queue_exit(&ring);
      return false;
    }
    // A byte waits, and the buffer group does not exist: a kernel that takes the limit gets as
    // far as choosing a buffer (ENOBUFS); one that does not refuses the SQE itself (EINVAL).
    (void)!write(pair[1], "x", 1);
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recv_multishot(sqe, pair[0], nullptr, 4096, 0);  // len: each recv's cap
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0xfffe;
    sqe->optlen = 4096;  // the multishot's byte limit
    io_uring_submit(&ring);
    int result = -EINVAL;
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec wait{1, 0};
    if (io_uring_wait_cqe_timeout(&ring, &cqe, &wait) == 0) {
      result = cqe->res;
      io_uring_cqe_seen(&ring, cqe);
    }
    close(pair[0]);
    close(pair[1]);
    io_uring_queue_exit(&ring);
    return result != -EINVAL;
  }();
  return supported;
}

void PrepareBoundedRecv(io_uring_sqe* sqe, int fd, uint16_t buffer_group, uint32_t byte_limit) {
  if (MultishotRecvTakesByteLimit()) {
    // len caps each recv (a provided buffer would otherwise be filled whole), optlen the total,
    // after which the multishot ends and is re-armed.
    io_uring_prep_recv_multishot(sqe, fd, nullptr, byte_limit, 0);
    sqe->optlen = byte_limit;
  } else {
    // One provided buffer, then a final completion; len caps what that one recv takes.
    io_uring_prep_recv(sqe, fd, nullptr, byte_limit, 0);
  }
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = buffer_group;
}

}  // namespace ringgate
