#include "intercept/origin.h"

#include <algorithm>
#include <array>

namespace sekisho::intercept {

std::shared_ptr<OriginConnection> OriginConnection::create(uv_loop_t* loop, SSL_CTX* tls_ctx, std::string host,
                                                           net::SocketAddress address) {
  std::shared_ptr<OriginConnection> c(new OriginConnection(loop, tls_ctx, std::move(host), address));
  c->self_ = c;
  return c;
}

OriginConnection::OriginConnection(uv_loop_t* loop, SSL_CTX* tls_ctx, std::string host, net::SocketAddress address)
    : loop_(loop), host_(std::move(host)), address_(address) {
  uv_tcp_init(loop_, &tcp_);
  uv_timer_init(loop_, &timer_);
  tcp_.data = timer_.data = this;
  handles_open_ = 2;
  if (tls_ctx) tls_ = std::make_unique<net::tls::Session>(tls_ctx, host_);
}

OriginConnection::~OriginConnection() = default;

void OriginConnection::connect(uint32_t timeout_ms, std::function<void(const std::string&)> done) {
  connect_done_ = std::move(done);
  arm(timeout_ms);
  connect_req_.data = this;
  const int rc = uv_tcp_connect(&connect_req_, &tcp_, address_.get(), [](uv_connect_t* req, int status) {
    auto* c = static_cast<OriginConnection*>(req->data);
    if (c->closing_) return;
    if (status != 0) return c->fail("cannot connect to " + c->address_.to_string() + ": " + uv_strerror(status));
    uv_tcp_nodelay(&c->tcp_, 1);
    c->start_reading();
    if (!c->tls_) {
      c->connected_ = true;
      auto cb = std::move(c->connect_done_);
      c->connect_done_ = nullptr;
      cb("");
      return;
    }
    c->received(nullptr, 0);  // the ClientHello
  });
  if (rc != 0) fail("cannot connect to " + address_.to_string() + ": " + uv_strerror(rc));  // done() runs now
}

void OriginConnection::set_callbacks(DataCallback data, ClosedCallback closed) {
  on_data_ = std::move(data);
  on_closed_ = std::move(closed);
}

void OriginConnection::received(const char* data, size_t n) {
  auto keep = shared_from_this();  // a callback may close (and release) us
  touch();
  if (!tls_) {
    if (on_data_) on_data_({data, n});
    return;
  }
  tls_->feed({reinterpret_cast<const uint8_t*>(data), n});
  std::string plain;
  std::array<uint8_t, 16384> chunk;
  bool peer_closed = false;
  for (;;) {
    const long r = tls_->read(chunk.data(), chunk.size());
    if (r > 0) {
      plain.append(reinterpret_cast<const char*>(chunk.data()), static_cast<size_t>(r));
      continue;
    }
    if (r == net::tls::Session::kFailed) {
      const std::string verify = tls_->verify_error();
      return fail("TLS to " + host_ + " failed: " + (verify.empty() ? tls_->error() : verify));
    }
    if (r == net::tls::Session::kClosed) peer_closed = true;
    break;
  }
  std::string out;
  tls_->take_output(out);
  if (!out.empty()) send_raw(std::move(out), nullptr);
  if (closing_) return;
  if (!connected_ && tls_->handshake_done()) {
    connected_ = true;
    auto cb = std::move(connect_done_);
    connect_done_ = nullptr;
    cb("");
    if (closing_) return;
  }
  if (!plain.empty() && on_data_) on_data_(plain);
  if (peer_closed && !closing_) {
    eof_ = true;
    fail("");
  }
}

void OriginConnection::write(std::string bytes, std::function<void()> written) {
  if (closing_) return;
  if (tls_) {
    if (!tls_->write({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}))
      return fail("TLS write to " + host_ + " failed: " + tls_->error());
    std::string cipher;
    tls_->take_output(cipher);
    return send_raw(std::move(cipher), std::move(written));
  }
  send_raw(std::move(bytes), std::move(written));
}

void OriginConnection::send_raw(std::string bytes, std::function<void()> written) {
  struct WriteRequest {
    uv_write_t req;
    std::string data;
    std::function<void()> written;
    std::shared_ptr<OriginConnection> conn;
  };
  auto* w = new WriteRequest{{}, std::move(bytes), std::move(written), shared_from_this()};
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  const int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, [](uv_write_t* req, int status) {
    std::unique_ptr<WriteRequest> wr(reinterpret_cast<WriteRequest*>(req));
    OriginConnection* c = wr->conn.get();
    if (c->closing_) return;
    if (status < 0) return c->fail(std::string("writing to the origin: ") + uv_strerror(status));
    c->touch();
    if (wr->written) wr->written();
  });
  if (rc != 0) {
    delete w;
    fail(std::string("writing to the origin: ") + uv_strerror(rc));
  }
}

