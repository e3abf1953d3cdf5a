#include "ringgate/core/check.h"

#include <cstdio>
#include <cstdlib>

namespace ringgate {

void CheckFailed(const char* condition, const char* message, const char* file, int line) {
  // Straight to stderr: the async logger may never get to run again.
  std::fprintf(stderr, "ringgate: internal error at %s:%d: %s (%s)\n", file, line, message,
               condition);
  std::abort();
}

}  // namespace ringgate
