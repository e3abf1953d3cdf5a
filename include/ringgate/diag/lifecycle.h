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
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

namespace ringgate {

// Each enum below is written once, as an X-macro list of (value, name): the enum, its names for
// logs, metrics and JSON, and its count are all generated from that list, so a value cannot be
// added without its name or be left out of the count.

// The stages of seed 001. Each value says what has happened, not what we wait for.
#define RINGGATE_LIFECYCLE_STATES(X)                                \
  /* accepted; nothing read yet */                                  \
  X(kCreated, "created")                                            \
  /* TLS handshake in progress */                                   \
  X(kHandshake, "handshake")                                        \
  /* handshake done; requests and responses flowing */              \
  X(kDataTransfer, "data_transfer")                                 \
  /* no new requests; waiting for in-flight I/O before the chain */ \
  X(kShutdownInitiated, "shutdown_initiated")                       \
  /* every byte owed to the client left our send queue */           \
  X(kBufferFlushed, "buffer_flushed")                               \
  /* our close_notify alert was sent */                             \
  X(kCloseNotifySent, "close_notify_sent")                          \
  /* the peer's close_notify or FIN arrived */                      \
  X(kPeerClosed, "peer_closed")                                     \
  /* the close_notify deadline fired before the peer closed */      \
  X(kTimedOut, "timed_out")                                         \
  /* close(2) completed; the slot may be reused */                  \
  X(kTcpClosed, "tcp_closed")

// How a connection ended. Exactly one per connection.
#define RINGGATE_TERMINATION_CAUSES(X)                         \
  /* still open */                                             \
  X(kNone, "none")                                             \
  /* the peer sent close_notify: an orderly TLS closure */     \
  X(kClean, "clean")                                           \
  /* the peer sent FIN without close_notify */                 \
  X(kPeerFin, "peer_fin")                                      \
  /* a deadline (handshake, idle, close_notify) fired first */ \
  X(kTimeout, "timeout")                                       \
  /* the peer reset the connection (ECONNRESET, EPIPE) */      \
  X(kReset, "reset")                                           \
  /* a protocol or I/O error, or an aborted response */        \
  X(kError, "error")

// Who decided that the connection should close.
#define RINGGATE_CLOSE_INITIATORS(X)                            \
  X(kNone, "none")                                              \
  /* close_notify or FIN from the client */                     \
  X(kClient, "client")                                          \
  /* one of our deadlines */                                    \
  X(kServerTimeout, "server_timeout")                           \
  /* a bad request, a failed backend, an I/O error */           \
  X(kServerError, "server_error")                               \
  /* Connection: close, HTTP/1.0, or an unframed response */    \
  X(kServerPolicy, "server_policy")                             \
  /* the process is stopping */                                 \
  X(kDrain, "drain")                                            \
  /* the backend ended a WebSocket tunnel (its FIN or reset) */ \
  X(kBackend, "backend")

#define RINGGATE_ENUM_VALUE(value, name) value,
#define RINGGATE_ENUM_NAME(value, name) name,

enum class LifecycleState : uint8_t { RINGGATE_LIFECYCLE_STATES(RINGGATE_ENUM_VALUE) };
enum class TerminationCause : uint8_t { RINGGATE_TERMINATION_CAUSES(RINGGATE_ENUM_VALUE) };
enum class CloseInitiator : uint8_t { RINGGATE_CLOSE_INITIATORS(RINGGATE_ENUM_VALUE) };

inline constexpr std::string_view kLifecycleStateNames[] = {
    RINGGATE_LIFECYCLE_STATES(RINGGATE_ENUM_NAME)};
inline constexpr std::string_view kTerminationCauseNames[] = {
    RINGGATE_TERMINATION_CAUSES(RINGGATE_ENUM_NAME)};
inline constexpr std::string_view kCloseInitiatorNames[] = {
    RINGGATE_CLOSE_INITIATORS(RINGGATE_ENUM_NAME)};

inline constexpr int kLifecycleStateCount = static_cast<int>(std::size(kLifecycleStateNames));
inline constexpr int kTerminationCauseCount = static_cast<int>(std::size(kTerminationCauseNames));
inline constexpr int kCloseInitiatorCount = static_cast<int>(std::size(kCloseInitiatorNames));

static_assert(static_cast<int>(LifecycleState::kTcpClosed) + 1 == kLifecycleStateCount,
              "kTcpClosed is the last lifecycle state: Lifecycle::End and Path rely on it");
static_assert(static_cast<int>(TerminationCause::kNone) == 0 &&
                  static_cast<int>(CloseInitiator::kNone) == 0,
              "kNone is the zero value: a connection starts with no cause and no initiator");

// Compile-time checks of a generated name list: every name non-empty and distinct; snake_case.
template <size_t N>
constexpr bool NamesAreDistinct(const std::string_view (&names)[N]) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i].empty()) return false;
    for (size_t j = 0; j < i; ++j) {
      if (names[i] == names[j]) return false;
    }
  }
  return true;
}
template <size_t N>
constexpr bool NamesAreSnakeCase(const std::string_view (&names)[N]) {
  for (std::string_view name : names) {
    for (char c : name) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
  }
  return true;
}
static_assert(NamesAreDistinct(kLifecycleStateNames) && NamesAreSnakeCase(kLifecycleStateNames));
static_assert(NamesAreDistinct(kTerminationCauseNames) &&
              NamesAreSnakeCase(kTerminationCauseNames));
static_assert(NamesAreDistinct(kCloseInitiatorNames) && NamesAreSnakeCase(kCloseInitiatorNames));

// "created", "clean", "server_timeout": the names logs, metrics and /closures use.
constexpr std::string_view LifecycleStateName(LifecycleState state) {
  const auto i = static_cast<size_t>(state);
  return i < std::size(kLifecycleStateNames) ? kLifecycleStateNames[i] : "unknown";
}
constexpr std::string_view TerminationCauseName(TerminationCause cause) {
  const auto i = static_cast<size_t>(cause);
  return i < std::size(kTerminationCauseNames) ? kTerminationCauseNames[i] : "unknown";
}
constexpr std::string_view CloseInitiatorName(CloseInitiator initiator) {
  const auto i = static_cast<size_t>(initiator);
  return i < std::size(kCloseInitiatorNames) ? kCloseInitiatorNames[i] : "unknown";
}

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
