#include "ringgate/proxy/worker.h"

#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "ringgate/core/log.h"
#include "ringgate/proxy/client_connection.h"
#include "ringgate/proxy/upstream.h"
#include "spdlog/spdlog.h"

namespace ringgate {
namespace {

// Under AddressSanitizer the heap is the sanitizer's: glibc's malloc_trim would walk arenas that
// glibc never set up (it crashed a sanitized test run).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kGlibcHeap = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kGlibcHeap = false;
#else
constexpr bool kGlibcHeap = true;
#endif
#else
constexpr bool kGlibcHeap = true;
#endif

}  // namespace

Worker::Worker(int id, const Config& config, const TlsContext& tls)
    : id_(id),
      config_(config),
      tls_(tls),
      backend_addresses_(config.backends),
      backends_(config, id,
                static_cast<uint64_t>(MonotonicClock::Now()) + static_cast<uint64_t>(id)),
      closures_(config.diagnostics ? config.closures_per_worker : 0) {
  backends_.set_metrics(metrics());
}

Worker::Worker(int id, const Config& config, const TlsContext& tls, Ring& ring, Clock& clock)
    : Worker(id, config, tls) {
  ring_ = &ring;
  clock_ = &clock;
  const absl::Status mapped =
      buffers_.Init(/*ring=*/nullptr, /*group=*/0, config_.recv_buffers, config_.recv_buffer_size);
  RINGGATE_CHECK(mapped.ok(), "recv buffers for a test worker");
}

Worker::~Worker() {
  // Connections go first: their destructors free wolfSSL objects, not ring resources.
  clients_.Clear();
  upstreams_.Clear();
  buffers_.Close();  // unregistering the buffer group needs the ring
  uring_.reset();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

absl::Status Worker::Listen() {
  listen_fd_ = socket(config_.listen.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (bind(listen_fd_, config_.listen.get(), config_.listen.length) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config_.listen.text, ": ", std::strerror(errno)));
  }
  if (listen(listen_fd_, 4096) != 0) {
    return absl::UnavailableError(
        absl::StrCat("listen on ", config_.listen.text, ": ", std::strerror(errno)));
  }
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  return absl::OkStatus();
}

absl::Status Worker::SetUpRing() {
  uring_ = std::make_unique<UringRing>();
  absl::Status status = uring_->Init(UringRing::Options{
      config_.ring_entries, config_.sqpoll, config_.sqpoll_idle_ms, config_.batch_wait_us});
  if (!status.ok()) return status;
  if (uring_->used_default_flags()) {
    LogLine(spdlog::level::warn,
            "io_uring refused SINGLE_ISSUER|DEFER_TASKRUN; using default flags")
        .With("worker", id_);
  }
  ring_ = uring_.get();
  return buffers_.Init(uring_->raw(), /*group=*/0, config_.recv_buffers, config_.recv_buffer_size);
}

void Worker::ArmAccept() {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_multishot_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kAccept, 0, 0}));
}

void Worker::ArmWake() {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kWake, 0, 0}));
}

// Another thread's request: the worker's eventfd read completes, and its loop looks.
void Worker::Wake() {
  uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof one);
}

void Worker::RequestDrain() {
  drain_requested_.store(true);
  Wake();
}

void Worker::ReplaceTls(const TlsContext& tls) {
  {
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    pending_tls_ = tls;
  }
  Wake();
}

void Worker::ReplaceBackendAddresses(std::vector<SocketAddress> addresses) {
  {
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    pending_backend_addresses_ = std::move(addresses);
  }
  Wake();
}

void Worker::ApplyControlRequests() {
  {
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    if (pending_backend_addresses_) {
      backend_addresses_ = std::move(*pending_backend_addresses_);
      pending_backend_addresses_.reset();
    }
    if (pending_tls_) {
      tls_ = std::move(*pending_tls_);
      pending_tls_.reset();
      LogLine(spdlog::level::info, "certificate reloaded").With("worker", id_);
    }
  }
  if (drain_requested_.load() && !draining_) StartDrain();
}

