// tcp_close_view.h
// What the kernel said about a socket just before its last reference was closed: whether the
// response was still unacknowledged, and whether unread input was left (which makes the kernel
// send RST).
#ifndef RINGGATE_SHUTDOWN_TCP_CLOSE_VIEW_H_
#define RINGGATE_SHUTDOWN_TCP_CLOSE_VIEW_H_

#include <cstdint>

namespace ringgate {

struct TcpCloseView {
  bool valid = false;
  uint32_t unacked_segments = 0;  // TCP_INFO tcpi_unacked
  uint32_t notsent_bytes = 0;     // TCP_INFO tcpi_notsent_bytes
  int32_t send_queue_bytes = 0;   // SIOCOUTQ: sent but unacknowledged plus not yet sent
  int32_t unread_bytes = 0;       // SIOCINQ: received but never read (the kernel will send RST)
};

}  // namespace ringgate

#endif  // RINGGATE_SHUTDOWN_TCP_CLOSE_VIEW_H_
