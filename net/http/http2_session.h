// Internal to the HTTP server (server.h is the API): HTTP/2 over one connection, nghttp2 driven
// from memory. Each stream is an exchange; without streaming it goes to the handler once its
// request is complete, with Limits::streaming at its HEADERS, its body following as DATA
// arrives (WINDOW_UPDATE only for what the handler consumed()). Frames are produced only while
// the connection's unsent bytes stay under kHighWater (streaming), so many streams cannot pile
// up past the write queue's cap together.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "net/http/session.h"

namespace sekisho::net::http {

struct Http2Exchange final : ExchangeImpl {
  using ExchangeImpl::ExchangeImpl;
  // Where the stream's request is.
  enum class Stage {
    arriving,    // HEADERS (and DATA) coming; the header timeout runs
    dispatched,  // the handler has it (streaming: its head; the body may still come)
  } stage = Stage::arriving;
  // The response body's data provider.
  enum class Provider { reading, deferred /* waits for write() or finish() */ } provider = Provider::reading;
  int32_t stream_id = 0;
  size_t header_bytes = 0;
  int limit_status = 0;      // a limit hit while receiving (413, 431): answered with it
  uint64_t started_ms = 0;
  size_t body_sent = 0;      // of res.body
  std::string out_buf;       // streamed body bytes nghttp2 has not taken yet
};

class Http2Session final : public Session {
 public:
  explicit Http2Session(Connection& conn);
  ~Http2Session() override;

  void received(std::string_view plain) override;
  void peer_finished() override;
  bool idle() const override { return streams_.empty(); }
  bool busy() const override { return !streams_.empty(); }
  uint64_t head_started_ms() const override;
  uint64_t body_deadline_ms() const override;
  bool cut_late_bodies(uint64_t now) override;
  void timed_out() override;
  void detach_all() override;
  void written() override;

  void respond(ExchangeImpl& ex) override;
  void consumed(ExchangeImpl& ex, size_t n) override;
  void write(ExchangeImpl& ex, std::string_view data) override;
  void finish(ExchangeImpl& ex) override;
  void abort(ExchangeImpl& ex) override;
  size_t unsent(const ExchangeImpl& ex) const override;

 private:
  void send();
  void push();
  void resume(Http2Exchange& ex);
  void submit(Http2Exchange& ex);
  void goaway();

  // nghttp2 callbacks; `user` is the session.
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t flags, void* user);
  static int on_data_chunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data, size_t len,
                           void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user);
  static ssize_t read_body(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source* source, void* user);
  void frame_streaming(const nghttp2_frame* frame);

  nghttp2_session* h2_ = nullptr;
  std::unordered_map<int32_t, std::shared_ptr<Http2Exchange>> streams_;
  enum class Goaway { none, sent } goaway_ = Goaway::none;
};

}  // namespace sekisho::net::http