void Worker::StartDrain() {
  draining_ = true;
  const int64_t now = NowNs();
  drain_deadline_ns_ = now + absl::ToInt64Nanoseconds(config_.drain_timeout);
  // Stop accepting: the multishot accept is cancelled, and its last completion closes the
  // listener (closing it while the accept is pending would not stop the accept).
  if (accept_paused_) {
    CloseListenerForDrain();  // no accept is pending to be cancelled
  } else {
    io_uring_sqe* sqe = Sqe();
    io_uring_prep_cancel64(sqe, EncodeTag({Op::kAccept, 0, 0}), 0);
    io_uring_sqe_set_data64(sqe, EncodeTag({Op::kAcceptCancel, 0, 0}));
  }
  // Idle connections close now, spread over a short window so that clients do not all
  // reconnect at the same instant; busy ones close after their current response.
  const absl::Duration window = std::min(config_.drain_timeout / 4, absl::Seconds(2));
  size_t live = live_clients();
  size_t index = 0;
  clients_.ForEach([&](ClientConnection& c) {
    if (!c.in_use()) return;
    c.OnDrain(live > 1 ? window * static_cast<double>(index++) / static_cast<double>(live - 1)
                       : absl::ZeroDuration());
  });
  upstreams_.CloseIdle();
  LogLine(spdlog::level::info, "draining")
      .With("worker", id_)
      .With("connections", live)
      .With("deadline", absl::FormatDuration(config_.drain_timeout));
}

void Worker::CutAtDrainDeadline() {
  drain_cut_done_ = true;
  clients_.ForEach([](ClientConnection& c) {
    if (c.in_use()) {
      c.RequestClose(CloseKind::kDrainCut, CloseInitiator::kDrain, TerminationCause::kTimeout);
    }
  });
}

void Worker::RequestStop() {
  stop_requested_.store(true, std::memory_order_relaxed);
  Wake();
}

absl::Status Worker::Run() {
  // However Run ends, main's signal loop must see this worker as finished.
  struct MarkFinished {
    std::atomic<bool>& flag;
    ~MarkFinished() { flag.store(true); }
  } mark_finished{finished_};
  if (absl::Status s = SetUpRing(); !s.ok()) return s;
  access_log_on_ = AccessLogger() != nullptr;
  ArmAccept();
  ArmWake();
  accepting_.store(true, std::memory_order_release);
  // A drain ends when no connection is left and the listener is closed: an idle worker must
  // still see its accept's cancellation through, or its listener stays open (new clients that
  // the kernel hands to it would wait unanswered instead of being refused) until the process
  // exits.
  unsigned last_batch = 0;
  while (!stop_requested_.load(std::memory_order_relaxed) &&
         !(draining_ && live_clients() == 0 && listen_fd_ < 0)) {
    loop_now_ns_ = 0;  // a timer delay from the clock itself, not from before the last batch
    const int64_t timer_delay_ns = NextTimerDelayNs();
    // A timer already due is not kept waiting for a batch.
    const bool busy = last_batch >= kBusyBatch && timer_delay_ns != 0;
    const int ret = uring_->SubmitAndWait(timer_delay_ns, busy);
    if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY) {
      return absl::InternalError(absl::StrCat("io_uring_submit_and_wait: ", std::strerror(-ret)));
    }
    loop_now_ns_ = clock_->NowNs();
    unsigned since_clock_read = 0;
    const unsigned seen = uring_->DrainCompletions([&](const io_uring_cqe& cqe) {
      // A batch of handshakes can take milliseconds: the time moves on within it.
      if (++since_clock_read == kCompletionsPerClockRead) {
        since_clock_read = 0;
        loop_now_ns_ = clock_->NowNs();
      }
      Dispatch(cqe.user_data, cqe.res, cqe.flags);
    });
    last_batch = seen;
    loop_now_ns_ = clock_->NowNs();  // timers that came due during the batch fire now
    if (WorkerMetrics* m = metrics()) {
      m->uring_submissions.Add(1 + uring_->TakeRoomSubmissions());
      m->uring_completions.Add(seen);
      // More completions than the CQ holds were posted: the kernel keeps the rest in its
      // overflow list (IORING_FEAT_NODROP) and hands them over on the next enter.
      if (uring_->completions_overflowed()) m->uring_cq_overflows.Add();
    }
    FireTimers();
    upstreams_.SweepIdle(NowNs());
    TrimHeapAfterConnectionsEnd(NowNs());
    if (draining_ && !drain_cut_done_ && NowNs() >= drain_deadline_ns_) CutAtDrainDeadline();
    // Past the deadline by more than a close takes, stop waiting: process exit closes the rest.
    if (draining_ && NowNs() >= drain_deadline_ns_ + 2'000'000'000) break;
    FlushAccessLog(/*force=*/false);
  }
  loop_now_ns_ = 0;
  FlushAccessLog(/*force=*/true);
  return absl::OkStatus();
}

