#include "net/http/server.h"

#include <nghttp2/nghttp2.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "net/http/chunked.h"
#include "net/http/http1_parser.h"
#include "net/tls/context.h"
#include "net/tls/session.h"

namespace sekisho::net::http {
namespace {

const tls::AlpnList kHttpAlpn = {"h2", "http/1.1"};
constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kMaxWriteQueue = 4 << 20;  // a client that never reads is cut off
constexpr size_t kReadChunk = 65536;
// Streaming: request body bytes handed to the handler and not yet consumed() before the client
// is held back (reads stop; HTTP/2 withholds WINDOW_UPDATE). Also the HTTP/2 initial window.
constexpr size_t kBodyWindow = 256 << 10;

class Connection;
class Listener;

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

Response error_response(int status, std::string_view reason) {
  Response r;
  r.status = status;
  r.set("content-type", "text/plain; charset=utf-8");
  r.body.assign(reason);
  r.body += '\n';
  return r;
}

// A header a handler set that would split the response (CR/LF) or is ours to write.
bool unsafe_header(const Header& h) {
  if (h.name.empty() || h.name == "content-length" || h.name == "connection" || h.name == "transfer-encoding")
    return true;
  auto bad = [](const std::string& s) { return s.find_first_of("\r\n", 0) != std::string::npos || s.find('\0') != std::string::npos; };
  return bad(h.name) || bad(h.value);
}

bool body_allowed(const Request& req, int status) {
  return req.method != "HEAD" && status != 204 && status != 304 && !(status >= 100 && status < 200);
}

}  // namespace

struct Server::Shared {
  uv_loop_t* loop = nullptr;
  Handler handler;
  Limits limits;
  Counters counters;
  std::vector<Listener*> listeners;
  std::vector<Connection*> connections;
  std::vector<char> read_buffer = std::vector<char>(kReadChunk);  // one loop thread: reads never overlap
  bool closed = false;
};

namespace {

using Shared = Server::Shared;

class ExchangeImpl final : public Exchange {
 public:
  Request req;
  Connection* conn = nullptr;  // null once the connection or the HTTP/2 stream is gone
  bool responded = false;
  bool close_after = false;    // HTTP/1.1: the connection ends with this response
  bool dispatched = false;     // HTTP/2: the whole request arrived and went to the handler
  int32_t stream_id = 0;
  size_t header_bytes = 0;
  int limit_status = 0;        // HTTP/2: a limit hit while receiving (413, 431)
  uint64_t started_ms = 0;
  Response res;
  size_t body_sent = 0;

  // Streaming (Limits::streaming).
  bool streaming = false;
  int64_t body_len = 0;
  uint64_t body_received = 0;
  BodyReader reader;
  std::string body_pending;     // arrived before read_body()
  bool body_ended = false;      // the client's body is complete (or, in a tunnel, its FIN)
  bool end_delivered = false;
  size_t unacked = 0;           // handed over or pending, not yet consumed()
  bool upgrade = false;         // HTTP/1.1 upgrade request
  bool tunnel = false;          // 101 sent: a byte pipe
  bool streamed = false;        // respond_head() was used
  bool head_written = false;    // HTTP/1.1
  bool no_body = false;         // the streamed response has no body (HEAD, 204, 304)
  bool chunked_out = false;     // HTTP/1.1 chunked framing of the streamed body
  bool finished = false;        // finish() called
  std::optional<uint64_t> length;
  std::string out_buf;          // HTTP/2: body bytes nghttp2 has not taken yet
  bool deferred = false;        // HTTP/2: the data provider is waiting for write()
  std::function<void()> drain_cb, cancel_cb;

  const Request& request() const override { return req; }
  bool cancelled() const override { return conn == nullptr; }
  void respond(Response response) override;
  int64_t body_length() const override { return body_len; }
  void read_body(BodyReader r) override;
  void consumed(size_t bytes) override;
  bool upgrade_requested() const override { return upgrade; }
  void respond_head(Response head, std::optional<uint64_t> len) override;
  void write(std::string_view data) override;
  void finish() override;
  void abort() override;
  size_t unsent() const override;
  void when_drained(std::function<void()> callback) override;
  void on_cancel(std::function<void()> callback) override {
    if (conn) cancel_cb = std::move(callback);
  }

  // Gives body bytes to the reader (or keeps them until read_body), then the end once.
  void deliver(std::string_view data);
  // The exchange is over for the connection; a streamed one that did not finish is cancelled.
  void detach() {
    conn = nullptr;
    if (cancel_cb) {
      auto cb = std::move(cancel_cb);
      cancel_cb = nullptr;
      // Over HTTP/2 a response without a body (HEAD, 204, 304) ends its stream as soon as the
      // head is out: that is completion, not a client gone.
      if (!(finished || (responded && (!streamed || no_body)))) cb();
    }
    drain_cb = nullptr;
    reader = nullptr;
  }
};

class Connection {
 public:
  static void accept(std::shared_ptr<Shared> shared, uv_stream_t* server, const tls::ContextSlot* slot);
  void on_response(ExchangeImpl* ex);
  void close();
  void shutdown_then_close();
  void linger(int shutdown_status);
  bool idle() const { return in_.empty() && h1_queue_.empty() && h2_streams_.empty(); }

  // Streaming, called by ExchangeImpl.
  void body_consumed(ExchangeImpl* ex, size_t n);
  void stream_write(ExchangeImpl* ex, std::string_view data);
  void stream_finish(ExchangeImpl* ex);
  void stream_abort(ExchangeImpl* ex);
  size_t unsent(const ExchangeImpl* ex) const;
  void check_drain();
  void send_continue() {
    out_ += "HTTP/1.1 100 Continue\r\n\r\n";
    if (busy_ == 0) flush();
  }

