#include "net/http/connection.h"

#include <algorithm>
#include <array>

#include "base/clock.h"
#include "base/log.h"
#include "net/http/http1_session.h"
#include "net/http/http2_session.h"
#include "net/tls/context.h"
#include "net/tls/session.h"

namespace sekisho::net::http {
namespace {

const tls::AlpnList kHttpAlpn = {"h2", "http/1.1"};
constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kMaxWriteQueue = 4 << 20;  // a client that never reads is cut off
constexpr uint64_t kLingerMs = 2000;

}  // namespace

Connection::Connection(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

// The session (and its nghttp2 session) goes with the object, never in close(), because
// close() may run inside one of the session's own calls.
Connection::~Connection() {
  if (address_counted_) shared_->limits.per_address->release(peer_);
}

// ------------------------------------------------------------------------------ lifecycle

void Connection::accept(std::shared_ptr<Shared> shared, uv_stream_t* server, const tls::ContextSlot* slot) {
  auto* c = new Connection(shared);
  uv_tcp_init(shared->loop, &c->handle_);
  c->handle_.data = c;
  c->handles_open_ = 1;
  auto discard = [c] {
    c->phase_ = Phase::closed;
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
  if (const Limits& l = shared->limits; l.per_address) {
    if (!l.per_address->acquire(c->peer_, l.max_per_address)) {
      if (l.on_refused_per_address) l.on_refused_per_address();
      return discard();
    }
    c->address_counted_ = true;
  }
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
  c->input_ = Input::reading;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->handle_), &Connection::on_alloc, &Connection::on_read);
}

bool Connection::idle() const { return preface_.empty() && (!session_ || session_->idle()); }

void Connection::close() {
  if (phase_ == Phase::closed) return;
  phase_ = Phase::closed;
  auto& cs = shared_->connections;
  cs.erase(std::remove(cs.begin(), cs.end(), this), cs.end());
  if (session_) session_->detach_all();  // exchanges still held by handlers become cancelled
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_), &Connection::on_closed);
  if (handles_open_ == 2) uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &Connection::on_closed);
}

void Connection::on_closed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  if (--c->handles_open_ == 0) delete c;
}

void Connection::shutdown_then_close() {
  if (phase_ != Phase::open) return;
  phase_ = Phase::shutting_down;
  if (tls_ && session_) {
    tls_->shutdown();
    flush();
    if (closing()) return;
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

// After our FIN a client may still be sending (a body we refused with 413). Closing with unread
// bytes makes the kernel answer with RST, and the client may lose the response it was sent; so
// read and discard until its FIN or a short deadline, as web servers' lingering close does.
void Connection::linger(int shutdown_status) {
  if (closing()) return;
  if (shutdown_status != 0 || input_ == Input::ended) return close();
  phase_ = Phase::lingering;
  if (input_ == Input::paused) {
    input_ = Input::reading;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), &Connection::on_alloc, &Connection::on_read);
  }
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<Connection*>(t->data)->close(); }, kLingerMs, 0);
}

// ---------------------------------------------------------------------------------- reading

void Connection::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(h->data);
  *buf = uv_buf_init(c->shared_->read_buffer.data(), static_cast<unsigned>(c->shared_->read_buffer.size()));
}

void Connection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(s->data);
  if (c->closing() || nread == 0) return;
  if (c->phase_ == Phase::lingering) {
    if (nread < 0) c->close();  // the client's FIN (or an error): nothing more is owed
    return;
  }
  if (nread == UV_EOF) return c->peer_finished();
  if (nread < 0) return c->close();
  c->received({buf->base, static_cast<size_t>(nread)});
}

void Connection::set_reading(bool want) {
  if (closing() || phase_ == Phase::lingering || input_ == Input::ended) return;
  if (want && input_ == Input::paused) {
    input_ = Input::reading;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), &Connection::on_alloc, &Connection::on_read);
  } else if (!want && input_ == Input::reading) {
    input_ = Input::paused;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  }
}

void Connection::peer_finished() {
  // A client that half-closes still gets the responses it is owed over HTTP/1.1.
  input_ = Input::ended;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  if (session_) return session_->peer_finished();
  close();
}

void Connection::received(std::span<const char> data) {
  TlsRead state = TlsRead::ok;
  {
    ReadScope scope(*this);
    if (!tls_) deliver({data.data(), data.size()});
    else state = receive_tls(data);
  }
  if (state == TlsRead::closed) {
    flush();
    return peer_finished();
  }
  if (!closing()) flush();
}

