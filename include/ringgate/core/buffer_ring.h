// buffer_ring.h
// A provided-buffer ring for multishot recv: the kernel picks a buffer per completion, we copy
// the bytes out and hand the buffer straight back. liburing's io_uring_setup_buf_ring maps and
// registers the ring itself (the small array of buffer descriptors); the buffers' memory is
// mapped here on its own, so that its pages can go back to the kernel when the worker is idle.
// Close() before the io_uring exits: unregistering needs the ring.
//
// Incremental consumption (IOU_PBUF_RING_INC, Linux 6.12; asked for with Init's `incremental`):
// a recv takes only the bytes it needs from the current buffer and the next one continues where
// it left off, so large buffers serve a 64 KiB backend body in one completion and a 300-byte
// request head without tying up a whole buffer. The kernel flags a completion whose buffer it
// will go on filling (IORING_CQE_F_BUF_MORE); only one without that flag gives the buffer back.
//
//   BufferRing buffers;
//   absl::Status s = buffers.Init(&ring, /*group=*/0, /*count=*/64, /*size=*/65536,
//                                 /*incremental=*/true);
//   ... on a recv completion with IORING_CQE_F_BUFFER:
//   uint16_t bid = BufferRing::BufferId(cqe->flags);
//   consume(buffers.Received(bid, cqe->res));
//   buffers.Consumed(bid, cqe->res, cqe->flags);   // back to the kernel once used up
#ifndef RINGGATE_CORE_BUFFER_RING_H_
#define RINGGATE_CORE_BUFFER_RING_H_

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

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
  // `incremental` asks for IOU_PBUF_RING_INC; a kernel without it gets a plain ring
  // (incremental() says which).
  absl::Status Init(io_uring* ring, uint16_t group, uint32_t count, uint32_t size,
                    bool incremental = false);
  static uint16_t BufferId(uint32_t cqe_flags) {
    return static_cast<uint16_t>(cqe_flags >> IORING_CQE_BUFFER_SHIFT);
  }
  // The first `len` bytes of buffer `bid`.
  std::string_view Data(uint16_t bid, size_t len) const {
    return {storage_ + static_cast<size_t>(bid) * size_, len};
  }
  // The `len` bytes a recv completion put in buffer `bid`: where the buffer's earlier
  // completions left off, on an incremental ring.
  std::string_view Received(uint16_t bid, size_t len) const {
    return {storage_ + static_cast<size_t>(bid) * size_ + (incremental_ ? filled_[bid] : 0), len};
  }
  // After that completion's bytes were handled: the buffer goes back to the kernel unless the
  // kernel will go on filling it (IORING_CQE_F_BUF_MORE in `cqe_flags`).
  void Consumed(uint16_t bid, size_t len, uint32_t cqe_flags) {
    if (incremental_ && (cqe_flags & IORING_CQE_F_BUF_MORE) != 0) {
      filled_[bid] += static_cast<uint32_t>(len);
      return;
    }
    if (incremental_) filled_[bid] = 0;
    Return(bid);
  }
  bool incremental() const { return incremental_; }
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
  bool incremental_ = false;
  std::vector<uint32_t> filled_;  // incremental: bytes of each buffer already delivered
};

}  // namespace ringgate

#endif  // RINGGATE_CORE_BUFFER_RING_H_
