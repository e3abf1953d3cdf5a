// send_queue.h
// The bytes owed to one socket, sent strictly in order with at most one send in flight.
// New bytes wait while a send is out; when it completes they go next as one send.
#ifndef RINGGATE_CORE_SEND_QUEUE_H_
#define RINGGATE_CORE_SEND_QUEUE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "ringgate/core/spare_capacity.h"

namespace ringgate {

class SendQueue {
 public:
  void Append(std::string_view bytes) { waiting_.append(bytes); }
  // Moves whatever is in `bytes` to the back of the queue, without a copy when possible.
  void AppendOwned(std::string& bytes) {
    if (waiting_.empty()) {
      waiting_.swap(bytes);
    } else {
      waiting_.append(bytes);
    }
    EmptyBuffer(bytes);
  }
  bool busy() const { return in_flight_offset_ < in_flight_.size(); }
  size_t backlog() const { return in_flight_.size() - in_flight_offset_ + waiting_.size(); }
  bool empty() const { return backlog() == 0; }

  // The bytes to submit next, or empty when a send is already out or nothing waits. The view
  // stays valid until OnSent.
  std::string_view StartSend() {
    if (busy() || waiting_.empty()) return {};
    // The sent buffer's capacity goes to the next batch only when small (EmptyBuffer): a client
    // that stops reading then holds its owed bytes, not also the largest batch it ever took.
    EmptyBuffer(in_flight_);
    in_flight_.swap(waiting_);
    in_flight_offset_ = 0;
    return in_flight_;
  }
  // Records `n` bytes sent. Returns the rest of the in-flight buffer to resubmit after a short
  // send, or empty when it went out whole.
  std::string_view OnSent(size_t n) {
    in_flight_offset_ += n;
    if (in_flight_offset_ >= in_flight_.size()) {
      EmptyBuffer(in_flight_);
      in_flight_offset_ = 0;
      return {};
    }
    return std::string_view(in_flight_).substr(in_flight_offset_);
  }
  // Moves the bytes not yet submitted to the end of `to`, which must be empty: a writer appends
  // after them and hands everything back with AppendOwned (swaps, no copies).
  void MoveWaitingTo(std::string& to) {
    if (!waiting_.empty()) to.swap(waiting_);
  }
  // Takes everything not yet submitted (for the shutdown chain's flush step).
  std::string TakeWaiting() {
    std::string out;
    out.swap(waiting_);
    return out;
  }
  // Gives back the buffers' capacity once everything has been sent (an idle connection should
  // not keep the largest response it ever sent).
  void ReleaseIfEmpty() {
    if (!empty()) return;
    std::string().swap(in_flight_);
    std::string().swap(waiting_);
    in_flight_offset_ = 0;
  }
  void Clear() {
    in_flight_.clear();
    waiting_.clear();
    in_flight_offset_ = 0;
  }

 private:
  std::string in_flight_;
  size_t in_flight_offset_ = 0;
  std::string waiting_;
};

}  // namespace ringgate

#endif  // RINGGATE_CORE_SEND_QUEUE_H_
