#include "ringgate/proxy/upstream_pool.h"

#include <algorithm>
#include <memory>

#include "absl/time/time.h"
#include "ringgate/proxy/worker.h"

namespace ringgate {

std::vector<uint32_t>& UpstreamPool::IdleOf(size_t backend) {
  if (idle_.size() <= backend) idle_.resize(backend + 1);
  return idle_[backend];
}

Upstream* UpstreamPool::Acquire(size_t backend) {
  std::vector<uint32_t>& idle = IdleOf(backend);
  while (!idle.empty()) {
    Upstream* u = slots_.At(idle.back());
    idle.pop_back();
    --idle_count_;
    if (u->state() == Upstream::State::kConnected) {
      u->set_reused(true);
      return u;
    }
  }
  Upstream& u =
      slots_.Acquire([&](uint32_t slot) { return std::make_unique<Upstream>(worker_, slot); });
  u.ResetForNewSocket(backend);
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
      idle_count_ < worker_.config().upstream_idle_max) {
    upstream->set_idle_since_ns(worker_.NowNs());
    // A pause for a slow client can outlive the exchange (the response's last bytes were
    // already on their way when it was issued); an idle connection must read, both to notice a
    // backend close and to receive the next response.
    upstream->ResumeRecv();
    IdleOf(upstream->backend()).push_back(upstream->slot());
    ++idle_count_;
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
  for (std::vector<uint32_t>& idle : idle_) {
    if (auto it = std::find(idle.begin(), idle.end(), slot); it != idle.end()) {
      idle.erase(it);
      --idle_count_;
      break;
    }
  }
  slots_.Release(slot);
}

void UpstreamPool::SweepIdle(int64_t now_ns) {
  if (idle_count_ == 0 || now_ns < next_sweep_ns_) return;
  next_sweep_ns_ = now_ns + 1'000'000'000;
  const int64_t oldest_allowed =
      now_ns - absl::ToInt64Nanoseconds(worker_.config().upstream_idle_timeout);
  std::vector<uint32_t> closing;
  for (std::vector<uint32_t>& idle : idle_) {
    size_t expired = 0;
    while (expired < idle.size() && slots_.At(idle[expired])->idle_since_ns() <= oldest_allowed) {
      ++expired;
    }
    closing.insert(closing.end(), idle.begin(), idle.begin() + static_cast<long>(expired));
    idle.erase(idle.begin(), idle.begin() + static_cast<long>(expired));
    idle_count_ -= expired;
  }
  for (uint32_t slot : closing) slots_.At(slot)->Close();
}

void UpstreamPool::CloseIdle() {
  std::vector<uint32_t> closing;
  for (std::vector<uint32_t>& idle : idle_) {
    closing.insert(closing.end(), idle.begin(), idle.end());
    idle.clear();
  }
  idle_count_ = 0;
  for (uint32_t slot : closing) slots_.At(slot)->Close();
}

int64_t UpstreamPool::NextSweepNs(int64_t now_ns) const {
  if (idle_count_ == 0) return -1;
  return std::max(next_sweep_ns_, now_ns + 1'000'000);
}

}  // namespace ringgate
