// lifecycle.h
// Where a client connection stands and how it ended. Each state is recorded once, with the time
// it was first reached; the current state is the furthest one reached. (A client that closes
// first reaches kPeerClosed before we start our shutdown, so timestamps, not the enum order, give
// the real sequence.) Every connection ends with exactly one termination cause.
//
//   Lifecycle life(now);
//   life.Enter(LifecycleState::kHandshake, now);
//   ...
//   life.End(TerminationCause::kClean, now);
#ifndef RINGGATE_DIAG_LIFECYCLE_H_
#define RINGGATE_DIAG_LIFECYCLE_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringgate {

// The stages of seed 001. Each value says what has happened, not what we wait for.
enum class LifecycleState : uint8_t {
  kCreated,            // accepted; nothing read yet
  kHandshake,          // TLS handshake in progress
  kDataTransfer,       // handshake done; requests and responses flowing
  kShutdownInitiated,  // no new requests; waiting for in-flight I/O before the chain
  kBufferFlushed,      // every byte owed to the client left our send queue
  kCloseNotifySent,    // our close_notify alert was sent
  kPeerClosed,         // the peer's close_notify or FIN arrived
  kTimedOut,           // the close_notify deadline fired before the peer closed
  kTcpClosed,          // close(2) completed; the slot may be reused
};
inline constexpr int kLifecycleStateCount = 9;

// How a connection ended. Exactly one per connection.
enum class TerminationCause : uint8_t {
  kNone,     // still open
  kClean,    // the peer sent close_notify: an orderly TLS closure
  kPeerFin,  // the peer sent FIN without close_notify
  kTimeout,  // a deadline (handshake, idle, close_notify) fired first
  kReset,    // the peer reset the connection (ECONNRESET, EPIPE)
  kError,    // a protocol or I/O error, or an aborted response
};

// Who decided that the connection should close.
enum class CloseInitiator : uint8_t {
  kNone,
  kClient,         // close_notify or FIN from the client
  kServerTimeout,  // one of our deadlines
  kServerError,    // a bad request, a failed backend, an I/O error
  kServerPolicy,   // Connection: close, HTTP/1.0, or an unframed response
  kDrain,          // the process is stopping
};

std::string_view LifecycleStateName(LifecycleState state);
std::string_view TerminationCauseName(TerminationCause cause);
std::string_view CloseInitiatorName(CloseInitiator initiator);

// Timestamps (monotonic nanoseconds; 0 = not reached) of every state a connection went through.
class Lifecycle {
 public:
  explicit Lifecycle(int64_t created_ns = 0) { entered_ns_[0] = created_ns; }

  // Records that `state` was reached (the first time counts) and moves the current state
  // forward if `state` is further along.
  void Enter(LifecycleState state, int64_t now_ns);
  void End(TerminationCause cause, int64_t now_ns);

  LifecycleState state() const { return state_; }
  TerminationCause cause() const { return cause_; }
  int64_t entered_ns(LifecycleState s) const { return entered_ns_[static_cast<int>(s)]; }
  bool reached(LifecycleState s) const { return entered_ns(s) != 0; }
  const std::array<int64_t, kLifecycleStateCount>& timeline() const { return entered_ns_; }
  // "created>handshake>data_transfer>..." for the states reached, in order.
  std::string Path() const;

 private:
  LifecycleState state_ = LifecycleState::kCreated;
  TerminationCause cause_ = TerminationCause::kNone;
  std::array<int64_t, kLifecycleStateCount> entered_ns_{};
};

}  // namespace ringgate

#endif  // RINGGATE_DIAG_LIFECYCLE_H_
