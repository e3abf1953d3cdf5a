#include "ringgate/proxy/upstream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ringgate/core/log.h"
#include "ringgate/core/uring_features.h"
#include "ringgate/proxy/client_connection.h"
#include "ringgate/proxy/worker.h"

namespace ringgate {

void Upstream::ResetForNewSocket(size_t backend) {
  generation_ = (generation_ + 1) & kGenerationMask;
  state_ = State::kFree;
  fd_ = -1;
  ops_.Reset();
  recv_armed_ = recv_paused_ = cancel_in_flight_ = close_submitted_ = false;
  half_close_wanted_ = half_close_submitted_ = false;
  reused_ = false;
  DropClient();
  connect_failed_ = false;
  backend_ = backend;
  out_.Clear();
  response_parser_.~HttpParser();
  new (&response_parser_) HttpParser(HttpParser::Kind::kResponse, 64 * 1024);
}

bool Upstream::Connect() {
  const SocketAddress& backend = worker_.backend_address(backend_);
  fd_ = socket(backend.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    LogLine(spdlog::level::err, "backend socket failed")
        .With("worker", worker_.id())
        .With("error", std::strerror(errno));
    return false;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  state_ = State::kConnecting;
  io_uring_sqe* sqe = worker_.Sqe();
  io_uring_prep_connect(sqe, fd_, backend.get(), backend.length);
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kUpstreamConnect, generation_, slot_}));
  ops_.Started();
  return true;
}

void Upstream::Bind(uint32_t client_slot, uint32_t client_generation, bool head_request,
                    bool client_http10) {
  DropClient();
  has_client_ = true;
  counted_in_flight_ = true;
  answered_ = false;
  worker_.backends().OnRequestStarted(backend_);
  client_slot_ = client_slot;
  client_generation_ = client_generation;
  request_bytes_submitted_ = 0;
  response_parser_.StartNextMessage();
  response_parser_.set_skip_body(head_request);
  response_parser_.set_dechunk(client_http10);
}

ClientConnection* Upstream::BoundClient() {
  return has_client_ ? worker_.Client(client_slot_, client_generation_) : nullptr;
}

void Upstream::DropClient() {
  has_client_ = false;
  if (counted_in_flight_) {
    counted_in_flight_ = false;
    worker_.backends().OnRequestEnded(backend_);
  }
}

void Upstream::NoteEndedBeforeAnswer() {
  if (has_client_ && !answered_ && !reused_) {
    worker_.backends().OnFailure(backend_, BackendFailure::kReset, worker_.NowNs());
  }
}

void Upstream::Send(std::string_view bytes) {
  out_.Append(bytes);
  SubmitSend();
}

void Upstream::SendOwned(std::string& bytes) {
  out_.AppendOwned(bytes);
  SubmitSend();
}

void Upstream::SubmitSend() {
  if (state_ != State::kConnected) return;
  SubmitBytes(out_.StartSend());
}

void Upstream::SubmitBytes(std::string_view bytes) {
  if (bytes.empty()) return;
  // Counted when submitted, not when the send completes: a send still queued when the backend's
  // close arrives may yet go out, so only a request none of which was submitted is safe to replay.
  if (has_client_) request_bytes_submitted_ += bytes.size();
  io_uring_sqe* sqe = worker_.Sqe();
  io_uring_prep_send(sqe, fd_, bytes.data(), bytes.size(), MSG_WAITALL | MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kUpstreamSend, generation_, slot_}));
  ops_.Started();
}

void Upstream::ArmRecv() {
  if (recv_armed_ || recv_paused_ || state_ != State::kConnected) return;
  io_uring_sqe* sqe = worker_.Sqe();
  // Bounded: once a slow client pauses this recv, at most this much more of the response arrives.
  PrepareBoundedRecv(sqe, fd_, worker_.buffers().group(),
                     static_cast<uint32_t>(worker_.config().max_conn_buffer_bytes / 8));
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kUpstreamRecv, generation_, slot_}));
  ops_.Started();
  recv_armed_ = true;
}

void Upstream::PauseRecv() {
  recv_paused_ = true;
  if (!recv_armed_ || cancel_in_flight_) return;
  io_uring_sqe* sqe = worker_.Sqe();
  io_uring_prep_cancel64(sqe, EncodeTag({Op::kUpstreamRecv, generation_, slot_}), 0);
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kUpstreamCancelRecv, generation_, slot_}));
  ops_.Started();
  cancel_in_flight_ = true;
}

void Upstream::ResumeRecv() {
  if (!recv_paused_) return;
  recv_paused_ = false;
  ArmRecv();
}

void Upstream::HalfCloseWhenSent() {
  half_close_wanted_ = true;
  MaybeHalfClose();
}

void Upstream::MaybeHalfClose() {
  if (!half_close_wanted_ || half_close_submitted_ || state_ != State::kConnected ||
      !out_.empty()) {
    return;
  }
  io_uring_sqe* sqe = worker_.Sqe();
  io_uring_prep_shutdown(sqe, fd_, SHUT_WR);
  io_uring_sqe_set_data64(sqe, EncodeTag({Op::kUpstreamHalfClose, generation_, slot_}));
  ops_.Started();
  half_close_submitted_ = true;
}

void Upstream::Close() {
  if (state_ == State::kClosing || state_ == State::kFree) return;
  DropClient();
  state_ = State::kClosing;
  PauseRecv();
  MaybeFinishClose();
}

