// The client connection's state machine, driven by hand through a Worker on a FakeRing and a
// ManualClock: every SQE it submits is inspected, every completion is written by the test, and
// time moves only when the test says. What the client receives is decrypted by a real wolfSSL
// client session. Only the public interface is used (Worker::Dispatch, FireTimers, the SQEs,
// the closures, the metrics), so that these tests hold across refactors of the connection.
#include "ringgate/proxy/client_connection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <vector>

#include "ringgate/diag/metrics.h"
#include "unit/support/connection_driver.h"

namespace ringgate {
namespace {

using testing::ConnectionDriver;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::OpOf;
using testing::OpsOf;
using testing::SqeBytes;
using ::testing::StartsWith;

constexpr char kGet1[] = "GET /1 HTTP/1.1\r\nHost: example\r\n\r\n";
constexpr char kGet2[] = "GET /2 HTTP/1.1\r\nHost: example\r\n\r\n";
constexpr char kResponse1[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none";
constexpr char kResponse2[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo";

class ClientConnectionTest : public ::testing::Test {
 protected:
  // A connection past its handshake.
  void Open() {
    d_.Accept();
    d_.Handshake();
  }
  // One request with Connection: close, answered; the proxy then starts its close. The
  // response's send is delivered, the recv cancelled: the chain is out.
  void ServeRequestWithConnectionClose() {
    Open();
    d_.ClientSends("GET /bye HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n");
    d_.ConnectUpstream();
    d_.TakeUpstreamSend();
    d_.BackendSends(kResponse1);
    EXPECT_THAT(d_.ClientReads(), HasSubstr("Connection: close"));
    d_.CompleteRecvCancel();
  }
  // As above, but the response arrives in two parts and the first part's send is still out
  // when the second is queued: what is queued goes out as the chain's flush step.
  void ServeRequestThenCloseWithFlush() {
    Open();
    d_.ClientSends("GET /bye HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n");
    d_.ConnectUpstream();
    d_.TakeUpstreamSend();
    const size_t sends_before = d_.CountSubmitted(Op::kClientSend);
    d_.BackendSends("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfir");
    const io_uring_sqe first_send = d_.Expect(Op::kClientSend);
    d_.BackendSends("st!");  // queued behind the send in flight; the exchange ends
    EXPECT_EQ(d_.CountSubmitted(Op::kClientSend) - sends_before, 1u)
        << "one send in flight at a time";
    EXPECT_TRUE(d_.ChainSqes().empty()) << "the chain waits for the send in flight";
    d_.client_tls().FeedCiphertext(SqeBytes(first_send));
    d_.Complete(first_send, static_cast<int>(first_send.len));
    std::string first_part;
    d_.client_tls().ReadPlaintext(first_part);
    EXPECT_THAT(first_part, StartsWith("HTTP/1.1 200 OK\r\n"));
    EXPECT_TRUE(d_.ChainSqes().empty()) << "the chain waits for the recv to be cancelled";
    d_.CompleteRecvCancel();
  }
  // Plays the client's side of our close_notify: reads it (with any flushed bytes before it).
  std::string ClientReadsChainSends(const std::vector<io_uring_sqe>& chain, TlsStatus* status) {
    for (const io_uring_sqe& sqe : chain) {
      if (OpOf(sqe) == Op::kShutdownFlush || OpOf(sqe) == Op::kShutdownCloseNotify) {
        d_.client_tls().FeedCiphertext(SqeBytes(sqe));
      }
    }
    std::string plain;
    *status = d_.client_tls().ReadPlaintext(plain);
    return plain;
  }
  void CompleteSends(const std::vector<io_uring_sqe>& chain) {
    for (const io_uring_sqe& sqe : chain) {
      if (OpOf(sqe) == Op::kShutdownFlush || OpOf(sqe) == Op::kShutdownCloseNotify) {
        d_.Complete(sqe, static_cast<int>(sqe.len));
      } else if (OpOf(sqe) == Op::kShutdownHalfClose) {
        d_.Complete(sqe, 0);
      }
    }
  }
  io_uring_sqe Step(const std::vector<io_uring_sqe>& chain, Op op) {
    for (const io_uring_sqe& sqe : chain) {
      if (OpOf(sqe) == op) return sqe;
    }
    ADD_FAILURE() << "no chain step " << static_cast<int>(op);
    return io_uring_sqe{};
  }
  bool SlotInUse() { return d_.worker().Client(d_.slot(), d_.generation()) != nullptr; }

  ConnectionDriver d_;
};

// ---- Handshake ----------------------------------------------------------------------------------

TEST_F(ClientConnectionTest, AdoptingArmsOneBufferSelectRecv) {
  d_.Accept();
  const std::vector<io_uring_sqe>& sqes = d_.submitted();
  ASSERT_EQ(sqes.size(), 1u);
  EXPECT_EQ(OpOf(sqes[0]), Op::kClientRecv);
  EXPECT_EQ(sqes[0].fd, d_.client_fd());
  EXPECT_TRUE(sqes[0].flags & IOSQE_BUFFER_SELECT);
  EXPECT_EQ(sqes[0].buf_group, d_.worker().buffers().group());
  EXPECT_EQ(d_.metrics().connections_accepted.Get(), 1u);
  EXPECT_EQ(d_.metrics().connections_in_state[static_cast<int>(LifecycleState::kHandshake)].Get(),
            1);
}

TEST_F(ClientConnectionTest, HandshakeCompletesAndArmsTheIdleTimer) {
  Open();
  EXPECT_EQ(d_.metrics()
                .handshakes[static_cast<int>(HandshakeResult::kOk)]
                           [static_cast<int>(TlsVersionLabel::kTls13)]
                .Get(),
            1u);
  EXPECT_EQ(
      d_.metrics().connections_in_state[static_cast<int>(LifecycleState::kDataTransfer)].Get(), 1);
  EXPECT_GT(d_.CountSubmitted(Op::kClientSend), 0u) << "the server's flight went out as sends";
  // The handshake deadline (1 s) no longer applies; the idle one (5 s) does.
  const size_t before = d_.submitted().size();
  d_.Advance(d_.config().handshake_timeout);
  d_.Advance(d_.config().idle_timeout - d_.config().handshake_timeout - absl::Milliseconds(1));
  EXPECT_EQ(d_.submitted().size(), before) << "nothing happens before the idle deadline";
  EXPECT_TRUE(SlotInUse());
  d_.Advance(absl::Milliseconds(1));
  // Idle: the polite close starts by cancelling the recv.
  const io_uring_sqe cancel = d_.Expect(Op::kClientCancelRecv);
  EXPECT_EQ(cancel.opcode, IORING_OP_ASYNC_CANCEL);
  EXPECT_EQ(cancel.addr, d_.Expect(Op::kClientRecv).user_data) << "cancels our own recv";
  d_.CompleteRecvCancel();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  EXPECT_THAT(OpsOf(chain),
              ElementsAre(Op::kShutdownCloseNotify, Op::kShutdownHalfClose, Op::kShutdownDrainRecv,
                          Op::kShutdownDeadline, Op::kShutdownClose));
  TlsStatus status;
  ClientReadsChainSends(chain, &status);
  EXPECT_EQ(status, TlsStatus::kPeerCloseNotify) << "the client sees our close_notify";
  CompleteSends(chain);
  d_.Complete(Step(chain, Op::kShutdownDrainRecv), 0);  // the client's FIN
  d_.Complete(Step(chain, Op::kShutdownDeadline), -ECANCELED);
  d_.Complete(Step(chain, Op::kShutdownClose), 0);
  EXPECT_EQ(d_.LastClose(), "peer_fin/server_timeout");
}

TEST_F(ClientConnectionTest, HandshakeTimeoutAbortsWithoutCloseNotify) {
  d_.Accept();
  d_.client_tls().Handshake();
  d_.SendClientCiphertext();  // a ClientHello, then silence
  d_.DeliverSends();
  d_.Advance(d_.config().handshake_timeout - absl::Milliseconds(1));
  EXPECT_FALSE(d_.Has(Op::kClientCancelRecv));
  d_.Advance(absl::Milliseconds(1));
  d_.CompleteRecvCancel();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  // An abort: no close_notify, no wait for the peer; FIN, then close.
  ASSERT_THAT(OpsOf(chain), ElementsAre(Op::kShutdownHalfClose, Op::kShutdownClose));
  EXPECT_EQ(chain[0].flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK), IOSQE_IO_LINK);
  EXPECT_EQ(chain[1].flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK), 0);
  EXPECT_EQ(d_.ring().reservations().back(), 2u) << "the chain's room is reserved first";
  d_.Complete(chain[0], 0);
  EXPECT_TRUE(SlotInUse());
  d_.Complete(chain[1], 0);
  EXPECT_FALSE(SlotInUse());
  EXPECT_EQ(d_.LastClose(), "timeout/server_timeout");
  EXPECT_EQ(d_.Closed(TerminationCause::kTimeout, CloseInitiator::kServerTimeout), 1u);
  EXPECT_EQ(
      d_.metrics().close_notify_not_sent[static_cast<int>(NoCloseNotifyReason::kNoHandshake)].Get(),
      1u);
  EXPECT_EQ(d_.worker().live_clients(), 0u);
}

TEST_F(ClientConnectionTest, HandshakeTimeoutWithTheServerFlightUnreadEndsAtTheBackstop) {
  d_.Accept();
  d_.client_tls().Handshake();
  d_.SendClientCiphertext();  // the server's flight goes out as a send the client never reads
  ASSERT_TRUE(d_.Has(Op::kClientSend));
  d_.Advance(d_.config().handshake_timeout);
  d_.CompleteRecvCancel();
  EXPECT_TRUE(d_.ChainSqes().empty()) << "the chain waits for the send in flight";
  d_.Advance(d_.config().send_timeout + absl::Milliseconds(499));
  EXPECT_FALSE(d_.Has(Op::kClientCancelRecv));
  d_.Advance(absl::Milliseconds(1));
  const io_uring_sqe cancel = d_.Expect(Op::kClientCancelRecv);
  EXPECT_TRUE(cancel.cancel_flags & IORING_ASYNC_CANCEL_ALL);
  d_.CompleteOp(Op::kClientSend, -ECANCELED);
  d_.Complete(cancel, 1);
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  ASSERT_THAT(OpsOf(chain), ElementsAre(Op::kShutdownHalfClose, Op::kShutdownClose));
  d_.Complete(chain[0], 0);
  d_.Complete(chain[1], 0);
  EXPECT_EQ(d_.LastClose(), "timeout/server_timeout");
}

TEST_F(ClientConnectionTest, ClientFinDuringHandshakeIsPeerFinFromTheClient) {
  d_.Accept();
  d_.client_tls().Handshake();
  d_.SendClientCiphertext();
  d_.DeliverSends();
  d_.ClientSendsFin();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  ASSERT_THAT(OpsOf(chain), ElementsAre(Op::kShutdownHalfClose, Op::kShutdownClose));
  d_.Complete(chain[0], 0);
  d_.Complete(chain[1], 0);
  EXPECT_EQ(d_.LastClose(), "peer_fin/client");
  EXPECT_EQ(d_.metrics()
                .handshakes[static_cast<int>(HandshakeResult::kFailed)]
                           [static_cast<int>(TlsVersionLabel::kUnknown)]
                .Get(),
            1u);
}

// ---- Relaying -----------------------------------------------------------------------------------

TEST_F(ClientConnectionTest, RequestIsForwardedRewrittenAndTheResponseComesBackEncrypted) {
  Open();
  d_.ClientSends("GET /a HTTP/1.1\r\nHost: example\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n");
  const io_uring_sqe connect = d_.Expect(Op::kUpstreamConnect);
  EXPECT_EQ(connect.opcode, IORING_OP_CONNECT);
  EXPECT_FALSE(d_.Has(Op::kUpstreamSend)) << "nothing is sent before the connect completes";
  d_.ConnectUpstream();
  const io_uring_sqe recv = d_.Expect(Op::kUpstreamRecv);
  EXPECT_TRUE(recv.flags & IOSQE_BUFFER_SELECT);
  const io_uring_sqe send = d_.Expect(Op::kUpstreamSend);
  EXPECT_EQ(send.opcode, IORING_OP_SEND);
  EXPECT_EQ(send.msg_flags, static_cast<uint32_t>(MSG_WAITALL | MSG_NOSIGNAL));
  // An untrusted peer's X-Forwarded-For is replaced by its address.
  EXPECT_EQ(d_.TakeUpstreamSend(),
            "GET /a HTTP/1.1\r\nHost: example\r\nX-Forwarded-For: 127.0.0.1\r\n"
            "X-Forwarded-Proto: https\r\n\r\n");
  d_.BackendSends("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  const io_uring_sqe client_send = d_.Expect(Op::kClientSend);
  EXPECT_EQ(client_send.fd, d_.client_fd());
  EXPECT_EQ(client_send.msg_flags, static_cast<uint32_t>(MSG_WAITALL | MSG_NOSIGNAL));
  EXPECT_THAT(std::string(SqeBytes(client_send)), Not(HasSubstr("hello"))) << "encrypted";
  EXPECT_EQ(d_.ClientReads(), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(d_.metrics().requests_by_status_class[1].Get(), 1u);
  EXPECT_EQ(d_.worker().upstreams().idle(), 1u) << "a keep-alive backend connection is pooled";
  EXPECT_FALSE(d_.Has(Op::kClientCancelRecv)) << "the client connection stays open";
}

TEST_F(ClientConnectionTest, PipelinedRequestsAreAnsweredStrictlyInOrder) {
  Open();
  d_.ClientSends(std::string(kGet1) + kGet2);  // both in one record
  d_.ConnectUpstream();
  EXPECT_THAT(d_.TakeUpstreamSend(), StartsWith("GET /1 "));
  EXPECT_FALSE(d_.Has(Op::kUpstreamSend)) << "the second request waits for the first response";
  d_.BackendSends("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");  // head only
  EXPECT_FALSE(d_.Has(Op::kUpstreamSend)) << "still waiting: the first response is not complete";
  d_.BackendSends("one");
  const std::string second = d_.TakeUpstreamSend();
  EXPECT_THAT(second, StartsWith("GET /2 "));
  EXPECT_EQ(d_.CountSubmitted(Op::kUpstreamConnect), 1u) << "the same backend connection, reused";
  EXPECT_EQ(d_.ClientReads(), kResponse1);
  d_.BackendSends(kResponse2);
  EXPECT_EQ(d_.ClientReads(), kResponse2);
  EXPECT_EQ(d_.metrics().requests_by_status_class[1].Get(), 2u);
}

TEST_F(ClientConnectionTest, RequestHeadTimeoutAnswers408) {
  Open();
  d_.ClientSends("GET /slow HTTP/1.1\r\nHost: exa");  // the head never completes
  EXPECT_FALSE(d_.Has(Op::kUpstreamConnect));
  d_.Advance(d_.config().request_header_timeout - absl::Milliseconds(1));
  EXPECT_FALSE(d_.Has(Op::kClientSend));
  d_.Advance(absl::Milliseconds(1));
  EXPECT_THAT(d_.ClientReads(), StartsWith("HTTP/1.1 408 Request Timeout\r\n"));
}

TEST_F(ClientConnectionTest, BadRequestAnswers400AndCloses) {
  Open();
  d_.ClientSends("NOT HTTP\r\n\r\n");
  EXPECT_THAT(d_.ClientReads(), StartsWith("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_FALSE(d_.Has(Op::kUpstreamConnect));
  EXPECT_TRUE(d_.Has(Op::kClientCancelRecv)) << "no more requests are read";
}

TEST_F(ClientConnectionTest, PipelinedRequestsBeforeTheClientsCloseNotifyAreAllAnswered) {
  Open();
  ASSERT_EQ(d_.client_tls().WritePlaintext(std::string(kGet1) + kGet2), TlsStatus::kOk);
  ASSERT_EQ(d_.client_tls().QueueCloseNotify(), TlsStatus::kOk);
  d_.SendClientCiphertext();
  d_.ConnectUpstream();
  EXPECT_THAT(d_.TakeUpstreamSend(), StartsWith("GET /1 "));
  d_.BackendSends(kResponse1);
  EXPECT_THAT(d_.TakeUpstreamSend(), StartsWith("GET /2 "));
  EXPECT_TRUE(d_.ChainSqes().empty()) << "the second answer is still owed";
  d_.BackendSends(kResponse2);  // queued behind the first response's send, still out
  EXPECT_EQ(d_.ClientReads(), kResponse1);
  d_.CompleteRecvCancel();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  // The second response is the chain's flush: sent before our close_notify, in one submission.
  ASSERT_THAT(OpsOf(chain), ElementsAre(Op::kShutdownFlush, Op::kShutdownCloseNotify,
                                        Op::kShutdownHalfClose, Op::kShutdownClose));
  TlsStatus status;
  EXPECT_EQ(ClientReadsChainSends(chain, &status), kResponse2);
  EXPECT_EQ(status, TlsStatus::kPeerCloseNotify);
  CompleteSends(chain);
  d_.Complete(chain[3], 0);
  EXPECT_EQ(d_.LastClose(), "clean/client");
  EXPECT_THAT(d_.Closures().back(), HasSubstr("\"requests\":2"));
}

TEST_F(ClientConnectionTest, PipeliningWindowPausesReadingUntilRequestsAreAnswered) {
  testing::ConnectionDriver d([] {
    Config config = testing::DriverConfig();
    config.max_pipelined = 2;
    return config;
  }());
  d.Accept();
  d.Handshake();
  std::string requests;
  for (int i = 1; i <= 5; ++i) {
    requests += "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: example\r\n\r\n";
  }
  d.ClientSends(requests);
  // One answered, two read ahead: the window is full, reading pauses.
  EXPECT_TRUE(d.Has(Op::kClientCancelRecv));
  d.CompleteRecvCancel();
  ASSERT_FALSE(d.Has(Op::kClientRecv));
  d.ConnectUpstream();
  std::string order;
  for (int i = 1; i <= 5; ++i) {
    const std::string sent = d.TakeUpstreamSend();
    order += sent.substr(5, 1);
    EXPECT_FALSE(d.Has(Op::kUpstreamSend)) << "one request at a time";
    d.BackendSends(kResponse1);
  }
  EXPECT_EQ(order, "12345");
  EXPECT_TRUE(d.Has(Op::kClientRecv)) << "reading resumed once the window had room";
  std::string all;
  for (int i = 0; i < 5; ++i) all += kResponse1;
  EXPECT_EQ(d.ClientReads(), all);
}

TEST_F(ClientConnectionTest, UnframedResponseEndsAtTheBackendsCloseAndCloseNotifyMarksItsEnd) {
  Open();
  d_.ClientSends(kGet1);
  d_.ConnectUpstream();
  d_.TakeUpstreamSend();
  d_.BackendSends("HTTP/1.1 200 OK\r\n\r\nabc");  // neither length nor chunks
  d_.BackendSends("def");
  d_.BackendCloses();
  std::string got = d_.ClientReads();
  d_.CompleteRecvCancel();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  TlsStatus status;
  got += ClientReadsChainSends(chain, &status);  // "def" was queued: it goes out as the flush
  EXPECT_EQ(got, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcdef");
  EXPECT_EQ(status, TlsStatus::kPeerCloseNotify) << "the only sign that the body is complete";
  CompleteSends(chain);
  d_.Complete(Step(chain, Op::kShutdownDrainRecv), 0);
  d_.Complete(Step(chain, Op::kShutdownDeadline), -ECANCELED);
  d_.Complete(Step(chain, Op::kShutdownClose), 0);
  EXPECT_EQ(d_.LastClose(), "peer_fin/server_policy");
}

// ---- Backpressure -------------------------------------------------------------------------------

TEST_F(ClientConnectionTest, ClientThatDoesNotReadPausesTheBackendAndTimesOut) {
  Open();
  d_.ClientSends(kGet1);
  d_.ConnectUpstream();
  d_.TakeUpstreamSend();
  const io_uring_sqe upstream_recv = d_.Expect(Op::kUpstreamRecv);
  const size_t sends_before = d_.CountSubmitted(Op::kClientSend);
  d_.BackendSends("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
  // The client's sends are never completed: it reads nothing. Owed bytes pile up until the
  // backend's recv is paused (the high mark is a quarter of --max-conn-buffer: 16 KiB).
  const std::string chunk(4096, 'x');
  for (int i = 0; i < 8 && !d_.Has(Op::kUpstreamCancelRecv); ++i) d_.BackendSends(chunk);
  const io_uring_sqe pause = d_.Expect(Op::kUpstreamCancelRecv);
  EXPECT_EQ(pause.opcode, IORING_OP_ASYNC_CANCEL);
  EXPECT_EQ(pause.addr, upstream_recv.user_data) << "cancels the backend's recv";
  EXPECT_EQ(d_.CountSubmitted(Op::kClientSend) - sends_before, 1u)
      << "one send in flight, the rest queued";
  d_.Complete(upstream_recv, -ECANCELED);
  d_.Complete(pause, 0);
  EXPECT_FALSE(d_.Has(Op::kUpstreamRecv)) << "paused: not re-armed";

  d_.Advance(d_.config().send_timeout - absl::Milliseconds(1));
  EXPECT_FALSE(d_.Has(Op::kClientCancelRecv));
  d_.Advance(absl::Milliseconds(1));
  // Given up: the stuck send is cancelled (every op on the fd), the recv too.
  bool cancelled_all = false;
  for (const io_uring_sqe& sqe : d_.outstanding()) {
    if (OpOf(sqe) == Op::kClientCancelRecv && (sqe.cancel_flags & IORING_ASYNC_CANCEL_ALL)) {
      cancelled_all = true;
      EXPECT_EQ(sqe.fd, d_.client_fd());
    }
  }
  EXPECT_TRUE(cancelled_all) << "the stuck send is cancelled";
  EXPECT_TRUE(d_.ChainSqes().empty()) << "no chain while the send is out";
  d_.CompleteOp(Op::kClientSend, -ECANCELED);
  d_.CompleteOp(Op::kClientRecv, -ECANCELED);
  while (d_.Has(Op::kClientCancelRecv)) d_.CompleteOp(Op::kClientCancelRecv, 0);
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  ASSERT_THAT(OpsOf(chain), ElementsAre(Op::kShutdownHalfClose, Op::kShutdownClose))
      << "what was owed is dropped and no close_notify follows a cut response";
  d_.Complete(chain[0], 0);
  d_.Complete(chain[1], 0);
  EXPECT_EQ(d_.LastClose(), "timeout/server_timeout");
  EXPECT_EQ(d_.CountSubmitted(Op::kUpstreamClose), 1u) << "the backend connection is closed";
}

TEST_F(ClientConnectionTest, ClientReadingAgainResumesTheBackend) {
  Open();
  d_.ClientSends(kGet1);
  d_.ConnectUpstream();
  d_.TakeUpstreamSend();
  d_.BackendSends("HTTP/1.1 200 OK\r\nContent-Length: 40000\r\n\r\n");
  const std::string chunk(4096, 'y');
  int sent = 0;
  for (; sent < 8 && !d_.Has(Op::kUpstreamCancelRecv); ++sent) d_.BackendSends(chunk);
  d_.CompleteOp(Op::kUpstreamRecv, -ECANCELED);
  d_.CompleteOp(Op::kUpstreamCancelRecv, 0);
  ASSERT_FALSE(d_.Has(Op::kUpstreamRecv));
  d_.DeliverSends();  // the client reads everything owed
  EXPECT_TRUE(d_.Has(Op::kUpstreamRecv)) << "reading from the backend resumes";
  d_.BackendSends(std::string(40000 - 4096 * sent, 'y'));
  std::string got = d_.ClientReads();
  EXPECT_THAT(got, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(got.size() - got.find("\r\n\r\n") - 4, 40000u);
}

// ---- The graceful close sequence ----------------------------------------------------------------

TEST_F(ClientConnectionTest, ChainStepsAreLinkedAsShutdownChainPutsThem) {
  ServeRequestThenCloseWithFlush();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  ASSERT_THAT(OpsOf(chain),
              ElementsAre(Op::kShutdownFlush, Op::kShutdownCloseNotify, Op::kShutdownHalfClose,
                          Op::kShutdownDrainRecv, Op::kShutdownDeadline, Op::kShutdownClose));
  EXPECT_EQ(d_.ring().reservations().back(), 6u);
  const uint8_t kLinks = IOSQE_IO_LINK | IOSQE_IO_HARDLINK;
  EXPECT_EQ(chain[0].opcode, IORING_OP_SEND);
  EXPECT_EQ(chain[0].flags & kLinks, IOSQE_IO_LINK);
  EXPECT_EQ(chain[1].opcode, IORING_OP_SEND);
  EXPECT_EQ(chain[1].flags & kLinks, IOSQE_IO_LINK);
  EXPECT_EQ(chain[2].opcode, IORING_OP_SHUTDOWN);
  EXPECT_EQ(chain[2].flags & kLinks, IOSQE_IO_LINK);
  EXPECT_EQ(chain[3].opcode, IORING_OP_RECV);
  EXPECT_EQ(chain[3].flags & kLinks, IOSQE_IO_HARDLINK) << "the deadline must not cancel the close";
  EXPECT_EQ(chain[4].opcode, IORING_OP_LINK_TIMEOUT);
  EXPECT_EQ(chain[4].flags & kLinks, IOSQE_IO_LINK);
  EXPECT_EQ(chain[5].opcode, IORING_OP_CLOSE);
  EXPECT_EQ(chain[5].flags & kLinks, 0);
  for (int i : {0, 1, 2, 3, 5}) EXPECT_EQ(chain[i].fd, d_.client_fd()) << "step " << i;
  EXPECT_EQ(chain[0].msg_flags, static_cast<uint32_t>(MSG_WAITALL | MSG_NOSIGNAL));
  EXPECT_EQ(chain[3].msg_flags, static_cast<uint32_t>(MSG_WAITALL));
  const auto* deadline = reinterpret_cast<const __kernel_timespec*>(chain[4].addr);
  EXPECT_EQ(deadline->tv_sec, 1) << "--close-notify-timeout";
  TlsStatus status;
  EXPECT_EQ(ClientReadsChainSends(chain, &status), "st!") << "the flush carries the rest";
  EXPECT_EQ(status, TlsStatus::kPeerCloseNotify);
}

TEST_F(ClientConnectionTest, CloseNotifyInTheDrainRecvIsClean) {
  ServeRequestWithConnectionClose();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  ASSERT_THAT(OpsOf(chain),
              ElementsAre(Op::kShutdownCloseNotify, Op::kShutdownHalfClose, Op::kShutdownDrainRecv,
                          Op::kShutdownDeadline, Op::kShutdownClose));
  TlsStatus status;
  ClientReadsChainSends(chain, &status);
  ASSERT_EQ(status, TlsStatus::kPeerCloseNotify);
  CompleteSends(chain);
  // The client answers with its own close_notify, then FIN: a short drain recv.
  ASSERT_EQ(d_.client_tls().QueueCloseNotify(), TlsStatus::kOk);
  const std::string alert = d_.client_tls().pending_ciphertext();
  const io_uring_sqe drain = Step(chain, Op::kShutdownDrainRecv);
  ASSERT_GE(drain.len, alert.size());
  std::memcpy(reinterpret_cast<void*>(drain.addr), alert.data(), alert.size());
  d_.Complete(drain, static_cast<int>(alert.size()));
  d_.Complete(Step(chain, Op::kShutdownDeadline), -ECANCELED);
  EXPECT_TRUE(SlotInUse());
  d_.Complete(Step(chain, Op::kShutdownClose), 0);
  EXPECT_FALSE(SlotInUse());
  EXPECT_EQ(d_.LastClose(), "clean/server_policy");
  EXPECT_EQ(d_.Closed(TerminationCause::kClean, CloseInitiator::kServerPolicy), 1u);
  EXPECT_EQ(d_.metrics().close_notify_sent.Get(), 1u);
  EXPECT_EQ(d_.metrics().close_notify_received.Get(), 1u);
  EXPECT_THAT(d_.Closures().back(),
              HasSubstr("\"close_notify_sent\":true,\"close_notify_received\":true"));
  EXPECT_THAT(d_.Closures().back(), HasSubstr("\"requests\":1"));
}

TEST_F(ClientConnectionTest, ShortDrainRecvWithoutCloseNotifyIsPeerFin) {
  ServeRequestWithConnectionClose();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  CompleteSends(chain);
  d_.Complete(Step(chain, Op::kShutdownDrainRecv), 0);
  d_.Complete(Step(chain, Op::kShutdownDeadline), -ECANCELED);
  d_.Complete(Step(chain, Op::kShutdownClose), 0);
  EXPECT_EQ(d_.LastClose(), "peer_fin/server_policy");
  EXPECT_EQ(d_.metrics().close_notify_received.Get(), 0u);
}

TEST_F(ClientConnectionTest, LinkTimeoutFiringIsTimeout) {
  ServeRequestWithConnectionClose();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  CompleteSends(chain);
  d_.Complete(Step(chain, Op::kShutdownDrainRecv), -ECANCELED);  // cancelled by the deadline
  d_.Complete(Step(chain, Op::kShutdownDeadline), -ETIME);
  EXPECT_TRUE(SlotInUse());
  d_.Complete(Step(chain, Op::kShutdownClose), 0);  // hard-linked: runs anyway
  EXPECT_FALSE(SlotInUse());
  EXPECT_EQ(d_.LastClose(), "timeout/server_policy");
  EXPECT_THAT(d_.Closures().back(), HasSubstr("\"timed_out\""));
}

TEST_F(ClientConnectionTest, SlotIsNotFreedWhileAChainStepIsStillOut) {
  ServeRequestWithConnectionClose();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  CompleteSends(chain);
  d_.Complete(Step(chain, Op::kShutdownDrainRecv), 0);
  d_.Complete(Step(chain, Op::kShutdownClose), 0);  // the close's CQE overtakes the deadline's
  EXPECT_TRUE(SlotInUse()) << "the deadline's completion is still to come";
  EXPECT_EQ(d_.worker().closures().size(), 0u);
  EXPECT_EQ(d_.worker().live_clients(), 1u);
  d_.Complete(Step(chain, Op::kShutdownDeadline), -ECANCELED);
  EXPECT_FALSE(SlotInUse());
  EXPECT_EQ(d_.worker().live_clients(), 0u);
  EXPECT_EQ(d_.LastClose(), "peer_fin/server_policy");
}

TEST_F(ClientConnectionTest, ShutdownBackstopCancelsAChainWhoseDeadlineNeverFires) {
  ServeRequestWithConnectionClose();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  CompleteSends(chain);  // close_notify is out; the drain recv waits, its deadline "lost"
  d_.Advance(d_.config().close_notify_timeout);
  EXPECT_FALSE(d_.Has(Op::kClientCancelRecv));
  d_.Advance(absl::Milliseconds(500));
  const io_uring_sqe cancel = d_.Expect(Op::kClientCancelRecv);
  EXPECT_TRUE(cancel.cancel_flags & IORING_ASYNC_CANCEL_ALL);
  d_.Complete(cancel, 1);
  d_.Complete(Step(chain, Op::kShutdownDrainRecv), -ECANCELED);
  d_.Complete(Step(chain, Op::kShutdownDeadline), -ECANCELED);
  d_.Complete(Step(chain, Op::kShutdownClose), 0);
  EXPECT_EQ(d_.LastClose(), "timeout/server_policy");
}

// ---- Broken chains ------------------------------------------------------------------------------

class BrokenChainTest : public ClientConnectionTest, public ::testing::WithParamInterface<int> {};

TEST_P(BrokenChainTest, FailedFlushCancelsTheRestAndOurOwnCloseFollows) {
  ServeRequestThenCloseWithFlush();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  ASSERT_EQ(chain.size(), 6u);
  d_.Complete(chain[0], GetParam());  // the flush fails: the client is gone
  for (size_t i = 1; i < chain.size(); ++i) {
    EXPECT_FALSE(d_.Has(Op::kCloseAfterBrokenChain));
    d_.Complete(chain[i], -ECANCELED);
  }
  // The chain's close never ran: the descriptor is closed by a separate SQE.
  const io_uring_sqe close = d_.Expect(Op::kCloseAfterBrokenChain);
  EXPECT_EQ(close.opcode, IORING_OP_CLOSE);
  EXPECT_EQ(close.fd, d_.client_fd());
  EXPECT_EQ(close.flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK), 0);
  EXPECT_TRUE(SlotInUse()) << "freed only once our close completes";
  EXPECT_EQ(d_.worker().closures().size(), 0u);
  d_.Complete(close, 0);
  EXPECT_FALSE(SlotInUse());
  EXPECT_EQ(d_.LastClose(), "reset/server_policy");
  EXPECT_EQ(d_.Closed(TerminationCause::kReset, CloseInitiator::kServerPolicy), 1u);
}

INSTANTIATE_TEST_SUITE_P(ResetErrors, BrokenChainTest, ::testing::Values(-EPIPE, -ECONNRESET),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == -EPIPE ? std::string("EPIPE")
                                                       : std::string("ECONNRESET");
                         });

TEST_F(ClientConnectionTest, FailedCloseNotifyWithAnIoErrorIsError) {
  ServeRequestWithConnectionClose();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  ASSERT_EQ(chain.size(), 5u);
  d_.Complete(chain[0], -EIO);
  for (size_t i = 1; i < chain.size(); ++i) d_.Complete(chain[i], -ECANCELED);
  d_.CompleteOp(Op::kCloseAfterBrokenChain, 0);
  EXPECT_EQ(d_.LastClose(), "error/server_policy");
  EXPECT_EQ(d_.metrics().close_notify_sent.Get(), 0u);
}

TEST_F(ClientConnectionTest, CancelledCloseAfterADeadlineStillClosesTheDescriptor) {
  ServeRequestWithConnectionClose();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  CompleteSends(chain);
  d_.Complete(Step(chain, Op::kShutdownDrainRecv), -ECANCELED);
  d_.Complete(Step(chain, Op::kShutdownDeadline), -ETIME);
  d_.Complete(Step(chain, Op::kShutdownClose), -ECANCELED);
  EXPECT_TRUE(SlotInUse());
  d_.CompleteOp(Op::kCloseAfterBrokenChain, 0);
  EXPECT_FALSE(SlotInUse());
  EXPECT_EQ(d_.LastClose(), "timeout/server_policy");
}

// ---- Client errors ------------------------------------------------------------------------------

TEST_F(ClientConnectionTest, ClientResetOnRecvClosesWithoutCloseNotify) {
  Open();
  d_.CompleteOp(Op::kClientRecv, -ECONNRESET);
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  // Nobody to send to: no close_notify, no FIN; only the close.
  ASSERT_THAT(OpsOf(chain), ElementsAre(Op::kShutdownClose));
  d_.Complete(chain[0], 0);
  EXPECT_EQ(d_.LastClose(), "reset/client");
  EXPECT_EQ(
      d_.metrics().close_notify_not_sent[static_cast<int>(NoCloseNotifyReason::kPeerReset)].Get(),
      1u);
}

TEST_F(ClientConnectionTest, ClientCloseNotifyWhileIdleClosesCleanly) {
  Open();
  ASSERT_EQ(d_.client_tls().QueueCloseNotify(), TlsStatus::kOk);
  d_.SendClientCiphertext();
  d_.CompleteRecvCancel();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  // The client has closed its side: our alert and FIN go out, nothing is waited for.
  ASSERT_THAT(OpsOf(chain),
              ElementsAre(Op::kShutdownCloseNotify, Op::kShutdownHalfClose, Op::kShutdownClose));
  CompleteSends(chain);
  d_.Complete(chain[2], 0);
  EXPECT_EQ(d_.LastClose(), "clean/client");
}

TEST_F(ClientConnectionTest, ClientFinAfterARequestStillGetsTheResponse) {
  Open();
  d_.ClientSends(kGet1);
  d_.ClientSendsFin();  // the client half-closes and waits for its answer
  EXPECT_FALSE(d_.Has(Op::kClientCancelRecv));
  EXPECT_TRUE(d_.ChainSqes().empty()) << "the response is still owed";
  d_.ConnectUpstream();
  d_.TakeUpstreamSend();
  d_.BackendSends(kResponse1);
  EXPECT_EQ(d_.ClientReads(), kResponse1);
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  // Its FIN is in: our alert and FIN go out, there is nothing to wait for.
  ASSERT_THAT(OpsOf(chain),
              ElementsAre(Op::kShutdownCloseNotify, Op::kShutdownHalfClose, Op::kShutdownClose));
  CompleteSends(chain);
  d_.Complete(chain[2], 0);
  EXPECT_EQ(d_.LastClose(), "peer_fin/client");
}

TEST_F(ClientConnectionTest, ClientResetMidExchangeLetsTheExchangeEndWithoutReplies) {
  Open();
  d_.ClientSends(kGet1);
  d_.ConnectUpstream();
  d_.TakeUpstreamSend();
  d_.CompleteOp(Op::kClientRecv, -ECONNRESET);
  EXPECT_TRUE(d_.ChainSqes().empty()) << "the backend's answer is awaited (and discarded)";
  const size_t sends_before = d_.CountSubmitted(Op::kClientSend);
  d_.BackendSends(kResponse1);
  EXPECT_EQ(d_.CountSubmitted(Op::kClientSend), sends_before) << "nobody to send to";
  EXPECT_EQ(d_.worker().upstreams().idle(), 1u) << "the backend connection is still reusable";
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  ASSERT_THAT(OpsOf(chain), ElementsAre(Op::kShutdownClose));
  d_.Complete(chain[0], 0);
  EXPECT_EQ(d_.LastClose(), "reset/client");
}

TEST_F(ClientConnectionTest, SendFailingWithEpipeIsAReset) {
  Open();
  d_.ClientSends(kGet1);
  d_.ConnectUpstream();
  d_.TakeUpstreamSend();
  d_.BackendSends(kResponse1);
  d_.CompleteOp(Op::kClientSend, -EPIPE);
  d_.CompleteRecvCancel();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  ASSERT_THAT(OpsOf(chain), ElementsAre(Op::kShutdownClose));
  d_.Complete(chain[0], 0);
  EXPECT_EQ(d_.LastClose(), "reset/client");
}

TEST_F(ClientConnectionTest, RequestAfterIdleMemoryWasReleasedIsServed) {
  Open();
  d_.Advance(absl::Seconds(1));  // past the idle grace: buffers handed back
  d_.ClientSends(kGet1);
  d_.ConnectUpstream();
  EXPECT_THAT(d_.TakeUpstreamSend(), StartsWith("GET /1 "));
  d_.BackendSends(kResponse1);
  EXPECT_EQ(d_.ClientReads(), kResponse1);
}

TEST_F(ClientConnectionTest, ZeroCopySendHoldsTheChainUntilItsNotification) {
  testing::ConnectionDriver zc([] {
    Config config = testing::DriverConfig();
    config.send_zc_threshold = 1;  // every send
    return config;
  }());
  zc.Accept();
  zc.Handshake();
  zc.ClientSends("GET /z HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n");
  zc.ConnectUpstream();
  zc.TakeUpstreamSend();
  zc.BackendSends(kResponse1);
  const io_uring_sqe send = zc.Expect(Op::kClientSend);
  EXPECT_EQ(send.opcode, IORING_OP_SEND_ZC);
  EXPECT_GT(zc.metrics().send_zc.Get(), 0u);
  zc.client_tls().FeedCiphertext(SqeBytes(send));
  // The send's result, while the kernel still holds the pages; then its notification.
  zc.worker().Dispatch(send.user_data, static_cast<int>(send.len), IORING_CQE_F_MORE);
  zc.CompleteRecvCancel();
  EXPECT_TRUE(zc.ChainSqes().empty()) << "the buffer is the kernel's until the notification";
  zc.Complete(send, IORING_NOTIF_USAGE_ZC_COPIED, IORING_CQE_F_NOTIF);
  EXPECT_EQ(zc.metrics().send_zc_copied.Get(), 1u);
  const std::vector<io_uring_sqe> chain = zc.ChainSqes();
  ASSERT_FALSE(chain.empty()) << "the chain follows the notification";
  std::string plain;
  zc.client_tls().ReadPlaintext(plain);
  EXPECT_EQ(plain.substr(plain.size() - 3), "one");
}

// ---- Draining -----------------------------------------------------------------------------------

uint64_t WakeTag() { return EncodeTag({Op::kWake, 0, 0}); }

TEST_F(ClientConnectionTest, DrainClosesAnIdleConnectionPolitely) {
  Open();
  d_.worker().RequestDrain();
  d_.worker().Dispatch(WakeTag(), 8, 0);  // the worker's eventfd read
  EXPECT_TRUE(d_.worker().draining());
  EXPECT_TRUE(d_.Has(Op::kAcceptCancel)) << "accepting stops";
  d_.Advance(absl::ZeroDuration());  // an only connection closes at once
  d_.CompleteRecvCancel();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  ASSERT_THAT(OpsOf(chain),
              ElementsAre(Op::kShutdownCloseNotify, Op::kShutdownHalfClose, Op::kShutdownDrainRecv,
                          Op::kShutdownDeadline, Op::kShutdownClose));
  CompleteSends(chain);
  d_.Complete(chain[2], 0);
  d_.Complete(chain[3], -ECANCELED);
  d_.Complete(chain[4], 0);
  EXPECT_EQ(d_.LastClose(), "peer_fin/drain");
}

TEST_F(ClientConnectionTest, DrainLetsTheResponseInProgressFinishWithConnectionClose) {
  Open();
  d_.ClientSends(kGet1);
  d_.ConnectUpstream();
  d_.TakeUpstreamSend();
  d_.worker().RequestDrain();
  d_.worker().Dispatch(WakeTag(), 8, 0);
  d_.Advance(absl::ZeroDuration());
  EXPECT_FALSE(d_.Has(Op::kClientCancelRecv)) << "a busy connection is not cut";
  d_.BackendSends(kResponse1);
  EXPECT_EQ(d_.ClientReads(),
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\none");
  EXPECT_EQ(d_.worker().upstreams().idle(), 0u) << "nothing is pooled while draining";
  d_.CompleteRecvCancel();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  ASSERT_EQ(chain.size(), 5u);
  CompleteSends(chain);
  d_.Complete(chain[2], 0);
  d_.Complete(chain[3], -ECANCELED);
  d_.Complete(chain[4], 0);
  EXPECT_EQ(d_.LastClose(), "peer_fin/drain");
}

// ---- Stale completions --------------------------------------------------------------------------

TEST_F(ClientConnectionTest, StaleCompletionAfterTheSlotIsReusedChangesNothing) {
  d_.Accept();
  const uint32_t old_slot = d_.slot();
  const uint32_t old_generation = d_.generation();
  const io_uring_sqe old_recv = d_.Expect(Op::kClientRecv);
  d_.Advance(d_.config().handshake_timeout);
  d_.CompleteRecvCancel();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  for (const io_uring_sqe& sqe : chain) d_.Complete(sqe, 0);
  ASSERT_EQ(d_.worker().closures().size(), 1u);
  // A late completion for the free slot.
  d_.worker().Dispatch(old_recv.user_data, 0, 0);
  EXPECT_EQ(d_.metrics().uring_stale_completions.Get(), 1u);

  d_.Accept();
  ASSERT_EQ(d_.slot(), old_slot) << "the freed slot is reused";
  ASSERT_NE(d_.generation(), old_generation) << "under a new generation";
  const size_t submitted = d_.submitted().size();
  // The old connection's recv, its buffer full of bytes, and its chain's close, arrive late.
  std::memcpy(d_.worker().buffers().MutableData(3), "garbage", 7);
  d_.worker().Dispatch(old_recv.user_data, 7,
                       IORING_CQE_F_BUFFER | (3u << IORING_CQE_BUFFER_SHIFT) | IORING_CQE_F_MORE);
  d_.worker().Dispatch(chain.back().user_data, -ECANCELED, 0);
  EXPECT_EQ(d_.metrics().uring_stale_completions.Get(), 3u);
  EXPECT_EQ(d_.submitted().size(), submitted) << "no SQE in answer to a stale completion";
  EXPECT_EQ(d_.worker().closures().size(), 1u);
  ASSERT_NE(d_.connection(), nullptr);
  // The new connection is unharmed: its handshake works.
  d_.Handshake();
  EXPECT_EQ(d_.metrics()
                .handshakes[static_cast<int>(HandshakeResult::kOk)]
                           [static_cast<int>(TlsVersionLabel::kTls13)]
                .Get(),
            1u);
}

TEST_F(ClientConnectionTest, StaleTimerEntryDoesNotTouchTheNextConnection) {
  d_.Accept();          // its handshake wake-up is queued for 1 s from now
  d_.ClientSendsFin();  // it closes at once; the wake-up stays queued
  for (const io_uring_sqe& sqe : d_.ChainSqes()) d_.Complete(sqe, 0);
  ASSERT_EQ(d_.worker().closures().size(), 1u);
  d_.Advance(absl::Milliseconds(500));
  d_.Accept();  // the same slot, a new generation, its own deadline 1 s from now
  d_.Advance(absl::Milliseconds(999));  // the old entry comes due meanwhile
  EXPECT_FALSE(d_.Has(Op::kClientCancelRecv)) << "the old entry's deadline is not ours";
  EXPECT_NE(d_.connection(), nullptr);
  d_.Advance(absl::Milliseconds(1));
  EXPECT_TRUE(d_.Has(Op::kClientCancelRecv)) << "our own handshake deadline";
}

TEST_F(ClientConnectionTest, CompletionWithNoOperationIsCountedAsStale) {
  d_.Accept();
  d_.worker().Dispatch(0, 0, 0);
  EXPECT_EQ(d_.metrics().uring_stale_completions.Get(), 1u);
  EXPECT_NE(d_.connection(), nullptr);
}

// ---- WebSocket tunnels --------------------------------------------------------------------------

constexpr char kUpgrade[] =
    "GET /chat HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
constexpr char kSwitch[] =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

class TunnelTest : public ClientConnectionTest {
 protected:
  // An upgrade request, with `early` client bytes behind it, switched by the backend, whose 101
  // comes with `backend_first` behind it in the same segment.
  void OpenTunnel(const std::string& early = "", const std::string& backend_first = "") {
    Open();
    d_.ClientSends(std::string(kUpgrade) + early);
    d_.ConnectUpstream();
    const std::string forwarded = d_.TakeUpstreamSend();
    EXPECT_THAT(forwarded, HasSubstr("Connection: upgrade\r\nUpgrade: websocket\r\n\r\n"));
    EXPECT_THAT(forwarded, Not(HasSubstr("early"))) << "nothing passes before the 101";
    d_.BackendSends(std::string(kSwitch) + backend_first);
  }
  ConnState State() { return d_.connection()->state(); }
};

TEST_F(TunnelTest, BytesBehindEitherHeadPassOnceTheBackendSwitches) {
  OpenTunnel("early", "\x81\x02hi");
  EXPECT_EQ(State(), ConnState::kTunnel);
  EXPECT_EQ(d_.metrics().tunnels.Get(), 1);
  const std::string got = d_.ClientReads();
  EXPECT_THAT(got, StartsWith("HTTP/1.1 101 Switching Protocols\r\n"));
  EXPECT_THAT(got, HasSubstr("Upgrade: websocket\r\nConnection: upgrade\r\n\r\n\x81\x02hi"));
  EXPECT_EQ(d_.TakeUpstreamSend(), "early") << "the client's bytes sent before the switch";
  d_.ClientSends(
      "\x82\x03"
      "abc");
  EXPECT_EQ(d_.TakeUpstreamSend(),
            "\x82\x03"
            "abc");
  d_.BackendSends("\x82\x01z");
  EXPECT_EQ(d_.ClientReads(), "\x82\x01z");
}

TEST_F(TunnelTest, ClientFinHalfClosesTheBackendAfterItsBytesThenTheBackendsFinEndsIt) {
  OpenTunnel();
  d_.ClientReads();
  d_.ClientSends("last");
  const io_uring_sqe send = d_.Expect(Op::kUpstreamSend);
  d_.ClientSendsFin();
  EXPECT_FALSE(d_.Has(Op::kUpstreamHalfClose)) << "not before the client's last bytes are sent";
  d_.Complete(send, 4);
  const io_uring_sqe half_close = d_.Expect(Op::kUpstreamHalfClose);
  EXPECT_EQ(half_close.opcode, IORING_OP_SHUTDOWN);
  EXPECT_EQ(half_close.len, static_cast<uint32_t>(SHUT_WR));
  d_.Complete(half_close, 0);
  // The backend still talks, then closes: what it sent reaches the client before our close.
  d_.BackendSends("bye");
  EXPECT_EQ(d_.ClientReads(), "bye");
  d_.BackendCloses();
  d_.CompleteRecvCancel();
  const std::vector<io_uring_sqe> chain = d_.ChainSqes();
  EXPECT_THAT(OpsOf(chain), ::testing::Contains(Op::kShutdownCloseNotify));
  CompleteSends(chain);
  for (const io_uring_sqe& sqe : d_.ChainSqes()) d_.Complete(sqe, 0);
  EXPECT_THAT(d_.LastClose(), ::testing::EndsWith("/client"))
      << "the client ended first; the backend's close answered it";
  EXPECT_EQ(d_.metrics().tunnels.Get(), 0);
  EXPECT_EQ(d_.CountSubmitted(Op::kUpstreamClose), 1u);
}

TEST_F(TunnelTest, BackendThatStopsReadingPausesTheClientAndIsCutAtTheSendTimeout) {
  OpenTunnel();
  d_.ClientReads();
  // The backend takes nothing: its first send stays out, the rest queues past the high mark.
  const std::string chunk(4096, 'c');
  for (int i = 0; i < 8 && !d_.Has(Op::kClientCancelRecv); ++i) d_.ClientSends(chunk);
  ASSERT_TRUE(d_.Has(Op::kClientCancelRecv)) << "reading from the client pauses";
  d_.CompleteRecvCancel();
  // The backend's own bytes the other way are no progress on what it owes.
  d_.Advance(d_.config().send_timeout - absl::Milliseconds(10));
  d_.BackendSends("ping");
  d_.DeliverSends();
  EXPECT_EQ(State(), ConnState::kTunnel);
  d_.Advance(absl::Milliseconds(10));
  EXPECT_NE(State(), ConnState::kTunnel) << "cut once the backend took nothing for send_timeout";
  d_.CompleteOp(Op::kUpstreamSend, -ECANCELED);
  for (int i = 0; i < 4 && !d_.ChainSqes().empty(); ++i) {
    for (const io_uring_sqe& sqe : d_.ChainSqes()) d_.Complete(sqe, 0);
  }
  EXPECT_EQ(d_.LastClose(), "timeout/backend");
}

TEST_F(TunnelTest, AnUpgradeDuringADrainIsAnsweredAsAnOrdinaryRequest) {
  Open();
  d_.worker().RequestDrain();
  d_.worker().Dispatch(WakeTag(), 8, 0);  // the worker's eventfd read: the drain starts
  ASSERT_TRUE(d_.worker().draining());
  d_.ClientSends(kUpgrade);  // arrives before this idle connection's turn to close
  d_.ConnectUpstream();
  EXPECT_THAT(d_.TakeUpstreamSend(), Not(HasSubstr("Upgrade")));
}

}  // namespace
}  // namespace ringgate
