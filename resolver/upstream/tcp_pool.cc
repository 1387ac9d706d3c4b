#include "resolver/upstream/tcp_pool.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "config/settings.h"
#include "net/http/http2_client.h"
#include "net/tls/session.h"
#include "resolver/upstream/response_check.h"

namespace sekisho::upstream {
namespace {
const net::tls::ClientContext* tls_context_of(const ExchangeRequest& r) { return r.tls ? r.tls->context.get() : nullptr; }
}  // namespace

static_assert(config::ForwardingSettings{}.tcp_connections_per_upstream == TcpPool::kMaxConnectionsPerUpstream);
static_assert(config::ForwardingSettings{}.tcp_idle_timeout_ms == TcpPool::kIdleTimeoutMs);

class TcpPool::Query final : public Exchange {
 public:
  explicit Query(const ExchangeRequest& r) : req_(r) {
    frame_.resize(2 + r.query.size());
    dns::write_u16(frame_.data(), static_cast<uint16_t>(r.query.size()));
    std::memcpy(frame_.data() + 2, r.query.data(), r.query.size());
  }

  void cancel() override;

  // Reports once and frees the query; the caller has already taken it off its connection.
  void report(const ExchangeResult& result) {
    ExchangeCallback callback = req_.callback;
    void* owner = req_.owner;
    delete this;
    callback(owner, result);
  }
  void report_error(int err, std::string_view detail = {}) {
    report(ExchangeResult{ExchangeStatus::network_error, {}, 0, err, detail});
  }

  ExchangeRequest req_;
  std::vector<uint8_t> frame_;  // the query with its 2-byte length (DoH sends it without)
  Connection* conn_ = nullptr;
  // DoH: its stream on the connection (0: none) and what has come back on it.
  int32_t stream_ = 0;
  size_t body_sent_ = 0;
  int http_status_ = 0;
  std::string body_;
  uint64_t answers_before_ = 0;  // its connection's answer count when the query was put on it
  bool resent_ = false;
};

// One connection: plain TCP, TLS, or HTTP/2 over TLS (DoH: each query a POST on a stream of
// its own, net/http/http2_client.h). Bytes out go through two buffers: frames (or, over TLS,
// their records) are appended to `pending_` while one uv_write of `writing_` is in flight, then
// the two swap; once both have grown to the connection's burst size, sending a DNS-framed query
// allocates nothing.
class TcpPool::Connection final : public net::http::Http2Client::Listener {
 public:
  Connection(TcpPool& pool, const net::SocketAddress& server, const TlsTarget* tls)
      : pool_(pool), server_(server), stats_(pool.counters_for(server)) {
    tcp_.data = this;
    connect_.data = this;
    idle_.data = this;
    write_.data = this;
    if (tls) {
      tls_context_ = tls->context;
      tls_name_ = tls->name;
      http_authority_ = tls->http_authority;
      http_path_ = tls->http_path;
    }
  }

  int open() {
    if (int rc = uv_tcp_init(pool_.loop_, &tcp_); rc != 0) return -rc;
    handles_ = 1;
    uv_timer_init(pool_.loop_, &idle_);
    handles_ = 2;
    uv_unref(reinterpret_cast<uv_handle_t*>(&tcp_));
    uv_unref(reinterpret_cast<uv_handle_t*>(&idle_));
    uv_tcp_nodelay(&tcp_, 1);
    if (tls_context_) tls_ = std::make_unique<net::tls::Session>(*tls_context_, tls_name_);
    if (int rc = uv_tcp_connect(&connect_, &tcp_, server_.get(), &Connection::on_connect); rc != 0) return -rc;
    return 0;
  }

  const net::SocketAddress& server() const { return server_; }
  const net::tls::ClientContext* tls_context() const { return tls_context_.get(); }
  // DoH: false once the server's GOAWAY (or used-up stream ids) ends new requests on it.
  bool takes_queries() const { return !h2_ || h2_->accepts_requests(); }
  ServerCounters* stats() const { return stats_; }
  size_t load() const { return queries_.size(); }
  bool carries_id(uint16_t id) const {
    return std::any_of(queries_.begin(), queries_.end(), [id](const Query* q) { return q->req_.id == id; });
  }

  void add(Query* q) {
    q->conn_ = this;
    q->stream_ = 0;
    q->body_sent_ = 0;
    q->http_status_ = 0;
    q->body_.clear();
    q->answers_before_ = answered_;
    queries_.push_back(q);
    uv_timer_stop(&idle_);
    if (ready_) send(q);  // before the connection is up (and, over TLS, its handshake done) ready() sends it
  }