 private:
  explicit Connection(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  ~Connection() {
    if (h2_) nghttp2_session_del(h2_);
  }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_timer(uv_timer_t* t);
  static void on_closed(uv_handle_t* h);

  void received(std::span<const char> data);
  void peer_finished();
  void deliver(std::string_view plain);
  void parse_h1();
  void parse_h1_streaming();
  using Http1Parse = Http1Result (*)(std::string_view, size_t, size_t, Request&);
  std::shared_ptr<ExchangeImpl> take_h1(Http1Parse parse, Http1Result& r);
  void refuse_h1(const std::shared_ptr<ExchangeImpl>& ex, const Http1Result& r);
  bool pump_h1_body();
  void update_reading();
  void write_h1_head(ExchangeImpl* ex, std::optional<uint64_t> length);
  void write_h1_responses();
  void start_h2();
  void feed_h2(std::string_view data);
  void submit_h2(ExchangeImpl* ex);
  void send_h2();
  void push_h2();
  void resume_h2(ExchangeImpl* ex);
  void dispatch(const std::shared_ptr<ExchangeImpl>& ex);
  void flush();
  void write_raw(std::string bytes);
  void arm_timer();
  void fill_origin(Request& req) const;

  // nghttp2 callbacks
  static int h2_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int h2_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t flags, void* user);
  static int h2_data_chunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data, size_t len,
                           void* user);
  static int h2_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int h2_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user);
  static ssize_t h2_read_body(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags,
                              nghttp2_data_source* source, void* user);

  enum class Proto { undecided, h1, h2 };

  std::shared_ptr<Shared> shared_;
  uv_tcp_t handle_{};
  uv_timer_t timer_{};
  int handles_open_ = 0;
  bool timer_started_ = false;
  std::unique_ptr<tls::Session> tls_;
  bool tls_ready_ = false;
  Proto proto_ = Proto::undecided;
  SocketAddress peer_, local_;
  std::string server_name_;
  std::string in_;   // plaintext not yet parsed (HTTP/1.1, or the clear-text preface check)
  std::string out_;  // plaintext waiting to be sent
  std::deque<std::shared_ptr<ExchangeImpl>> h1_queue_;
  std::unordered_map<int32_t, std::shared_ptr<ExchangeImpl>> h2_streams_;
  nghttp2_session* h2_ = nullptr;
  uint32_t requests_ = 0;
  uint64_t accepted_ms_ = 0;
  uint64_t last_activity_ms_ = 0;
  uint64_t head_started_ms_ = 0;  // HTTP/1.1: first byte of the request being read
  int busy_ = 0;                  // inside a read: writes wait for the end of it
  bool reading_ = false;
  bool stop_parsing_ = false;     // HTTP/1.1: an error or "close" ended the request stream
  bool closing_ = false;
  bool shutting_down_ = false;
  bool peer_done_ = false;   // the client's FIN arrived
  bool lingering_ = false;   // our FIN is out; discarding what the client still sends
  bool goaway_sent_ = false;
  // HTTP/1.1 streaming: the request whose body is being read, and how it is framed.
  enum class H1Body { length, chunked, tunnel_wait, tunnel };
  std::shared_ptr<ExchangeImpl> h1_reading_;
  H1Body h1_body_ = H1Body::length;
  uint64_t h1_remaining_ = 0;
  ChunkedDecoder h1_chunks_;
};

class Listener {
 public:
  Listener(std::shared_ptr<Shared> shared, const tls::ContextSlot* tls) : shared_(std::move(shared)), tls_(tls) {}
  bool open(int fd, std::string& error) {
    uv_tcp_init(shared_->loop, &handle_);
    handle_.data = this;
    if (int rc = uv_tcp_open(&handle_, fd); rc != 0) {
      error = std::string("uv_tcp_open: ") + uv_strerror(rc);
      ::close(fd);
      return false;
    }
    if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&handle_), 1024, &Listener::on_connection); rc != 0) {
      error = std::string("listen: ") + uv_strerror(rc);
      return false;
    }
    return true;
  }
  void close() {
    auto& ls = shared_->listeners;
    ls.erase(std::remove(ls.begin(), ls.end(), this), ls.end());
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
  }

 private:
  static void on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<Listener*>(server->data);
    if (status < 0) return;
    Connection::accept(self->shared_, server, self->tls_);
  }
  std::shared_ptr<Shared> shared_;
  const tls::ContextSlot* tls_;
  uv_tcp_t handle_{};
};

void ExchangeImpl::respond(Response response) {
  if (responded) return;
  responded = true;
  res = std::move(response);
  if (conn) conn->on_response(this);
}

void ExchangeImpl::deliver(std::string_view data) {
  if (!data.empty()) {
    unacked += data.size();
    if (reader) reader(data, false);
    else body_pending.append(data);
  }
  if (body_ended && !end_delivered && reader && body_pending.empty()) {
    end_delivered = true;
    reader({}, true);
  }
}

void ExchangeImpl::read_body(BodyReader r) {
  if (!conn && !body_ended) return;
  reader = std::move(r);
  // A client waiting for "100 Continue" before sending its body gets it once the handler wants
  // the body (HTTP/1.1; an HTTP/2 client sends without waiting).
  if (conn && req.version == 11 && !body_ended && !responded && req.header("expect") == "100-continue")
    conn->send_continue();
  if (!body_pending.empty()) {
    std::string pending;
    pending.swap(body_pending);
    unacked -= pending.size();  // deliver() counts it again
    deliver(pending);
  } else {
    deliver({});
  }
}

void ExchangeImpl::consumed(size_t bytes) {
  bytes = std::min(bytes, unacked);
  unacked -= bytes;
  if (conn) conn->body_consumed(this, bytes);
}

void ExchangeImpl::respond_head(Response head, std::optional<uint64_t> len) {
  if (responded) return;
  streamed = true;
  length = len;
  tunnel = upgrade && head.status == 101;
  respond(std::move(head));
}

void ExchangeImpl::write(std::string_view data) {
  if (conn && streamed && !finished && !data.empty()) conn->stream_write(this, data);
}

void ExchangeImpl::finish() {
  if (!streamed || finished) return;
  finished = true;
  if (conn) conn->stream_finish(this);
}

