// DNS over TCP (RFC 7766): 2-byte length framing, pipelined queries answered as soon as each
// is ready (out of order, §6.2.1.1), an idle timeout, a per-connection cap on unanswered
// queries (reading pauses at the cap), and a server-wide connection limit. A frame that is
// too short or too long closes that connection only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <span>
#include <vector>

#include "resolver/net/address.h"

namespace sekisho::resolver {

class Worker;

class TcpListener {
 public:
  TcpListener(Worker& worker, int fd);
  void close();

 private:
  static void on_connection(uv_stream_t* server, int status);
  Worker& worker_;
  uv_tcp_t handle_{};
  bool open_ = true;
};

class TcpConnection {
 public:
  // Lifetime: owned by itself; freed once its handles are closed and no query still waits
  // on it (pending_ == 0). Waiting queries hold a plain pointer and check closing().
  static void accept(Worker& worker, uv_stream_t* server);

  void send_answer(std::span<const uint8_t> answer);
  void query_finished();  // one waiting query got its answer (or was dropped)
  void query_finished_if_idle();  // draining: close now when nothing is owed
  bool closing() const { return closing_; }
  void close();

  static constexpr size_t kMaxQuery = 4096;
  static constexpr size_t kMaxWriteQueue = 1 << 20;  // a client that never reads gets cut off

 private:
  explicit TcpConnection(Worker& worker);
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_idle(uv_timer_t* timer);
  static void on_closed(uv_handle_t* h);
  void process_frames();
  void maybe_resume_reading();
  void shutdown_then_close();
  void maybe_free();

  Worker& worker_;
  uv_tcp_t handle_{};
  uv_timer_t idle_{};
  std::vector<uint8_t> in_;
  size_t in_len_ = 0;
  uint32_t pending_ = 0;
  uint64_t last_activity_ms_ = 0;
  net::SocketAddress peer_;  // the client, for tenant identification
  int handles_open_ = 0;
  bool reading_ = false;
  bool closing_ = false;
  bool peer_done_ = false;      // client half-closed: answer what is owed, then close
  bool shutting_down_ = false;
};

}  // namespace sekisho::resolver