void Worker::Dispatch(uint64_t user_data, int result, uint32_t flags) {
  const OpTag tag = DecodeTag(user_data);
  switch (tag.op) {
    case Op::kAccept:
      OnAccept(result, flags);
      return;
    case Op::kWake:
      // A stop (the loop condition sees it), a drain or reload, or a snapshot request.
      ServeSnapshots();
      ApplyControlRequests();
      if (!stop_requested_.load(std::memory_order_relaxed)) ArmWake();
      return;
    case Op::kAcceptCancel:
      return;
    case Op::kAcceptRetry:
      OnAcceptRetry();
      return;
    RINGGATE_UPSTREAM_OP_CASES : {
      Upstream* upstream = upstreams_.At(tag.slot, tag.generation);
      if (upstream == nullptr) {
        DropStaleCompletion(flags);
        return;
      }
      upstream->OnCompletion(tag.op, result, flags);
      return;
    }
    case Op::kNone:
      DropStaleCompletion(flags);
      return;
    RINGGATE_CLIENT_IO_OP_CASES:
    RINGGATE_SHUTDOWN_CHAIN_OP_CASES : {
      ClientConnection* client = Client(tag.slot, tag.generation);
      if (client == nullptr) {
        DropStaleCompletion(flags);
        return;
      }
      client->OnCompletion(tag.op, result, flags);
      return;
    }
  }
}

void Worker::DropStaleCompletion(uint32_t flags) {
  if (WorkerMetrics* m = metrics()) m->uring_stale_completions.Add();
  // Nobody reads its bytes, but the recv buffer it took must go back to the ring: a slot is
  // freed only with nothing in flight, so this should not happen, and must not leak if it does.
  if (flags & IORING_CQE_F_BUFFER) buffers_.Return(BufferRing::BufferId(flags));
}

void Worker::CloseListenerForDrain() {
  if (listen_fd_ < 0) return;
  // No accept is pending any more. Connections already in the accept queue would be reset by
  // close(2): take them first (they get one answer, then the drain closes them).
  fcntl(listen_fd_, F_SETFL, fcntl(listen_fd_, F_GETFL) | O_NONBLOCK);
  for (int fd; (fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
    AdoptConnection(fd);
  }
  close(listen_fd_);  // new clients are refused from here on
  listen_fd_ = -1;
}

namespace {
// accept(2) errors that say the process or the system is short of descriptors or memory: retrying
// at once would fail again, so accepting pauses while the connections already open are served.
bool IsResourceShortage(int error) {
  return error == -EMFILE || error == -ENFILE || error == -ENOBUFS || error == -ENOMEM;
}
}  // namespace

void Worker::OnAccept(int result, uint32_t flags) {
  if (!(flags & IORING_CQE_F_MORE)) {
    if (draining_) {
      CloseListenerForDrain();
    } else if (!stop_requested_.load(std::memory_order_relaxed)) {
      if (IsResourceShortage(result)) {
        PauseAccepting(result);
      } else {
        ArmAccept();
      }
    }
  }
  if (result < 0) {
    if (result != -ECANCELED && !IsResourceShortage(result)) {
      LogLine(spdlog::level::warn, "accept failed")
          .With("worker", id_)
          .With("error", std::strerror(-result));
    }
    return;
  }
  accept_backoff_ms_ = 0;  // the next shortage starts again from the shortest pause
  AdoptConnection(result);
}

void Worker::PauseAccepting(int error) {
  // 50 ms, doubling to 1 s while the shortage lasts. The pending connections wait in the
  // listen backlog meanwhile; nginx pauses for 500 ms in the same situation.
  accept_backoff_ms_ =
      accept_backoff_ms_ == 0 ? 50 : std::min<int64_t>(accept_backoff_ms_ * 2, 1000);
  accept_paused_ = true;
  if (WorkerMetrics* m = metrics()) m->accept_pauses.Add();
  LogLine(spdlog::level::warn, "accept paused")
      .With("worker", id_)
      .With("error", std::strerror(-error))
      .With("retry_ms", accept_backoff_ms_)
      .With("connections", live_clients());
  accept_retry_after_.tv_sec = accept_backoff_ms_ / 1000;
  accept_retry_after_.tv_nsec = (accept_backoff_ms_ % 1000) * 1'000'000;
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_timeout(sqe, &accept_retry_after_, 0, 0);
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kAcceptRetry, 0, 0}));
}

void Worker::OnAcceptRetry() {
  accept_paused_ = false;
  if (draining_) {
    CloseListenerForDrain();  // StartDrain found no accept to cancel
  } else if (!stop_requested_.load(std::memory_order_relaxed)) {
    ArmAccept();
  }
}

void Worker::AdoptConnection(int fd) {
  if (config_.max_conns_per_worker != 0 && live_clients() >= config_.max_conns_per_worker) {
    // At the limit: the existing connections keep their share; the newcomer is closed at once
    // (a plain close: it has sent nothing we would leave unread).
    close(fd);
    if (WorkerMetrics* m = metrics()) m->connections_refused.Add();
    LogLine(spdlog::level::debug, "refused: at --max-conns").With("worker", id_);
    return;
  }
  if (WorkerMetrics* m = metrics()) m->connections_accepted.Add();
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ClientConnection& client = clients_.Acquire(
      [&](uint32_t slot) { return std::make_unique<ClientConnection>(*this, slot); });
  const uint64_t id = (static_cast<uint64_t>(id_) << 48) | next_connection_sequence_++;
  live_count_.store(clients_.in_use(), std::memory_order_relaxed);
  client.Start(fd, id);
}

