// sq_room.h
// Taking submission queue entries without ever getting NULL: when the queue is full, submit
// what is queued and, under SQPOLL (where entries leave the queue only when the kernel's thread
// takes them, not on submit), wait for that thread to make room. Worker::Sqe and the shutdown
// chain both take their entries through here.
//
// Linked SQEs must all go out in one submission (a link does not span two), so a chain first
// makes room for all of its entries and only then takes and prepares them:
//
//   MakeSqRoom(ring, 6);                                  // may submit what was queued before
//   for (int i = 0; i < 6; ++i) sqes[i] = io_uring_get_sqe(ring);  // never NULL now
#ifndef RINGGATE_CORE_SQ_ROOM_H_
#define RINGGATE_CORE_SQ_ROOM_H_

#include <liburing.h>
#include <sched.h>

namespace ringgate {

// Makes at least `count` entries free (count must not exceed the queue's size). Returns how
// many times it submitted, for the caller's metrics.
inline int MakeSqRoom(io_uring* ring, unsigned count) {
  const bool sqpoll = (ring->flags & IORING_SETUP_SQPOLL) != 0;
  int submits = 0;
  while (io_uring_sq_space_left(ring) < count) {
    io_uring_submit(ring);
    ++submits;
    if (!sqpoll || io_uring_sq_space_left(ring) >= count) continue;
    // Blocks while the queue is completely full; returns at once when a few entries are free
    // but fewer than `count`, so give the kernel's thread the CPU before looking again.
    if (io_uring_sqring_wait(ring) >= 0 && io_uring_sq_space_left(ring) < count) sched_yield();
  }
  return submits;
}

// One entry, never NULL. `submits`, when given, is increased by the submissions it took.
inline io_uring_sqe* TakeSqe(io_uring* ring, int* submits = nullptr) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  while (sqe == nullptr) {
    const int n = MakeSqRoom(ring, 1);
    if (submits != nullptr) *submits += n;
    sqe = io_uring_get_sqe(ring);
  }
  return sqe;
}

}  // namespace ringgate

#endif  // RINGGATE_CORE_SQ_ROOM_H_