  void remove(Query* q) {
    q->conn_ = nullptr;
    auto it = std::find(queries_.begin(), queries_.end(), q);
    if (it != queries_.end()) queries_.erase(it);
    if (h2_ && q->stream_ > 0) {  // timed out: its stream is reset, and its tag forgotten
      h2_->cancel(q->stream_);
      q->stream_ = 0;
      pump();  // after the erase: should sending fail and close, q is no longer this connection's to fail
    }
    if (!queries_.empty() || closing_) return;
    if (retiring_) {
      close(ETIMEDOUT, false);
      return;
    }
    uv_timer_start(&idle_, &Connection::on_idle, pool_.idle_timeout_ms_, 0);
  }

  // q's attempt timed out. If nothing at all came back on this connection since q was sent,
  // the connection is suspect (the server may have stopped reading it): it takes no new
  // queries and closes once the ones on it are answered or time out too, so the next attempt
  // opens a fresh connection instead of waiting on this one again. A connection that still
  // answers other queries keeps serving: only that one query was slow.
  void timed_out(Query* q) {
    const bool silent = answered_ == q->answers_before_;
    if (silent && !retiring_ && !closing_) {
      retiring_ = true;
      pool_.retire(this);
      count(&Counters::retired_silent);
    }
    remove(q);
  }

  // The pool is going away with its loop: no callbacks will run any more.
  void abandon() {
    uv_os_fd_t fd;
    if (handles_ > 0 && uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) == 0) ::close(fd);
    for (Query* q : queries_) q->conn_ = nullptr;
    delete this;
  }

