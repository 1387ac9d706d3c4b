// Internal to the HTTP server (server.h is the API): one request and its response, the Exchange
// handlers hold. Its state is what both protocols share; what only one of them needs lives in
// its session's subclass (Http1Exchange in http1_session.cc, Http2Exchange in http2_session.cc).
// Every call a handler makes goes to the session that owns the exchange, or nowhere once the
// exchange is cancelled (session == nullptr).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "net/http/server.h"

namespace sekisho::net::http {

class Session;

// What the handler has answered.
enum class Reply {
  none,       // nothing yet
  whole,      // respond(): the complete response, body included
  streaming,  // respond_head(): the head; the body follows through write()
  finished,   // streaming, and finish() was called
};

// The request body as it reaches the handler (streaming).
enum class Upload {
  receiving,  // more may arrive
  complete,   // all of it arrived (or, in a tunnel, the client's FIN)
  delivered,  // and the end was handed to the reader
};

// HTTP/1.1 Upgrade (WebSocket).
enum class Upgrade { none, requested, tunnel /* 101 answered: a byte pipe */ };

// How the response body goes out; decided when the head is written (HTTP/1.1) or submitted
// (HTTP/2).
enum class BodyOut {
  undecided,  // the head is not out yet
  none,       // no body (HEAD, 204, 304, 1xx): writes are dropped
  length,     // the length was announced
  chunked,    // HTTP/1.1 chunked framing
  until_end,  // raw bytes until the connection (HTTP/1.0, a tunnel) or the stream ends
};

class ExchangeImpl : public Exchange {
 public:
  explicit ExchangeImpl(Session* owner) : session(owner) {}

  Request req;
  Response res;
  Session* session;  // null once the connection or the HTTP/2 stream is gone
  Reply reply = Reply::none;
  Upload upload = Upload::receiving;
  Upgrade upgrade = Upgrade::none;
  BodyOut body_out = BodyOut::undecided;
  std::optional<uint64_t> length;  // respond_head's

  // Streaming request body (Limits::streaming).
  int64_t body_len = 0;
  uint64_t body_received = 0;
  size_t unacked = 0;        // handed over or pending, not yet consumed()
  // The body's deadline runs from body_clock_ms with body_clock_bytes received then (set when the
  // body starts, and again when the client stops being held back by our window).
  uint64_t body_clock_ms = 0;  // 0: no body arriving under a deadline
  uint64_t body_clock_bytes = 0;
  void restart_body_clock();
  uint64_t body_deadline_ms(const Limits& limits) const;
  BodyReader reader;
  std::string body_pending;  // arrived before read_body()
  std::function<void()> drain_cb, cancel_cb;

  // Exchange
  const Request& request() const override { return req; }
  bool cancelled() const override { return session == nullptr; }
  void respond(Response response) override;
  int64_t body_length() const override { return body_len; }
  void read_body(BodyReader r) override;
  void consumed(size_t bytes) override;
  bool upgrade_requested() const override { return upgrade != Upgrade::none; }
  void respond_head(Response head, std::optional<uint64_t> len) override;
  void write(std::string_view data) override;
  void finish() override;
  void abort() override;
  size_t unsent() const override;
  void when_drained(std::function<void()> callback) override;
  void on_cancel(std::function<void()> callback) override {
    if (session) cancel_cb = std::move(callback);
  }

  bool responded() const { return reply != Reply::none; }
  bool streamed() const { return reply == Reply::streaming || reply == Reply::finished; }
  // Gives body bytes to the reader (or keeps them until read_body), then the end once
  // (upload == complete).
  void deliver(std::string_view data);
  // The response went out whole: the session lets go without cancelling.
  void release() { session = nullptr; }
  // The exchange is over for the session; a streamed one that did not finish is cancelled.
  void detach();
};

}  // namespace sekisho::net::http
