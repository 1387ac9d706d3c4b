// DNS over TCP (RFC 7766): 2-byte length framing, pipelined queries answered as soon as each
// is ready (out of order, §6.2.1.1), an idle timeout, a per-connection cap on unanswered
// queries (reading pauses at the cap), and a server-wide connection limit. A frame that is
// too short or too long closes that connection only.
//
// Held connections (slowloris): a frame must be whole within server.tcp.frame_timeout_ms of its
// first byte (or of the first byte of the TLS record carrying it); later bytes do not extend the
// deadline, while the idle timeout only applies between frames. At most
// server.tcp.max_connections_per_address connections are open per client (net/per_address_limit.h),
// and a plain TCP client that no tenant's network holds is closed on accept (it could only be
// refused); over DoT that is decided once the handshake has shown whether a device token names
// a tenant.
//
// DNS over TLS (RFC 7858) is the same connection with a TLS session (net/tls) between the
// socket and the framing: ciphertext in → plaintext frames, answers → records out. ALPN "dot"
// is offered but not required (dnsperf offers none). The handshake must finish within
// kHandshakeTimeoutMs; garbage or a failed handshake closes that connection only. The server
// name `{token}.{public_name}` names a device, whose tenant then applies (an unknown token is
// refused in the identify stage); any other name, or none, leaves the source address to decide.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "net/address.h"
#include "resolver/query_context.h"

namespace sekisho::net::tls {
class Session;
}

namespace sekisho::resolver {

class Worker;

class TcpListener {
 public:
  TcpListener(Worker& worker, int fd, Transport transport);  // Transport::tcp or Transport::dot
  void close();

 private:
  static void on_connection(uv_stream_t* server, int status);
  Worker& worker_;
  Transport transport_;
  uv_tcp_t handle_{};
  bool open_ = true;
};

class TcpConnection {
 public:
  // Lifetime: owned by itself; freed once its handles are closed and no query still waits
  // on it (pending_ == 0). Waiting queries hold a plain pointer and check closing().
  static void accept(Worker& worker, uv_stream_t* server, Transport transport);

  void send_answer(std::span<const uint8_t> answer);
  void query_finished();  // one waiting query got its answer (or was dropped)
  void query_finished_if_idle();  // draining: close now when nothing is owed
  bool closing() const { return closing_; }
  void close();

  static constexpr size_t kMaxQuery = 4096;
  static constexpr size_t kMaxWriteQueue = 1 << 20;  // a client that never reads gets cut off
  static constexpr uint64_t kHandshakeTimeoutMs = 5000;

 private:
  TcpConnection(Worker& worker, Transport transport);
  ~TcpConnection();
  struct WriteRequest;
  bool receive_tls(std::span<const uint8_t> cipher);
  void tls_established();
  void send_bytes(std::string bytes);
  void flush_answers();
  WriteRequest* take_write_request();
  void start_write(WriteRequest* w);
  void recycle(WriteRequest* w);
  void resolve_device();
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_idle(uv_timer_t* timer);
  static void on_closed(uv_handle_t* h);
  void process_frames();
  bool holds_partial_frame() const;
  void track_frame(uint64_t now, uint64_t frames_before);
  void maybe_resume_reading();
  void shutdown_then_close();
  void maybe_free();

  Worker& worker_;
  Transport transport_;
  std::unique_ptr<net::tls::Session> tls_;  // DoT only
  bool tls_ready_ = false;
  uint64_t accepted_ms_ = 0;
  std::string device_token_;     // DoT: from the server name; empty: identify by address
  OriginDevice device_;          // the token resolved against the Runtime of device_.generation
  uv_tcp_t handle_{};
  uv_timer_t idle_{};
  std::vector<uint8_t> in_;
  size_t in_len_ = 0;
  uint32_t pending_ = 0;
  uint64_t last_activity_ms_ = 0;
  uint64_t frame_started_ms_ = 0;  // the read that brought the first byte of an unfinished frame; 0: none
  uint64_t frames_ = 0;            // frames taken off the buffer so far
  net::SocketAddress peer_;  // the client, for tenant identification
  bool address_counted_ = false;  // counted in the engine's PerAddressLimit: released on close
  int handles_open_ = 0;
  bool reading_ = false;
  bool closing_ = false;
  bool peer_done_ = false;      // client half-closed: answer what is owed, then close
  bool shutting_down_ = false;
  // Answers framed but not yet written. process_frames gathers the answers of one read and
  // writes them together (one write, one TLS record for a pipelined burst); an answer that comes
  // on its own (from upstream) is written at once.
  std::string out_pending_;
  bool gathering_ = false;
  // Write requests whose write completed, kept with their buffers for the next writes: after its
  // first answers a connection answers without allocating.
  std::vector<std::unique_ptr<WriteRequest>> spare_writes_;
};

}  // namespace sekisho::resolver