  // Stops taking queries and closes; queries still on it are re-sent (when the upstream only
  // dropped the connection) or failed (see tcp_pool.h) with `detail` as their reason.
  void close(int err, bool may_resend = true, std::string_view detail = {}) {
    if (closing_) return;
    closing_ = true;
    pool_.forget(this);
    std::vector<Query*> orphans;
    orphans.swap(queries_);
    for (Query* q : orphans) {
      q->conn_ = nullptr;
      if (h2_ && q->stream_ > 0) h2_->cancel(q->stream_);  // no callback may name it from now on
      const bool resend = may_resend && connected_ && (answered_ > 0 || !q->resent_);
      if (resend) {
        q->resent_ = true;
        count(&Counters::resent);
        if (pool_.dispatch(q, this) == 0) continue;
      }
      q->report_error(err, detail);
    }
    if (handles_ == 0) {
      delete this;
      return;
    }
    if (tls_ && ready_) {
      // close_notify, best effort: only what the socket takes at once (the handle closes now).
      tls_->shutdown();
      std::string alert;
      tls_->take_output(alert);
      uv_buf_t buf = uv_buf_init(alert.data(), static_cast<unsigned>(alert.size()));
      if (!alert.empty()) (void)uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1);
    }
    uv_timer_stop(&idle_);
    auto closed = [](uv_handle_t* h) {
      auto* self = static_cast<Connection*>(h->data);
      if (--self->handles_ == 0) delete self;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), closed);
    if (handles_ == 2) uv_close(reinterpret_cast<uv_handle_t*>(&idle_), closed);
  }

 private:
  void count(Counter Counters::*field) {
    ++(pool_.counters_.*field);
    if (stats_) ++(stats_->*field);
  }

  // The query's frame goes out (copied: the query may be cancelled while the write is pending).
  void send(Query* q) {
    if (h2_) {
      // RFC 8484 §4.1: POST, the message as the body without TCP's length prefix.
      q->stream_ = h2_->post(q, "application/dns-message", q->frame_.size() - 2);
      if (q->stream_ < 0) {
        // Only when the connection stopped taking requests since dispatch chose it: the query
        // waits out its attempt, and the connection takes no more.
        q->stream_ = 0;
        retire_quietly();
      }
      return pump();
    }
    if (tls_) {
      if (!tls_->write(q->frame_)) return tls_failed();
      tls_->take_output(pending_);
    } else {
      pending_.append(reinterpret_cast<const char*>(q->frame_.data()), q->frame_.size());
    }
    flush();
  }

  void flush() {
    if (writing_now_ || pending_.empty() || closing_ || !connected_) return;
    writing_.swap(pending_);
    pending_.clear();
    uv_buf_t buf = uv_buf_init(writing_.data(), static_cast<unsigned>(writing_.size()));
    if (int rc = uv_write(&write_, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, &Connection::on_write); rc != 0) {
      close(-rc);
      return;
    }
    writing_now_ = true;
  }

  static void on_write(uv_write_t* req, int status) {
    auto* self = static_cast<Connection*>(req->data);
    self->writing_now_ = false;
    if (status == UV_ECANCELED) return;  // closing: the handle's close callback frees self
    self->writing_.clear();
    if (status < 0) return self->close(-status);
    self->flush();
  }

  // HTTP/2's frames waiting in nghttp2 go into TLS and out; not from inside nghttp2's callbacks
  // (take_frames pumps once they are done).
  void pump() {
    if (!h2_ || in_h2_ || closing_) return;
    h2_out_.clear();
    if (!h2_->take_output(h2_out_)) return close(EPROTO, false, h2_->error());
    if (h2_out_.empty()) return;
    if (!tls_->write(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(h2_out_.data()), h2_out_.size())))
      return tls_failed();
    tls_->take_output(pending_);
    flush();
  }

  void retire_quietly() {
    if (retiring_ || closing_) return;
    retiring_ = true;
    pool_.retire(this);
  }

  // Connected and, over TLS, the handshake done: the queries that waited go out together.
  void ready() {
    if (!http_path_.empty()) {
      if (tls_->alpn() != "h2") {
        count(&Counters::tls_failures);
        failure_ = "DoH with " + tls_name_ + ": the server did not agree to HTTP/2 (ALPN h2)";
        return close(EPROTO, false, failure_);
      }
      h2_ = std::make_unique<net::http::Http2Client>(*this, http_authority_, http_path_);
    }
    ready_ = true;
    std::vector<Query*> waiting = queries_;
    for (Query* q : waiting) {
      if (closing_) return;
      send(q);
    }
    pump();  // the client preface and SETTINGS, even with no query waiting
  }

  static void on_connect(uv_connect_t* req, int status) {
    auto* self = static_cast<Connection*>(req->data);
    if (self->closing_) return;
    if (status < 0) {
      self->close(-status);
      return;
    }
    self->connected_ = true;
    if (int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&self->tcp_), &on_alloc, &on_read); rc != 0)
      return self->close(-rc);
    if (!self->tls_) return self->ready();
    self->decrypt();  // sends the ClientHello
  }

  static void on_idle(uv_timer_t* t) { static_cast<Connection*>(t->data)->close(ETIMEDOUT); }

  // Plain TCP reads straight behind the unparsed bytes; TLS reads records into `cipher_`.
  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<Connection*>(h->data);
    if (self->tls_) {
      if (self->cipher_.empty()) self->cipher_.resize(16384);
      *buf = uv_buf_init(reinterpret_cast<char*>(self->cipher_.data()), static_cast<unsigned>(self->cipher_.size()));
      return;
    }
    if (self->in_.size() < self->in_len_ + 4096) self->in_.resize(self->in_len_ + 4096);
    *buf = uv_buf_init(reinterpret_cast<char*>(self->in_.data() + self->in_len_), 4096);
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
    auto* self = static_cast<Connection*>(s->data);
    if (self->closing_) return;
    if (nread < 0) {
      self->close(nread == UV_EOF ? ECONNRESET : static_cast<int>(-nread));
      return;
    }
    if (self->tls_) {
      self->tls_->feed(std::span<const uint8_t>(self->cipher_.data(), static_cast<size_t>(nread)));
      if (!self->decrypt()) return;
    } else {
      self->in_len_ += static_cast<size_t>(nread);
    }
    self->take_frames();
  }

  // Runs the handshake and turns the records received into plaintext behind `in_`; sends what
  // TLS has to say back. False when the connection closed.
  bool decrypt() {
    for (;;) {
      if (in_.size() < in_len_ + 4096) in_.resize(in_len_ + 4096);
      const long n = tls_->read(in_.data() + in_len_, in_.size() - in_len_);
      if (n > 0) {
        in_len_ += static_cast<size_t>(n);
        continue;
      }
      if (n == net::tls::Session::kFailed) {
        tls_failed();
        return false;
      }
      if (n == net::tls::Session::kClosed) {
        close(ECONNRESET);
        return false;
      }
      break;  // kWantMore
    }
    tls_->take_output(pending_);
    flush();
    if (!ready_ && !closing_ && tls_->handshake_done()) {
      count(tls_->resumed() ? &Counters::tls_handshakes_resumed : &Counters::tls_handshakes_new);
      ready();
    }
    return !closing_;
  }

  // The handshake or a record failed (certificate refused, wrong name, pin mismatch, garbage):
  // the queries on it fail their attempt with the reason, and are not re-sent here.
  void tls_failed() {
    count(&Counters::tls_failures);
    const std::string verify = tls_->verify_error();
    failure_ = "TLS with " + tls_name_ + ": " + (verify.empty() ? tls_->error() : "certificate refused: " + verify);
    close(EPROTO, false, failure_);
  }

  // Answers whole in `in_` go to their queries; the rest waits for more bytes.
  void take_frames() {
    if (h2_) return take_http2();
    size_t pos = 0;
    while (!closing_ && in_len_ - pos >= 2) {
      size_t len = dns::read_u16(in_.data() + pos);
      if (len < dns::kHeaderSize) {
        // Not DNS: nothing after this can be trusted to be framed right.
        close(EPROTO, false);
        return;
      }
      if (in_len_ - pos < 2 + len) break;
      std::span<const uint8_t> msg(in_.data() + pos + 2, len);
      pos += 2 + len;
      // A frame nobody waits for is a late answer to a cancelled query: skipped.
      Query* match = nullptr;
      size_t question_end = 0;
      for (Query* q : queries_) {
        if (response_matches(msg, q->req_.id, *q->req_.question, question_end)) {
          match = q;
          break;
        }
      }
      if (!match) continue;
      ++answered_;
      remove(match);
      // The callback may queue new queries here or close this connection; the buffer stays put
      // until the loop ends (close only frees the object in a later close callback).
      match->report(ExchangeResult{ExchangeStatus::answer, msg, question_end, 0, {}});
    }
    if (closing_) return;
    std::memmove(in_.data(), in_.data() + pos, in_len_ - pos);
    in_len_ -= pos;
  }

  // DoH: everything received goes to nghttp2, whose callbacks below answer the queries.
  void take_http2() {
    in_h2_ = true;
    const bool ok = h2_->received(std::span<const uint8_t>(in_.data(), in_len_));
    in_h2_ = false;
    in_len_ = 0;
    if (closing_) return;
    if (!ok) return close(EPROTO, false, h2_->error());
    pump();
    if (!h2_->accepts_requests()) {  // GOAWAY: finish what is on it, take nothing new
      retire_quietly();
      if (queries_.empty()) close(ECONNRESET, false);
    }
  }

  size_t read_body(void* tag, uint8_t* buf, size_t cap, bool& end) override {
    auto* q = static_cast<Query*>(tag);
    const size_t size = q->frame_.size() - 2;
    const size_t n = std::min(cap, size - q->body_sent_);
    std::memcpy(buf, q->frame_.data() + 2 + q->body_sent_, n);
    q->body_sent_ += n;
    end = q->body_sent_ == size;
    return n;
  }

  void on_status(void* tag, int status) override { static_cast<Query*>(tag)->http_status_ = status; }

  void on_body(void* tag, std::span<const uint8_t> piece) override {
    auto* q = static_cast<Query*>(tag);
    if (q->body_.size() + piece.size() > 65535) {  // no DNS message is longer
      q->http_status_ = -1;
      return;
    }
    q->body_.append(reinterpret_cast<const char*>(piece.data()), piece.size());
  }

  void on_closed(void* tag, uint32_t error_code) override {
    auto* q = static_cast<Query*>(tag);
    q->stream_ = 0;  // closed: nothing to reset
    remove(q);
    size_t question_end = 0;
    std::span<const uint8_t> msg(reinterpret_cast<const uint8_t*>(q->body_.data()), q->body_.size());
    if (error_code == 0 && q->http_status_ == 200 && response_matches(msg, q->req_.id, *q->req_.question, question_end)) {
      ++answered_;
      answer_.swap(q->body_);  // the query is freed before its callback runs; the answer stays here
      msg = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(answer_.data()), answer_.size());
      return q->report(ExchangeResult{ExchangeStatus::answer, msg, question_end, 0, {}});
    }
    failure_ = "DoH with " + tls_name_ + ": " +
               (error_code != 0          ? "stream reset (HTTP/2 error " + std::to_string(error_code) + ")"
                : q->http_status_ == 200 ? std::string("the answer does not match the query")
                : q->http_status_ < 0    ? std::string("answer too long")
                                         : "HTTP status " + std::to_string(q->http_status_));
    q->report_error(EPROTO, failure_);
  }

  TcpPool& pool_;
  net::SocketAddress server_;
  ServerCounters* stats_;
  std::shared_ptr<net::tls::ClientContext> tls_context_;  // null: plain TCP
  std::string tls_name_;
  std::unique_ptr<net::tls::Session> tls_;
  std::string http_authority_;  // DoH: every request's :authority and :path; empty path: DoT
  std::string http_path_;
  std::unique_ptr<net::http::Http2Client> h2_;  // DoH, from the end of the handshake
  bool in_h2_ = false;                          // inside nghttp2's callbacks: no pump()
  std::string h2_out_;                          // HTTP/2 frames on their way into TLS
  std::string answer_;                          // DoH: the answer while its query's callback runs
  uv_tcp_t tcp_{};
  uv_connect_t connect_{};
  uv_timer_t idle_{};
  uv_write_t write_{};
  int handles_ = 0;  // initialised handles not yet closed
  bool connected_ = false;
  bool ready_ = false;  // connected, and over TLS the handshake done: queries are sent at once
  bool closing_ = false;
  bool retiring_ = false;  // taken out of the pool after a silent timeout; closes when empty
  bool writing_now_ = false;
  uint64_t answered_ = 0;
  std::vector<Query*> queries_;  // sent (or waiting for the connect), not yet answered
  std::string pending_;          // to send after the write in flight
  std::string writing_;          // the write in flight
  std::vector<uint8_t> in_;      // received plaintext not yet taken as answers
  size_t in_len_ = 0;
  std::vector<uint8_t> cipher_;  // TLS: records as read from the socket
  std::string failure_;          // why TLS failed, while its queries are told
};

