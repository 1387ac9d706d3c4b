// Internal to the HTTP server (server.h is the API): HTTP/1.1 over one connection. Requests are
// parsed by the one strict parser (http1_parser.h) and answered in order; without streaming up
// to Limits::max_pipelined are read ahead of their responses. With Limits::streaming one
// request is handled at a time: its head goes to the handler at once and its body follows as it
// arrives (Content-Length or chunked, held back past kBodyWindow unconsumed bytes), and a 101
// answer to an Upgrade request turns the connection into a byte pipe.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "net/http/http1_parser.h"
#include "net/http/session.h"

namespace sekisho::net::http {

struct Http1Exchange final : ExchangeImpl {
  using ExchangeImpl::ExchangeImpl;
  // Whether the connection carries another request after this one's response.
  enum class After { next_request, close } after = After::next_request;
};

class Http1Session final : public Session {
 public:
  explicit Http1Session(Connection& conn) : Session(conn) {}

  void received(std::string_view plain) override;
  void peer_finished() override;
  bool idle() const override { return in_.empty() && queue_.empty(); }
  bool busy() const override { return !queue_.empty(); }
  uint64_t head_started_ms() const override { return head_started_ms_; }
  uint64_t body_deadline_ms() const override;
  void detach_all() override;
  void written() override;

  void respond(ExchangeImpl& ex) override;
  void consumed(ExchangeImpl& ex, size_t n) override;
  void write(ExchangeImpl& ex, std::string_view data) override;
  void finish(ExchangeImpl& ex) override;
  void abort(ExchangeImpl& ex) override;
  size_t unsent(const ExchangeImpl& ex) const override;
  void send_continue(ExchangeImpl& ex) override;

 private:
  // Whether requests after those queued are read at all.
  enum class Intake {
    open,
    stopped,  // an error, "Connection: close", the request cap, an early answer or the client's FIN
  };
  // The body of reading_ (streaming).
  enum class Body {
    none,         // no request body is being read: the next bytes are a request head
    framed,       // Content-Length or chunked, through decoder_
    tunnel_wait,  // an Upgrade request: the bytes after its head wait for the handler's answer
    tunnel,       // 101 sent: every byte goes to the handler until the client's FIN
  };

  void parse();
  void parse_pipelined();
  void parse_streaming();
  using Parse = Http1Result (*)(std::string_view, size_t, size_t, Request&);
  std::shared_ptr<Http1Exchange> take(Parse parse, Http1Result& r);
  void refuse(const std::shared_ptr<Http1Exchange>& ex, const Http1Result& r);
  bool pump_body();
  void update_reading();
  void write_head(Http1Exchange& ex, std::optional<uint64_t> length);
  void write_responses();
  void stop_intake(Http1Exchange& last) {
    last.after = Http1Exchange::After::close;
    intake_ = Intake::stopped;
  }

  std::string in_;  // plaintext not yet parsed
  std::deque<std::shared_ptr<Http1Exchange>> queue_;  // awaiting or writing their responses, in order
  uint64_t head_started_ms_ = 0;                     // first byte of the request head being read
  Intake intake_ = Intake::open;
  Body body_ = Body::none;
  std::shared_ptr<Http1Exchange> reading_;  // streaming: the request whose body is arriving
  BodyDecoder decoder_;
};

}  // namespace sekisho::net::http
