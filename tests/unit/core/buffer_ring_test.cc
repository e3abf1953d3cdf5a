// BufferRing against a real io_uring: liburing's io_uring_setup_buf_ring registers the ring,
// recvs pick buffers from it, Return hands them back, Close unregisters the group. A kernel
// without provided-buffer rings (before 5.19) skips these tests.
#include "ringgate/core/buffer_ring.h"

#include <gtest/gtest.h>
#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <string_view>

namespace ringgate {
namespace {

class BufferRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (io_uring_queue_init(8, &ring_, 0) != 0) GTEST_SKIP() << "no io_uring";
    ring_ready_ = true;
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair_), 0);
  }
  void TearDown() override {
    buffers_.Close();  // before the ring exits, as the worker does
    if (ring_ready_) io_uring_queue_exit(&ring_);
    if (pair_[0] >= 0) close(pair_[0]);
    if (pair_[1] >= 0) close(pair_[1]);
  }
  // Initializes buffers_, skipping the test where the kernel has no buffer rings.
  void InitBuffers(uint16_t group, uint32_t count, uint32_t size) {
    absl::Status s = buffers_.Init(&ring_, group, count, size);
    if (!s.ok() && s.code() == absl::StatusCode::kUnavailable) GTEST_SKIP() << s.message();
    ASSERT_TRUE(s.ok()) << s.message();
  }
  // Sends `bytes` into the pair and receives them with one recv that selects a buffer of
  // buffers_' group. Returns the completion's result; *bid is the buffer it used.
  int SendAndRecv(std::string_view bytes, uint16_t* bid) {
    EXPECT_EQ(write(pair_[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_recv(sqe, pair_[0], nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffers_.group();
    io_uring_submit(&ring_);
    io_uring_cqe* cqe = nullptr;
    if (io_uring_wait_cqe(&ring_, &cqe) != 0) return -EIO;
    const int res = cqe->res;
    if (cqe->flags & IORING_CQE_F_BUFFER) *bid = BufferRing::BufferId(cqe->flags);
    io_uring_cqe_seen(&ring_, cqe);
    return res;
  }

  io_uring ring_{};
  bool ring_ready_ = false;
  int pair_[2] = {-1, -1};
  BufferRing buffers_;
};

TEST_F(BufferRingTest, CountMustBeAPowerOfTwo) {
  EXPECT_EQ(buffers_.Init(&ring_, 0, 3, 4096).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(buffers_.Init(&ring_, 0, 0, 4096).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BufferRingTest, ARecvFillsABufferAndReturnHandsItBack) {
  InitBuffers(/*group=*/3, /*count=*/1, /*size=*/4096);
  uint16_t bid = 0xffff;
  ASSERT_EQ(SendAndRecv("hello", &bid), 5);
  EXPECT_EQ(bid, 0);
  EXPECT_EQ(buffers_.Data(bid, 5), "hello");
  // The only buffer is taken: the next recv finds none.
  uint16_t unused = 0xffff;
  EXPECT_EQ(SendAndRecv("again", &unused), -ENOBUFS);
  buffers_.Return(bid);
  // The bytes of the failed recv are still queued in the socket.
  ASSERT_EQ(SendAndRecv("", &bid), 5);
  EXPECT_EQ(buffers_.Data(bid, 5), "again");
}

TEST_F(BufferRingTest, ReleasedPagesReadAsZeros) {
  InitBuffers(/*group=*/0, /*count=*/4, /*size=*/4096);
  uint16_t bid = 0xffff;
  ASSERT_EQ(SendAndRecv("secret", &bid), 6);
  buffers_.Return(bid);
  buffers_.ReleaseIdlePages();
  EXPECT_EQ(buffers_.Data(bid, 6), std::string(6, '\0'));
}

TEST_F(BufferRingTest, CloseUnregistersTheGroup) {
  InitBuffers(/*group=*/7, /*count=*/2, /*size=*/4096);
  BufferRing second;
  EXPECT_FALSE(second.Init(&ring_, 7, 2, 4096).ok()) << "the group is taken";
  buffers_.Close();
  buffers_.Close();  // a second Close does nothing
  EXPECT_TRUE(second.Init(&ring_, 7, 2, 4096).ok());
  second.Close();
}

}  // namespace
}  // namespace ringgate
