#include "resolver/transport/tcp.h"

#include <unistd.h>

#include <cstring>

#include "base/clock.h"
#include "base/log.h"
#include "dns/wire.h"
#include "net/address.h"
#include "net/tls/session.h"
#include "resolver/pipeline.h"
#include "resolver/engine.h"
#include "resolver/worker.h"

namespace sekisho::resolver {

struct TcpConnection::WriteRequest {
  uv_write_t req;  // first: the completion callback gets &req back
  std::string bytes;
};

namespace {

// Spare write requests a connection keeps, and the buffer each may keep: more than a few writes
// in flight means a slow reader, which the write queue limit handles.
constexpr size_t kSpareWrites = 4;
constexpr size_t kSpareBufferBytes = 64 * 1024;

const config::TcpSettings& tcp_settings(Worker& w) { return w.runtime()->settings.server.tcp; }

const net::tls::AlpnList kDotAlpn = {"dot"};

// With tenants configured, a client no tenant's network holds is refused every query (unless a
// device token names its tenant, which only DoT and DoH carry).
bool in_some_tenant(const Runtime& rt, const net::SocketAddress& peer) {
  const policy::PolicySnapshot& p = *rt.policies;
  return !p.enabled || p.networks.find(peer.get()) != policy::kNoTenant;
}

}  // namespace

TcpListener::TcpListener(Worker& worker, int fd, Transport transport) : worker_(worker), transport_(transport) {
  uv_tcp_init(worker.loop(), &handle_);
  handle_.data = this;
  uv_tcp_open(&handle_, fd);
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&handle_), 1024, &TcpListener::on_connection); rc != 0)
    log::error("tcp", "listen failed", {{"error", uv_strerror(rc)}});
}

void TcpListener::close() {
  if (!open_) return;
  open_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_), nullptr);
}

void TcpListener::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<TcpListener*>(server->data);
  if (status < 0) return;
  TcpConnection::accept(self->worker_, server, self->transport_);
}

TcpConnection::TcpConnection(Worker& worker, Transport transport) : worker_(worker), transport_(transport) {}
TcpConnection::~TcpConnection() = default;

void TcpConnection::accept(Worker& worker, uv_stream_t* server, Transport transport) {
  auto* c = new TcpConnection(worker, transport);
  uv_tcp_init(worker.loop(), &c->handle_);
  c->handle_.data = c;
  c->handles_open_ = 1;
  c->spare_writes_.reserve(kSpareWrites);
  // A connection we do not take is closed before it is registered; `counted` says whether it
  // was counted in the server-wide limit already.
  auto discard = [c, &worker](bool counted) {
    if (counted) worker.engine().tcp_connections().fetch_sub(1, std::memory_order_relaxed);
    if (c->address_counted_) worker.engine().connections_per_address().release(c->peer_);
    c->closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->handle_), [](uv_handle_t* h) { delete static_cast<TcpConnection*>(h->data); });
  };
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->handle_)) != 0) return discard(false);
  worker.refresh_runtime();  // tenants and limits as published now
  const Runtime& rt = *worker.runtime();
  const config::TcpSettings& tcp = rt.settings.server.tcp;
  auto& count = worker.engine().tcp_connections();
  if (count.fetch_add(1, std::memory_order_relaxed) >= tcp.max_connections || worker.draining()) {
    ++worker.counters().tcp_connections_refused;
    return discard(true);
  }
  c->peer_.length = sizeof c->peer_.storage;
  int namelen = static_cast<int>(c->peer_.length);
  if (uv_tcp_getpeername(&c->handle_, reinterpret_cast<sockaddr*>(&c->peer_.storage), &namelen) != 0)
    return discard(true);  // the peer is already gone
  c->peer_.length = static_cast<socklen_t>(namelen);
  if (transport == Transport::tcp && !in_some_tenant(rt, c->peer_)) {
    ++worker.counters().tcp_closed_not_in_tenant;
    log::debug("tcp", "client in no tenant's networks, closing", {{"peer", c->peer_.to_string()}});
    return discard(true);
  }
  if (tcp.max_connections_per_address != 0) {
    if (!worker.engine().connections_per_address().acquire(c->peer_, tcp.max_connections_per_address)) {
      ++worker.counters().tcp_closed_per_address;
      log::debug("tcp", "connections per address limit reached, closing",
                 {{"peer", c->peer_.to_string()}, {"limit", tcp.max_connections_per_address}});
      return discard(true);
    }
    c->address_counted_ = true;
  }
  if (transport == Transport::dot) {
    auto ctx = worker.engine().tls().current();
    if (!ctx) return discard(true);
    c->tls_ = std::make_unique<net::tls::Session>(*ctx, &kDotAlpn);
    c->tls_->set_peer(c->peer_);
  }
  worker.connection_opened(c);
  uv_tcp_nodelay(&c->handle_, 1);
  uv_timer_init(worker.loop(), &c->idle_);
  c->idle_.data = c;
  c->handles_open_ = 2;
  c->accepted_ms_ = c->last_activity_ms_ = monotonic_ms();
  const uint64_t first_check = tcp.idle_timeout_ms;
  uv_timer_start(&c->idle_, &TcpConnection::on_idle, c->tls_ ? std::min(first_check, kHandshakeTimeoutMs) : first_check, 0);
  c->reading_ = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->handle_), &TcpConnection::on_alloc, &TcpConnection::on_read);
}

