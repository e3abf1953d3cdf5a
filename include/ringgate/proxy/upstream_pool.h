// upstream_pool.h
// A worker's backend connections: the slots they live in, and the idle ones kept for reuse, one
// pool per backend. An exchange takes the newest idle connection to its backend (the one least
// likely to have been closed by the backend's own idle timer) or a new one whose connect is
// submitted; when the exchange ends, a reusable connection goes back, up to
// --upstream-idle-max idle ones in all of the worker's pools, and is closed once idle for
// --upstream-idle-timeout (swept at most once a second).
//
//   Upstream* u = pool.Acquire(backend);   // null: no socket could be made
//   ...
//   pool.Release(u, /*reusable=*/true);
#ifndef RINGGATE_PROXY_UPSTREAM_POOL_H_
#define RINGGATE_PROXY_UPSTREAM_POOL_H_

#include <cstdint>
#include <vector>

#include "ringgate/core/slot_table.h"
#include "ringgate/proxy/upstream.h"

namespace ringgate {

class Worker;

class UpstreamPool {
 public:
  explicit UpstreamPool(Worker& worker) : worker_(worker) {}

  // An idle pooled connection to `backend` (an index into --backend), or a new one whose connect
  // is submitted; null when no socket could be created (out of descriptors or memory).
  Upstream* Acquire(size_t backend);
  // Back to the pool when `reusable` and there is room (and the worker is not draining); else
  // closed.
  void Release(Upstream* upstream, bool reusable);
  // The connection in `slot` if it is still the one of `generation`.
  Upstream* At(uint32_t slot, uint32_t generation) const;
  // Called by an upstream whose close has completed.
  void FreeSlot(uint32_t slot);
  // Closes idle connections older than --upstream-idle-timeout (at most once a second).
  void SweepIdle(int64_t now_ns);
  // Draining: no connection is kept idle any more.
  void CloseIdle();
  // When SweepIdle next needs to run, or -1 when nothing is idle.
  int64_t NextSweepNs(int64_t now_ns) const;
  size_t idle() const { return idle_count_; }
  void Clear() {
    idle_.clear();
    idle_count_ = 0;
    slots_.Clear();
  }

 private:
  Worker& worker_;
  SlotTable<Upstream> slots_;
  std::vector<uint32_t>& IdleOf(size_t backend);
  // Per backend, oldest first; reuse takes the newest.
  std::vector<std::vector<uint32_t>> idle_;
  size_t idle_count_ = 0;
  int64_t next_sweep_ns_ = 0;
};

}  // namespace ringgate

#endif  // RINGGATE_PROXY_UPSTREAM_POOL_H_
