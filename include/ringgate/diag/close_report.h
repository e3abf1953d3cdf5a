// close_report.h
// How a connection ended, told once: the termination events a connection records as they
// happen (TerminationLog), the cause and initiator read off them, and the report made from the
// result when the socket is closed (ReportClose: the "closed" log line, the close metrics and
// the flight recorder's entry).
//
//   TerminationLog events;
//   events.NoteInitiator(CloseInitiator::kClient);   // the first initiator named wins
//   events.Record(TerminationEvent::kPeerCloseNotify, now);
//   ...
//   record.cause = events.Cause();                  // kClean
#ifndef RINGGATE_DIAG_CLOSE_REPORT_H_
#define RINGGATE_DIAG_CLOSE_REPORT_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "ringgate/diag/closures.h"
#include "ringgate/diag/lifecycle.h"
#include "ringgate/diag/metrics.h"
#include "ringgate/tls/tls_group.h"

namespace ringgate {

// Something that decides how a connection ends, recorded when it happens.
enum class TerminationEvent : uint8_t {
  kPeerCloseNotify,  // the client's close_notify was decrypted
  kPeerFin,          // the client's FIN: a recv returned 0, or the drain recv came back short
  kPeerReset,        // the client reset the connection or cannot receive (ECONNRESET, EPIPE)
  kIoError,          // another socket error, or wolfSSL refused to encrypt
  kDeadline,         // one of our deadlines ended the close: close_notify wait, backstop, drain cut
  kAborted,          // we chose to end without close_notify; the event carries why
};

class TerminationLog {
 public:
  struct Entry {
    TerminationEvent event;
    int64_t at_ns;
    TerminationCause abort_cause;  // kAborted only
  };

  void Record(TerminationEvent event, int64_t at_ns,
              TerminationCause abort_cause = TerminationCause::kNone);
  // Who decided the connection should close: the first one named counts.
  void NoteInitiator(CloseInitiator initiator) {
    if (initiator_ == CloseInitiator::kNone) initiator_ = initiator;
  }
  bool Has(TerminationEvent event) const { return (seen_ & Bit(event)) != 0; }
  // A reset outranks everything (the peer cannot have seen a clean end); then the first abort's
  // reason; then an I/O error; then the peer's close_notify (clean), its FIN; else a deadline.
  TerminationCause Cause() const;
  // The initiator named first, or the client when nobody was (it closed before we decided).
  CloseInitiator Initiator() const {
    return initiator_ == CloseInitiator::kNone ? CloseInitiator::kClient : initiator_;
  }
  CloseInitiator initiator_so_far() const { return initiator_; }
  const std::vector<Entry>& entries() const { return entries_; }
  void Clear() {
    entries_.clear();
    seen_ = 0;
    initiator_ = CloseInitiator::kNone;
  }

 private:
  static uint32_t Bit(TerminationEvent event) { return 1u << static_cast<int>(event); }
  std::vector<Entry> entries_;
  uint32_t seen_ = 0;
  CloseInitiator initiator_ = CloseInitiator::kNone;
};

// What ReportClose needs beyond the flight recorder's entry.
struct CloseContext {
  const Lifecycle& life;
  LifecycleState last_state;  // before the close ended it (for the per-state gauge)
  TlsGroup tls_group;
  int64_t now_ns;
};

// The close metrics (by cause and initiator, bytes, stage timings), the debug lines of the last
// stages and the "closed" line. `metrics` may be null (--diagnostics=false).
void ReportClose(const ClosureRecord& record, const CloseContext& context, WorkerMetrics* metrics);

}  // namespace ringgate

#endif  // RINGGATE_DIAG_CLOSE_REPORT_H_