void TcpConnection::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* c = static_cast<TcpConnection*>(h->data);
  if (c->tls_) {
    // Ciphertext is copied into the session at once, so the loop's scratch buffer can hold it.
    std::span<uint8_t> s = c->worker_.scratch();
    *buf = uv_buf_init(reinterpret_cast<char*>(s.data()), static_cast<unsigned>(s.size()));
    return;
  }
  constexpr size_t kChunk = 16384;
  if (c->in_.size() < c->in_len_ + kChunk) c->in_.resize(c->in_len_ + kChunk);
  *buf = uv_buf_init(reinterpret_cast<char*>(c->in_.data() + c->in_len_), kChunk);
}

void TcpConnection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<TcpConnection*>(s->data);
  if (c->closing_) return;
  if (nread == UV_EOF) {
    // The client has sent all it will (half-close): answer what is owed, then close.
    c->peer_done_ = true;
    c->reading_ = false;
    uv_read_stop(s);
    c->process_frames();
    if (c->pending_ == 0) c->shutdown_then_close();
    return;
  }
  if (nread < 0) {
    c->close();  // reset: nothing can be delivered any more
    return;
  }
  const uint64_t now = monotonic_ms();
  const uint64_t frames_before = c->frames_;
  if (c->tls_) {
    if (!c->receive_tls({reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread)})) return;
  } else {
    c->in_len_ += static_cast<size_t>(nread);
  }
  c->last_activity_ms_ = now;
  c->process_frames();
  c->track_frame(now, frames_before);
}

// Whether bytes of a frame that is not whole yet are held: its length or part of its message in
// the buffer, or ciphertext of a TLS record not yet decrypted. A whole frame left buffered
// because max_pipelined queries are unanswered is not the client's delay.
bool TcpConnection::holds_partial_frame() const {
  if (tls_ && tls_->has_input()) return true;
  if (in_len_ == 0) return false;
  return in_len_ < 2 || in_len_ < 2 + size_t{dns::read_u16(in_.data())};
}

// After a read at `now`: a frame left unfinished gets its deadline from the read that brought its
// first byte (this one, unless the same frame was already unfinished before it), so bytes
// trickling in never move it. The timer is pulled in when the deadline comes before it.
void TcpConnection::track_frame(uint64_t now, uint64_t frames_before) {
  if (closing_ || (tls_ && !tls_ready_)) return;  // the handshake has a deadline of its own
  if (!holds_partial_frame()) {
    frame_started_ms_ = 0;
    return;
  }
  if (frame_started_ms_ != 0 && frames_ == frames_before) return;  // the same frame, still unfinished
  frame_started_ms_ = now;
  const uint64_t timeout = tcp_settings(worker_).frame_timeout_ms;
  if (uv_timer_get_due_in(&idle_) > timeout) uv_timer_start(&idle_, &TcpConnection::on_idle, timeout, 0);
}

