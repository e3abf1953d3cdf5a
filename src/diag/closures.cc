#include "ringgate/diag/closures.h"

#include <iterator>

#include "ringgate/core/log.h"

namespace ringgate {

void ClosureRecorder::Add(ClosureRecord record) {
  if (capacity_ == 0) return;
  if (records_.size() < capacity_) {
    records_.push_back(std::move(record));
    return;
  }
  records_[next_] = std::move(record);
  next_ = (next_ + 1) % capacity_;
}

void ClosureRecorder::AppendJson(fmt::memory_buffer& out, int worker) const {
  for (size_t i = 0; i < records_.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendClosureJson(out, records_[(next_ + i) % records_.size()], worker);
  }
}

void AppendClosureJson(fmt::memory_buffer& out, const ClosureRecord& r, int worker) {
  auto sink = std::back_inserter(out);
  fmt::format_to(sink,
                 "{{\"conn\":\"{}\",\"worker\":{},\"peer\":\"{}\",\"cause\":\"{}\","
                 "\"initiator\":\"{}\",\"tls_version\":\"{}\",\"requests\":{},"
                 "\"tls_bytes_in\":{},\"tls_bytes_out\":{},\"http_bytes_in\":{},"
                 "\"http_bytes_out\":{},\"pending_at_shutdown_bytes\":{},\"drained_bytes\":{},"
                 "\"close_notify_sent\":{},\"close_notify_received\":{},\"closed_unix_ms\":{},",
                 FormatConnectionId(r.id), worker, r.peer, TerminationCauseName(r.cause),
                 CloseInitiatorName(r.initiator), r.tls_version, r.requests, r.tls_bytes_in,
                 r.tls_bytes_out, r.http_bytes_in, r.http_bytes_out, r.pending_at_shutdown,
                 r.drained_bytes, r.close_notify_sent, r.close_notify_received, r.closed_unix_ms);
  if (r.tunnel) {
    fmt::format_to(sink,
                   "\"tunnel\":{{\"duration_ms\":{:.3f},\"bytes_to_backend\":{},"
                   "\"bytes_to_client\":{}}},",
                   static_cast<double>(r.tunnel_ns) / 1e6, r.tunnel_bytes_to_backend,
                   r.tunnel_bytes_to_client);
  }
  // A valid host name, or one sanitised to letters, digits, "-._*?": nothing to escape.
  if (!r.server_name.empty()) fmt::format_to(sink, "\"sni\":\"{}\",", r.server_name);
  if (r.tcp.valid) {
    fmt::format_to(sink,
                   "\"tcp_at_close\":{{\"unacked_segments\":{},\"notsent_bytes\":{},"
                   "\"send_queue_bytes\":{},\"unread_bytes\":{}}},",
                   r.tcp.unacked_segments, r.tcp.notsent_bytes, r.tcp.send_queue_bytes,
                   r.tcp.unread_bytes);
  } else {
    fmt::format_to(sink, "\"tcp_at_close\":null,");
  }
  // Stage timeline in milliseconds since the connection was created.
  fmt::format_to(sink, "\"timeline_ms\":{{");
  bool first = true;
  const int64_t created = r.entered_ns[0];
  for (int s = 0; s < kLifecycleStateCount; ++s) {
    if (r.entered_ns[s] == 0) continue;
    fmt::format_to(sink, "{}\"{}\":{:.3f}", first ? "" : ",",
                   LifecycleStateName(static_cast<LifecycleState>(s)),
                   static_cast<double>(r.entered_ns[s] - created) / 1e6);
    first = false;
  }
  fmt::format_to(sink, "}}}}");
}

}  // namespace ringgate