void ExchangeImpl::abort() {
  if (conn) conn->stream_abort(this);
}

size_t ExchangeImpl::unsent() const { return conn ? conn->unsent(this) : 0; }

void ExchangeImpl::when_drained(std::function<void()> callback) {
  if (!conn) return;
  if (unsent() < kLowWater) return callback();
  drain_cb = std::move(callback);
}

// ------------------------------------------------------------------------------ lifecycle

void Connection::accept(std::shared_ptr<Shared> shared, uv_stream_t* server, const tls::ContextSlot* slot) {
  auto* c = new Connection(shared);
  uv_tcp_init(shared->loop, &c->handle_);
  c->handle_.data = c;
  c->handles_open_ = 1;
  auto discard = [c] {
    c->closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->handle_), &Connection::on_closed);
  };
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->handle_)) != 0) return discard();
  if (shared->closed || shared->connections.size() >= shared->limits.max_connections) {
    ++shared->counters.connections_refused;
    return discard();
  }
  int len = sizeof c->peer_.storage;
  if (uv_tcp_getpeername(&c->handle_, reinterpret_cast<sockaddr*>(&c->peer_.storage), &len) != 0) return discard();
  c->peer_.length = static_cast<socklen_t>(len);
  len = sizeof c->local_.storage;
  if (uv_tcp_getsockname(&c->handle_, reinterpret_cast<sockaddr*>(&c->local_.storage), &len) == 0)
    c->local_.length = static_cast<socklen_t>(len);
  if (slot) {
    auto ctx = slot->current();
    if (!ctx) return discard();
    c->tls_ = std::make_unique<tls::Session>(*ctx, &kHttpAlpn);
    c->tls_->set_peer(c->peer_);
  }
  ++shared->counters.connections;
  shared->connections.push_back(c);
  uv_tcp_nodelay(&c->handle_, 1);
  uv_timer_init(shared->loop, &c->timer_);
  c->timer_.data = c;
  c->handles_open_ = 2;
  c->accepted_ms_ = c->last_activity_ms_ = monotonic_ms();
  c->arm_timer();
  c->reading_ = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->handle_), &Connection::on_alloc, &Connection::on_read);
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  auto& cs = shared_->connections;
  cs.erase(std::remove(cs.begin(), cs.end(), this), cs.end());
  // Exchanges still held by handlers become cancelled; the nghttp2 session is freed with the
  // object, never here, because close() may run inside one of its callbacks.
  std::vector<std::shared_ptr<ExchangeImpl>> gone(h1_queue_.begin(), h1_queue_.end());
  for (auto& [id, ex] : h2_streams_) gone.push_back(ex);
  if (h1_reading_) gone.push_back(std::move(h1_reading_));
  h1_queue_.clear();
  h2_streams_.clear();
  for (auto& ex : gone) ex->detach();
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_), &Connection::on_closed);
  if (handles_open_ == 2) uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &Connection::on_closed);
}

void Connection::on_closed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  if (--c->handles_open_ == 0) delete c;
}

void Connection::shutdown_then_close() {
  if (closing_ || shutting_down_) return;
  shutting_down_ = true;
  if (tls_ && tls_ready_) {
    tls_->shutdown();
    flush();
    if (closing_) return;
  }
  // uv_shutdown waits for queued writes, so the last response arrives before the FIN.
  auto* req = new uv_shutdown_t();
  req->data = this;
  int rc = uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&handle_), [](uv_shutdown_t* r, int status) {
    auto* c = static_cast<Connection*>(r->data);
    delete r;
    c->linger(status);
  });
  if (rc != 0) {
    delete req;
    close();
  }
}

// ---------------------------------------------------------------------------------- reading

// After our FIN a client may still be sending (a body we refused with 413). Closing with unread
// bytes makes the kernel answer with RST, and the client may lose the response it was sent; so
// read and discard until its FIN or a short deadline, as web servers' lingering close does.
void Connection::linger(int shutdown_status) {
  if (closing_) return;
  if (shutdown_status != 0 || peer_done_) return close();
  lingering_ = true;
  if (!reading_) {
    reading_ = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), &Connection::on_alloc, &Connection::on_read);
  }
  static constexpr uint64_t kLingerMs = 2000;
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<Connection*>(t->data)->close(); }, kLingerMs, 0);
}

void Connection::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(h->data);
  *buf = uv_buf_init(c->shared_->read_buffer.data(), static_cast<unsigned>(c->shared_->read_buffer.size()));
}

void Connection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(s->data);
  if (c->closing_ || nread == 0) return;
  if (c->lingering_) {
    if (nread < 0) c->close();  // the client's FIN (or an error): nothing more is owed
    return;
  }
  if (nread == UV_EOF) return c->peer_finished();
  if (nread < 0) return c->close();
  c->received({buf->base, static_cast<size_t>(nread)});
}

void Connection::peer_finished() {
  // A client that half-closes still gets the responses it is owed over HTTP/1.1.
  peer_done_ = true;
  reading_ = false;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  if (h1_reading_) {
    // A tunnel's client half-closed: the origin may still answer. A body cut short: gone.
    if (h1_body_ != H1Body::tunnel) return close();
    std::shared_ptr<ExchangeImpl> ex = std::move(h1_reading_);
    ex->body_ended = true;
    ex->deliver({});
    return;
  }
  if (proto_ == Proto::h1 && !h1_queue_.empty()) {
    stop_parsing_ = true;
    h1_queue_.back()->close_after = true;
    return;
  }
  close();
}

