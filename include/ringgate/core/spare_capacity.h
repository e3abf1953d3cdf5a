// spare_capacity.h
// How a connection's byte buffers give memory back. A buffer emptied of its bytes keeps its
// capacity for the next use only up to a page: a keep-alive client's small exchanges reuse it
// without touching the allocator, while the tens of KiB a bulk transfer or a flood grew it to go
// back to the worker's allocator at once, for any connection to reuse, instead of staying with a
// connection that may now stall for minutes.
//
//   EmptyBuffer(plain_out_);  // after its bytes were encrypted
#ifndef RINGGATE_CORE_SPARE_CAPACITY_H_
#define RINGGATE_CORE_SPARE_CAPACITY_H_

#include <cstddef>
#include <string>

namespace ringgate {

// A page: a keep-alive exchange's head and small body, or a few pipelined requests.
inline constexpr size_t kKeptBufferCapacity = 4096;

inline void EmptyBuffer(std::string& buffer) {
  if (buffer.capacity() > kKeptBufferCapacity) {
    std::string().swap(buffer);
  } else {
    buffer.clear();
  }
}

}  // namespace ringgate

#endif  // RINGGATE_CORE_SPARE_CAPACITY_H_
