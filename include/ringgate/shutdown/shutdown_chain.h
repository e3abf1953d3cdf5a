// shutdown_chain.h
// Closes a TLS connection politely in one submission of linked SQEs:
//
//   flush send ──LINK──> close_notify send ──LINK──> shutdown(SHUT_WR) ──LINK──>
//   drain recv ──HARDLINK──> link_timeout ──LINK──> close
//
// Sends carry MSG_WAITALL so that a short flush fails the link instead of letting the
// close_notify overtake the rest of the response (a falsely clean end). The drain recv also
// carries MSG_WAITALL: it returns at the peer's FIN, when its buffer is full, or when the
// deadline cancels it; the HARDLINK keeps the close linked even when the deadline fires, so the
// descriptor never leaks on a silent peer (see shared/FACTS.md). The drain recv also carries
// IOSQE_ASYNC so that it is never issued blocking on an io-wq worker, where kernel 6.18 would not
// start its deadline (see shutdown_chain.cc). If an earlier step fails, the close arrives as
// -ECANCELED and the caller must close the descriptor itself.
//
// Every step posts its own completion (no CQE_SKIP_SUCCESS): each one is a lifecycle stage
// with a timestamp.
//
// Steps are optional: an empty flush or close_notify is left out (an abort sends no
// close_notify), and without `wait_for_peer` the chain goes straight from the FIN to the close.
#ifndef RINGGATE_SHUTDOWN_SHUTDOWN_CHAIN_H_
#define RINGGATE_SHUTDOWN_SHUTDOWN_CHAIN_H_

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ringgate/core/ring.h"

namespace ringgate {

struct ShutdownChainSpec {
  int fd = -1;
  uint32_t generation = 0;  // user_data of every step: {Op::kShutdown*, generation, slot}
  uint32_t slot = 0;
  std::string_view flush;         // ciphertext still owed to the peer; stays valid until completion
  std::string_view close_notify;  // our alert; empty for an abort
  bool half_close = true;         // shutdown(SHUT_WR) before waiting for the peer
  bool wait_for_peer = true;      // drain recv with a deadline before the close
  char* drain_buffer = nullptr;
  size_t drain_buffer_size = 0;
  __kernel_timespec* deadline = nullptr;  // relative; read by the kernel at submission
};

// Reserves every SQE of the chain first (Ring::Reserve: it submits what is queued if the SQ lacks
// room, since links do not span submissions, and under SQPOLL waits until the kernel's thread
// has taken enough entries), then prepares them. Returns how many SQEs were prepared, i.e. how
// many completions will arrive.
int PrepareShutdownChain(Ring& ring, const ShutdownChainSpec& spec);

}  // namespace ringgate

#endif  // RINGGATE_SHUTDOWN_SHUTDOWN_CHAIN_H_