void Worker::FlushAccessLog(bool force) {
  constexpr size_t kBatchBytes = 32 << 10;
  constexpr int64_t kBatchAgeNs = 200'000'000;
  if (access_batch_.size() == 0) return;
  const int64_t now = NowNs();
  if (access_flush_due_ns_ == 0) access_flush_due_ns_ = now + kBatchAgeNs;
  if (!force && access_batch_.size() < kBatchBytes && now < access_flush_due_ns_) return;
  AccessLogger()->info(std::string_view(access_batch_.data(), access_batch_.size()));
  access_batch_.clear();
  access_flush_due_ns_ = 0;
}

std::string Worker::Snapshot(SnapshotKind kind, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(snapshot_mu_);
  const uint64_t ticket = ++snapshot_requested_;
  lock.unlock();
  Wake();
  lock.lock();
  if (!snapshot_cv_.wait_for(lock, timeout, [&] { return snapshot_served_ >= ticket; })) {
    return "[]";
  }
  return kind == SnapshotKind::kConnections ? snapshot_connections_ : snapshot_closures_;
}

void Worker::ServeSnapshots() {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  if (snapshot_served_ >= snapshot_requested_) return;
  const int64_t now = NowNs();
  fmt::memory_buffer out;
  out.push_back('[');
  bool first = true;
  clients_.ForEach([&](const ClientConnection& c) {
    if (!c.in_use()) return;
    if (!first) out.push_back(',');
    first = false;
    c.AppendJson(out, now);
  });
  out.push_back(']');
  snapshot_connections_ = fmt::to_string(out);
  out.clear();
  out.push_back('[');
  closures_.AppendJson(out, id_);
  out.push_back(']');
  snapshot_closures_ = fmt::to_string(out);
  snapshot_served_ = snapshot_requested_;
  snapshot_cv_.notify_all();
}

ClientConnection* Worker::Client(uint32_t slot, uint32_t generation) {
  ClientConnection* c = clients_.At(slot);
  return (c != nullptr && c->in_use() && c->generation() == generation) ? c : nullptr;
}

void Worker::TrimHeapAfterConnectionsEnd(int64_t now_ns) {
  const size_t live = live_clients();
  peak_clients_since_trim_ = std::max(peak_clients_since_trim_, live);
  trim_pending_ = peak_clients_since_trim_ >= 2 * live + 1;
  if (!trim_pending_ || now_ns < next_trim_allowed_ns_) return;
  if (kGlibcHeap) malloc_trim(0);
  // With no client left, no recv buffer holds bytes anyone needs (an idle pooled backend
  // connection that receives any is closed unread).
  if (live == 0) buffers_.ReleaseIdlePages();
  peak_clients_since_trim_ = live;
  trim_pending_ = false;
  next_trim_allowed_ns_ = now_ns + 1'000'000'000;
  if (WorkerMetrics* m = metrics()) m->memory_trims.Add();
}

int64_t Worker::NextTimerDelayNs() const {
  int64_t next = timers_.NextDeadlineNs();
  if (draining_) {
    const int64_t due = drain_cut_done_ ? drain_deadline_ns_ + 2'000'000'000 : drain_deadline_ns_;
    if (next < 0 || due < next) next = due;
  }
  if (trim_pending_) {  // a trim waits for its one-second spacing even when nothing else happens
    const int64_t due = std::max(next_trim_allowed_ns_, NowNs() + 1'000'000);
    if (next < 0 || due < next) next = due;
  }
  // The idle-pool sweep must run even when nothing else happens.
  if (const int64_t due = upstreams_.NextSweepNs(NowNs()); due >= 0 && (next < 0 || due < next)) {
    next = due;
  }
  if (access_batch_.size() > 0) {
    // Wake for a pending access-log batch even when idle (its due time is set on the first
    // check; until then, look again within the batch age).
    const int64_t due = access_flush_due_ns_ != 0 ? access_flush_due_ns_ : NowNs() + 200'000'000;
    if (next < 0 || due < next) next = due;
  }
  if (next < 0) return -1;
  int64_t delay = next - NowNs();
  return delay < 0 ? 0 : delay;
}

void Worker::FireTimers() {
  if (timers_.empty()) return;
  timers_.FireExpired(NowNs(), [&](const TimerQueue::Entry& due) {
    if (ClientConnection* c = Client(due.slot, due.generation)) c->OnTimer(due.deadline_ns);
  });
}

}  // namespace ringgate