void Connection::received(std::span<const char> data) {
  ++busy_;
  if (!tls_) {
    deliver({data.data(), data.size()});
  } else {
    tls_->feed({reinterpret_cast<const uint8_t*>(data.data()), data.size()});
    std::string plain;
    std::array<uint8_t, 16384> chunk;
    for (;;) {
      const long n = tls_->read(chunk.data(), chunk.size());
      if (n > 0) {
        plain.append(reinterpret_cast<const char*>(chunk.data()), static_cast<size_t>(n));
        continue;
      }
      if (n == tls::Session::kFailed) {
        ++shared_->counters.tls_failures;
        log::debug("http", "closing connection", {{"peer", peer_.to_string()}, {"reason", tls_->error()}});
        flush();  // the alert, if OpenSSL wrote one
        close();
        --busy_;
        return;
      }
      if (n == tls::Session::kClosed) {
        --busy_;
        flush();
        return peer_finished();
      }
      break;
    }
    if (!tls_ready_ && tls_->handshake_done()) {
      tls_ready_ = true;
      server_name_ = tls_->server_name();
      if (tls_->alpn() == "h2") start_h2();
      else proto_ = Proto::h1;
      arm_timer();
    }
    if (!plain.empty() && !closing_) deliver(plain);
  }
  --busy_;
  if (!closing_) flush();
}

void Connection::deliver(std::string_view plain) {
  if (proto_ == Proto::undecided) {
    // Clear text: HTTP/2 with prior knowledge starts with its preface, anything else is 1.1.
    in_.append(plain);
    const size_t n = std::min(in_.size(), kH2Preface.size());
    if (in_.compare(0, n, kH2Preface.substr(0, n)) == 0) {
      if (in_.size() < kH2Preface.size()) return;
      std::string buffered;
      buffered.swap(in_);
      start_h2();
      return feed_h2(buffered);
    }
    proto_ = Proto::h1;
    return parse_h1();
  }
  if (proto_ == Proto::h2) return feed_h2(plain);
  in_.append(plain);
  parse_h1();
}

void Connection::fill_origin(Request& req) const {
  req.peer = peer_;
  req.local = local_;
  req.tls = tls_ != nullptr;
  req.server_name = server_name_;
}

void Connection::dispatch(const std::shared_ptr<ExchangeImpl>& ex) {
  fill_origin(ex->req);
  ++requests_;
  ++shared_->counters.requests;
  last_activity_ms_ = monotonic_ms();
  if (ex->limit_status) {
    ex->respond(error_response(ex->limit_status, ex->limit_status == 413 ? "request body too large" : "request headers too large"));
    return;
  }
  try {
    shared_->handler(ex);
  } catch (const std::exception& e) {
    log::error("http", "handler failed", {{"path", ex->req.path}, {"error", e.what()}});
    ex->respond(error_response(500, "internal error"));
  }
}

// ---------------------------------------------------------------------------------- HTTP/1.1

void Connection::parse_h1() {
  if (shared_->limits.streaming) return parse_h1_streaming();
  const Limits& limits = shared_->limits;
  while (!closing_ && !stop_parsing_ && h1_queue_.size() < limits.max_pipelined) {
    Http1Result r;
    auto ex = take_h1(parse_http1_request, r);
    if (!ex) break;
    head_started_ms_ = in_.empty() ? 0 : monotonic_ms();
    h1_queue_.push_back(ex);
    dispatch(ex);
  }
  // Read no further ahead than we answer.
  const bool want = !closing_ && !stop_parsing_ && h1_queue_.size() < limits.max_pipelined;
  if (reading_ && !want) {
    reading_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  }
}

// The request at the front of in_, parsed by `parse` (parse_http1_request for the whole request,
// parse_http1_head for the head alone) and consumed; null while its head is incomplete or when it
// was refused. The head timer starts with the first byte of a head.
std::shared_ptr<ExchangeImpl> Connection::take_h1(Http1Parse parse, Http1Result& r) {
  const Limits& limits = shared_->limits;
  if (in_.empty()) {
    head_started_ms_ = 0;
    return nullptr;
  }
  if (head_started_ms_ == 0) head_started_ms_ = monotonic_ms();
  auto ex = std::make_shared<ExchangeImpl>();
  r = parse(in_, limits.max_header_bytes, limits.max_body_bytes, ex->req);
  if (r.kind == Http1Result::incomplete) return nullptr;
  ex->conn = this;
  if (r.kind == Http1Result::error) {
    refuse_h1(ex, r);
    return nullptr;
  }
  in_.erase(0, r.consumed);
  ex->close_after = !r.keep_alive || requests_ + 1 >= limits.max_requests_per_connection;
  if (ex->close_after) stop_parsing_ = true;
  return ex;
}

// An unparsable request is answered with its error and ends the connection: after it, the
// byte stream has no trustworthy request boundary.
void Connection::refuse_h1(const std::shared_ptr<ExchangeImpl>& ex, const Http1Result& r) {
  ++shared_->counters.protocol_errors;
  stop_parsing_ = true;
  in_.clear();
  ex->close_after = true;
  h1_queue_.push_back(ex);
  fill_origin(ex->req);
  ex->respond(error_response(r.status, r.reason));
}

// Streaming: one request at a time; its head goes to the handler at once, its body follows
// through pump_h1_body as it arrives.
void Connection::parse_h1_streaming() {
  while (!closing_) {
    if (h1_reading_) {
      if (!pump_h1_body()) break;
      continue;
    }
    if (stop_parsing_ || !h1_queue_.empty()) break;
    Http1Result r;
    auto ex = take_h1(parse_http1_head, r);
    if (!ex) break;
    head_started_ms_ = 0;
    ex->streaming = true;
    const bool chunked = r.framing == Framing::chunked;
    const uint64_t content_length = r.content_length.value_or(0);
    ex->upgrade = r.upgrade && !chunked && content_length == 0;
    ex->body_len = chunked ? -1 : static_cast<int64_t>(content_length);
    if (ex->upgrade) {
      h1_body_ = H1Body::tunnel_wait;  // bytes after the head wait for the 101
      h1_reading_ = ex;
    } else if (chunked) {
      h1_body_ = H1Body::chunked;
      h1_chunks_ = ChunkedDecoder();
      h1_reading_ = ex;
    } else if (content_length > 0) {
      h1_body_ = H1Body::length;
      h1_remaining_ = content_length;
      h1_reading_ = ex;
    } else {
      ex->body_ended = true;
    }
    h1_queue_.push_back(ex);
    dispatch(ex);
    if (ex->body_ended) ex->deliver({});
  }
  update_reading();
}