// Decrypts into in_; false when the connection ended (failure, or the client's close_notify).
bool TcpConnection::receive_tls(std::span<const uint8_t> cipher) {
  tls_->feed(cipher);
  constexpr size_t kChunk = 16384;
  for (;;) {
    if (in_.size() < in_len_ + kChunk) in_.resize(in_len_ + kChunk);
    const long n = tls_->read(in_.data() + in_len_, in_.size() - in_len_);
    if (n > 0) {
      in_len_ += static_cast<size_t>(n);
      continue;
    }
    std::string out;
    tls_->take_output(out);  // handshake records, or the alert that explains a failure
    if (!out.empty()) send_bytes(std::move(out));
    if (n == net::tls::Session::kFailed) {
      ++worker_.counters().tls_failures;
      log::debug("dot", "closing connection", {{"peer", peer_.to_string()}, {"reason", tls_->error()}});
      close();
      return false;
    }
    if (n == net::tls::Session::kClosed) {
      peer_done_ = true;
      reading_ = false;
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
      process_frames();
      if (pending_ == 0) shutdown_then_close();
      return false;
    }
    break;
  }
  if (!tls_ready_ && tls_->handshake_done()) tls_established();
  return !closing_ && !shutting_down_;
}

void TcpConnection::tls_established() {
  tls_ready_ = true;
  const std::string sni = tls_->server_name();
  const std::string& public_name = worker_.runtime()->settings.server.public_name;
  // "{token}.{public_name}": what an Android user types as the Private DNS host name.
  if (!public_name.empty() && sni.size() > public_name.size() + 1 &&
      sni.compare(sni.size() - public_name.size(), public_name.size(), public_name) == 0 &&
      sni[sni.size() - public_name.size() - 1] == '.')
    device_token_ = sni.substr(0, sni.size() - public_name.size() - 1);
  // No token and an address outside every tenant: every query would be refused, so the
  // connection is not kept (a token, even an unknown one, is answered: the client learns why).
  worker_.refresh_runtime();  // outside any batch: no query holds the Runtime it replaces
  if (device_token_.empty() && !in_some_tenant(*worker_.runtime(), peer_)) {
    ++worker_.counters().tcp_closed_not_in_tenant;
    log::debug("dot", "client in no tenant's networks and no device token, closing", {{"peer", peer_.to_string()}});
    reading_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
    shutdown_then_close();
  }
}

// The device behind the token, looked up once per configuration generation.
void TcpConnection::resolve_device() {
  if (device_token_.empty()) return;
  const Runtime& rt = *worker_.runtime();
  if (device_.state != OriginDevice::State::none && device_.generation == rt.generation) return;
  const policy::DeviceRef* ref = rt.policies->find_device(device_token_);
  device_.state = ref ? OriginDevice::State::known : OriginDevice::State::unknown;
  if (ref) device_.ref = *ref;
  device_.generation = rt.generation;
}

