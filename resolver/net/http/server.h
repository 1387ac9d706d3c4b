// An HTTP server on one libuv loop: HTTP/1.1 (keep-alive, pipelining answered in order) and
// HTTP/2 (nghttp2), in clear or over TLS (OpenSSL through memory BIOs, ALPN h2/http/1.1).
// Services plug in a Handler; the answer may come later (DoH waits for an upstream), so the
// handler gets an Exchange it completes once. Limits bound what a client can make us hold.
//
// INTERFACE SKETCH: the DoH/DoT work implements this; the admin API and the block page use it.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "resolver/net/http/message.h"

namespace sekisho::net::tls {
class ServerContext;  // resolver/net/tls: SSL_CTX with certificate reload, ALPN, SNI
}

namespace sekisho::net::http {

struct Limits {
  size_t max_header_bytes = 16 * 1024;   // request line + headers → 431
  size_t max_body_bytes = 65535;         // → 413
  uint32_t header_timeout_ms = 10000;    // slow clients (slowloris) are cut off
  uint32_t idle_timeout_ms = 30000;      // keep-alive / HTTP/2 connection idle
  uint32_t max_streams = 100;            // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS
  uint32_t max_requests_per_connection = 10000;
  uint32_t max_connections = 1024;
};

// One request waiting for its response. Valid until respond() is called; if the client goes
// away first, respond() is still safe and does nothing (cancelled() tells early).
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const Request& request() const = 0;
  virtual void respond(Response response) = 0;  // exactly once
  virtual bool cancelled() const = 0;
};

using Handler = std::function<void(std::shared_ptr<Exchange>)>;

class Server;  // implemented in server.cc
}  // namespace sekisho::net::http