void OriginConnection::pause() {
  paused_ = true;
  if (reading_ && !closing_) {
    reading_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  }
}

void OriginConnection::resume() {
  paused_ = false;
  if (!reading_ && connected_ && !closing_ && !eof_) {
    start_reading();
  }
}

void OriginConnection::start_reading() {
  reading_ = true;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&tcp_),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<OriginConnection*>(h->data);
        self->read_buffer_.resize(65536);
        *buf = uv_buf_init(self->read_buffer_.data(), static_cast<unsigned>(self->read_buffer_.size()));
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* self = static_cast<OriginConnection*>(s->data);
        if (self->closing_ || n == 0) return;
        if (n == UV_EOF) {
          self->eof_ = true;
          return self->fail("");
        }
        if (n < 0) return self->fail(std::string("reading from the origin: ") + uv_strerror(static_cast<int>(n)));
        self->received(buf->base, static_cast<size_t>(n));
      });
}

void OriginConnection::arm(uint32_t ms) {
  armed_ms_ = ms;
  touch();
}

void OriginConnection::touch() {
  if (closing_) return;
  if (armed_ms_ == 0) {
    uv_timer_stop(&timer_);
    return;
  }
  uv_timer_start(
      &timer_,
      [](uv_timer_t* t) {
        auto* c = static_cast<OriginConnection*>(t->data);
        c->fail(c->connected_ ? "the origin " + c->host_ + " sent nothing for " + std::to_string(c->armed_ms_) + " ms"
                              : "connecting to " + c->address_.to_string() + " timed out");
      },
      armed_ms_, 0);
}

size_t OriginConnection::unsent() const {
  return closing_ ? 0 : uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_));
}

void OriginConnection::fail(const std::string& why) {
  if (closing_) return;
  auto keep = shared_from_this();
  auto connect_done = std::move(connect_done_);
  auto closed = std::move(on_closed_);
  connect_done_ = nullptr;
  on_closed_ = nullptr;
  close();
  if (connect_done) connect_done(why.empty() ? "the origin closed the connection during the handshake" : why);
  else if (closed) closed(why);
}

void OriginConnection::close() {
  if (closing_) return;
  closing_ = true;
  on_data_ = nullptr;
  on_closed_ = nullptr;
  connect_done_ = nullptr;
  auto closed = [](uv_handle_t* h) {
    auto* c = static_cast<OriginConnection*>(h->data);
    if (--c->handles_open_ == 0) c->self_.reset();  // may delete c: nothing after this
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), closed);
}

// ------------------------------------------------------------------------------------ pool

std::shared_ptr<OriginConnection> OriginPool::take(const std::string& key, const std::vector<net::SocketAddress>& allowed) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  for (size_t i = list.size(); i-- > 0;) {  // most recently used first: the least likely to be stale
    std::shared_ptr<OriginConnection> c = list[i];
    if (!c->open() || std::find(allowed.begin(), allowed.end(), c->address()) == allowed.end()) continue;
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
    if (list.empty()) idle_.erase(it);
    c->set_callbacks(nullptr, nullptr);
    c->arm(0);
    return c;
  }
  return nullptr;
}

void OriginPool::put(const std::string& key, std::shared_ptr<OriginConnection> c) {
  if (!c->open() || idle_ms_ == 0 || idle() >= total_ || idle_[key].size() >= per_key_) {
    if (idle_[key].empty()) idle_.erase(key);
    c->close();
    return;
  }
  const OriginConnection* raw = c.get();
  // An idle connection that says anything (or closes, or times out) leaves the pool.
  c->set_callbacks([this, key, raw](std::string_view) { remove(key, raw); },
                   [this, key, raw](const std::string&) { remove(key, raw); });
  c->resume();
  c->arm(idle_ms_);
  idle_[key].push_back(std::move(c));
}

void OriginPool::remove(const std::string& key, const OriginConnection* c) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return;
  auto& list = it->second;
  for (size_t i = 0; i < list.size(); ++i)
    if (list[i].get() == c) {
      std::shared_ptr<OriginConnection> gone = std::move(list[i]);
      list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
      gone->close();
      break;
    }
  if (list.empty()) idle_.erase(it);
}

void OriginPool::clear() {
  auto all = std::move(idle_);
  idle_.clear();
  for (auto& [key, list] : all)
    for (auto& c : list) c->close();
}

size_t OriginPool::idle() const {
  size_t n = 0;
  for (const auto& [key, list] : idle_) n += list.size();
  return n;
}

}  // namespace sekisho::intercept
