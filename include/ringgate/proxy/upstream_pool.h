// upstream_pool.h
// A worker's backend connections: the slots they live in, and the idle ones kept for reuse. An
// exchange takes the newest idle connection (the one least likely to have been closed by the
// backend's own idle timer) or a new one whose connect is submitted; when the exchange ends, a
// reusable connection goes back, up to --upstream-idle-max, and is closed once idle for
// --upstream-idle-timeout (swept at most once a second).
//
//   Upstream* u = pool.Acquire();          // null: no socket could be made
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

  // An idle pooled connection, or a new one whose connect is submitted; null when no socket
  // could be created (out of descriptors or memory).
  Upstream* Acquire();
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
  size_t idle() const { return idle_.size(); }
  void Clear() {
    idle_.clear();
    slots_.Clear();
  }

 private:
  Worker& worker_;
  SlotTable<Upstream> slots_;
  std::vector<uint32_t> idle_;  // oldest first; reuse takes the newest
  int64_t next_sweep_ns_ = 0;
};

}  // namespace ringgate

#endif  // RINGGATE_PROXY_UPSTREAM_POOL_H_
