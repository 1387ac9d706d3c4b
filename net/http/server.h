// An HTTP server on one libuv loop: HTTP/1.1 (keep-alive; pipelined requests answered in
// order) and HTTP/2 (nghttp2, driven from memory), in clear or over TLS (OpenSSL memory BIOs,
// ALPN "h2" / "http/1.1"; in clear, HTTP/2 with prior knowledge is detected by its preface).
// Services plug in a Handler and see only complete Requests and Responses (message.h), or,
// with Limits::streaming, the head at once and bodies as they flow (Exchange's streaming calls).
//
// How to use it (admin API, block page, DoH):
//
//   net::http::Server http(loop, [](std::shared_ptr<net::http::Exchange> ex) {
//     const net::http::Request& req = ex->request();
//     net::http::Response res;
//     res.set("content-type", "text/plain");
//     res.body = "hello " + req.path;
//     ex->respond(std::move(res));        // now, or later from the same loop (keep `ex`)
//   });
//   std::string error;
//   auto bound = http.listen(address, /*tls=*/nullptr, error);   // clear text; port 0 = any
//   // or: http.listen_fd(fd, &slot, error) for a socket you bound (SO_REUSEPORT per loop)
//   ...
//   http.close();   // on the loop thread; connections close, pending exchanges become cancelled
//
// Rules:
//   - Everything runs on the loop's thread: construct, listen, respond and close there.
//   - respond() exactly once per exchange. If the client went away first, respond() does
//     nothing and cancelled() is true; holding the shared_ptr is always safe.
//   - The Server may be destroyed any time after close() (or without it: the destructor closes);
//     connections still closing keep what they need alive by themselves.
//   - TLS: pass a tls::ContextSlot (tls/context.h); each new connection takes the slot's current
//     context, so a reload (slot.reload) affects new connections only. The slot must outlive
//     the Server. Request::tls and Request::server_name (SNI) tell handlers what was used.
//   - The server adds content-length (and connection: close when it is closing); handlers set
//     everything else (content-type, cache-control, allow, ...).
//   - Limits bound what one client can make us hold; a request over a limit gets its status
//     (413, 431) and, over HTTP/1.1, the connection closes after it.
//
// Inside (not for users): connection.h (TCP, TLS, timers, back-pressure) carries one session,
// http1_session.h or http2_session.h, behind session.h; exchange.h is the Exchange they hand out.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "net/address.h"
#include "net/http/message.h"
#include "net/per_address_limit.h"

namespace sekisho::net::tls {
class ContextSlot;
}

namespace sekisho::net::http {

struct Limits {
  size_t max_header_bytes = 16 * 1024;   // request line + headers → 431
  size_t max_body_bytes = 65535;         // → 413
  uint32_t header_timeout_ms = 10000;    // TLS handshake and each request's head (slowloris)
  uint32_t idle_timeout_ms = 30000;      // keep-alive / HTTP/2 connection with nothing to do
  // Streaming request bodies (the whole request is under header_timeout_ms otherwise): the body
  // gets body_timeout_ms, plus a second per body_min_rate bytes received, so a body trickled in
  // slower than that is cut however long it is (Apache mod_reqtimeout's body=20,MinRate=500).
  // Time the client spends held back by our window does not count.
  uint32_t body_timeout_ms = 20000;
  uint32_t body_min_rate = 500;
  uint32_t max_streams = 100;            // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS
  uint32_t max_pipelined = 16;           // HTTP/1.1 requests read ahead of their responses
  uint32_t max_requests_per_connection = 10000;  // then HTTP/2 GOAWAY / HTTP/1.1 close
  uint32_t max_connections = 1024;       // per Server; more are accepted and closed at once
  // Connections open at once per client (net/per_address_limit.h), counted in a table the
  // caller owns and may share with other servers and transports (null: no cap). A connection
  // over `max_per_address` is accepted and closed at once, and `on_refused_per_address` runs.
  PerAddressLimit* per_address = nullptr;
  uint32_t max_per_address = 0;
  std::function<void()> on_refused_per_address;
  // Streaming (sekisho-intercept's forwarding): the handler runs once the head has arrived
  // (request.body stays empty) and bodies flow through Exchange's streaming calls below, so
  // no body is ever held whole. HTTP/1.1 requests are then answered one at a time (no
  // pipelining). max_body_bytes still bounds request bodies.
  bool streaming = false;
};

// Streaming flow control: a handler pauses its source while unsent() is above kHighWater and
// resumes from when_drained(), which runs once it is back under kLowWater.
inline constexpr size_t kHighWater = 1 << 20;
inline constexpr size_t kLowWater = 256 << 10;

// One request waiting for its response.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const Request& request() const = 0;
  virtual void respond(Response response) = 0;  // exactly once; a no-op once cancelled
  virtual bool cancelled() const = 0;           // the client (or the server) closed it