void TcpConnection::process_frames() {
  size_t pos = 0;
  BatchScope batch(worker_);
  // The answers this read produces go out together, once the loop below is done (also when
  // it returns early: a closed connection writes nothing).
  struct Gathering {
    TcpConnection& c;
    bool outer;
    explicit Gathering(TcpConnection& conn) : c(conn), outer(conn.gathering_) { c.gathering_ = true; }
    ~Gathering() {
      c.gathering_ = outer;
      if (!outer) c.flush_answers();
    }
  } gathering(*this);
  resolve_device();
  const uint32_t max_pipelined = tcp_settings(worker_).max_pipelined;
  while (!closing_ && in_len_ - pos >= 2) {
    const size_t len = dns::read_u16(in_.data() + pos);
    if (len < dns::kHeaderSize || len > kMaxQuery) {
      log::debug("tcp", "bad frame length, closing", {{"length", len}});
      ++worker_.counters().malformed;
      close();
      return;
    }
    if (in_len_ - pos < 2 + len) break;
    if (pending_ >= max_pipelined) break;  // leave it buffered; resume when answers go out
    Origin origin;
    origin.transport = transport_;
    origin.connection = this;
    origin.peer = peer_;
    origin.device = device_;
    std::span<uint8_t> out = worker_.scratch();
    size_t out_len = 0;
    ++pending_;  // held across run_query so a synchronous answer and a parked query look alike
    Step step = run_query(worker_, std::span<const uint8_t>(in_.data() + pos + 2, len), origin, out, out_len);
    pos += 2 + len;
    ++frames_;
    if (step == Step::answered) send_answer(out.first(out_len));
    if (step != Step::pending) --pending_;
  }
  if (pos > 0) {
    std::memmove(in_.data(), in_.data() + pos, in_len_ - pos);
    in_len_ -= pos;
  }
  if (in_.size() > 2 * 65536 && in_len_ < 65536) in_.resize(65536 + 16384);
  if (!closing_ && reading_ && pending_ >= max_pipelined) {
    reading_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  }
}

void TcpConnection::send_answer(std::span<const uint8_t> answer) {
  if (closing_) return;
  if (uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&handle_)) > kMaxWriteQueue) {
    close();
    return;
  }
  uint8_t length[2];
  dns::write_u16(length, static_cast<uint16_t>(answer.size()));
  out_pending_.append(reinterpret_cast<const char*>(length), sizeof length);
  out_pending_.append(reinterpret_cast<const char*>(answer.data()), answer.size());
  last_activity_ms_ = monotonic_ms();
  if (!gathering_) flush_answers();
}

// Writes the gathered answers: through the TLS session as one write (records of up to 16 KiB),
// or as they are. The spare request's cleared buffer becomes the next gathering buffer.
void TcpConnection::flush_answers() {
  if (closing_ || out_pending_.empty()) return;
  WriteRequest* w = take_write_request();
  if (tls_) {
    const bool written = tls_->write({reinterpret_cast<const uint8_t*>(out_pending_.data()), out_pending_.size()});
    out_pending_.clear();
    if (!written) {
      recycle(w);
      close();
      return;
    }
    tls_->take_output(w->bytes);
  } else {
    w->bytes.swap(out_pending_);
  }
  start_write(w);
}

// Handshake records, alerts, close_notify: after any answers gathered before them.
void TcpConnection::send_bytes(std::string bytes) {
  flush_answers();
  if (closing_ || bytes.empty()) return;
  WriteRequest* w = take_write_request();
  w->bytes = std::move(bytes);
  start_write(w);
}

TcpConnection::WriteRequest* TcpConnection::take_write_request() {
  if (spare_writes_.empty()) return new WriteRequest{};
  WriteRequest* w = spare_writes_.back().release();
  spare_writes_.pop_back();
  return w;
}

// libuv completes (or cancels) every write before the handle's close callback, so the
// connection is still alive when a request comes back.
void TcpConnection::recycle(WriteRequest* w) {
  if (spare_writes_.size() >= kSpareWrites || w->bytes.capacity() > kSpareBufferBytes) {
    delete w;
    return;
  }
  w->bytes.clear();
  spare_writes_.emplace_back(w);
}

void TcpConnection::start_write(WriteRequest* w) {
  if (w->bytes.empty()) {
    recycle(w);
    return;
  }
  w->req.data = this;
  uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&handle_), &buf, 1, [](uv_write_t* req, int status) {
    auto* conn = static_cast<TcpConnection*>(req->data);
    conn->recycle(reinterpret_cast<WriteRequest*>(req));
    if (status < 0 && status != UV_ECANCELED) conn->close();
  });
  if (rc != 0) {
    recycle(w);
    close();
  }
}

void TcpConnection::query_finished() {
  --pending_;
  if (closing_) {
    maybe_free();
    return;
  }
  if (pending_ == 0 && (peer_done_ || worker_.draining())) {
    shutdown_then_close();
    return;
  }
  maybe_resume_reading();
}

