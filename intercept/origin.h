// One connection to an inspected origin on the intercept's loop: TCP to an address that
// origin_address.h allowed (IPv4 or IPv6), TLS verified against the forwarder's trust store
// with the host name checked, and an idle pool so keep-alive requests reuse connections.
//
// The user (a relay in forward.cc) sets the data/closed callbacks, writes with a completion
// callback (so request bodies are acknowledged to the client only once they left for the
// origin), and pauses reading while the client is slow. A timer closes the connection when
// nothing moves for the armed time (connect, waiting for the origin, idle in the pool).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "net/address.h"
#include "net/tls/session.h"

namespace sekisho::intercept {

class OriginConnection : public std::enable_shared_from_this<OriginConnection> {
 public:
  using DataCallback = std::function<void(std::string_view bytes)>;
  using ClosedCallback = std::function<void(const std::string& why)>;  // empty why: the origin's clean FIN

  // `tls_ctx` null: clear-text HTTP.
  static std::shared_ptr<OriginConnection> create(uv_loop_t* loop, SSL_CTX* tls_ctx, std::string host,
                                                  net::SocketAddress address);
  ~OriginConnection();

  // TCP connect and TLS handshake within `timeout_ms`; `done` gets an empty string on success.
  void connect(uint32_t timeout_ms, std::function<void(const std::string& error)> done);
  void set_callbacks(DataCallback data, ClosedCallback closed);
  void write(std::string bytes, std::function<void()> written = nullptr);
  void pause();
  void resume();
  // Closes when nothing is read or written for `ms` (0: never); any activity restarts it.
  void arm(uint32_t ms);
  void close();

  bool open() const { return connected_ && !closing_ && !eof_; }
  size_t unsent() const;
  const net::SocketAddress& address() const { return address_; }
  const std::string& host() const { return host_; }
  bool tls() const { return tls_ != nullptr; }
  uint64_t requests = 0;  // served on this connection (reuse count, for logs)

 private:
  OriginConnection(uv_loop_t* loop, SSL_CTX* tls_ctx, std::string host, net::SocketAddress address);
  void start_reading();
  void received(const char* data, size_t n);
  void fail(const std::string& why);
  void send_raw(std::string bytes, std::function<void()> written);
  void touch();

  uv_loop_t* loop_;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_connect_t connect_req_{};
  int handles_open_ = 0;
  std::shared_ptr<OriginConnection> self_;  // alive until both handles are closed
  std::unique_ptr<net::tls::Session> tls_;
  std::string host_;
  net::SocketAddress address_;
  std::function<void(const std::string&)> connect_done_;
  DataCallback on_data_;
  ClosedCallback on_closed_;
  uint32_t armed_ms_ = 0;
  bool connected_ = false, closing_ = false, eof_ = false, reading_ = false, paused_ = false;
  std::string read_buffer_;
};

// Idle origin connections by (host, port, TLS), each remembering its address: a request takes
// one only when that address is among the host's current addresses.
class OriginPool {
 public:
  explicit OriginPool(uint32_t idle_ms, size_t per_key = 64, size_t total = 1024)
      : idle_ms_(idle_ms), per_key_(per_key), total_(total) {}
  ~OriginPool() { clear(); }
  std::shared_ptr<OriginConnection> take(const std::string& key, const std::vector<net::SocketAddress>& allowed);
  void put(const std::string& key, std::shared_ptr<OriginConnection> c);
  void clear();
  size_t idle() const;

 private:
  void remove(const std::string& key, const OriginConnection* c);
  uint32_t idle_ms_;
  size_t per_key_, total_;
  std::map<std::string, std::vector<std::shared_ptr<OriginConnection>>> idle_;
};

}  // namespace sekisho::intercept
