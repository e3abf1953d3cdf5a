// Runs the shutdown chain on a real io_uring against real loopback TCP peers: the link flags
// are kernel behaviour, so only the kernel can tell whether the close always runs.
#include "ringgate/shutdown/shutdown_chain.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <string>

#include "ringgate/core/user_data.h"

namespace ringgate {
namespace {

struct TcpPair {
  int ours = -1;    // the proxy's side, handed to the chain
  int theirs = -1;  // the client
};

TcpPair Connect() {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(listen(listener, 1), 0);
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  TcpPair pair;
  pair.theirs = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(connect(pair.theirs, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  pair.ours = accept(listener, nullptr, nullptr);
  close(listener);
  return pair;
}

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

std::string ReadAllFrom(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// The workers' ring: SINGLE_ISSUER|DEFER_TASKRUN (see Worker::SetUpRing).
class ShutdownChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    ASSERT_EQ(io_uring_queue_init_params(64, &ring_, &params), 0);
  }
  void TearDown() override { io_uring_queue_exit(&ring_); }

  // Collects completions until `count` arrived or `wait_ms` passed: op -> result.
  std::map<Op, int> Collect(int count, std::map<Op, int> results, int64_t wait_ms) {
    while (static_cast<int>(results.size()) < count) {
      io_uring_cqe* cqe = nullptr;
      __kernel_timespec wait{wait_ms / 1000, (wait_ms % 1000) * 1000000};
      if (io_uring_wait_cqe_timeout(&ring_, &cqe, &wait) != 0) break;
      results[DecodeTag(cqe->user_data).op] = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
    }
    return results;
  }

  // Submits the chain and collects its completions: op -> result.
  std::map<Op, int> Run(const ShutdownChainSpec& spec) {
    UringRing ring_view(&ring_);
    const int count = PrepareShutdownChain(ring_view, spec);
    io_uring_submit(&ring_);
    std::map<Op, int> results = Collect(count, {}, 5000);
    EXPECT_EQ(results.size(), static_cast<size_t>(count)) << "every step posts one completion";
    return results;
  }

  ShutdownChainSpec Spec(int fd, int64_t deadline_ms) {
    deadline_.tv_sec = deadline_ms / 1000;
    deadline_.tv_nsec = (deadline_ms % 1000) * 1000000;
    ShutdownChainSpec spec;
    spec.fd = fd;
    spec.generation = 7;
    spec.slot = 3;
    spec.flush = flush_;
    spec.close_notify = alert_;
    spec.drain_buffer = drain_;
    spec.drain_buffer_size = sizeof drain_;
    spec.deadline = &deadline_;
    return spec;
  }

  static std::string ReadAll(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }

  io_uring ring_{};
  __kernel_timespec deadline_{};
  char drain_[4096];
  std::string flush_ = "the rest of the response";
  std::string alert_ = "<close_notify>";
};

TEST_F(ShutdownChainTest, SilentPeerHitsTheDeadlineAndTheCloseStillRuns) {
  TcpPair p = Connect();
  auto start = std::chrono::steady_clock::now();
  auto r = Run(Spec(p.ours, 200));
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r[Op::kShutdownFlush], static_cast<int>(flush_.size()));
  EXPECT_EQ(r[Op::kShutdownCloseNotify], static_cast<int>(alert_.size()));
  EXPECT_EQ(r[Op::kShutdownHalfClose], 0);
  EXPECT_EQ(r[Op::kShutdownDrainRecv], -ECANCELED);
  EXPECT_EQ(r[Op::kShutdownDeadline], -ETIME);
  EXPECT_EQ(r[Op::kShutdownClose], 0) << "HARDLINK on the recv keeps the close in the chain";
  EXPECT_FALSE(IsOpen(p.ours)) << "the descriptor must not leak";
  EXPECT_GE(elapsed, std::chrono::milliseconds(190));
  // The client got everything in order, then our FIN.
  EXPECT_EQ(ReadAll(p.theirs), flush_ + alert_);
  close(p.theirs);
}

TEST_F(ShutdownChainTest, PeerFinEndsTheWaitEarly) {
  TcpPair p = Connect();
  shutdown(p.theirs, SHUT_WR);
  auto start = std::chrono::steady_clock::now();
  auto r = Run(Spec(p.ours, 5000));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(r[Op::kShutdownDrainRecv], 0);
  EXPECT_NE(r[Op::kShutdownDeadline], -ETIME);
  EXPECT_EQ(r[Op::kShutdownClose], 0);
  EXPECT_FALSE(IsOpen(p.ours));
  close(p.theirs);
}

TEST_F(ShutdownChainTest, BytesBeforeThePeersFinAreDrainedNotLeftToProvokeReset) {
  TcpPair p = Connect();
  std::string late(1500, 'r');
  ASSERT_EQ(write(p.theirs, late.data(), late.size()), static_cast<ssize_t>(late.size()));
  shutdown(p.theirs, SHUT_WR);
  auto r = Run(Spec(p.ours, 5000));
  EXPECT_EQ(r[Op::kShutdownDrainRecv], 1500) << "MSG_WAITALL returns what it read at the FIN";
  EXPECT_EQ(r[Op::kShutdownClose], 0);
  // Nothing unread at close: the client sees an orderly FIN, not a reset.
  EXPECT_EQ(ReadAll(p.theirs), flush_ + alert_);
  close(p.theirs);
}

TEST_F(ShutdownChainTest, FailedFlushCancelsTheRestAndLeavesTheCloseToTheCaller) {
  TcpPair p = Connect();
  linger reset{1, 0};
  setsockopt(p.theirs, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  close(p.theirs);  // RST
  usleep(50000);
  auto r = Run(Spec(p.ours, 5000));
  EXPECT_TRUE(r[Op::kShutdownFlush] == -ECONNRESET || r[Op::kShutdownFlush] == -EPIPE)
      << r[Op::kShutdownFlush];
  EXPECT_EQ(r[Op::kShutdownCloseNotify], -ECANCELED) << "no close_notify after a failed flush";
  EXPECT_EQ(r[Op::kShutdownClose], -ECANCELED);
  EXPECT_TRUE(IsOpen(p.ours)) << "the caller must close it";
  close(p.ours);
}

TEST_F(ShutdownChainTest, WithoutWaitingTheChainIsFlushAlertFinClose) {
  TcpPair p = Connect();
  ShutdownChainSpec spec = Spec(p.ours, 5000);
  spec.wait_for_peer = false;
  auto r = Run(spec);
  EXPECT_EQ(r.size(), 4u);
  EXPECT_EQ(r.count(Op::kShutdownDrainRecv), 0u);
  EXPECT_EQ(r[Op::kShutdownClose], 0);
  EXPECT_EQ(ReadAll(p.theirs), flush_ + alert_);
  close(p.theirs);
}

TEST_F(ShutdownChainTest, AbortSendsNoAlert) {
  TcpPair p = Connect();
  ShutdownChainSpec spec = Spec(p.ours, 5000);
  spec.close_notify = {};
  spec.wait_for_peer = false;
  auto r = Run(spec);
  EXPECT_EQ(r.count(Op::kShutdownCloseNotify), 0u);
  EXPECT_EQ(r[Op::kShutdownClose], 0);
  EXPECT_EQ(ReadAll(p.theirs), flush_) << "a cut response must not look cleanly ended";
  close(p.theirs);
}

// --sqpoll: entries leave the submission queue when the kernel's thread takes them, not on
// submit, so a chain that finds the queue nearly full must wait for room rather than take NULL
// SQEs, and must still go out as one submission with its links intact.
TEST(ShutdownChainSqpollTest, NearlyFullQueueStillGetsEveryEntryWithItsLinks) {
  io_uring ring{};
  io_uring_params params{};
  params.flags = IORING_SETUP_SQPOLL;
  params.sq_thread_idle = 2000;
  if (int ret = io_uring_queue_init_params(64, &ring, &params); ret != 0) {
    GTEST_SKIP() << "no SQPOLL ring here: " << strerror(-ret);
  }
  const unsigned entries = ring.sq.ring_entries;
  const std::string flush = "the rest of the response";
  const std::string alert = "<close_notify>";
  char drain[4096];
  __kernel_timespec deadline{5, 0};
  for (int round = 0; round < 20; ++round) {
    TcpPair p = Connect();
    shutdown(p.theirs, SHUT_WR);  // the drain recv ends at once
    // Leave two free entries: fewer than the chain's six.
    const unsigned filler = entries - 2;
    for (unsigned i = 0; i < filler; ++i) {
      io_uring_sqe* nop = io_uring_get_sqe(&ring);
      ASSERT_NE(nop, nullptr);
      io_uring_prep_nop(nop);
      io_uring_sqe_set_data64(nop, EncodeTag({Op::kNone, 0, 0}));
    }
    ShutdownChainSpec spec;
    spec.fd = p.ours;
    spec.generation = 7;
    spec.slot = 3;
    spec.flush = flush;
    spec.close_notify = alert;
    spec.drain_buffer = drain;
    spec.drain_buffer_size = sizeof drain;
    spec.deadline = &deadline;
    UringRing ring_view(&ring);
    const int count = PrepareShutdownChain(ring_view, spec);
    ASSERT_EQ(count, 6);
    io_uring_submit(&ring);
    std::map<Op, int> results;
    int nops = 0;
    while (static_cast<int>(results.size()) < count) {
      io_uring_cqe* cqe = nullptr;
      __kernel_timespec wait{5, 0};
      if (io_uring_wait_cqe_timeout(&ring, &cqe, &wait) != 0) break;
      const Op op = DecodeTag(cqe->user_data).op;
      if (op == Op::kNone) {
        ++nops;
      } else {
        results[op] = cqe->res;
      }
      io_uring_cqe_seen(&ring, cqe);
    }
    ASSERT_EQ(results.size(), 6u) << "round " << round;
    EXPECT_EQ(results[Op::kShutdownFlush], static_cast<int>(flush.size()));
    EXPECT_EQ(results[Op::kShutdownCloseNotify], static_cast<int>(alert.size()));
    EXPECT_EQ(results[Op::kShutdownHalfClose], 0);
    EXPECT_EQ(results[Op::kShutdownDrainRecv], 0) << "the peer's FIN";
    EXPECT_EQ(results[Op::kShutdownDeadline], -ECANCELED) << "the linked timeout was armed";
    EXPECT_EQ(results[Op::kShutdownClose], 0);
    EXPECT_FALSE(IsOpen(p.ours));
    EXPECT_EQ(ReadAllFrom(p.theirs), flush + alert) << "in order, then the FIN";
    close(p.theirs);
    // The filler's completions may trail the chain's.
    while (nops < static_cast<int>(filler)) {
      io_uring_cqe* cqe = nullptr;
      __kernel_timespec wait{5, 0};
      if (io_uring_wait_cqe_timeout(&ring, &cqe, &wait) != 0) break;
      ++nops;
      io_uring_cqe_seen(&ring, cqe);
    }
    ASSERT_EQ(nops, static_cast<int>(filler));
  }
  io_uring_queue_exit(&ring);
}

// The shutdown runs on an io-wq worker; when that worker drops the shutdown's last reference it
// issues the drain recv itself. Without IOSQE_ASYNC on the recv that issue blocks, and kernel
// 6.18 starts the linked timeout only after it returns: on a silent peer neither ever completes.
// On a plain or SQPOLL ring that is most rounds (the worker posts the completion itself); under
// DEFER_TASKRUN only when the submitter reaps the shutdown's completion before the worker lets go
// of it, which matches the rare hang of SilentPeerHitsTheDeadlineAndTheCloseStillRuns.
TEST(ShutdownChainIoWqTest, DeadlineFiresWhenTheWorkerStartsTheDrainRecv) {
  for (const unsigned flags : {0u, static_cast<unsigned>(IORING_SETUP_SQPOLL)}) {
    io_uring ring{};
    io_uring_params params{};
    params.flags = flags;
    params.sq_thread_idle = 2000;
    if (int ret = io_uring_queue_init_params(64, &ring, &params); ret != 0) {
      ASSERT_NE(flags, 0u) << strerror(-ret);
      continue;  // no SQPOLL here
    }
    char drain[4096];
    __kernel_timespec deadline{0, 100000000};
    for (int round = 0; round < 5; ++round) {
      TcpPair p = Connect();
      ShutdownChainSpec spec;
      spec.fd = p.ours;
      spec.flush = "data";
      spec.close_notify = "alert";
      spec.drain_buffer = drain;
      spec.drain_buffer_size = sizeof drain;
      spec.deadline = &deadline;
      UringRing ring_view(&ring);
      const int count = PrepareShutdownChain(ring_view, spec);
      io_uring_submit(&ring);
      std::map<Op, int> results;
      while (static_cast<int>(results.size()) < count) {
        io_uring_cqe* cqe = nullptr;
        __kernel_timespec wait{2, 0};
        if (io_uring_wait_cqe_timeout(&ring, &cqe, &wait) != 0) break;
        results[DecodeTag(cqe->user_data).op] = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
      }
      const bool closed = results.count(Op::kShutdownClose) != 0;
      if (!closed) close(p.ours);
      close(p.theirs);
      ASSERT_TRUE(closed) << "flags " << flags << " round " << round
                          << ": the drain recv's deadline never fired";
      EXPECT_EQ(results[Op::kShutdownDrainRecv], -ECANCELED);
      EXPECT_EQ(results[Op::kShutdownDeadline], -ETIME);
      EXPECT_EQ(results[Op::kShutdownClose], 0);
    }
    io_uring_queue_exit(&ring);
  }
}

// Whatever the kernel does with the linked timeout, cancelling the drain recv (ClientConnection's
// backstop after the deadline) must let the close run.
TEST(ShutdownChainPlainRingTest, CancellingTheDrainRecvStillRunsTheClose) {
  io_uring ring{};
  ASSERT_EQ(io_uring_queue_init(64, &ring, 0), 0);
  TcpPair p = Connect();
  char drain[4096];
  __kernel_timespec deadline{0, 100000000};
  ShutdownChainSpec spec;
  spec.fd = p.ours;
  spec.flush = "data";
  spec.close_notify = "alert";
  spec.drain_buffer = drain;
  spec.drain_buffer_size = sizeof drain;
  spec.deadline = &deadline;
  UringRing ring_view(&ring);
  const int count = PrepareShutdownChain(ring_view, spec);
  io_uring_submit(&ring);
  std::map<Op, int> results;
  (void)count;
  // Until the close completes (the cancel posts a completion of its own, so counting is wrong).
  auto collect = [&](int64_t wait_ms) {
    while (results.count(Op::kShutdownClose) == 0) {
      io_uring_cqe* cqe = nullptr;
      __kernel_timespec wait{0, wait_ms * 1000000};
      if (io_uring_wait_cqe_timeout(&ring, &cqe, &wait) != 0) return;
      results[DecodeTag(cqe->user_data).op] = cqe->res;
      io_uring_cqe_seen(&ring, cqe);
    }
  };
  collect(300);  // past the deadline
  if (results.count(Op::kShutdownClose) == 0) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_cancel64(sqe, EncodeTag({Op::kShutdownDrainRecv, 0, 0}), 0);
    io_uring_sqe_set_data64(sqe, EncodeTag({Op::kClientCancelRecv, 0, 0}));
    io_uring_submit(&ring);
    collect(500);
  }
  EXPECT_EQ(results[Op::kShutdownClose], 0);
  EXPECT_FALSE(IsOpen(p.ours)) << "the descriptor must not leak";
  close(p.theirs);
  io_uring_queue_exit(&ring);
}

}  // namespace
}  // namespace ringgate
