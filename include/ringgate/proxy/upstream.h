// upstream.h
// A plain-TCP connection to one backend of the group. While it serves an exchange it is bound to
// one client connection (by slot and generation, never by pointer) and streams the response back
// to it; between exchanges it waits in its backend's pool with a recv armed, so that a backend
// close is noticed before the connection is reused. While bound it counts as a request in flight
// on its backend, and it tells the worker's BackendSelector how the backend behaved: an answer,
// a refused connect, or a fresh connection that ended before answering.
#ifndef RINGGATE_PROXY_UPSTREAM_H_
#define RINGGATE_PROXY_UPSTREAM_H_

#include <cstdint>
#include <string>

#include "ringgate/core/ring.h"
#include "ringgate/core/send_queue.h"
#include "ringgate/core/user_data.h"
#include "ringgate/http/http_codec.h"

namespace ringgate {

class Worker;

class Upstream {
 public:
  enum class State : uint8_t {
    kFree,        // slot unused
    kConnecting,  // connect submitted
    kConnected,   // usable: bound to a client or idle in the pool
    kClosing,     // recv cancel and close in flight; the slot is freed when all ops are back
  };

  Upstream(Worker& worker, uint32_t slot) : worker_(worker), slot_(slot) {}

  // Creates the socket and submits the connect. False if the socket could not be created.
  bool Connect();
  void Bind(uint32_t client_slot, uint32_t client_generation, bool head_request,
            bool client_http10);
  void Unbind() { DropClient(); }
  void Send(std::string_view bytes);
  void SendOwned(std::string& bytes);
  void Close();
  // A tunnel's client has finished sending: once every byte queued for the backend has been
  // sent, shutdown(SHUT_WR) passes the client's FIN on. Reading goes on until the backend closes.
  void HalfCloseWhenSent();
  // Stops or restarts reading from the backend (backpressure from a slow client).
  void PauseRecv();
  void ResumeRecv();

  void OnCompletion(Op op, int result, uint32_t flags);

  State state() const { return state_; }
  uint32_t slot() const { return slot_; }
  uint32_t generation() const { return generation_; }
  // Which --backend this connection goes to.
  size_t backend() const { return backend_; }
  // Its connect failed: nothing of any request reached the backend.
  bool connect_failed() const { return connect_failed_; }
  size_t send_backlog() const { return out_.backlog(); }
  bool reused() const { return reused_; }
  // Bytes of the bound exchange's request submitted for sending (0: nothing can have reached the
  // backend).
  uint64_t request_bytes_submitted() const { return request_bytes_submitted_; }
  void set_reused(bool reused) { reused_ = reused; }
  int64_t idle_since_ns() const { return idle_since_ns_; }
  void set_idle_since_ns(int64_t ns) { idle_since_ns_ = ns; }
  HttpParser& response_parser() { return response_parser_; }

  void ResetForNewSocket(size_t backend);

 private:
  void ArmRecv();
  void SubmitSend();
  void SubmitBytes(std::string_view bytes);
  void MaybeFinishClose();
  void MaybeHalfClose();
  class ClientConnection* BoundClient();
  // The exchange lets go of this connection: no longer a request in flight on the backend.
  void DropClient();
  // The bound exchange's connection ended before any response byte: counts against the backend
  // unless it was a pooled connection (the backend's idle timer closes those; a retry follows).
  void NoteEndedBeforeAnswer();

  Worker& worker_;
  const uint32_t slot_;
  uint32_t generation_ = 1;
  State state_ = State::kFree;
  int fd_ = -1;
  OpsInFlight ops_;
  bool recv_armed_ = false;
  bool recv_paused_ = false;
  bool cancel_in_flight_ = false;
  bool close_submitted_ = false;
  bool half_close_wanted_ = false;
  bool half_close_submitted_ = false;
  bool reused_ = false;
  bool has_client_ = false;
  bool counted_in_flight_ = false;  // OnRequestStarted was called for the bound exchange
  bool answered_ = false;           // response bytes arrived for the bound exchange
  bool connect_failed_ = false;
  size_t backend_ = 0;
  uint64_t request_bytes_submitted_ = 0;
  int64_t idle_since_ns_ = 0;  // when it last went back to the pool
  uint32_t client_slot_ = 0;
  uint32_t client_generation_ = 0;
  SendQueue out_;
  HttpParser response_parser_{HttpParser::Kind::kResponse, 64 * 1024};
};

}  // namespace ringgate

#endif  // RINGGATE_PROXY_UPSTREAM_H_
