#include "ringgate/proxy/upstream_pool.h"

#include <algorithm>
#include <memory>

#include "absl/time/time.h"
#include "ringgate/proxy/worker.h"

namespace ringgate {

Upstream* UpstreamPool::Acquire() {
  while (!idle_.empty()) {
    Upstream* u = slots_.At(idle_.back());
    idle_.pop_back();
    if (u->state() == Upstream::State::kConnected) {
      u->set_reused(true);
      return u;
    }
  }
  Upstream& u =
      slots_.Acquire([&](uint32_t slot) { return std::make_unique<Upstream>(worker_, slot); });
  u.ResetForNewSocket();
  if (!u.Connect()) {
    slots_.Release(u.slot());
    return nullptr;
  }
  return &u;
}

void UpstreamPool::Release(Upstream* upstream, bool reusable) {
  upstream->Unbind();
  // Pooled up to --upstream-idle-max: after a load peak the pool must not keep every connection
  // the peak needed.
  if (reusable && upstream->state() == Upstream::State::kConnected && !worker_.draining() &&
      idle_.size() < worker_.config().upstream_idle_max) {
    upstream->set_idle_since_ns(worker_.NowNs());
    // A pause for a slow client can outlive the exchange (the response's last bytes were
    // already on their way when it was issued); an idle connection must read, both to notice a
    // backend close and to receive the next response.
    upstream->ResumeRecv();
    idle_.push_back(upstream->slot());
  } else {
    upstream->Close();
  }
}

Upstream* UpstreamPool::At(uint32_t slot, uint32_t generation) const {
  Upstream* u = slots_.At(slot);
  return (u != nullptr && u->state() != Upstream::State::kFree && u->generation() == generation)
             ? u
             : nullptr;
}

void UpstreamPool::FreeSlot(uint32_t slot) {
  if (auto it = std::find(idle_.begin(), idle_.end(), slot); it != idle_.end()) idle_.erase(it);
  slots_.Release(slot);
}

void UpstreamPool::SweepIdle(int64_t now_ns) {
  if (idle_.empty() || now_ns < next_sweep_ns_) return;
  next_sweep_ns_ = now_ns + 1'000'000'000;
  const int64_t oldest_allowed =
      now_ns - absl::ToInt64Nanoseconds(worker_.config().upstream_idle_timeout);
  size_t expired = 0;
  while (expired < idle_.size() && slots_.At(idle_[expired])->idle_since_ns() <= oldest_allowed) {
    ++expired;
  }
  if (expired == 0) return;
  std::vector<uint32_t> closing(idle_.begin(), idle_.begin() + static_cast<long>(expired));
  idle_.erase(idle_.begin(), idle_.begin() + static_cast<long>(expired));
  for (uint32_t slot : closing) slots_.At(slot)->Close();
}

void UpstreamPool::CloseIdle() {
  std::vector<uint32_t> closing;
  closing.swap(idle_);
  for (uint32_t slot : closing) slots_.At(slot)->Close();
}

int64_t UpstreamPool::NextSweepNs(int64_t now_ns) const {
  if (idle_.empty()) return -1;
  return std::max(next_sweep_ns_, now_ns + 1'000'000);
}

}  // namespace ringgate
