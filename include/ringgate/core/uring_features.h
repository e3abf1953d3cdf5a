// uring_features.h
// Start-up checks for the io_uring features a flag asks for, so that an unsupported kernel stops
// ringgate with a message instead of failing connections one by one. The constants come from
// liburing's own copy of the kernel's io_uring.h (subprojects/liburing), which is newer than any
// kernel ringgate runs on: a constant being defined says nothing about the running kernel.
#ifndef RINGGATE_CORE_URING_FEATURES_H_
#define RINGGATE_CORE_URING_FEATURES_H_

#include <liburing.h>

#include "absl/status/status.h"

namespace ringgate {

// Submits a one-byte zero-copy send with usage reporting (what --send-zc-threshold submits) and
// checks that the kernel takes the opcode and its flags.
absl::Status CheckZeroCopySendSupport();

// Whether the kernel has min-wait batching (IORING_FEAT_MIN_TIMEOUT, Linux 6.12), which
// --batch-wait asks for.
absl::Status CheckBatchWaitSupport();

// Whether a multishot recv can be given a byte limit after which it ends (Linux 6.17 or so:
// the SQE's optlen field, which older kernels refuse for recv with EINVAL; liburing 2.9 has
// the field but no helper that sets it). Probed once.
bool MultishotRecvTakesByteLimit();

// A recv into the worker's provided buffers that takes at most about `byte_limit` bytes before
// it completes for good (the last buffer may overshoot): a multishot recv with a byte limit where
// the kernel has one, else a single-shot recv of one buffer. Either way a connection whose
// reading is paused has at most that much more arriving, however fast its peer sends; the
// caller re-arms on the final completion while it still wants to read.
void PrepareBoundedRecv(io_uring_sqe* sqe, int fd, uint16_t buffer_group, uint32_t byte_limit);

}  // namespace ringgate

#endif  // RINGGATE_CORE_URING_FEATURES_H_
