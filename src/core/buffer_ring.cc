#include "ringgate/core/buffer_ring.h"

#include <sys/mman.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace ringgate {

BufferRing::~BufferRing() { Close(); }

void BufferRing::Close() {
  if (br_ != nullptr) {
    // Fails only when the io_uring is gone already, which took the registration with it; the
    // descriptors' memory is then still ours to unmap.
    if (io_uring_free_buf_ring(ring_, br_, count_, group_) != 0) {
      munmap(br_, sizeof(io_uring_buf) * count_);
    }
    br_ = nullptr;
  }
  if (storage_ != nullptr) {
    munmap(storage_, storage_bytes_);
    storage_ = nullptr;
  }
}

void BufferRing::ReleaseIdlePages() {
  if (storage_ != nullptr) madvise(storage_, storage_bytes_, MADV_DONTNEED);
}

absl::Status BufferRing::Init(io_uring* ring, uint16_t group, uint32_t count, uint32_t size) {
  if (count == 0 || (count & (count - 1)) != 0 || count > 32768) {
    return absl::InvalidArgumentError(
        absl::StrCat("recv buffer count must be a power of two up to 32768, got ", count));
  }
  ring_ = ring;
  group_ = group;
  count_ = count;
  size_ = size;
  if (ring != nullptr) {
    int err = 0;
    br_ = io_uring_setup_buf_ring(ring, count, group, 0, &err);  // registered, tail at zero
    if (br_ == nullptr) {
      return absl::UnavailableError(absl::StrCat("io_uring_setup_buf_ring: ", std::strerror(-err)));
    }
  }
  storage_bytes_ = static_cast<size_t>(count) * size;
  void* storage =
      mmap(nullptr, storage_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (storage == MAP_FAILED) {
    storage_bytes_ = 0;
    return absl::ResourceExhaustedError(
        absl::StrCat("mmap of recv buffers: ", std::strerror(errno)));
  }
  storage_ = static_cast<char*>(storage);
  if (br_ == nullptr) return absl::OkStatus();
  int mask = io_uring_buf_ring_mask(count);
  for (uint32_t bid = 0; bid < count; ++bid) {
    io_uring_buf_ring_add(br_, storage_ + static_cast<size_t>(bid) * size, size,
                          static_cast<uint16_t>(bid), mask, static_cast<int>(bid));
  }
  io_uring_buf_ring_advance(br_, static_cast<int>(count));
  return absl::OkStatus();
}

void BufferRing::Return(uint16_t bid) {
  if (br_ == nullptr) return;  // not registered: a test fills the buffers itself
  io_uring_buf_ring_add(br_, storage_ + static_cast<size_t>(bid) * size_, size_, bid,
                        io_uring_buf_ring_mask(count_), 0);
  io_uring_buf_ring_advance(br_, 1);
}

}  // namespace ringgate