// Hands buffered body bytes of h1_reading_ to its exchange; true when that body ended (the
// next request may follow), false when more bytes (or a consumed()) are needed.
bool Connection::pump_h1_body() {
  std::shared_ptr<ExchangeImpl> ex = h1_reading_;
  if (h1_body_ == H1Body::tunnel_wait || in_.empty() || ex->unacked >= kBodyWindow) return false;
  std::string data;
  if (h1_body_ == H1Body::length) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(h1_remaining_, in_.size()));
    data = in_.substr(0, n);
    in_.erase(0, n);
    h1_remaining_ -= n;
    ex->body_ended = h1_remaining_ == 0;
  } else if (h1_body_ == H1Body::chunked) {
    in_.erase(0, h1_chunks_.feed(in_, data));
    if (h1_chunks_.failed()) {
      ++shared_->counters.protocol_errors;
      log::debug("http", "malformed chunked body, closing", {{"peer", peer_.to_string()}});
      close();
      return false;
    }
    ex->body_ended = h1_chunks_.done();
  } else {
    data.swap(in_);
  }
  ex->body_received += data.size();
  if (h1_body_ != H1Body::tunnel && ex->body_received > shared_->limits.max_body_bytes) {
    log::debug("http", "chunked body over the limit, closing", {{"peer", peer_.to_string()}});
    close();
    return false;
  }
  if (ex->body_ended) h1_reading_.reset();
  ex->deliver(data);
  return ex->body_ended && !closing_;
}

void Connection::update_reading() {
  if (closing_ || lingering_ || peer_done_ || !shared_->limits.streaming || proto_ != Proto::h1) return;
  bool want;
  if (h1_reading_) {
    want = h1_body_ != H1Body::tunnel_wait && h1_reading_->unacked + in_.size() < kBodyWindow;
  } else {
    want = !stop_parsing_ && h1_queue_.empty();
  }
  if (want && !reading_) {
    reading_ = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), &Connection::on_alloc, &Connection::on_read);
  } else if (!want && reading_) {
    reading_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  }
}

void Connection::write_h1_head(ExchangeImpl* ex, std::optional<uint64_t> length) {
  const Response& res = ex->res;
  out_ += ex->req.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out_ += std::to_string(res.status);
  out_ += ' ';
  out_ += reason_phrase(res.status);
  out_ += "\r\n";
  for (const Header& h : res.headers) {
    if (unsafe_header(h)) continue;
    out_ += h.name;
    out_ += ": ";
    out_ += h.value;
    out_ += "\r\n";
  }
  if (ex->tunnel) {
    out_ += "connection: upgrade\r\n\r\n";
    return;
  }
  if (res.status >= 200 && res.status != 204 && res.status != 304) {
    if (length) {
      out_ += "content-length: " + std::to_string(*length) + "\r\n";
    } else if (body_allowed(ex->req, res.status)) {
      // Unknown length: chunked for HTTP/1.1; an HTTP/1.0 client reads until we close.
      if (ex->req.version == 11) out_ += "transfer-encoding: chunked\r\n";
      else ex->close_after = true;
      ex->chunked_out = ex->req.version == 11;
    }
  }
  if (ex->close_after) out_ += "connection: close\r\n";
  out_ += "\r\n";
}

void Connection::write_h1_responses() {
  bool finished = false;
  while (!h1_queue_.empty() && h1_queue_.front()->responded) {
    ExchangeImpl* front = h1_queue_.front().get();
    // A body the handler answered before reading all of it: the connection cannot carry
    // another request after it.
    if (h1_reading_.get() == front && !front->tunnel) {
      front->close_after = true;
      stop_parsing_ = true;
    }
    if (front->streamed) {
      if (!front->head_written) {
        front->head_written = true;
        front->no_body = !front->tunnel && !body_allowed(front->req, front->res.status);
        write_h1_head(front, front->length);
        if (front->tunnel) {
          h1_body_ = H1Body::tunnel;
          update_reading();
          ++busy_;
          pump_h1_body();  // bytes the client sent right after its request
          --busy_;
        }
      }
      if (!front->finished) break;
      if (front->chunked_out && !front->no_body) out_ += kLastChunk;
      if (front->tunnel) front->close_after = true;
    }
    std::shared_ptr<ExchangeImpl> ex = std::move(h1_queue_.front());
    h1_queue_.pop_front();
    ex->conn = nullptr;
    if (!ex->streamed) {
      write_h1_head(ex.get(), ex->res.body.size());
      if (body_allowed(ex->req, ex->res.status)) out_ += ex->res.body;
    }
    last_activity_ms_ = monotonic_ms();
    if (ex->close_after) {
      finished = true;
      break;
    }
  }
  if (finished) {
    for (auto& ex : h1_queue_) ex->detach();
    h1_queue_.clear();
    if (h1_reading_) std::exchange(h1_reading_, nullptr)->detach();
    flush();
    shutdown_then_close();
    return;
  }
  if (busy_ == 0) flush();
  if (shared_->limits.streaming) {
    if (!closing_ && h1_queue_.empty()) {
      ++busy_;
      parse_h1();  // the next request, if it arrived while this one was answered
      --busy_;
      flush();
    }
    return;
  }
  if (!closing_ && !reading_ && !stop_parsing_ && h1_queue_.size() < shared_->limits.max_pipelined) {
    reading_ = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), &Connection::on_alloc, &Connection::on_read);
    ++busy_;
    parse_h1();  // requests that arrived while paused are already buffered
    --busy_;
    flush();
  }
}

// ---------------------------------------------------------------------------------- HTTP/2

