// buffer_ring.h
// A provided-buffer ring for multishot recv: the kernel picks a buffer per completion, we copy
// the bytes out and hand the buffer straight back. liburing's io_uring_setup_buf_ring maps and
// registers the ring itself (the small array of buffer descriptors); the buffers' memory is
// mapped here on its own, so that its pages can go back to the kernel when the worker is idle.
// Close() before the io_uring exits: unregistering needs the ring.
//
// Not incremental (IOU_PBUF_RING_INC), on purpose: with it the kernel fills one buffer from many
// recvs and the application must work out where each completion's bytes start by adding up the
// completions in the order it sees them. A multishot recv's final completion is posted later
// than the ones of recvs that ran after it, so that order is not the order the buffer was
// filled in: one connection would be handed another's bytes. (Tried for issue 13, with no
// measurable gain on 1 MiB responses either.)
//
//   BufferRing buffers;
//   absl::Status s = buffers.Init(&ring, /*group=*/0, /*count=*/1024, /*size=*/16384);
//   ... on a recv completion with IORING_CQE_F_BUFFER:
//   uint16_t bid = BufferRing::BufferId(cqe->flags);
//   consume(buffers.Data(bid), cqe->res);
//   buffers.Return(bid);
#ifndef RINGGATE_CORE_BUFFER_RING_H_
#define RINGGATE_CORE_BUFFER_RING_H_

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/status.h"

namespace ringgate {

class BufferRing {
 public:
  BufferRing() = default;
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  // `count` must be a power of two. With a null `ring` only the buffers are mapped, for tests
  // that write a "received" buffer themselves (MutableData) and complete a recv by hand.
  absl::Status Init(io_uring* ring, uint16_t group, uint32_t count, uint32_t size);
  static uint16_t BufferId(uint32_t cqe_flags) {
    return static_cast<uint16_t>(cqe_flags >> IORING_CQE_BUFFER_SHIFT);
  }
  std::string_view Data(uint16_t bid, size_t len) const {
    return {storage_ + static_cast<size_t>(bid) * size_, len};
  }
  char* MutableData(uint16_t bid) { return storage_ + static_cast<size_t>(bid) * size_; }
  uint32_t buffer_size() const { return size_; }
  void Return(uint16_t bid);
  // Unregisters the group and unmaps the ring and the buffers; the destructor calls it too. The
  // owner of the io_uring calls it before io_uring_queue_exit.
  void Close();
  uint16_t group() const { return group_; }
  // Hands the buffers' pages back to the kernel (they read as zeros until the kernel fills them
  // again). Only while no buffer holds bytes anyone still needs: the worker calls it with no
  // client connection left, after a load peak touched every buffer.
  void ReleaseIdlePages();

 private:
  io_uring* ring_ = nullptr;
  io_uring_buf_ring* br_ = nullptr;  // count_ descriptors, mapped by io_uring_setup_buf_ring
  char* storage_ = nullptr;  // count_ * size_ bytes, mapped on its own so that pages can go back
  size_t storage_bytes_ = 0;
  uint32_t count_ = 0;
  uint32_t size_ = 0;
  uint16_t group_ = 0;
};

}  // namespace ringgate

#endif  // RINGGATE_CORE_BUFFER_RING_H_