void TcpConnection::query_finished_if_idle() {
  if (pending_ == 0) shutdown_then_close();
}

void TcpConnection::shutdown_then_close() {
  if (closing_ || shutting_down_) return;
  flush_answers();  // before close_notify: the session writes nothing after it
  shutting_down_ = true;
  if (tls_ && tls_ready_) {
    tls_->shutdown();
    std::string notify;
    tls_->take_output(notify);
    send_bytes(std::move(notify));
  }
  // uv_shutdown waits for queued writes, so the last answers reach the client before the FIN.
  auto* req = new uv_shutdown_t();
  req->data = this;
  int rc = uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&handle_), [](uv_shutdown_t* r, int) {
    auto* c = static_cast<TcpConnection*>(r->data);
    delete r;
    c->close();
  });
  if (rc != 0) {
    delete req;
    close();
  }
}

void TcpConnection::maybe_resume_reading() {
  if (closing_ || reading_ || peer_done_ || pending_ >= tcp_settings(worker_).max_pipelined) return;
  reading_ = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), &TcpConnection::on_alloc, &TcpConnection::on_read);
  frame_started_ms_ = 0;  // a frame left unfinished while paused: its clock starts now
  process_frames();  // frames that arrived while paused are already buffered
  track_frame(monotonic_ms(), frames_);
}

void TcpConnection::on_idle(uv_timer_t* timer) {
  auto* c = static_cast<TcpConnection*>(timer->data);
  if (c->tls_ && !c->tls_ready_) {
    const uint64_t since = monotonic_ms() - c->accepted_ms_;
    if (since >= kHandshakeTimeoutMs) {
      log::debug("dot", "handshake timeout, closing", {{"peer", c->peer_.to_string()}});
      c->close();
      return;
    }
    uv_timer_start(&c->idle_, &TcpConnection::on_idle, kHandshakeTimeoutMs - since, 0);
    return;
  }
  const config::TcpSettings& tcp = tcp_settings(c->worker_);
  const uint64_t now = monotonic_ms();
  uint64_t next = 0;
  if (c->frame_started_ms_ != 0 && c->reading_) {  // paused by us (max_pipelined): not the client's delay
    const uint64_t spent = now - c->frame_started_ms_;
    if (spent >= tcp.frame_timeout_ms) {
      ++c->worker_.counters().tcp_closed_frame_timeout;
      log::debug("tcp", "frame not whole within its deadline, closing",
                 {{"peer", c->peer_.to_string()}, {"frame_timeout_ms", tcp.frame_timeout_ms}});
      c->close();
      return;
    }
    next = tcp.frame_timeout_ms - spent;
  }
  const uint64_t idle_ms = tcp.idle_timeout_ms;
  const uint64_t quiet = now - c->last_activity_ms_;
  if (c->pending_ == 0 && quiet >= idle_ms) {
    c->close();
    return;
  }
  const uint64_t idle_next = quiet >= idle_ms ? idle_ms : idle_ms - quiet;
  uv_timer_start(&c->idle_, &TcpConnection::on_idle, next != 0 ? std::min(next, idle_next) : idle_next, 0);
}

void TcpConnection::close() {
  if (closing_) return;
  closing_ = true;
  worker_.engine().tcp_connections().fetch_sub(1, std::memory_order_relaxed);
  if (address_counted_) worker_.engine().connections_per_address().release(peer_);
  worker_.connection_closed(this);
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_), &TcpConnection::on_closed);
  if (handles_open_ == 2) uv_close(reinterpret_cast<uv_handle_t*>(&idle_), &TcpConnection::on_closed);
}

void TcpConnection::on_closed(uv_handle_t* h) {
  auto* c = static_cast<TcpConnection*>(h->data);
  --c->handles_open_;
  c->maybe_free();
}

void TcpConnection::maybe_free() {
  if (closing_ && handles_open_ == 0 && pending_ == 0) delete this;
}

}  // namespace sekisho::resolver