// The forwarder cancels an exchange only when its attempt timed out.
void TcpPool::Query::cancel() {
  if (conn_) conn_->timed_out(this);
  delete this;
}

TcpPool::~TcpPool() {
  for (Connection* c : connections_) c->abandon();
  for (Connection* c : retiring_) c->abandon();
}

void TcpPool::close_all() {
  // close() takes each connection off its list (forget), so these loops end.
  while (!connections_.empty()) connections_.back()->close(ECANCELED, false);
  while (!retiring_.empty()) retiring_.back()->close(ECANCELED, false);
}

Exchange* TcpPool::start(const ExchangeRequest& request, int& error) {
  auto* q = new Query(request);
  if (int rc = dispatch(q, nullptr); rc != 0) {
    error = rc;
    delete q;
    return nullptr;
  }
  return q;
}

int TcpPool::dispatch(Query* q, const Connection* avoid) {
  Connection* idle = nullptr;
  Connection* least = nullptr;
  size_t count = 0;
  for (Connection* c : connections_) {
    if (c == avoid || !(c->server() == *q->req_.server) || c->tls_context() != tls_context_of(q->req_) ||
        !c->takes_queries())
      continue;
    ++count;
    if (c->load() == 0) {
      idle = c;
      break;
    }
    // Two queries with one ID on a connection could not be told apart if their questions match.
    if (!c->carries_id(q->req_.id) && (!least || c->load() < least->load())) least = c;
  }
  Connection* target = idle;
  if (!target && (count >= max_per_upstream_ && least)) target = least;
  if (target) {
    ++counters_.queries_reused;
    if (target->stats()) ++target->stats()->queries_reused;
  } else {
    if (q->req_.tls && !q->req_.tls->context) return EKEYREJECTED;  // its trust store did not load (logged at load)
    auto* c = new Connection(*this, *q->req_.server, q->req_.tls);
    connections_.push_back(c);  // on failure close() forgets it again
    ++counters_.connections_open;
    if (c->stats()) ++c->stats()->connections_open;
    if (int rc = c->open(); rc != 0) {
      c->close(rc);
      return rc;
    }
    ++counters_.connections_opened;
    if (c->stats()) ++c->stats()->connections_opened;
    target = c;
  }
  target->add(q);
  return 0;
}

void TcpPool::retire(Connection* c) {
  auto it = std::find(connections_.begin(), connections_.end(), c);
  if (it == connections_.end()) return;
  connections_.erase(it);
  retiring_.push_back(c);
}

void TcpPool::forget(Connection* c) {
  for (std::vector<Connection*>* list : {&connections_, &retiring_}) {
    auto it = std::find(list->begin(), list->end(), c);
    if (it == list->end()) continue;
    list->erase(it);
    --counters_.connections_open;
    if (c->stats()) --c->stats()->connections_open;
    return;
  }
}

TcpPool::ServerCounters* TcpPool::counters_for(const net::SocketAddress& server) {
  const size_t n = counted_servers_.load(std::memory_order_relaxed);  // this loop is the only writer
  for (size_t i = 0; i < n; ++i)
    if (server_counters_[i].server == server) return &server_counters_[i];
  if (n == kMaxCountedServers) return nullptr;
  server_counters_[n].server = server;
  counted_servers_.store(n + 1, std::memory_order_release);
  return &server_counters_[n];
}

}  // namespace sekisho::upstream
