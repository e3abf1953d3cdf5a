// The backend side of an exchange (Upstream, UpstreamPool and how the client connection reacts to
// them), driven by hand through a Worker on a FakeRing and a ManualClock: connects, sends and
// recvs complete only when the test says, with the results it chooses.
#include "ringgate/proxy/upstream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <netinet/in.h>

#include <cerrno>
#include <string>

#include "ringgate/proxy/upstream_pool.h"
#include "unit/support/connection_driver.h"

namespace ringgate {
namespace {

using testing::ConnectionDriver;
using ::testing::HasSubstr;
using testing::OpOf;
using ::testing::StartsWith;

constexpr char kGet[] = "GET /g HTTP/1.1\r\nHost: example\r\n\r\n";
constexpr char kPost[] = "POST /p HTTP/1.1\r\nHost: example\r\nContent-Length: 0\r\n\r\n";
constexpr char kOk[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

class UpstreamTest : public ::testing::Test {
 protected:
  void Open() {
    d_.Accept();
    d_.Handshake();
  }
  // One request served on a fresh backend connection, which then waits in the pool.
  void ServeOneAndPool() {
    Open();
    d_.ClientSends(kGet);
    d_.ConnectUpstream();
    d_.TakeUpstreamSend();
    d_.BackendSends(kOk);
    ASSERT_EQ(d_.ClientReads(), kOk);
    ASSERT_EQ(d_.worker().upstreams().idle(), 1u);
  }

  ConnectionDriver d_;
};

TEST_F(UpstreamTest, ConnectGoesToTheConfiguredBackend) {
  Open();
  d_.ClientSends(kGet);
  const io_uring_sqe connect = d_.Expect(Op::kUpstreamConnect);
  EXPECT_EQ(connect.opcode, IORING_OP_CONNECT);
  ASSERT_EQ(connect.off, d_.config().backends[0].length);  // io_uring_prep_connect: addrlen in off
  const auto* addr = reinterpret_cast<const sockaddr_in*>(connect.addr);
  EXPECT_EQ(addr->sin_family, AF_INET);
  EXPECT_EQ(ntohs(addr->sin_port), 9);
  EXPECT_EQ(ntohl(addr->sin_addr.s_addr), INADDR_LOOPBACK);
}

TEST_F(UpstreamTest, ConnectFailureAnswers502AndClosesTheSocket) {
  Open();
  d_.ClientSends(kGet);
  d_.ConnectUpstream(-ECONNREFUSED);
  EXPECT_FALSE(d_.Has(Op::kUpstreamSend)) << "nothing is sent on a failed connect";
  const io_uring_sqe close = d_.Expect(Op::kUpstreamClose);
  EXPECT_EQ(close.opcode, IORING_OP_CLOSE);
  EXPECT_THAT(d_.ClientReads(), StartsWith("HTTP/1.1 502 Bad Gateway\r\n"));
  EXPECT_EQ(d_.metrics().requests_by_status_class[4].Get(), 1u);
  d_.Complete(close, 0);
  EXPECT_EQ(d_.worker().upstreams().idle(), 0u);
  // The client connection closes after the error, initiated by us.
  d_.CompleteRecvCancel();
  for (const io_uring_sqe& sqe : d_.ChainSqes()) {
    d_.Complete(sqe, OpOf(sqe) == Op::kShutdownDrainRecv ? 0 : static_cast<int>(sqe.len));
  }
  EXPECT_EQ(d_.LastClose(), "peer_fin/server_error");
}

TEST_F(UpstreamTest, ConnectTimeoutAnswers504) {
  Open();
  d_.ClientSends(kGet);
  d_.Advance(d_.config().upstream_connect_timeout - absl::Milliseconds(1));
  EXPECT_FALSE(d_.Has(Op::kClientSend));
  d_.Advance(absl::Milliseconds(1));
  EXPECT_THAT(d_.ClientReads(), StartsWith("HTTP/1.1 504 Gateway Timeout\r\n"));
  // The socket is closed while the connect is still out; the upstream's slot waits for both.
  d_.CompleteOp(Op::kUpstreamClose, 0);
  d_.ConnectUpstream(-ECANCELED);
  EXPECT_EQ(d_.metrics().uring_stale_completions.Get(), 0u)
      << "the connect's completion was still expected";
}

TEST_F(UpstreamTest, ResponseTimeoutAnswers504) {
  Open();
  d_.ClientSends(kGet);
  d_.ConnectUpstream();
  d_.TakeUpstreamSend();
  d_.Advance(d_.config().upstream_response_timeout - absl::Milliseconds(1));
  EXPECT_FALSE(d_.Has(Op::kClientSend));
  d_.Advance(absl::Milliseconds(1));
  EXPECT_THAT(d_.ClientReads(), StartsWith("HTTP/1.1 504 Gateway Timeout\r\n"));
  EXPECT_EQ(d_.metrics().requests_by_status_class[4].Get(), 1u);
  // The backend connection is not reused: its recv is cancelled, then it is closed.
  const io_uring_sqe cancel = d_.Expect(Op::kUpstreamCancelRecv);
  EXPECT_EQ(cancel.addr, d_.Expect(Op::kUpstreamRecv).user_data);
  EXPECT_FALSE(d_.Has(Op::kUpstreamClose)) << "no close while the recv is pending (no FIN)";
  d_.CompleteOp(Op::kUpstreamRecv, -ECANCELED);
  d_.CompleteOp(Op::kUpstreamCancelRecv, 0);
  EXPECT_TRUE(d_.Has(Op::kUpstreamClose));
  EXPECT_EQ(d_.worker().upstreams().idle(), 0u);
}

TEST_F(UpstreamTest, ResponseTimeoutRestartsWithEachPartOfTheResponse) {
  Open();
  d_.ClientSends(kGet);
  d_.ConnectUpstream();
  d_.TakeUpstreamSend();
  d_.BackendSends("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab");
  d_.DeliverSends();
  d_.Advance(d_.config().upstream_response_timeout - absl::Milliseconds(1));
  d_.BackendSends("c");
  d_.Advance(d_.config().upstream_response_timeout - absl::Milliseconds(1));
  EXPECT_FALSE(d_.Has(Op::kUpstreamCancelRecv)) << "progress restarts the deadline";
  d_.Advance(absl::Milliseconds(1));
  // Too late for a 504: the response started, so the client sees it cut (no close_notify).
  d_.CompleteRecvCancel();
  d_.CompleteOp(Op::kUpstreamRecv, -ECANCELED);
  d_.CompleteOp(Op::kUpstreamCancelRecv, 0);
  EXPECT_EQ(d_.ClientReads(), "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabc");
  for (const io_uring_sqe& sqe : d_.ChainSqes()) {
    EXPECT_NE(OpOf(sqe), Op::kShutdownCloseNotify) << "a cut response ends without close_notify";
    d_.Complete(sqe, 0);
  }
  EXPECT_EQ(d_.LastClose(), "error/server_error");
}

TEST_F(UpstreamTest, PooledConnectionIsReusedWithoutAConnect) {
  ServeOneAndPool();
  d_.ClientSends(kGet);
  EXPECT_EQ(d_.CountSubmitted(Op::kUpstreamConnect), 1u);
  EXPECT_THAT(d_.TakeUpstreamSend(), StartsWith("GET /g "));
  d_.BackendSends(kOk);
  EXPECT_EQ(d_.ClientReads(), kOk);
  EXPECT_EQ(d_.worker().upstreams().idle(), 1u);
}

TEST_F(UpstreamTest, PooledConnectionClosedBeforeAnsweringIsRetriedOnceForGet) {
  ServeOneAndPool();
  d_.ClientSends(kGet);
  const std::string head = d_.TakeUpstreamSend();  // it reached the backend's socket
  d_.BackendCloses();  // the backend's idle timer closed it before it read the request
  EXPECT_EQ(d_.CountSubmitted(Op::kUpstreamClose), 1u) << "the stale connection is closed";
  EXPECT_EQ(d_.CountSubmitted(Op::kUpstreamConnect), 2u) << "a fresh connection for the retry";
  EXPECT_FALSE(d_.Has(Op::kClientSend)) << "the client sees nothing of the failure";
  d_.ConnectUpstream();
  EXPECT_EQ(d_.TakeUpstreamSend(), head) << "the same request, replayed";
  d_.BackendSends(kOk);
  EXPECT_EQ(d_.ClientReads(), kOk);
  EXPECT_EQ(d_.metrics().requests_by_status_class[1].Get(), 2u);
}

TEST_F(UpstreamTest, PooledConnectionClosedBeforeAnsweringIsNotRetriedForPost) {
  ServeOneAndPool();
  d_.ClientSends(kPost);
  EXPECT_THAT(d_.TakeUpstreamSend(), StartsWith("POST /p "));
  d_.BackendCloses();
  EXPECT_EQ(d_.CountSubmitted(Op::kUpstreamConnect), 1u) << "a POST may have been acted on";
  EXPECT_THAT(d_.ClientReads(), StartsWith("HTTP/1.1 502 Bad Gateway\r\n"));
}

TEST_F(UpstreamTest, RetryIsMadeOnlyOnce) {
  ServeOneAndPool();
  d_.ClientSends(kGet);
  d_.TakeUpstreamSend();
  d_.BackendCloses();
  d_.ConnectUpstream();
  d_.TakeUpstreamSend();
  d_.BackendCloses();  // the fresh connection fails too
  EXPECT_EQ(d_.CountSubmitted(Op::kUpstreamConnect), 2u);
  EXPECT_THAT(d_.ClientReads(), StartsWith("HTTP/1.1 502 Bad Gateway\r\n"));
}

TEST_F(UpstreamTest, FreshConnectionClosedBeforeAnsweringIs502) {
  Open();
  d_.ClientSends(kGet);
  d_.ConnectUpstream();
  d_.TakeUpstreamSend();
  d_.BackendCloses();
  EXPECT_EQ(d_.CountSubmitted(Op::kUpstreamConnect), 1u) << "no retry on a fresh connection";
  EXPECT_THAT(d_.ClientReads(), StartsWith("HTTP/1.1 502 Bad Gateway\r\n"));
}

TEST_F(UpstreamTest, BackendClosingMidResponseCutsTheClientResponse) {
  Open();
  d_.ClientSends(kGet);
  d_.ConnectUpstream();
  d_.TakeUpstreamSend();
  d_.BackendSends("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  d_.BackendCloses();
  EXPECT_EQ(d_.ClientReads(), "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  d_.CompleteRecvCancel();
  for (const io_uring_sqe& sqe : d_.ChainSqes()) {
    EXPECT_NE(OpOf(sqe), Op::kShutdownCloseNotify) << "a truncated response gets no close_notify";
    d_.Complete(sqe, 0);
  }
  EXPECT_EQ(d_.LastClose(), "error/server_error");
  EXPECT_EQ(d_.metrics().close_notify_not_sent[static_cast<int>(NoCloseNotifyReason::kAbort)].Get(),
            1u);
}

TEST_F(UpstreamTest, BackendSendFailureAnswers502) {
  Open();
  d_.ClientSends(kGet);
  d_.ConnectUpstream();
  d_.CompleteOp(Op::kUpstreamSend, -ECONNRESET);
  EXPECT_THAT(d_.ClientReads(), StartsWith("HTTP/1.1 502 Bad Gateway\r\n"));
  EXPECT_TRUE(d_.Has(Op::kUpstreamCancelRecv)) << "the failed connection is being closed";
}

TEST_F(UpstreamTest, ShortSendToTheBackendSendsTheRestFirst) {
  Open();
  d_.ClientSends(kGet);
  d_.ConnectUpstream();
  const io_uring_sqe first = d_.Expect(Op::kUpstreamSend);
  const std::string head(reinterpret_cast<const char*>(first.addr), first.len);
  d_.Complete(first, 5);
  const io_uring_sqe rest = d_.Expect(Op::kUpstreamSend);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(rest.addr), rest.len), head.substr(5));
}

TEST_F(UpstreamTest, IdlePooledConnectionClosedByTheBackendIsNotReused) {
  ServeOneAndPool();
  d_.BackendCloses();
  EXPECT_EQ(d_.CountSubmitted(Op::kUpstreamClose), 1u);
  d_.ClientSends(kGet);  // its close has not completed yet
  EXPECT_EQ(d_.CountSubmitted(Op::kUpstreamConnect), 2u) << "a new connection, not the closing one";
  d_.CompleteOp(Op::kUpstreamClose, 0);
  EXPECT_EQ(d_.worker().upstreams().idle(), 0u) << "the closed one left the pool";
  d_.ConnectUpstream();
  d_.TakeUpstreamSend();
  d_.BackendSends(kOk);
  EXPECT_EQ(d_.ClientReads(), kOk);
  EXPECT_EQ(d_.worker().upstreams().idle(), 1u);
}

TEST_F(UpstreamTest, IdlePooledConnectionThatSendsBytesIsClosed) {
  ServeOneAndPool();
  d_.BackendSends("HTTP/1.1 200 OK\r\n");  // out of step: nobody asked
  const io_uring_sqe cancel = d_.Expect(Op::kUpstreamCancelRecv);
  d_.CompleteOp(Op::kUpstreamRecv, -ECANCELED);
  d_.Complete(cancel, 0);
  EXPECT_TRUE(d_.Has(Op::kUpstreamClose));
  EXPECT_EQ(d_.ClientReads(), "") << "nothing reaches the client";
}

TEST_F(UpstreamTest, IdleSweepClosesPooledConnectionsPastTheIdleTimeout) {
  ServeOneAndPool();
  UpstreamPool& pool = d_.worker().upstreams();
  pool.SweepIdle(d_.clock().NowNs());
  EXPECT_FALSE(d_.Has(Op::kUpstreamCancelRecv));
  d_.clock().Advance(d_.config().upstream_idle_timeout - absl::Seconds(1) - absl::Milliseconds(1));
  pool.SweepIdle(d_.clock().NowNs());
  EXPECT_EQ(pool.idle(), 1u) << "not yet";
  d_.clock().Advance(absl::Seconds(1) + absl::Milliseconds(1));
  pool.SweepIdle(d_.clock().NowNs());
  EXPECT_EQ(pool.idle(), 0u);
  EXPECT_TRUE(d_.Has(Op::kUpstreamCancelRecv))
      << "its recv goes first (a pending recv stops the FIN)";
  d_.CompleteOp(Op::kUpstreamRecv, -ECANCELED);
  d_.CompleteOp(Op::kUpstreamCancelRecv, 0);
  EXPECT_TRUE(d_.Has(Op::kUpstreamClose));
}

TEST_F(UpstreamTest, RequestBodyBacklogPausesTheClientUntilTheBackendTakesIt) {
  Open();
  const std::string body(40000, 'b');
  d_.ClientSends("POST /up HTTP/1.1\r\nHost: example\r\nContent-Length: 40000\r\n\r\n" + body);
  // The backend has not even connected: the body waits, and past the high mark (a quarter of
  // --max-conn-buffer) reading stops; the rest stays in the client's socket.
  EXPECT_GT(d_.client_bytes_waiting(), 0u);
  EXPECT_FALSE(d_.Has(Op::kClientRecv));
  d_.CompleteRecvCancel();  // (a multishot still armed when the pause came is cancelled)
  d_.ConnectUpstream();
  std::string forwarded;
  for (int i = 0; i < 100 && (d_.Has(Op::kUpstreamSend) || d_.client_bytes_waiting() > 0); ++i) {
    while (d_.Has(Op::kUpstreamSend)) forwarded += d_.TakeUpstreamSend();
    d_.DeliverWaitingClientBytes();  // the backend took the body: reading has resumed
  }
  EXPECT_EQ(d_.client_bytes_waiting(), 0u);
  EXPECT_EQ(forwarded.substr(forwarded.find("\r\n\r\n") + 4), body);
  EXPECT_GT(d_.metrics().connection_buffered_bytes_max.Get(), 16 * 1024);
  EXPECT_LT(d_.metrics().connection_buffered_bytes_max.Get(), 64 * 1024) << "--max-conn-buffer";
  d_.BackendSends(kOk);
  EXPECT_EQ(d_.ClientReads(), kOk);
}

TEST_F(UpstreamTest, StaleUpstreamCompletionIsCountedAndDropped) {
  ServeOneAndPool();
  const io_uring_sqe old_recv = d_.Expect(Op::kUpstreamRecv);
  d_.BackendCloses();
  d_.CompleteOp(Op::kUpstreamClose, 0);  // the slot is free, its generation moved on
  const uint64_t stale = d_.metrics().uring_stale_completions.Get();
  d_.worker().Dispatch(old_recv.user_data, 0, 0);
  EXPECT_EQ(d_.metrics().uring_stale_completions.Get(), stale + 1);
  d_.ClientSends(kGet);  // the slot is reused by a new connection
  const io_uring_sqe connect = d_.Expect(Op::kUpstreamConnect);
  EXPECT_EQ(DecodeTag(connect.user_data).slot, DecodeTag(old_recv.user_data).slot);
  EXPECT_NE(DecodeTag(connect.user_data).generation, DecodeTag(old_recv.user_data).generation);
  d_.worker().Dispatch(old_recv.user_data, -ECONNRESET, 0);
  EXPECT_EQ(d_.metrics().uring_stale_completions.Get(), stale + 2);
  EXPECT_FALSE(d_.Has(Op::kClientSend)) << "the new exchange is untouched";
  d_.ConnectUpstream();
  d_.TakeUpstreamSend();
  d_.BackendSends(kOk);
  EXPECT_EQ(d_.ClientReads(), kOk);
}

}  // namespace
}  // namespace ringgate