  // ---- Streaming (Limits::streaming only).
  // The request body's length: -1 unknown (chunked, or HTTP/2 without content-length), 0 none.
  virtual int64_t body_length() const = 0;
  // Body pieces as they arrive, then `end` (also for a request without a body). Pieces not yet
  // acknowledged with consumed() hold back the client: no further reads (HTTP/1.1) or no
  // WINDOW_UPDATE (HTTP/2) past a window of a few hundred KiB.
  using BodyReader = std::function<void(std::string_view data, bool end)>;
  virtual void read_body(BodyReader reader) = 0;
  virtual void consumed(size_t bytes) = 0;
  // A streamed response: the head, with the body's length when known (else HTTP/1.1 chunked,
  // or close-delimited for HTTP/1.0), then write() pieces and finish(). A 101 answer to an
  // HTTP/1.1 upgrade request (upgrade_requested) makes the connection a byte pipe: the client's
  // bytes go on arriving through the reader (`end` at its FIN), write() sends raw bytes and
  // finish() closes. Each is a no-op once cancelled.
  virtual bool upgrade_requested() const = 0;
  virtual void respond_head(Response head, std::optional<uint64_t> length) = 0;
  virtual void write(std::string_view data) = 0;
  virtual void finish() = 0;
  // Stops the response midway (the origin failed): HTTP/1.1 closes the connection, HTTP/2
  // resets the stream, so the client sees a truncated transfer, never a complete one.
  virtual void abort() = 0;
  virtual size_t unsent() const = 0;
  virtual void when_drained(std::function<void()> callback) = 0;  // once, after unsent() < kLowWater
  // Runs once if the exchange becomes cancelled (client gone, stream reset, server closed).
  virtual void on_cancel(std::function<void()> callback) = 0;
};

using Handler = std::function<void(std::shared_ptr<Exchange>)>;

struct Counters {
  uint64_t connections = 0;
  uint64_t connections_refused = 0;  // over max_connections
  uint64_t tls_failures = 0;         // handshake or record errors
  uint64_t timeouts = 0;             // handshake, header or idle
  uint64_t protocol_errors = 0;      // malformed HTTP/1.1 or HTTP/2
  uint64_t requests = 0;
};

class Server {
 public:
  Server(uv_loop_t* loop, Handler handler, Limits limits = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Listens on a socket you bound (takes ownership of `fd`). `tls` null: clear-text HTTP.
  bool listen_fd(int fd, const tls::ContextSlot* tls, std::string& error);
  // Binds `address` (SO_REUSEADDR) and listens; returns the bound address (port 0 → chosen).
  std::optional<SocketAddress> listen(const SocketAddress& address, const tls::ContextSlot* tls, std::string& error);

  void stop_accepting();  // listeners close; open connections go on
  void close_idle();      // connections with no request in progress close (graceful drain)
  void close();           // listeners and every connection: idle ones after their last bytes are
                          // sent, busy ones at once (their exchanges become cancelled)

  size_t open_connections() const;
  const Counters& counters() const;

  struct Shared;  // state the connections share with the server (server.cc)

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace sekisho::net::http
