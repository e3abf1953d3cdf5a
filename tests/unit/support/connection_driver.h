// connection_driver.h
// Drives a Worker built on a FakeRing and a ManualClock through whole exchanges by hand: it plays
// the client (a wolfSSL client session in memory), the kernel (completing the SQEs the worker
// submitted) and the backend (answering on the upstream's recv). Tests see every SQE, choose
// every result, and read what the proxy sent back after the client decrypted it.
//
//   ConnectionDriver d;                     // config with short timeouts, backend 127.0.0.1:9
//   d.Accept();                             // a loopback TCP socket adopted; its recv armed
//   d.Handshake();
//   d.ClientSends("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
//   d.ConnectUpstream();
//   std::string head = d.TakeUpstreamSend();           // the rewritten request
//   d.BackendSends("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
//   std::string response = d.ClientReads();            // decrypted
//
// Every SQE the worker submits lands in `outstanding()` until the test completes it with
// Complete(); a multishot recv completed with IORING_CQE_F_MORE stays there.
#ifndef RINGGATE_TESTS_UNIT_SUPPORT_CONNECTION_DRIVER_H_
#define RINGGATE_TESTS_UNIT_SUPPORT_CONNECTION_DRIVER_H_

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "ringgate/config/config.h"
#include "ringgate/core/clock.h"
#include "ringgate/core/user_data.h"
#include "ringgate/proxy/client_connection.h"
#include "ringgate/proxy/worker.h"
#include "ringgate/tls/tls_session.h"
#include "spdlog/spdlog.h"
#include "unit/support/fake_ring.h"
#include "unit/support/tls_test_peer.h"

namespace ringgate::testing {

// Short, distinct timeouts, so that a test can tell which one fired.
inline Config DriverConfig() {
  Config config;
  auto backend = ParseSocketAddress("127.0.0.1:9");
  config.backends = {*backend};
  config.handshake_timeout = absl::Seconds(1);
  config.request_header_timeout = absl::Seconds(2);
  config.request_body_timeout = absl::Seconds(2);
  config.idle_timeout = absl::Seconds(5);
  config.upstream_connect_timeout = absl::Seconds(1);
  config.upstream_response_timeout = absl::Seconds(3);
  config.close_notify_timeout = absl::Seconds(1);
  config.send_timeout = absl::Seconds(4);
  config.recv_buffers = 16;
  config.recv_buffer_size = 16384;
  config.max_conn_buffer_bytes = 64 * 1024;  // owed-bytes high mark: 16 KiB
  config.admin_enabled = false;
  config.closures_per_worker = 16;
  return config;
}

inline Op OpOf(const io_uring_sqe& sqe) { return DecodeTag(sqe.user_data).op; }
inline std::string_view SqeBytes(const io_uring_sqe& sqe) {
  return {reinterpret_cast<const char*>(sqe.addr), sqe.len};
}
inline bool IsMultishotRecv(const io_uring_sqe& sqe) {
  return (sqe.ioprio & IORING_RECV_MULTISHOT) != 0;
}
inline std::vector<Op> OpsOf(const std::vector<io_uring_sqe>& sqes) {
  std::vector<Op> ops;
  for (const io_uring_sqe& sqe : sqes) ops.push_back(OpOf(sqe));
  return ops;
}

class ConnectionDriver {
 public:
  explicit ConnectionDriver(Config config = DriverConfig()) : config_(std::move(config)) {
    spdlog::set_level(spdlog::level::off);
    EXPECT_TRUE(tls_.ok()) << tls_.error();
    worker_ = std::make_unique<Worker>(0, config_, tls_.server(), ring_, clock_);
  }
  ~ConnectionDriver() {
    worker_.reset();
    for (int fd : fds_) close(fd);
  }
  ConnectionDriver(const ConnectionDriver&) = delete;
  ConnectionDriver& operator=(const ConnectionDriver&) = delete;

  Worker& worker() { return *worker_; }
  FakeRing& ring() { return ring_; }
  ManualClock& clock() { return clock_; }
  const Config& config() const { return config_; }
  const WorkerMetrics& metrics() { return worker_->metrics_shard(); }
  TlsSession& client_tls() { return *client_; }
  uint32_t slot() const { return slot_; }
  uint32_t generation() const { return generation_; }
  ClientConnection* connection() { return worker_->Client(slot_, generation_); }

  // ---- SQEs -----------------------------------------------------------------------------------