// Decrypts what arrived; the handshake's end starts the session ALPN chose.
Connection::TlsRead Connection::receive_tls(std::span<const char> data) {
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
      log::debug("http", "closing connection", {{"peer", peer_text()}, {"reason", tls_->error()}});
      flush();  // the alert, if OpenSSL wrote one
      close();
      return TlsRead::failed;
    }
    if (n == tls::Session::kClosed) return TlsRead::closed;
    break;
  }
  if (!session_ && tls_->handshake_done()) {
    server_name_ = tls_->server_name();
    start_session(tls_->alpn() == "h2");
    arm_timer();
  }
  if (!plain.empty() && !closing()) deliver(plain);
  return TlsRead::ok;
}

void Connection::deliver(std::string_view plain) {
  if (session_) return session_->received(plain);
  // Clear text: HTTP/2 with prior knowledge starts with its preface, anything else is 1.1.
  preface_.append(plain);
  const size_t n = std::min(preface_.size(), kH2Preface.size());
  const bool h2 = preface_.compare(0, n, kH2Preface.substr(0, n)) == 0;
  if (h2 && preface_.size() < kH2Preface.size()) return;
  std::string buffered;
  buffered.swap(preface_);
  start_session(h2);
  session_->received(buffered);
}

void Connection::start_session(bool h2) {
  if (h2) session_ = std::make_unique<Http2Session>(*this);
  else session_ = std::make_unique<Http1Session>(*this);
}

void Connection::fill_origin(Request& req) const {
  req.peer = peer_;
  req.local = local_;
  req.tls = tls_ != nullptr;
  req.server_name = server_name_;
}

void Connection::touch() { last_activity_ms_ = monotonic_ms(); }

// ---------------------------------------------------------------------------------- writing

bool Connection::send_record(const uint8_t* data, size_t size) {
  if (!tls_) {
    out_.append(reinterpret_cast<const char*>(data), size);
    return true;
  }
  if (!tls_->write({data, size})) {
    close();
    return false;
  }
  return true;
}

void Connection::flush() {
  if (closing()) return;
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

size_t Connection::write_queue_size() const {
  return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&handle_));
}

void Connection::write_raw(std::string bytes) {
  if (write_queue_size() > kMaxWriteQueue) {
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
    else if (status == 0) c->written();
  });
  if (rc != 0) {
    delete w;
    close();
  }
}

void Connection::written() {
  if (!closing() && session_) session_->written();
}

// ---------------------------------------------------------------------------------- timers

void Connection::arm_timer() {
  if (closing()) return;
  const Limits& l = shared_->limits;
  const uint64_t now = monotonic_ms();
  uint64_t deadline = last_activity_ms_ + l.idle_timeout_ms;
  if (handshaking()) deadline = accepted_ms_ + l.header_timeout_ms;
  else if (const uint64_t head = session_ ? session_->head_started_ms() : 0; head != 0)
    deadline = std::min<uint64_t>(deadline, head + l.header_timeout_ms);
  if (const uint64_t body = session_ && !handshaking() ? session_->body_deadline_ms() : 0; body != 0)
    deadline = std::min(deadline, body);
  // Deadlines can move earlier (a request head starts on an idle connection), so the timer
  // also ticks at a quarter of the shorter timeout and re-checks.
  const uint64_t tick = std::max<uint64_t>(std::min({l.header_timeout_ms, l.idle_timeout_ms, l.body_timeout_ms}) / 4, 20);
  const uint64_t wait = std::min(tick, deadline > now ? std::max<uint64_t>(deadline - now, 20) : 20);
  uv_timer_start(&timer_, &Connection::on_timer, wait, 0);
}

void Connection::on_timer(uv_timer_t* t) {
  auto* c = static_cast<Connection*>(t->data);
  if (c->closing()) return;
  const Limits& l = c->shared_->limits;
  const uint64_t now = monotonic_ms();
  bool expired = false;
  if (c->handshaking()) {
    expired = now - c->accepted_ms_ >= l.header_timeout_ms;
  } else {
    const uint64_t head = c->session_ ? c->session_->head_started_ms() : 0;
    if (head != 0 && now - head >= l.header_timeout_ms) expired = true;
    if (const uint64_t body = c->session_ ? c->session_->body_deadline_ms() : 0; body != 0 && now >= body) {
      if (!c->session_->cut_late_bodies(now)) expired = true;
      if (c->closing()) return;
    }
    const bool waiting = c->session_ && c->session_->busy();
    if (!waiting && now - c->last_activity_ms_ >= l.idle_timeout_ms) expired = true;
  }
  if (expired) {
    ++c->shared_->counters.timeouts;
    if (c->session_) c->session_->timed_out();
    c->close();
    return;
  }
  c->arm_timer();
}

}  // namespace sekisho::net::http