void Upstream::MaybeFinishClose() {
  if (state_ != State::kClosing) return;
  if (!close_submitted_ && !recv_armed_ && fd_ >= 0) {
    // close() with a recv pending would send no FIN (liburing#932): the recv is gone first.
    io_uring_sqe* sqe = worker_.Sqe();
    io_uring_prep_close(sqe, fd_);
    io_uring_sqe_set_data64(sqe, EncodeTag({Op::kUpstreamClose, generation_, slot_}));
    ops_.Started();
    close_submitted_ = true;
    fd_ = -1;
  }
  if (close_submitted_ && ops_.none()) {
    state_ = State::kFree;
    generation_ = (generation_ + 1) & kGenerationMask;
    worker_.upstreams().FreeSlot(slot_);
  }
}

void Upstream::OnCompletion(Op op, int result, uint32_t flags) {
  switch (op) {
    case Op::kUpstreamConnect: {
      ops_.Finished();
      if (state_ != State::kConnecting) break;
      if (result < 0) {
        state_ = State::kClosing;
        connect_failed_ = true;
        worker_.backends().OnFailure(backend_, BackendFailure::kRefused, worker_.NowNs());
        ClientConnection* client = BoundClient();
        DropClient();
        if (client != nullptr) client->OnUpstreamFailed(result);
        break;
      }
      state_ = State::kConnected;
      if (spdlog::should_log(spdlog::level::debug)) {
        // The local port names this connection in the backend's own logs.
        sockaddr_storage local{};
        socklen_t length = sizeof local;
        int port = 0;
        if (getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
          port =
              ntohs(local.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&local)->sin_port);
        }
        LogLine(spdlog::level::debug, "backend connected")
            .With("worker", worker_.id())
            .With("backend_conn", slot_)
            .With("local_port", port);
      }
      ArmRecv();
      SubmitSend();
      if (ClientConnection* client = BoundClient()) client->OnUpstreamConnected();
      break;
    }
    case Op::kUpstreamSend: {
      ops_.Finished();
      if (state_ != State::kConnected) {
        out_.Clear();
        break;
      }
      if (result < 0) {
        out_.Clear();
        NoteEndedBeforeAnswer();
        ClientConnection* client = BoundClient();
        Close();
        if (client != nullptr) client->OnUpstreamFailed(result);
        break;
      }
      std::string_view rest = out_.OnSent(static_cast<size_t>(result));
      if (!rest.empty()) {  // short send: the rest goes before anything newer
        SubmitBytes(rest);
        break;
      }
      SubmitSend();
      MaybeHalfClose();
      if (ClientConnection* client = BoundClient()) client->OnUpstreamDrained();
      break;
    }
    case Op::kUpstreamRecv: {
      if (!(flags & IORING_CQE_F_MORE)) {
        recv_armed_ = false;
        ops_.Finished();
      }
      std::string_view data;
      uint16_t bid = 0;
      const bool has_buffer = (flags & IORING_CQE_F_BUFFER) != 0;
      if (has_buffer) {
        bid = BufferRing::BufferId(flags);
        data = worker_.buffers().Data(bid, result > 0 ? static_cast<size_t>(result) : 0);
      }
      if (state_ == State::kConnected) {
        ClientConnection* client = BoundClient();
        if (result > 0) {
          if (client != nullptr) {
            if (!answered_) {
              answered_ = true;
              worker_.backends().OnSuccess(backend_);
            }
            client->OnUpstreamData(data);
          } else {
            // Bytes from an idle backend connection: it is out of step; do not reuse it.
            LogLine(spdlog::level::warn, "backend sent bytes on an idle connection; closing it")
                .With("worker", worker_.id())
                .With("backend_conn", slot_)
                .With("bytes", result);
            Close();
          }
        } else if (result == 0 || (result < 0 && result != -ENOBUFS && result != -ECANCELED)) {
          if (client != nullptr) NoteEndedBeforeAnswer();
          if (client == nullptr) {
            LogLine(spdlog::level::debug, "idle backend connection ended by the backend")
                .With("worker", worker_.id())
                .With("backend_conn", slot_)
                .With("error", result == 0 ? "EOF" : std::strerror(-result));
          }
          Close();
          if (client != nullptr) {
            if (result == 0) {
              client->OnUpstreamEof();
            } else {
              client->OnUpstreamFailed(result);
            }
          }
        } else if (result == -ENOBUFS) {
          if (WorkerMetrics* m = worker_.metrics()) m->uring_recv_enobufs.Add();
        }
      }
      if (has_buffer) worker_.buffers().Return(bid);
      if (!recv_armed_ && state_ == State::kConnected) ArmRecv();
      break;
    }
    case Op::kUpstreamCancelRecv:
      ops_.Finished();
      cancel_in_flight_ = false;
      break;
    case Op::kUpstreamClose:
    case Op::kUpstreamHalfClose:  // a failure shows in the recv: the backend's reset or EOF
      ops_.Finished();
      break;
    RINGGATE_WORKER_OP_CASES:
    RINGGATE_CLIENT_IO_OP_CASES:
    RINGGATE_SHUTDOWN_CHAIN_OP_CASES:
      RINGGATE_CHECK(false, "the worker routed another owner's completion to a backend connection");
      break;
  }
  MaybeFinishClose();
}

}  // namespace ringgate
