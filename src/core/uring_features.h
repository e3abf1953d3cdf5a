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

}  // namespace ringgate

#endif  // RINGGATE_CORE_URING_FEATURES_H_
