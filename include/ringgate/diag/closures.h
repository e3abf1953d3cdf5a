// closures.h
// The flight recorder: the last N closed connections of one worker, each with its full stage
// timeline, how it ended, its bytes and the kernel's view of the socket at the final close.
// Written only by its worker; read through the worker's snapshot (see Worker::Snapshot).
#ifndef RINGGATE_DIAG_CLOSURES_H_
#define RINGGATE_DIAG_CLOSURES_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "ringgate/diag/lifecycle.h"
#include "ringgate/shutdown/tcp_close_view.h"

namespace ringgate {

struct ClosureRecord {
  uint64_t id = 0;
  std::string peer;
  TerminationCause cause = TerminationCause::kNone;
  CloseInitiator initiator = CloseInitiator::kNone;
  std::string tls_version;
  std::string server_name;  // SNI as the client sent it (lower-case, sanitised); empty: none
  uint64_t requests = 0;
  uint64_t tls_bytes_in = 0, tls_bytes_out = 0, http_bytes_in = 0, http_bytes_out = 0;
  uint64_t pending_at_shutdown = 0;
  uint64_t drained_bytes = 0;
  bool close_notify_sent = false;
  bool close_notify_received = false;
  // A WebSocket tunnel: how long it ran and what it relayed each way (all 0 when there was none).
  bool tunnel = false;
  int64_t tunnel_ns = 0;
  uint64_t tunnel_bytes_to_backend = 0, tunnel_bytes_to_client = 0;
  TcpCloseView tcp;
  std::array<int64_t, kLifecycleStateCount> entered_ns{};  // monotonic; 0 = not reached
  int64_t closed_unix_ms = 0;
};

class ClosureRecorder {
 public:
  explicit ClosureRecorder(size_t capacity) : capacity_(capacity) {}
  void Add(ClosureRecord record);
  // Oldest first, as JSON objects separated by commas.
  void AppendJson(fmt::memory_buffer& out, int worker) const;
  size_t size() const { return records_.size(); }

 private:
  size_t capacity_;
  size_t next_ = 0;  // where the next record goes once full
  std::vector<ClosureRecord> records_;
};

// One closure as a JSON object (shared by /closures and tests).
void AppendClosureJson(fmt::memory_buffer& out, const ClosureRecord& r, int worker);

}  // namespace ringgate

#endif  // RINGGATE_DIAG_CLOSURES_H_
