// conn_state.h
// Where a client connection stands, as one value, and the moves between values that are legal.
// Each state says what the worker waits for. ClientConnection::Transition is the only place the
// state changes; it checks kLegalMoves and logs each move with its reason at trace level, so a
// connection's control history is one value's moves, not a set of flags to reconcile.
//
//   free -> handshake -> open -> closing -> chain_submitted -> closed -> free
//                  \          \-> tunnel -/^
//                   \_________________________/
// (a handshake that fails or times out goes straight to closing; a backend's 101 turns an open
// connection into a WebSocket tunnel, which can only close.)
//
// The diagnostic timeline (diag/lifecycle.h) is separate: it records when each stage of
// seed 001 was first reached, including stages the peer causes (its close_notify, its FIN).
#ifndef RINGGATE_PROXY_CONN_STATE_H_
#define RINGGATE_PROXY_CONN_STATE_H_

#include <array>
#include <cstdint>
#include <string_view>

namespace ringgate {

// X(name, text, invariant)
#define RINGGATE_CONN_STATES(X)                                                          \
  X(kFree, "free", "slot unused; no descriptor, no operation in flight")                 \
  /* (under --proxy-protocol the PROXY header is read first, in this state) */           \
  X(kHandshake, "handshake", "wolfSSL needs more ciphertext; no request parsed yet")     \
  X(kOpen, "open", "requests and responses flowing; a timer always armed")               \
  X(kTunnel, "tunnel",                                                                   \
    "the backend switched to WebSocket: bytes relayed unparsed both ways; never pooled") \
  X(kClosing, "closing", "no new requests; waiting for our own recv and send to finish") \
  X(kChainSubmitted, "chain_submitted", "the shutdown chain owns the socket")            \
  X(kClosed, "closed",                                                                   \
    "descriptor closed; waiting for the last completions before the slot is freed")

enum class ConnState : uint8_t {
#define RINGGATE_CONN_STATE_ENUM(name, text, invariant) name,
  RINGGATE_CONN_STATES(RINGGATE_CONN_STATE_ENUM)
#undef RINGGATE_CONN_STATE_ENUM
};

inline constexpr int kConnStateCount = 0
#define RINGGATE_CONN_STATE_COUNT(name, text, invariant) +1
    RINGGATE_CONN_STATES(RINGGATE_CONN_STATE_COUNT)
#undef RINGGATE_CONN_STATE_COUNT
    ;

inline constexpr std::array<std::string_view, kConnStateCount> kConnStateNames = {
#define RINGGATE_CONN_STATE_NAME(name, text, invariant) text,
    RINGGATE_CONN_STATES(RINGGATE_CONN_STATE_NAME)
#undef RINGGATE_CONN_STATE_NAME
};

inline constexpr std::string_view ConnStateName(ConnState state) {
  return kConnStateNames[static_cast<int>(state)];
}

// kLegalMoves[from] has bit `to` set when from -> to is allowed.
inline constexpr std::array<uint32_t, kConnStateCount> kLegalMoves = [] {
  std::array<uint32_t, kConnStateCount> moves{};
  auto allow = [&](ConnState from, ConnState to) {
    moves[static_cast<int>(from)] |= 1u << static_cast<int>(to);
  };
  allow(ConnState::kFree, ConnState::kHandshake);
  allow(ConnState::kHandshake, ConnState::kOpen);
  allow(ConnState::kHandshake, ConnState::kClosing);
  allow(ConnState::kOpen, ConnState::kClosing);
  allow(ConnState::kOpen, ConnState::kTunnel);
  allow(ConnState::kTunnel, ConnState::kClosing);
  allow(ConnState::kClosing, ConnState::kChainSubmitted);
  allow(ConnState::kChainSubmitted, ConnState::kClosed);
  allow(ConnState::kClosed, ConnState::kFree);
  return moves;
}();

constexpr bool IsLegalMove(ConnState from, ConnState to) {
  return (kLegalMoves[static_cast<int>(from)] >> static_cast<int>(to)) & 1u;
}

static_assert(kConnStateCount == 7);
static_assert(ConnStateName(ConnState::kChainSubmitted) == "chain_submitted");
static_assert(IsLegalMove(ConnState::kOpen, ConnState::kClosing));
static_assert(!IsLegalMove(ConnState::kOpen, ConnState::kHandshake), "no way back");
static_assert(!IsLegalMove(ConnState::kClosing, ConnState::kClosed),
              "the chain closes, nothing else");

// How a connection is asked to close. Each kind says what happens to what we still owe.
enum class CloseKind : uint8_t {
  kGraceful,       // flush what is owed, close_notify, FIN, wait for the peer with a deadline
  kAbort,          // flush what is owed, no close_notify: a cut response reads as cut
  kStalledClient,  // the client reads nothing: drop what is owed, cancel the stuck send, abort
  kDrainCut,       // --drain-timeout passed: cancel whatever is pending and close
};

}  // namespace ringgate

#endif  // RINGGATE_PROXY_CONN_STATE_H_
