#include "intercept/forward.h"

#include <algorithm>
#include <ctime>
#include <optional>
#include <stdexcept>

#include "base/clock.h"
#include "base/log.h"
#include "net/http/chunked.h"
#include "net/http/http1_parser.h"

namespace sekisho::intercept {
namespace {

net::http::Response failure(int status, const std::string& why) {
  net::http::Response r;
  r.status = status;
  r.set("content-type", "text/plain; charset=utf-8");
  r.set("cache-control", "no-store");
  r.body = "sekisho-intercept: " + why + "\n";
  return r;
}

// Fields that describe one hop's connection (RFC 9110 §7.6.1), not the message: never passed on.
bool hop_by_hop(std::string_view name) {
  for (std::string_view h : {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                             "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length",
                             "expect"})  // the client already got its 100 Continue from us
    if (name == h) return true;
  return name.starts_with(':');  // HTTP/2 pseudo-headers
}

}  // namespace

struct Forwarder::Relay : std::enable_shared_from_this<Relay> {
  Forwarder* fw = nullptr;  // null once the forwarder is gone
  std::shared_ptr<net::http::Exchange> ex;
  std::string host, key, path, tenant;
  bool tls = false;
  uint16_t port = 0;
  std::vector<net::SocketAddress> addresses;
  size_t next_address = 0;
  std::string connect_errors;
  std::shared_ptr<OriginConnection> conn;
  bool reused = false;
  uint64_t started_ms = 0;

  // Request body toward the origin.
  std::string upload;  // arrived before the head went out (bounded by the server's window)
  size_t upload_unacked = 0;
  bool upload_end = false, head_sent = false, chunked_up = false, upload_done = false;

  // Response from the origin, read by the one HTTP/1 parser (net/http/http1_parser.h).
  enum class In { head, body, tunnel, done } state = In::head;
  std::string in;
  uint64_t response_bytes = 0;
  net::http::Framing framing = net::http::Framing::none;
  net::http::BodyDecoder body;
  bool keep_alive = true, paused = false, over = false;
  int status = 0;

  // The tenant's bandwidth limit: held (origin reads stopped, upload acknowledgements kept in
  // held_acks) until Forwarder's tick finds its bucket even.
  bool held = false;
  size_t held_acks = 0;

