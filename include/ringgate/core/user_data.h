// user_data.h
// The 64-bit io_uring user_data of every submission ringgate makes: which operation it was
// (8 bits), the generation of the slot it belongs to (24 bits) and the slot (32 bits). It is a
// value, never a pointer, so a completion that arrives after its connection was closed and the
// slot reused is recognised by its stale generation, counted and dropped.
//
//   uint64_t tag = EncodeTag({Op::kClientRecv, conn.generation, slot});
//   ...
//   OpTag t = DecodeTag(cqe->user_data);
#ifndef RINGGATE_CORE_USER_DATA_H_
#define RINGGATE_CORE_USER_DATA_H_

#include <cstdint>

namespace ringgate {

enum class Op : uint8_t {
  kNone = 0,
  kAccept,               // multishot accept on the worker's listener
  kWake,                 // read on the worker's eventfd: a stop, drain, reload or snapshot request
  kAcceptCancel,         // cancellation of the multishot accept when draining
  kClientRecv,           // multishot recv of client ciphertext into the buffer ring
  kClientSend,           // ordered send of client ciphertext (one in flight per connection)
  kClientCancelRecv,     // cancellation of the multishot recv, before a shutdown chain
  kShutdownFlush,        // chain step 1: rest of the ciphertext owed to the client
  kShutdownCloseNotify,  // chain step 2: our close_notify alert
  kShutdownHalfClose,    // chain step 3: shutdown(SHUT_WR), the FIN
  kShutdownDrainRecv,  // chain step 4: read until the peer's FIN, its close_notify or the deadline
  kShutdownDeadline,   // chain step 5: the linked timeout on the drain recv
  kShutdownClose,      // chain step 6: close(2), hard-linked so that it always runs
  kCloseAfterBrokenChain,  // our own close when the chain's close was cancelled
  kUpstreamConnect,        // connect(2) to the backend
  kUpstreamRecv,           // multishot recv of backend bytes
  kUpstreamSend,           // ordered send of the request to the backend
  kUpstreamCancelRecv,     // cancellation of the backend recv before closing it
  kUpstreamClose,          // close(2) of a backend socket
  kAcceptRetry,            // the timeout after which accepting resumes (out of descriptors)
  kUpstreamHalfClose,      // shutdown(SHUT_WR) of a tunnel's backend socket: the client is done
};

// Every Op belongs to exactly one owner. Completion handlers switch over Op without a
// `default`, naming the groups they do not own with these case lists, so that a new Op that is
// not placed in a group fails to compile (-Wswitch) rather than being dropped.
#define RINGGATE_WORKER_OP_CASES \
  case Op::kNone:                \
  case Op::kAccept:              \
  case Op::kWake:                \
  case Op::kAcceptCancel:        \
  case Op::kAcceptRetry
#define RINGGATE_CLIENT_IO_OP_CASES \
  case Op::kClientRecv:             \
  case Op::kClientSend:             \
  case Op::kClientCancelRecv
#define RINGGATE_SHUTDOWN_CHAIN_OP_CASES \
  case Op::kShutdownFlush:               \
  case Op::kShutdownCloseNotify:         \
  case Op::kShutdownHalfClose:           \
  case Op::kShutdownDrainRecv:           \
  case Op::kShutdownDeadline:            \
  case Op::kShutdownClose:               \
  case Op::kCloseAfterBrokenChain
#define RINGGATE_UPSTREAM_OP_CASES \
  case Op::kUpstreamConnect:       \
  case Op::kUpstreamRecv:          \
  case Op::kUpstreamSend:          \
  case Op::kUpstreamCancelRecv:    \
  case Op::kUpstreamClose:         \
  case Op::kUpstreamHalfClose

struct OpTag {
  Op op = Op::kNone;
  uint32_t generation = 0;  // only the low 24 bits are kept
  uint32_t slot = 0;
};

inline constexpr uint32_t kGenerationMask = (1u << 24) - 1;

constexpr uint64_t EncodeTag(OpTag tag) {
  return (static_cast<uint64_t>(tag.op) << 56) |
         (static_cast<uint64_t>(tag.generation & kGenerationMask) << 32) | tag.slot;
}

constexpr OpTag DecodeTag(uint64_t user_data) {
  return OpTag{static_cast<Op>(user_data >> 56),
               static_cast<uint32_t>((user_data >> 32) & kGenerationMask),
               static_cast<uint32_t>(user_data & 0xffffffffu)};
}

static_assert(DecodeTag(EncodeTag({Op::kShutdownClose, 0xabcdef, 0xfffffffe})).op ==
              Op::kShutdownClose);
static_assert(DecodeTag(EncodeTag({Op::kShutdownClose, 0xabcdef, 0xfffffffe})).generation ==
              0xabcdef);
static_assert(DecodeTag(EncodeTag({Op::kShutdownClose, 0xabcdef, 0xfffffffe})).slot == 0xfffffffe);
static_assert(DecodeTag(EncodeTag({Op::kAccept, 0x1ffffff, 7})).generation == 0xffffff,
              "generation wraps at 24 bits instead of spilling into the op");

}  // namespace ringgate

#endif  // RINGGATE_CORE_USER_DATA_H_