  // Moves what the worker submitted since the last call into outstanding(); returns it.
  std::vector<io_uring_sqe> Collect() {
    std::vector<io_uring_sqe> fresh = ring_.Take();
    for (const io_uring_sqe& sqe : fresh) {
      if (OpOf(sqe) == Op::kUpstreamConnect) fds_.push_back(sqe.fd);  // a real socket
      outstanding_.push_back(sqe);
    }
    submitted_.insert(submitted_.end(), fresh.begin(), fresh.end());
    return fresh;
  }
  const std::vector<io_uring_sqe>& outstanding() {
    Collect();
    return outstanding_;
  }
  // Every SQE submitted so far, oldest first.
  const std::vector<io_uring_sqe>& submitted() {
    Collect();
    return submitted_;
  }
  size_t CountSubmitted(Op op) {
    Collect();
    return static_cast<size_t>(std::count_if(submitted_.begin(), submitted_.end(),
                                             [&](const io_uring_sqe& s) { return OpOf(s) == op; }));
  }
  bool Has(Op op) { return Find(op).has_value(); }
  std::optional<io_uring_sqe> Find(Op op) {
    Collect();
    for (const io_uring_sqe& sqe : outstanding_) {
      if (OpOf(sqe) == op) return sqe;
    }
    return std::nullopt;
  }
  // The oldest outstanding SQE of `op`; a test failure (and a zeroed SQE) when there is none.
  io_uring_sqe Expect(Op op) {
    std::optional<io_uring_sqe> sqe = Find(op);
    if (!sqe) {
      ADD_FAILURE() << "no outstanding SQE for op " << static_cast<int>(op);
      return io_uring_sqe{};
    }
    return *sqe;
  }
  // Hands the worker a completion for `sqe`. Without IORING_CQE_F_MORE the SQE is done.
  void Complete(const io_uring_sqe& sqe, int result, uint32_t flags = 0) {
    Collect();
    if (!(flags & IORING_CQE_F_MORE)) Forget(sqe);
    worker_->Dispatch(sqe.user_data, result, flags);
    Collect();
  }
  void CompleteOp(Op op, int result, uint32_t flags = 0) { Complete(Expect(op), result, flags); }
  // Moves the manual clock and fires what came due.
  void Advance(absl::Duration by) {
    clock_.Advance(by);
    worker_->FireTimers();
    Collect();
  }

  // ---- The client -----------------------------------------------------------------------------