  void start();
  void resolved(const OriginAddresses& result);
  void connect_next();
  void use(std::shared_ptr<OriginConnection> c);
  void send_head();
  void body_piece(std::string_view data, bool end);
  void send_piece(std::string_view data, bool end);
  void origin_data(std::string_view bytes);
  void process();
  bool parse_head();
  void origin_closed(const std::string& why);
  void complete();
  void fail(int code, const std::string& why);
  void cancel();
  void done(const char* outcome);
  void meter(uint64_t in_bytes, uint64_t out_bytes);
  void release();
};

// ------------------------------------------------------------------------------ Forwarder

Forwarder::Forwarder(uv_loop_t* loop, ForwardOptions options, InterceptCounters& counters)
    : loop_(loop),
      options_(std::move(options)),
      pool_(options_.idle_ms),
      origins_(loop, options_.upstreams, options_.forwarding, options_.allow_private),
      totals_(counters) {
  std::string error;
  origin_tls_ = net::tls::ClientContext::make({options_.origin_ca_file, {}, {}}, error);
  if (!origin_tls_)
    throw std::runtime_error("intercept.origin_ca_file " + options_.origin_ca_file + ": cannot load the trust store (" +
                             error + ")");
  tick_ = new uv_timer_t;
  uv_timer_init(loop_, tick_);
  tick_->data = this;
}

Forwarder::~Forwarder() {
  auto relays = std::move(relays_);
  relays_.clear();
  for (auto& r : relays) {
    r->fw = nullptr;
    r->cancel();
    if (r->ex) r->ex->abort();
  }
  pool_.clear();
  uv_timer_stop(tick_);
  uv_close(reinterpret_cast<uv_handle_t*>(tick_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void Forwarder::hold(const std::shared_ptr<Relay>& r) {
  traffic_.paused(r->tenant, monotonic_ms(), static_cast<int64_t>(std::time(nullptr)));
  ++totals_.bandwidth_pauses;
  held_.push_back(r);
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(tick_)))
    uv_timer_start(tick_, &Forwarder::on_bandwidth_tick, kBandwidthTickMs, kBandwidthTickMs);
}

void Forwarder::on_bandwidth_tick(uv_timer_t* timer) {
  auto* self = static_cast<Forwarder*>(timer->data);
  const uint64_t now = monotonic_ms();
  auto held = std::move(self->held_);
  self->held_.clear();
  for (auto& w : held) {
    auto r = w.lock();
    if (!r || r->over || !r->held) continue;
    if (self->traffic_.wait_ms(r->tenant, now) > 0) {
      self->held_.push_back(r);
      continue;
    }
    r->release();
  }
  if (self->held_.empty()) uv_timer_stop(timer);
}

void Forwarder::forward(std::shared_ptr<net::http::Exchange> exchange, std::string host, bool tls,
                        std::string tenant) {
  auto r = std::make_shared<Relay>();
  r->fw = this;
  r->ex = std::move(exchange);
  r->host = std::move(host);
  r->tenant = std::move(tenant);
  r->tls = tls;
  r->port = tls ? options_.https_port : options_.http_port;
  r->key = r->host + "|" + std::to_string(r->port) + (tls ? "|tls" : "|clear");
  const auto& req = r->ex->request();
  r->path = req.path + (req.query.empty() ? "" : "?" + req.query);
  r->started_ms = monotonic_ms();
  ++counters_.requests;
  ++totals_.forwarded;
  relays_.insert(r);
  r->start();
}

// ------------------------------------------------------------------------------ Relay

void Forwarder::Relay::start() {
  std::weak_ptr<Relay> w = weak_from_this();
  ex->on_cancel([w] {
    if (auto r = w.lock()) r->cancel();
  });
  ex->read_body([w](std::string_view data, bool end) {
    if (auto r = w.lock()) r->body_piece(data, end);
  });
  if (over) return;
  // May answer at once (cached); the relay lives in fw->relays_ until done, so a weak pointer
  // is enough while the lookup runs.
  fw->origins_.resolve(host, port, [w](const OriginAddresses& result) {
    auto r = w.lock();
    if (r && !r->over && r->fw) r->resolved(result);
  });
}

void Forwarder::Relay::resolved(const OriginAddresses& result) {
  if (result.addresses.empty()) return fail(502, result.why);
  addresses = result.addresses;
  if (auto pooled = fw->pool_.take(key, addresses)) {
    reused = true;
    ++fw->counters_.reused;
    return use(std::move(pooled));
  }
  connect_next();
}

void Forwarder::Relay::connect_next() {
  if (over) return;
  if (next_address >= addresses.size())
    return fail(502, connect_errors.empty() ? "cannot connect to " + host : connect_errors);
  const net::SocketAddress& a = addresses[next_address++];
  auto c = OriginConnection::create(fw->loop_, tls ? fw->origin_tls_->native() : nullptr, host, a);
  ++fw->counters_.connections;
  conn = c;
  std::weak_ptr<Relay> w = weak_from_this();
  c->connect(fw->options_.timeout_ms, [w, c](const std::string& error) {
    auto r = w.lock();
    if (!r || r->over) return c->close();
    if (!error.empty()) {
      r->connect_errors += (r->connect_errors.empty() ? "" : "; ") + error;
      r->conn = nullptr;
      return r->connect_next();
    }
    r->use(c);
  });
}

void Forwarder::Relay::use(std::shared_ptr<OriginConnection> c) {
  conn = std::move(c);
  std::weak_ptr<Relay> w = weak_from_this();
  conn->set_callbacks(
      [w](std::string_view bytes) {
        if (auto r = w.lock()) r->origin_data(bytes);
      },
      [w](const std::string& why) {
        if (auto r = w.lock()) r->origin_closed(why);
      });
  if (!held) conn->resume();  // else the bandwidth tick resumes it
  conn->arm(fw->options_.timeout_ms);
  send_head();
}

void Forwarder::Relay::send_head() {
  const net::http::Request& req = ex->request();
  std::string out = req.method + " " + path + " HTTP/1.1\r\nhost: " + host + "\r\n";
  std::string cookies;  // HTTP/2 may split them; HTTP/1.1 wants one field (RFC 9113 §8.2.3)
  for (const auto& h : req.headers) {
    if (h.name == "cookie") cookies += (cookies.empty() ? "" : "; ") + h.value;
    else if (!hop_by_hop(h.name)) out += h.name + ": " + h.value + "\r\n";
  }
  if (!cookies.empty()) out += "cookie: " + cookies + "\r\n";
  if (ex->upgrade_requested()) {
    out += "connection: upgrade\r\nupgrade: " + std::string(req.header("upgrade")) + "\r\n";
  } else {
    const int64_t length = ex->body_length();
    if (length > 0 || (length == 0 && (req.method == "POST" || req.method == "PUT" || req.method == "PATCH")))
      out += "content-length: " + std::to_string(length) + "\r\n";
    else if (length < 0)
      out += "transfer-encoding: chunked\r\n";
    chunked_up = length < 0;
    upload_done = length == 0;
  }
  out += "\r\n";
  ++conn->requests;
  meter(0, out.size());
  conn->write(std::move(out));
  head_sent = true;
  if (!upload.empty() || upload_end) {
    std::string pending;
    pending.swap(upload);
    send_piece(pending, upload_end);
  }
}

void Forwarder::Relay::body_piece(std::string_view data, bool end) {
  if (over) return;
  if (!head_sent) {
    upload.append(data);
    upload_end = upload_end || end;
    return;
  }
  send_piece(data, end);
}

void Forwarder::Relay::send_piece(std::string_view data, bool end) {
  if (!conn) return;
  std::weak_ptr<Relay> w = weak_from_this();
  const size_t n = data.size();
  meter(0, n);
  // The client may send more once this is acknowledged; a relay held for its tenant's limit
  // keeps the acknowledgement until it is released.
  auto ack = [w, n] {
    auto r = w.lock();
    if (!r || !r->ex) return;
    if (r->held) r->held_acks += n;
    else r->ex->consumed(n);
  };
  if (state == In::tunnel || ex->upgrade_requested()) {
    if (n) conn->write(std::string(data), ack);
    if (end && state == In::tunnel) {  // the client closed its side of the WebSocket
      over = true;
      conn->close();
      conn = nullptr;
      ex->finish();
      done("tunnel closed by the client");
    }
    return;
  }
  if (upload_done) return ack();  // a body longer than announced is not passed on
  std::string framed;
  if (chunked_up) {
    net::http::append_chunk(framed, data);
    if (end) framed += net::http::kLastChunk;
  } else {
    framed.assign(data);
  }
  if (end) upload_done = true;
  if (!framed.empty()) conn->write(std::move(framed), ack);
  else ack();
}

void Forwarder::Relay::origin_data(std::string_view bytes) {
  if (over) return;
  in.append(bytes);
  process();
}

// Parses as much of `in` as possible into the client's response.
void Forwarder::Relay::process() {
  while (!over) {
    if (state == In::head) {
      if (!parse_head()) return;
      continue;
    }
    if (state == In::done) return complete();
    if (in.empty()) break;
    std::string data;
    if (state == In::tunnel) {
      data.swap(in);
    } else {
      body.take(in, data);
      if (body.failed()) return fail(502, "malformed chunked body from " + host);
      if (body.done()) state = In::done;
    }
    response_bytes += data.size();
    meter(data.size(), 0);
    ex->write(data);
  }
  if (over || paused || !conn || ex->unsent() <= net::http::kHighWater) return;
  // The client reads slower than the origin sends: stop reading the origin until it catches up.
  paused = true;
  conn->pause();
  conn->arm(fw->options_.tunnel_idle_ms);  // a client that stops reading altogether is cut off
  std::weak_ptr<Relay> w = weak_from_this();
  ex->when_drained([w] {
    auto r = w.lock();
    if (!r || r->over || !r->conn || !r->fw) return;
    r->paused = false;
    if (r->held) return;  // the bandwidth tick resumes it
    r->conn->arm(r->state == In::tunnel ? r->fw->options_.tunnel_idle_ms : r->fw->options_.timeout_ms);
    r->conn->resume();
  });
}

// Counts bytes for the tenant and the host; over the tenant's limit, the relay is held.
void Forwarder::Relay::meter(uint64_t in_bytes, uint64_t out_bytes) {
  if (!fw) return;
  fw->totals_.bytes_in += in_bytes;
  fw->totals_.bytes_out += out_bytes;
  if (!fw->traffic_.count(tenant, host, in_bytes, out_bytes, monotonic_ms()) || held || over) return;
  held = true;
  if (conn) {
    conn->pause();
    conn->arm(fw->options_.tunnel_idle_ms);  // held, not silent: the origin timeout does not apply
  }
  fw->hold(shared_from_this());
}

void Forwarder::Relay::release() {
  held = false;
  if (conn && !paused && fw) {
    conn->arm(state == In::tunnel ? fw->options_.tunnel_idle_ms : fw->options_.timeout_ms);
    conn->resume();
  }
  if (held_acks && ex) {
    const size_t n = held_acks;
    held_acks = 0;
    ex->consumed(n);
  }
}

// The origin's response head, parsed strictly: a response whose framing cannot be trusted is a
// 502 for the client and the origin connection closes, never a guess such as reading until close.
bool Forwarder::Relay::parse_head() {
  net::http::Response res;
  const net::http::Http1Result r =
      net::http::parse_http1_response_head(in, fw->options_.max_header_bytes, ex->request().method, res);
  if (r.kind == net::http::Http1Result::incomplete) return false;
  if (r.kind == net::http::Http1Result::error) {
    fail(502, "invalid response from " + host + ": " + r.reason);
    return false;
  }
  in.erase(0, r.consumed);
  meter(r.consumed, 0);
  status = res.status;
  keep_alive = r.keep_alive;
  std::erase_if(res.headers, [this](const net::http::Header& h) {
    return hop_by_hop(h.name) && !(status == 101 && h.name == "upgrade");
  });
  if (status >= 100 && status < 200 && status != 101) {
    status = 0;  // 100 Continue and other interim answers: the final one follows
    return true;
  }
  if (status == 101) {
    if (!ex->upgrade_requested()) {
      fail(502, host + " switched protocols without being asked");
      return false;
    }
    state = In::tunnel;
    keep_alive = false;
    conn->arm(fw->options_.tunnel_idle_ms);
    ex->respond_head(std::move(res), std::nullopt);
    if (!upload.empty()) {  // the client's first frames, if they came with the request
      std::string pending;
      pending.swap(upload);
      send_piece(pending, false);
    }
    return true;
  }
  if (ex->upgrade_requested()) keep_alive = false;  // the origin declined; the bytes after are unknown
  framing = r.framing;
  body = net::http::BodyDecoder(r.framing, r.content_length.value_or(0));
  state = body.done() ? In::done : In::body;
  std::optional<uint64_t> length;
  if (framing == net::http::Framing::length) length = r.content_length;
  else if (framing == net::http::Framing::none)  // HEAD (the length a GET would get), 204, 304
    length = ex->request().method == "HEAD" ? r.content_length : std::optional<uint64_t>(0);
  ex->respond_head(std::move(res), length);
  return true;
}

void Forwarder::Relay::origin_closed(const std::string& why) {
  if (over) return;
  const std::shared_ptr<OriginConnection> gone = std::move(conn);
  conn = nullptr;
  if (state == In::body && framing == net::http::Framing::until_close && why.empty()) {
    state = In::done;
    keep_alive = false;
    return complete();
  }
  if (state == In::tunnel) {
    over = true;
    ex->finish();
    return done(why.empty() ? "tunnel closed by the origin" : "tunnel failed");
  }
  // A pooled connection the origin had just closed: one fresh try, if nothing needs replaying.
  if (state == In::head && reused && in.empty() && status == 0 && ex->body_length() == 0 && !ex->upgrade_requested()) {
    reused = false;
    head_sent = false;
    upload_done = false;
    return connect_next();
  }
  fail(502, why.empty() ? host + " closed the connection before the response was complete" : why);
}

void Forwarder::Relay::complete() {
  if (over) return;
  over = true;
  ex->finish();
  if (conn) {
    auto c = std::move(conn);
    conn = nullptr;
    c->set_callbacks(nullptr, nullptr);
    if (keep_alive && upload_done && in.empty() && fw) fw->pool_.put(key, std::move(c));
    else c->close();
  }
  done("ok");
}

void Forwarder::Relay::fail(int code, const std::string& why) {
  if (over) return;
  over = true;
  if (conn) {
    conn->close();
    conn = nullptr;
  }
  if (state == In::head) {
    status = code;
    ex->respond(failure(code, why));
  } else {
    ex->abort();  // the head is out: the client must see a cut transfer, not a complete one
  }
  log::info("intercept", "forwarding failed", {{"host", host}, {"path", path}, {"error", why}});
  done("failed");
}

void Forwarder::Relay::cancel() {
  if (over) return;
  over = true;
  if (conn) {
    conn->close();
    conn = nullptr;
  }
  done("client gone");
}

void Forwarder::Relay::done(const char* outcome) {
  over = true;
  log::info("intercept", "forwarded",
            {{"host", host}, {"path", path}, {"status", status}, {"bytes", response_bytes}, {"outcome", outcome},
             {"origin_connection", reused ? "reused" : "new"}, {"ms", monotonic_ms() - started_ms}});
  if (fw) {
    auto self = shared_from_this();
    fw->relays_.erase(self);
  }
}

}  // namespace sekisho::intercept