void Connection::start_h2() {
  proto_ = Proto::h2;
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Connection::h2_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Connection::h2_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Connection::h2_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Connection::h2_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Connection::h2_stream_close);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // Streaming: request body bytes are acknowledged (WINDOW_UPDATE) only once the handler has
  // consumed() them, so a client cannot upload faster than the handler passes bytes on.
  if (shared_->limits.streaming) nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_session_server_new2(&h2_, cbs, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(cbs);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, shared_->limits.max_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(shared_->limits.max_header_bytes)},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kBodyWindow)},
  };
  nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, settings, shared_->limits.streaming ? 3 : 2);
  if (shared_->limits.streaming)  // the connection's window: a few streams' worth
    nghttp2_session_set_local_window_size(h2_, NGHTTP2_FLAG_NONE, 0, static_cast<int32_t>(4 * kBodyWindow));
}

void Connection::feed_h2(std::string_view data) {
  const ssize_t rv = nghttp2_session_mem_recv(h2_, reinterpret_cast<const uint8_t*>(data.data()), data.size());
  if (closing_) return;
  if (rv < 0) {
    ++shared_->counters.protocol_errors;
    log::debug("http", "HTTP/2 error, closing", {{"peer", peer_.to_string()}, {"error", nghttp2_strerror(static_cast<int>(rv))}});
    send_h2();  // nghttp2 has queued a GOAWAY for most errors
    flush();
    shutdown_then_close();
    return;
  }
  send_h2();
}

void Connection::send_h2() {
  if (closing_ || !h2_) return;
  // Streaming: frames wait inside nghttp2 (their bytes in each stream's buffer, counted by
  // unsent()) while the socket's queue is full, so many streams cannot pile up past
  // kMaxWriteQueue together; check_drain() resumes when writes complete.
  const size_t queued = uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&handle_));
  size_t produced = 0;
  for (;;) {
    if (shared_->limits.streaming && queued + out_.size() + produced > kHighWater) break;
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(h2_, &data);
    if (n < 0) {
      close();
      return;
    }
    if (n == 0) break;
    produced += static_cast<size_t>(n);
    // Over TLS each frame becomes its own record: clients that read one record at a time and
    // keep one response buffer (dnsperf) then never see two responses in one read.
    if (!tls_) {
      out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    } else if (!tls_->write({data, static_cast<size_t>(n)})) {
      close();
      return;
    }
  }
  if (!nghttp2_session_want_read(h2_) && !nghttp2_session_want_write(h2_)) {
    flush();
    shutdown_then_close();
  }
}

int Connection::h2_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<Connection*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto ex = std::make_shared<ExchangeImpl>();
  ex->conn = c;
  ex->stream_id = frame->hd.stream_id;
  ex->req.version = 20;
  ex->started_ms = monotonic_ms();
  nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, ex.get());
  c->h2_streams_[frame->hd.stream_id] = std::move(ex);
  return 0;
}

int Connection::h2_header(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                          const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  auto* c = static_cast<Connection*>(user);
  auto* ex = static_cast<ExchangeImpl*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!ex || ex->limit_status) return 0;
  ex->header_bytes += namelen + valuelen + 32;  // RFC 9113 §6.5.2 accounting
  if (ex->header_bytes > c->shared_->limits.max_header_bytes) {
    ex->limit_status = 431;
    return 0;
  }
  std::string_view n(reinterpret_cast<const char*>(name), namelen);
  std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":method") {
    ex->req.method.assign(v);
  } else if (n == ":path") {
    const size_t q = v.find('?');
    ex->req.path.assign(v.substr(0, q));
    ex->req.query.assign(q == std::string_view::npos ? std::string_view{} : v.substr(q + 1));
  } else if (n == ":authority") {
    ex->req.headers.push_back({"host", std::string(v)});
  } else if (!n.empty() && n[0] != ':') {
    ex->req.headers.push_back({std::string(n), std::string(v)});
  }
  return 0;
}

int Connection::h2_data_chunk(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                              void* user) {
  auto* c = static_cast<Connection*>(user);
  auto* ex = static_cast<ExchangeImpl*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (c->shared_->limits.streaming) {
    if (!ex || !ex->dispatched || ex->cancelled() || ex->body_ended || (ex->responded && !ex->streamed)) {
      nghttp2_session_consume(session, stream_id, len);  // nobody reads it: keep the window open
      return 0;
    }
    ex->body_received += len;
    if (ex->body_received > c->shared_->limits.max_body_bytes) {
      nghttp2_session_consume(session, stream_id, len);
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    ex->deliver({reinterpret_cast<const char*>(data), len});
    return 0;
  }
  if (!ex || ex->limit_status) return 0;
  if (ex->req.body.size() + len > c->shared_->limits.max_body_bytes) {
    ex->limit_status = 413;
    ex->req.body.clear();
    return 0;
  }
  ex->req.body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int Connection::h2_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<Connection*>(user);
  if (c->shared_->limits.streaming && (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)) {
    // The head goes to the handler at once; the end of the body follows with END_STREAM.
    auto it = c->h2_streams_.find(frame->hd.stream_id);
    if (it == c->h2_streams_.end()) return 0;
    std::shared_ptr<ExchangeImpl> ex = it->second;
    const bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (!ex->dispatched) {
      if (frame->hd.type != NGHTTP2_HEADERS) return 0;
      ex->dispatched = true;
      ex->streaming = true;
      ex->body_ended = end;
      ex->body_len = end ? 0 : -1;
      const std::string_view cl = ex->req.header("content-length");
      if (!end && !cl.empty() && cl.size() < 19 && cl.find_first_not_of("0123456789") == std::string_view::npos)
        ex->body_len = std::stoll(std::string(cl));
      c->dispatch(ex);
      if (end) ex->deliver({});
    } else if (end && !ex->body_ended) {
      ex->body_ended = true;
      ex->deliver({});
    }
    return 0;
  }
  if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
    return 0;
  auto it = c->h2_streams_.find(frame->hd.stream_id);
  if (it == c->h2_streams_.end() || it->second->dispatched) return 0;
  std::shared_ptr<ExchangeImpl> ex = it->second;
  ex->dispatched = true;
  if (c->requests_ + 1 >= c->shared_->limits.max_requests_per_connection && !c->goaway_sent_) {
    c->goaway_sent_ = true;
    nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session),
                          NGHTTP2_NO_ERROR, nullptr, 0);
  }
  c->dispatch(ex);
  return 0;
}

