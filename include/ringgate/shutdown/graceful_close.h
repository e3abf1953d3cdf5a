// graceful_close.h
// The close sequence of one TLS connection, once its owner has decided to close and none of its
// own recvs or sends is in flight: one linked submission (shutdown_chain.h) flushes what is
// owed, sends our close_notify, half-closes, reads with a deadline until the peer's
// close_notify or FIN, and closes. GracefulClose holds what the kernel reads while the chain
// runs (the bytes, the drain buffer, the deadline), turns each of the chain's completions into
// a Step for the owner, and closes the socket itself when a broken link cancelled the chain's
// close. It knows no TLS: ciphertext the peer sends after our alert goes back to the owner.
//
//   GracefulClose close;
//   ops.Started(close.Start(ring, plan));
//   ... for each completion of an Op::kShutdown* or Op::kCloseAfterBrokenChain:
//   GracefulClose::Step step = close.OnCompletion(ring, op, result);
//   ops.Started(step.submitted);
//   if (step.kind == GracefulClose::StepKind::kClosed) ...  // close.tcp_at_close() is read
#ifndef RINGGATE_SHUTDOWN_GRACEFUL_CLOSE_H_
#define RINGGATE_SHUTDOWN_GRACEFUL_CLOSE_H_

#include <linux/time_types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "ringgate/core/ring.h"
#include "ringgate/core/user_data.h"
#include "ringgate/shutdown/tcp_close_view.h"

namespace ringgate {

class GracefulClose {
 public:
  struct Plan {
    int fd = -1;
    uint32_t generation = 0;
    uint32_t slot = 0;
    std::string flush;         // ciphertext still owed to the peer
    std::string close_notify;  // our alert; empty for an abort
    bool half_close = true;    // shutdown(SHUT_WR): not after a reset
    bool wait_for_peer = false;
    absl::Duration peer_deadline;  // how long the drain recv waits for the peer
    // Keep a second descriptor, so that at the chain's close the socket still exists and
    // TCP_INFO, SIOCOUTQ and SIOCINQ tell what the kernel still held.
    bool observe_tcp = false;
  };

  enum class StepKind : uint8_t {
    kNone,             // nothing the owner acts on (a cancelled or failed step)
    kFlushed,          // the flush send completed; `result` bytes
    kCloseNotifySent,  // our alert is out; `result` bytes
    kDrained,          // the drain recv returned; `drained` holds what the peer sent
    kDeadlineFired,    // the peer did not close within the deadline
    kClosed,           // the descriptor is closed
  };
  struct Step {
    StepKind kind = StepKind::kNone;
    int result = 0;
    // A socket error the owner records (ECANCELED and the expected ENOTCONN are not errors).
    int io_error = 0;
    std::string_view drained;
    int submitted = 0;  // new operations in flight (the close after a broken chain)
  };

  // Submits the chain. Returns how many completions will arrive.
  int Start(Ring& ring, Plan plan);
  Step OnCompletion(Ring& ring, Op op, int result, int64_t now_ns);

  bool started() const { return started_; }
  bool flush_pending() const { return started_ && !flush_done_; }
  size_t flush_bytes() const { return plan_.flush.size(); }
  bool sends_close_notify() const { return !plan_.close_notify.empty(); }
  bool waits_for_peer() const { return plan_.wait_for_peer; }
  bool close_notify_sent() const { return close_notify_sent_; }
  bool deadline_fired() const { return deadline_fired_; }
  // The owner cancelled what the chain had pending (a phase overran, or the drain deadline
  // passed): it counts as the deadline firing.
  void NoteCancelledByOwner() { deadline_fired_ = true; }
  // MSG_WAITALL makes the drain recv return short only at the peer's FIN, or when the deadline
  // cancelled it, which only the deadline's own completion tells: ask after kClosed.
  bool PeerFinEndedDrain() const;
  int64_t drain_done_ns() const { return drain_done_ns_; }
  const TcpCloseView& tcp_at_close() const { return tcp_at_close_; }
  // Frees what the chain held; the next connection in the slot starts afresh.
  void Reset();
  GracefulClose() = default;
  GracefulClose(const GracefulClose&) = delete;
  GracefulClose& operator=(const GracefulClose&) = delete;
  ~GracefulClose() { Reset(); }  // the observer descriptor, if the chain's close never came

 private:
  static constexpr size_t kDrainBufferBytes = 32 << 10;  // a whole TLS record plus headroom
  void ReadTcpCloseView();

  Plan plan_;
  bool started_ = false;
  bool flush_done_ = false;
  bool close_notify_sent_ = false;
  bool deadline_fired_ = false;
  std::unique_ptr<char[]> drain_buffer_;
  __kernel_timespec deadline_{};  // read by the kernel at submission
  int drain_result_ = 0;
  int64_t drain_done_ns_ = 0;
  int observer_fd_ = -1;
  TcpCloseView tcp_at_close_;
};

}  // namespace ringgate

#endif  // RINGGATE_SHUTDOWN_GRACEFUL_CLOSE_H_
