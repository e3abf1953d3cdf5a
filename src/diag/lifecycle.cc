#include "ringgate/diag/lifecycle.h"

namespace ringgate {

void Lifecycle::Enter(LifecycleState state, int64_t now_ns) {
  if (state > state_) state_ = state;
  auto& slot = entered_ns_[static_cast<int>(state)];
  if (slot == 0) slot = now_ns;
}

void Lifecycle::End(TerminationCause cause, int64_t now_ns) {
  if (cause_ == TerminationCause::kNone) cause_ = cause;
  Enter(LifecycleState::kTcpClosed, now_ns);
}

std::string Lifecycle::Path() const {
  std::string path;
  for (int i = 0; i < kLifecycleStateCount; ++i) {
    if (entered_ns_[i] == 0) continue;
    if (!path.empty()) path += '>';
    path += LifecycleStateName(static_cast<LifecycleState>(i));
  }
  return path;
}

}  // namespace ringgate