int Connection::h2_stream_close(nghttp2_session*, int32_t stream_id, uint32_t, void* user) {
  auto* c = static_cast<Connection*>(user);
  auto it = c->h2_streams_.find(stream_id);
  if (it == c->h2_streams_.end()) return 0;
  std::shared_ptr<ExchangeImpl> ex = std::move(it->second);
  c->h2_streams_.erase(it);
  ex->detach();  // a response still to come is dropped
  c->last_activity_ms_ = monotonic_ms();
  return 0;
}

ssize_t Connection::h2_read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                                 nghttp2_data_source* source, void*) {
  auto* ex = static_cast<ExchangeImpl*>(source->ptr);
  if (ex->streamed) {
    if (ex->out_buf.empty()) {
      if (ex->finished) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
      }
      ex->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    const size_t n = std::min(length, ex->out_buf.size());
    std::memcpy(buf, ex->out_buf.data(), n);
    ex->out_buf.erase(0, n);
    if (ex->out_buf.empty() && ex->finished) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  const std::string& body = ex->res.body;
  const size_t n = std::min(length, body.size() - ex->body_sent);
  std::memcpy(buf, body.data() + ex->body_sent, n);
  ex->body_sent += n;
  if (ex->body_sent == body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

void Connection::submit_h2(ExchangeImpl* ex) {
  const Response& res = ex->res;
  const std::string status = std::to_string(res.status);
  const std::string length = std::to_string(ex->streamed ? ex->length.value_or(0) : res.body.size());
  std::vector<nghttp2_nv> nva;
  nva.reserve(res.headers.size() + 2);
  auto add = [&nva](std::string_view n, std::string_view v) {
    nva.push_back({const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(n.data())),
                   const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(v.data())), n.size(), v.size(),
                   NGHTTP2_NV_FLAG_NONE});
  };
  add(":status", status);
  for (const Header& h : res.headers)
    if (!unsafe_header(h)) add(h.name, h.value);
  const bool body = body_allowed(ex->req, res.status) && (ex->streamed ? ex->length != 0u : !res.body.empty());
  ex->no_body = !body;
  if (res.status >= 200 && res.status != 204 && res.status != 304 && (!ex->streamed || ex->length))
    add("content-length", length);
  nghttp2_data_provider provider;
  provider.source.ptr = ex;
  provider.read_callback = &Connection::h2_read_body;
  // nghttp2 copies the header block; the body is read from the exchange, which the stream map
  // keeps alive until the stream closes.
  if (nghttp2_submit_response(h2_, ex->stream_id, nva.data(), nva.size(), body ? &provider : nullptr) != 0)
    nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, ex->stream_id, NGHTTP2_INTERNAL_ERROR);
  last_activity_ms_ = monotonic_ms();
}

// ---------------------------------------------------------------------------------- writing

// ---------------------------------------------------------------------------------- streaming

// Sends what nghttp2 has queued. Inside one of its callbacks (busy_) nothing is sent: the frames
// go out when the callback's caller sends on its way out.
void Connection::push_h2() {
  if (busy_ != 0) return;
  send_h2();
  flush();
}

// A stream whose data provider deferred (it waits for write()) has its bytes or its end now.
void Connection::resume_h2(ExchangeImpl* ex) {
  if (ex->deferred) {
    ex->deferred = false;
    nghttp2_session_resume_data(h2_, ex->stream_id);
  }
  push_h2();
}

void Connection::body_consumed(ExchangeImpl* ex, size_t n) {
  if (closing_) return;
  if (proto_ == Proto::h2) {
    nghttp2_session_consume(h2_, ex->stream_id, n);
    push_h2();
    return;
  }
  if (h1_reading_.get() != ex) return;
  ++busy_;
  parse_h1();  // buffered body bytes the window held back, then reading resumes
  --busy_;
  if (!closing_) flush();
}

void Connection::stream_write(ExchangeImpl* ex, std::string_view data) {
  if (closing_ || ex->no_body) return;
  last_activity_ms_ = monotonic_ms();
  if (proto_ == Proto::h2) {
    ex->out_buf.append(data);
    resume_h2(ex);
    return;
  }
  if (h1_queue_.empty() || h1_queue_.front().get() != ex || !ex->head_written) return;
  if (ex->chunked_out) append_chunk(out_, data);
  else out_.append(data);
  if (busy_ == 0) flush();
}

void Connection::stream_finish(ExchangeImpl* ex) {
  if (closing_) return;
  if (proto_ == Proto::h2) {
    resume_h2(ex);
    return;
  }
  write_h1_responses();
}

void Connection::stream_abort(ExchangeImpl* ex) {
  if (closing_) return;
  if (proto_ == Proto::h2) {
    nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, ex->stream_id, NGHTTP2_INTERNAL_ERROR);
    push_h2();
    return;
  }
  flush();
  close();
}

size_t Connection::unsent(const ExchangeImpl* ex) const {
  if (closing_) return 0;
  return ex->out_buf.size() + out_.size() +
         uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&handle_));
}

void Connection::check_drain() {
  if (closing_) return;
  if (proto_ == Proto::h2 && shared_->limits.streaming && busy_ == 0 && nghttp2_session_want_write(h2_)) {
    send_h2();  // frames held back while the queue was full
    flush();
    if (closing_) return;
  }
  std::vector<std::shared_ptr<ExchangeImpl>> waiting;
  if (proto_ == Proto::h2) {
    for (auto& [id, ex] : h2_streams_)
      if (ex->drain_cb) waiting.push_back(ex);
  } else if (!h1_queue_.empty() && h1_queue_.front()->drain_cb) {
    waiting.push_back(h1_queue_.front());
  }
  for (auto& ex : waiting) {
    if (ex->conn != this || !ex->drain_cb || unsent(ex.get()) >= kLowWater) continue;
    auto cb = std::move(ex->drain_cb);
    ex->drain_cb = nullptr;
    cb();
    if (closing_) return;
  }
}

