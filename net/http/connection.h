// Internal to the HTTP server (server.h is the API): one accepted TCP connection. It owns the
// socket, TLS (OpenSSL memory BIOs), the timers (handshake, request head, idle), the write
// queue with its cap, reading on and off (back-pressure) and the way a connection ends (FIN
// after the last response, then lingering). What is spoken over it is the session's: it picks
// HTTP/2 by ALPN or, in clear text, by the client's preface, else HTTP/1.1.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "net/address.h"
#include "net/http/server.h"
#include "net/http/session.h"

namespace sekisho::net::tls {
class ContextSlot;
class Session;
}  // namespace sekisho::net::tls

namespace sekisho::net::http {

class Connection;
class Listener;

struct Server::Shared {
  uv_loop_t* loop = nullptr;
  Handler handler;
  Limits limits;
  Counters counters;
  std::vector<Listener*> listeners;
  std::vector<Connection*> connections;
  std::vector<char> read_buffer = std::vector<char>(64 * 1024);  // one loop thread: reads never overlap
  bool closed = false;
};
using Shared = Server::Shared;

class Connection {
 public:
  static void accept(std::shared_ptr<Shared> shared, uv_stream_t* server, const tls::ContextSlot* slot);

  // How far the connection is in its life; it only moves forward.
  enum class Phase {
    open,           // (a TLS handshake is in progress until a session exists)
    shutting_down,  // our FIN waits for the queued writes
    lingering,      // our FIN is out; what the client still sends is discarded
    closed,         // handles closing; the object goes when they are closed
  };
  // The client's side of the stream.
  enum class Input { reading, paused, ended /* its FIN or close_notify */ };

  void close();
  void shutdown_then_close();
  bool closing() const { return phase_ == Phase::closed; }
  bool idle() const;

  // ---- For sessions.
  Shared& shared() { return *shared_; }
  // Plaintext to send; flush() encrypts (one TLS record for all of it) and writes it.
  std::string& output() { return out_; }
  // Bytes that are their own TLS record (an HTTP/2 frame); in clear text, appended to output().
  // False when TLS failed and the connection closed.
  bool send_record(const uint8_t* data, size_t size);
  void flush();
  // Inside a read (or a session's re-entrant step) writes wait for its end, which flushes once.
  bool in_read() const { return busy_ != 0; }
  void flush_unless_in_read() {
    if (busy_ == 0) flush();
  }
  struct ReadScope {
    explicit ReadScope(Connection& c) : conn(c) { ++conn.busy_; }
    ~ReadScope() { --conn.busy_; }
    Connection& conn;
  };
  // Starts or stops reading from the client (not after its FIN, nor while closing down).
  void set_reading(bool want);
  bool reading() const { return input_ == Input::reading; }
  size_t write_queue_size() const;
  size_t unsent() const { return out_.size() + write_queue_size(); }
  void touch();  // activity: the idle timeout restarts
  void fill_origin(Request& req) const;
  std::string peer_text() const { return peer_.to_string(); }  // for logs
  bool tls() const { return tls_ != nullptr; }

 private:
  explicit Connection(std::shared_ptr<Shared> shared);
  ~Connection();

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_timer(uv_timer_t* t);
  static void on_closed(uv_handle_t* h);

  void received(std::span<const char> data);
  enum class TlsRead { ok, failed, closed /* close_notify */ };
  TlsRead receive_tls(std::span<const char> data);
  void deliver(std::string_view plain);
  void start_session(bool h2);
  void peer_finished();
  void linger(int shutdown_status);
  void write_raw(std::string bytes);
  void written();
  void arm_timer();
  bool handshaking() const { return tls_ && !session_; }

  std::shared_ptr<Shared> shared_;
  uv_tcp_t handle_{};
  uv_timer_t timer_{};
  int handles_open_ = 0;
  std::unique_ptr<tls::Session> tls_;
  std::unique_ptr<Session> session_;  // null during the TLS handshake or the clear-text preface check
  Phase phase_ = Phase::open;
  Input input_ = Input::paused;
  SocketAddress peer_, local_;
  std::string server_name_;
  std::string preface_;  // clear text, before a session: is it HTTP/2's preface?
  std::string out_;      // plaintext waiting to be sent
  uint64_t accepted_ms_ = 0;
  uint64_t last_activity_ms_ = 0;
  int busy_ = 0;  // ReadScope depth
  bool address_counted_ = false;  // in Limits::per_address: released when the object goes
};

}  // namespace sekisho::net::http