  // A loopback TCP connection whose server end the worker adopts; a fresh client TLS session.
  void Accept() {
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(listener, 1), 0);
    ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const int theirs = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(connect(theirs, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const int ours = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(ours, 0);
    close(listener);
    fds_.push_back(ours);
    fds_.push_back(theirs);
    client_fd_ = ours;
    client_ = std::make_unique<TlsSession>(tls_.client(), false);
    worker_->AdoptConnection(ours);
    const std::vector<io_uring_sqe> armed = Collect();
    ASSERT_FALSE(armed.empty());
    ASSERT_EQ(OpOf(armed.back()), Op::kClientRecv);
    const OpTag tag = DecodeTag(armed.back().user_data);
    slot_ = tag.slot;
    generation_ = tag.generation;
  }
  int client_fd() const { return client_fd_; }

  // The client's ciphertext arrives on the armed recv, in chunks no larger than the recv and a
  // provided buffer allow. A multishot recv stays armed (IORING_CQE_F_MORE) until its byte
  // limit is reached; a single-shot one completes and the connection re-arms it.
  // Bytes that find no recv armed (the connection paused reading) wait, as they would in the
  // kernel's socket buffer, until DeliverWaitingClientBytes.
  void ClientSendsCiphertext(std::string_view bytes) {
    if (!waiting_client_bytes_.empty()) {
      waiting_client_bytes_.append(bytes);
      return;
    }
    while (!bytes.empty()) {
      std::optional<io_uring_sqe> recv = FindClient(Op::kClientRecv);
      if (!recv) {
        waiting_client_bytes_.assign(bytes);
        return;
      }
      const bool multishot = IsMultishotRecv(*recv);
      uint64_t& taken = recv_taken_[recv->user_data];
      const size_t limit =
          std::min<size_t>(recv->len - (multishot ? taken : 0), config_.recv_buffer_size);
      const size_t n = std::min(bytes.size(), limit);
      const uint16_t bid = NextBuffer();
      std::memcpy(worker_->buffers().MutableData(bid), bytes.data(), n);
      taken += n;
      uint32_t flags =
          IORING_CQE_F_BUFFER | (static_cast<uint32_t>(bid) << IORING_CQE_BUFFER_SHIFT);
      if (multishot && taken < recv->len) flags |= IORING_CQE_F_MORE;
      if (!(flags & IORING_CQE_F_MORE)) recv_taken_.erase(recv->user_data);
      Complete(*recv, static_cast<int>(n), flags);
      bytes.remove_prefix(n);
    }
  }
  size_t client_bytes_waiting() const { return waiting_client_bytes_.size(); }
  // Hands the waiting bytes to the recv, if one is armed again; returns how many were taken.
  size_t DeliverWaitingClientBytes() {
    std::string bytes;
    bytes.swap(waiting_client_bytes_);
    ClientSendsCiphertext(bytes);
    return bytes.size() - waiting_client_bytes_.size();
  }
  // The client encrypts `plain` and sends it.
  void ClientSends(std::string_view plain) {
    ASSERT_EQ(client_->WritePlaintext(plain), TlsStatus::kOk);
    SendClientCiphertext();
  }
  void SendClientCiphertext() {
    std::string bytes;
    bytes.swap(client_->pending_ciphertext());
    ClientSendsCiphertext(bytes);
  }
  // The client's FIN: the recv completes with 0 and ends.
  void ClientSendsFin() {
    std::optional<io_uring_sqe> recv = FindClient(Op::kClientRecv);
    ASSERT_TRUE(recv.has_value());
    Complete(*recv, 0);
  }

  // Completes every client send the worker has out, feeding the bytes to the client session,
  // until none is left. Returns the ciphertext sent.
  std::string DeliverSends() {
    std::string all;
    for (std::optional<io_uring_sqe> send; (send = FindClient(Op::kClientSend));) {
      const std::string_view bytes = SqeBytes(*send);
      all.append(bytes);
      client_->FeedCiphertext(bytes);
      Complete(*send, static_cast<int>(bytes.size()));
    }
    return all;
  }
  // Delivers what the worker sent and returns what the client decrypts; `status` gets the
  // reason reading stopped (kPeerCloseNotify once our alert arrived).
  std::string ClientReads(TlsStatus* status = nullptr) {
    DeliverSends();
    std::string plain;
    const TlsStatus s = client_->ReadPlaintext(plain);
    if (status != nullptr) *status = s;
    return plain;
  }

  // Runs the TLS handshake through the worker: ClientHello in, the server's flight out, the
  // client's Finished in, and whatever the server sends after it (session tickets).
  void Handshake() {
    for (int i = 0; i < 10 && !client_->handshake_done(); ++i) {
      client_->Handshake();
      if (!client_->pending_ciphertext().empty()) SendClientCiphertext();
      DeliverSends();
    }
    ASSERT_TRUE(client_->handshake_done()) << "wolfSSL error " << client_->last_error();
    if (!client_->pending_ciphertext().empty()) SendClientCiphertext();  // the client's Finished
    std::string ignored;
    client_->ReadPlaintext(ignored);  // tickets
    DeliverSends();
    client_->ReadPlaintext(ignored);
  }

  // ---- The backend ----------------------------------------------------------------------------

  // Completes the pending upstream connect with `result`.
  void ConnectUpstream(int result = 0) { CompleteOp(Op::kUpstreamConnect, result); }
  // The bytes of the oldest outstanding upstream send; completed in full unless told otherwise.
  std::string TakeUpstreamSend(bool complete = true) {
    std::optional<io_uring_sqe> send = Find(Op::kUpstreamSend);
    if (!send) {
      ADD_FAILURE() << "no upstream send outstanding";
      return "";
    }
    std::string bytes(SqeBytes(*send));
    if (complete) Complete(*send, static_cast<int>(bytes.size()));
    return bytes;
  }
  // The backend's bytes arrive on the upstream recv (kept armed).
  void BackendSends(std::string_view bytes) {
    while (!bytes.empty()) {
      std::optional<io_uring_sqe> recv = Find(Op::kUpstreamRecv);
      ASSERT_TRUE(recv.has_value()) << "no upstream recv armed";
      const size_t n = std::min<size_t>({bytes.size(), recv->len, config_.recv_buffer_size});
      const uint16_t bid = NextBuffer();
      std::memcpy(worker_->buffers().MutableData(bid), bytes.data(), n);
      Complete(*recv, static_cast<int>(n),
               IORING_CQE_F_BUFFER | (static_cast<uint32_t>(bid) << IORING_CQE_BUFFER_SHIFT) |
                   IORING_CQE_F_MORE);
      bytes.remove_prefix(n);
    }
  }
  // The backend closes: its recv ends with 0 (EOF).
  void BackendCloses() { CompleteOp(Op::kUpstreamRecv, 0); }

  // ---- Closing --------------------------------------------------------------------------------

  // The recv cancellation that precedes a chain: the recv ends with -ECANCELED, the cancel with
  // 0. (A single-shot recv that already ended needs no cancel: then there is nothing to do.)
  void CompleteRecvCancel() {
    std::optional<io_uring_sqe> recv = FindClient(Op::kClientRecv);
    std::optional<io_uring_sqe> cancel = FindClient(Op::kClientCancelRecv);
    if (!recv && !cancel) return;
    ASSERT_TRUE(cancel.has_value()) << "a recv is armed and no cancel was submitted";
    if (recv) Complete(*recv, -ECANCELED);
    Complete(*cancel, 0);
  }
  // The outstanding SQEs of this connection's shutdown chain, in submission order.
  std::vector<io_uring_sqe> ChainSqes() {
    Collect();
    std::vector<io_uring_sqe> chain;
    for (const io_uring_sqe& sqe : outstanding_) {
      const Op op = OpOf(sqe);
      if (op >= Op::kShutdownFlush && op <= Op::kShutdownClose && IsOurs(sqe)) chain.push_back(sqe);
    }
    return chain;
  }

  // The flight recorder's closures as JSON objects, oldest first (ClosureRecorder has no
  // accessor for its records; its JSON is what /closures serves).
  std::vector<std::string> Closures() {
    fmt::memory_buffer out;
    worker_->closures().AppendJson(out, 0);
    std::vector<std::string> records;
    const std::string all = fmt::to_string(out);
    for (size_t begin = 0; begin < all.size();) {
      int depth = 0;
      size_t end = begin;
      for (; end < all.size(); ++end) {
        if (all[end] == '{') ++depth;
        if (all[end] == '}' && --depth == 0) break;
      }
      records.push_back(all.substr(begin, end + 1 - begin));
      begin = end + 2;  // past "},"
    }
    return records;
  }
  // "cause/initiator" of the last closure ("" when none): e.g. "clean/server_timeout".
  std::string LastClose() {
    const std::vector<std::string> records = Closures();
    if (records.empty()) return "";
    auto field = [&](std::string_view name) {
      const std::string& r = records.back();
      const std::string key = fmt::format("\"{}\":\"", name);
      const size_t at = r.find(key);
      if (at == std::string::npos) return std::string("?");
      const size_t from = at + key.size();
      return r.substr(from, r.find('"', from) - from);
    };
    return field("cause") + "/" + field("initiator");
  }
  uint64_t Closed(TerminationCause cause, CloseInitiator initiator) {
    return metrics().connections_closed[static_cast<int>(cause)][static_cast<int>(initiator)].Get();
  }

 private:
  std::optional<io_uring_sqe> FindClient(Op op) {
    Collect();
    for (const io_uring_sqe& sqe : outstanding_) {
      if (OpOf(sqe) == op && IsOurs(sqe)) return sqe;
    }
    return std::nullopt;
  }
  bool IsOurs(const io_uring_sqe& sqe) const {
    const OpTag tag = DecodeTag(sqe.user_data);
    return tag.slot == slot_ && tag.generation == generation_;
  }
  void Forget(const io_uring_sqe& sqe) {
    auto it = std::find_if(outstanding_.begin(), outstanding_.end(), [&](const io_uring_sqe& s) {
      return std::memcmp(&s, &sqe, sizeof sqe) == 0;
    });
    if (it != outstanding_.end()) outstanding_.erase(it);
  }
  uint16_t NextBuffer() {
    const uint16_t bid = next_bid_;
    next_bid_ = static_cast<uint16_t>((next_bid_ + 1) % config_.recv_buffers);
    return bid;
  }

  Config config_;
  TestTlsContexts tls_;
  FakeRing ring_;
  ManualClock clock_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<TlsSession> client_;
  std::vector<io_uring_sqe> outstanding_;
  std::vector<io_uring_sqe> submitted_;
  std::string waiting_client_bytes_;         // sent by the client, not yet read by the proxy
  std::map<uint64_t, uint64_t> recv_taken_;  // bytes a multishot recv has delivered
  std::vector<int> fds_;
  int client_fd_ = -1;
  uint32_t slot_ = 0;
  uint32_t generation_ = 0;
  uint16_t next_bid_ = 0;
};

}  // namespace ringgate::testing

#endif  // RINGGATE_TESTS_UNIT_SUPPORT_CONNECTION_DRIVER_H_