void Connection::on_response(ExchangeImpl* ex) {
  if (closing_) return;
  if (proto_ == Proto::h2) {
    submit_h2(ex);
    push_h2();
    return;
  }
  write_h1_responses();
}

void Connection::flush() {
  if (closing_) return;
  std::string wire;
  if (tls_) {
    if (!out_.empty()) {
      if (!tls_->handshake_done() || !tls_->write({reinterpret_cast<const uint8_t*>(out_.data()), out_.size()})) {
        close();
        return;
      }
      out_.clear();
    }
    tls_->take_output(wire);
  } else {
    wire.swap(out_);
  }
  if (!wire.empty()) write_raw(std::move(wire));
}

void Connection::write_raw(std::string bytes) {
  if (uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&handle_)) > kMaxWriteQueue) {
    close();
    return;
  }
  struct WriteRequest {
    uv_write_t req;
    std::string data;
  };
  auto* w = new WriteRequest{{}, std::move(bytes)};
  w->req.data = this;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&handle_), &buf, 1, [](uv_write_t* req, int status) {
    auto* wr = reinterpret_cast<WriteRequest*>(req);
    auto* c = static_cast<Connection*>(req->data);
    delete wr;
    if (status < 0 && status != UV_ECANCELED) c->close();
    else if (status == 0) c->check_drain();
  });
  if (rc != 0) {
    delete w;
    close();
  }
}

// ---------------------------------------------------------------------------------- timers

void Connection::arm_timer() {
  if (closing_) return;
  const Limits& l = shared_->limits;
  const uint64_t now = monotonic_ms();
  uint64_t deadline;
  if (tls_ && !tls_ready_) deadline = accepted_ms_ + l.header_timeout_ms;
  else if (head_started_ms_) deadline = std::min<uint64_t>(head_started_ms_ + l.header_timeout_ms, last_activity_ms_ + l.idle_timeout_ms);
  else deadline = last_activity_ms_ + l.idle_timeout_ms;
  for (auto& [id, ex] : h2_streams_)
    if (!ex->dispatched) deadline = std::min<uint64_t>(deadline, ex->started_ms + l.header_timeout_ms);
  // Deadlines can move earlier (a request head starts on an idle connection), so the timer
  // also ticks at a quarter of the shorter timeout and re-checks.
  const uint64_t tick = std::max<uint64_t>(std::min(l.header_timeout_ms, l.idle_timeout_ms) / 4, 20);
  const uint64_t wait = std::min(tick, deadline > now ? std::max<uint64_t>(deadline - now, 20) : 20);
  uv_timer_start(&timer_, &Connection::on_timer, wait, 0);
}

void Connection::on_timer(uv_timer_t* t) {
  auto* c = static_cast<Connection*>(t->data);
  if (c->closing_) return;
  const Limits& l = c->shared_->limits;
  const uint64_t now = monotonic_ms();
  bool expired = false;
  if (c->tls_ && !c->tls_ready_) {
    expired = now - c->accepted_ms_ >= l.header_timeout_ms;
  } else {
    if (c->head_started_ms_ && now - c->head_started_ms_ >= l.header_timeout_ms) expired = true;
    for (auto& [id, ex] : c->h2_streams_)
      if (!ex->dispatched && now - ex->started_ms >= l.header_timeout_ms) expired = true;
    const bool waiting = !c->h1_queue_.empty() || !c->h2_streams_.empty();
    if (!waiting && now - c->last_activity_ms_ >= l.idle_timeout_ms) expired = true;
  }
  if (expired) {
    ++c->shared_->counters.timeouts;
    if (c->h2_ && !c->goaway_sent_) {
      c->goaway_sent_ = true;
      nghttp2_session_terminate_session(c->h2_, NGHTTP2_NO_ERROR);
      c->send_h2();
      c->flush();
    }
    c->close();
    return;
  }
  c->arm_timer();
}

}  // namespace

// ---------------------------------------------------------------------------------- Server

Server::Server(uv_loop_t* loop, Handler handler, Limits limits) : shared_(std::make_shared<Shared>()) {
  shared_->loop = loop;
  shared_->handler = std::move(handler);
  shared_->limits = limits;
}

Server::~Server() { close(); }

bool Server::listen_fd(int fd, const tls::ContextSlot* tls, std::string& error) {
  auto* l = new Listener(shared_, tls);
  shared_->listeners.push_back(l);
  if (!l->open(fd, error)) {
    l->close();
    return false;
  }
  return true;
}

std::optional<SocketAddress> Server::listen(const SocketAddress& address, const tls::ContextSlot* tls,
                                            std::string& error) {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = "socket: " + std::string(std::strerror(errno));
    return std::nullopt;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (address.family() == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, address.get(), address.length) != 0) {
    error = "cannot bind tcp " + address.to_string() + ": " + std::strerror(errno);
    ::close(fd);
    return std::nullopt;
  }
  SocketAddress bound;
  bound.length = sizeof bound.storage;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound.storage), &bound.length);
  if (!listen_fd(fd, tls, error)) return std::nullopt;
  return bound;
}

void Server::stop_accepting() {
  std::vector<Listener*> ls = shared_->listeners;
  for (Listener* l : ls) l->close();
}

void Server::close_idle() {
  std::vector<Connection*> cs = shared_->connections;
  for (Connection* c : cs)
    if (c->idle()) c->shutdown_then_close();
}

void Server::close() {
  shared_->closed = true;
  stop_accepting();
  std::vector<Connection*> cs = shared_->connections;
  for (Connection* c : cs) {
    if (c->idle()) c->shutdown_then_close();  // responses already written still arrive
    else c->close();
  }
}

size_t Server::open_connections() const { return shared_->connections.size(); }
const Counters& Server::counters() const { return shared_->counters; }

}  // namespace sekisho::net::http
