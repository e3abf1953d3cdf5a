#include "ringgate/shutdown/graceful_close.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>  // the kernel's tcp_info: glibc's lacks tcpi_notsent_bytes
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "ringgate/core/check.h"
#include "ringgate/shutdown/shutdown_chain.h"

namespace ringgate {

int GracefulClose::Start(Ring& ring, Plan plan) {
  plan_ = std::move(plan);
  started_ = true;
  flush_done_ = plan_.flush.empty();
  if (plan_.observe_tcp) observer_fd_ = fcntl(plan_.fd, F_DUPFD_CLOEXEC, 0);
  if (plan_.wait_for_peer) {
    drain_buffer_.reset(new char[kDrainBufferBytes]);
    deadline_.tv_sec = absl::ToInt64Seconds(plan_.peer_deadline);
    deadline_.tv_nsec =
        absl::ToInt64Nanoseconds(plan_.peer_deadline - absl::Seconds(deadline_.tv_sec));
  }
  ShutdownChainSpec spec;
  spec.fd = plan_.fd;
  spec.generation = plan_.generation;
  spec.slot = plan_.slot;
  spec.flush = plan_.flush;
  spec.close_notify = plan_.close_notify;
  spec.half_close = plan_.half_close;
  spec.wait_for_peer = plan_.wait_for_peer;
  spec.drain_buffer = drain_buffer_.get();
  spec.drain_buffer_size = kDrainBufferBytes;
  spec.deadline = &deadline_;
  return PrepareShutdownChain(ring, spec);
}

GracefulClose::Step GracefulClose::OnCompletion(Ring& ring, Op op, int result, int64_t now_ns) {
  Step step;
  step.result = result;
  switch (op) {
    case Op::kShutdownFlush:
      if (result >= 0) {
        flush_done_ = true;
        step.kind = StepKind::kFlushed;
      } else if (result != -ECANCELED) {
        step.io_error = result;
      }
      break;
    case Op::kShutdownCloseNotify:
      if (result >= 0) {
        flush_done_ = true;
        close_notify_sent_ = true;
        step.kind = StepKind::kCloseNotifySent;
      } else if (result != -ECANCELED) {
        step.io_error = result;
      }
      break;
    case Op::kShutdownHalfClose:
      if (result < 0 && result != -ECANCELED && result != -ENOTCONN) step.io_error = result;
      break;
    case Op::kShutdownDrainRecv:
      drain_result_ = result;
      drain_done_ns_ = now_ns;
      if (result > 0) {
        step.kind = StepKind::kDrained;
        step.drained = std::string_view(drain_buffer_.get(), static_cast<size_t>(result));
      } else if (result < 0 && result != -ECANCELED && result != -EINTR) {
        step.io_error = result;
      }
      break;
    case Op::kShutdownDeadline:
      if (result == -ETIME) {
        deadline_fired_ = true;
        step.kind = StepKind::kDeadlineFired;
      }
      break;
    case Op::kShutdownClose:
      if (result == -ECANCELED) {
        // An earlier step failed and broke the chain: the descriptor is still open.
        io_uring_sqe* sqe = ring.Sqe();
        io_uring_prep_close(sqe, plan_.fd);
        io_uring_sqe_set_data64(
            sqe, EncodeTag({Op::kCloseAfterBrokenChain, plan_.generation, plan_.slot}));
        step.submitted = 1;
        break;
      }
      ReadTcpCloseView();
      step.kind = StepKind::kClosed;
      break;
    case Op::kCloseAfterBrokenChain:
      ReadTcpCloseView();
      step.kind = StepKind::kClosed;
      break;
    RINGGATE_WORKER_OP_CASES:
    RINGGATE_CLIENT_IO_OP_CASES:
    RINGGATE_UPSTREAM_OP_CASES:
      RINGGATE_CHECK(false, "a completion that is not a step of the shutdown chain");
      break;
  }
  return step;
}

bool GracefulClose::PeerFinEndedDrain() const {
  return drain_done_ns_ != 0 && !deadline_fired_ && drain_result_ >= 0 &&
         static_cast<size_t>(drain_result_) < kDrainBufferBytes;
}

void GracefulClose::ReadTcpCloseView() {
  if (observer_fd_ < 0) return;
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(observer_fd_, IPPROTO_TCP, TCP_INFO, &info, &len) == 0) {
    tcp_at_close_.valid = true;
    tcp_at_close_.unacked_segments = info.tcpi_unacked;
    tcp_at_close_.notsent_bytes = info.tcpi_notsent_bytes;
    int outq = 0;
    int inq = 0;
    if (ioctl(observer_fd_, SIOCOUTQ, &outq) == 0) tcp_at_close_.send_queue_bytes = outq;
    if (ioctl(observer_fd_, SIOCINQ, &inq) == 0) tcp_at_close_.unread_bytes = inq;
  }
  close(observer_fd_);  // the socket's last reference: FIN already went out with shutdown(2)
  observer_fd_ = -1;
}

void GracefulClose::Reset() {
  if (observer_fd_ >= 0) {  // the chain's close was never reached
    close(observer_fd_);
    observer_fd_ = -1;
  }
  plan_ = Plan{};
  started_ = flush_done_ = close_notify_sent_ = deadline_fired_ = false;
  drain_buffer_.reset();
  deadline_ = {};
  drain_result_ = 0;
  drain_done_ns_ = 0;
  tcp_at_close_ = TcpCloseView{};
}

}  // namespace ringgate
