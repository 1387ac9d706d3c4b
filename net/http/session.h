// Internal to the HTTP server (server.h is the API): the interface between a connection
// (connection.h: TCP, TLS, timers, back-pressure) and the protocol spoken over it, an
// Http1Session or an Http2Session. The connection hands a session the plaintext it reads and
// asks it about timeouts; the session parses requests, dispatches them to the handler and writes
// responses through the connection. Exchanges call back into their session.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "net/http/exchange.h"
#include "net/http/server.h"

namespace sekisho::net::http {

class Connection;

// Streaming: request body bytes handed to the handler and not yet consumed() before the client
// is held back (HTTP/1.1 reads stop; HTTP/2 withholds WINDOW_UPDATE). Also the HTTP/2 initial
// window.
inline constexpr size_t kBodyWindow = 256 << 10;

class Session {
 public:
  explicit Session(Connection& conn) : conn_(conn) {}
  virtual ~Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // ---- From the connection.
  virtual void received(std::string_view plain) = 0;
  virtual void peer_finished() = 0;  // the client's FIN (or TLS close_notify); reads have stopped
  virtual bool idle() const = 0;     // nothing buffered, no request in progress (close_idle)
  virtual bool busy() const = 0;     // requests being answered: the idle timeout waits
  virtual uint64_t head_started_ms() const = 0;  // the oldest request head still arriving, or 0
  // Streaming: the earliest deadline of a request body still arriving (Limits::body_timeout_ms,
  // body_min_rate), or 0 when none is, or when our window holds the client back.
  virtual uint64_t body_deadline_ms() const { return 0; }
  // Cuts the bodies whose deadline has passed by `now` without ending the connection (HTTP/2
  // resets their streams); false when only closing the connection can (HTTP/1.1).
  virtual bool cut_late_bodies(uint64_t) { return false; }
  virtual void timed_out() {}        // before the connection closes on a timeout
  virtual void detach_all() = 0;     // the connection closes: pending exchanges are cancelled
  virtual void written() = 0;        // a write completed: resume what waited for the queue to drain

  // ---- From exchanges (ExchangeImpl forwards the handler's calls).
  virtual void respond(ExchangeImpl& ex) = 0;  // respond() or respond_head()
  virtual void consumed(ExchangeImpl& ex, size_t n) = 0;
  virtual void write(ExchangeImpl& ex, std::string_view data) = 0;
  virtual void finish(ExchangeImpl& ex) = 0;
  virtual void abort(ExchangeImpl& ex) = 0;
  virtual size_t unsent(const ExchangeImpl& ex) const = 0;
  virtual void send_continue(ExchangeImpl&) {}  // HTTP/1.1 "100 Continue"

 protected:
  // Gives a complete request (or a streaming one's head) to the handler; `refuse` (413, 431)
  // answers it with that error instead.
  void dispatch(const std::shared_ptr<ExchangeImpl>& ex, int refuse = 0);
  const Limits& limits() const;
  Counters& counters();

  Connection& conn_;
  uint32_t requests_ = 0;  // dispatched on this connection (max_requests_per_connection)
};

// ---- Shared by both sessions.
std::string_view reason_phrase(int status);
Response error_response(int status, std::string_view reason);
// A header a handler set that would split the response (CR/LF) or is ours to write.
bool unsafe_header(const Header& h);
bool body_allowed(const Request& req, int status);

}  // namespace sekisho::net::http
