// uring_features.h
// io_uring features newer than Debian 12's liburing headers, and start-up checks for the ones a
// flag asks for, so that an unsupported kernel stops ringgate with a message instead of failing
// connections one by one.
#ifndef RINGGATE_CORE_URING_FEATURES_H_
#define RINGGATE_CORE_URING_FEATURES_H_

#include <liburing.h>

#include "absl/status/status.h"

// Linux 6.2: a zero-copy send's notification says whether the kernel copied after all.
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

namespace ringgate {

// Submits a one-byte zero-copy send with usage reporting (what --send-zc-threshold submits) and
// checks that the kernel takes the opcode and its flags.
absl::Status CheckZeroCopySendSupport();

// Whether a multishot recv can be given a byte limit after which it ends (Linux 6.17 or so:
// the SQE's optlen field, which older kernels refuse for recv with EINVAL). Probed once.
bool MultishotRecvTakesByteLimit();

// A recv into the worker's provided buffers that takes at most about `byte_limit` bytes before
// it completes for good (the last buffer may overshoot): a multishot recv with a byte limit where
// the kernel has one, else a single-shot recv of one buffer. Either way a connection whose
// reading is paused has at most that much more arriving, however fast its peer sends; the
// caller re-arms on the final completion while it still wants to read.
void PrepareBoundedRecv(io_uring_sqe* sqe, int fd, uint16_t buffer_group, uint32_t byte_limit);

}  // namespace ringgate

#endif  // RINGGATE_CORE_URING_FEATURES_H_
