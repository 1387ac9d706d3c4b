#include "resolver/upstream/tcp_pool.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "config/settings.h"
#include "resolver/upstream/response_check.h"

namespace sekisho::upstream {

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
  void report_error(int err) { report(ExchangeResult{ExchangeStatus::network_error, {}, 0, err}); }

  ExchangeRequest req_;
  std::vector<uint8_t> frame_;
  Connection* conn_ = nullptr;
  uint64_t answers_before_ = 0;  // its connection's answer count when the query was put on it
  bool resent_ = false;
};

class TcpPool::Connection {
 public:
  Connection(TcpPool& pool, const net::SocketAddress& server)
      : pool_(pool), server_(server), stats_(pool.counters_for(server)) {
    tcp_.data = this;
    connect_.data = this;
    idle_.data = this;
  }

  int open() {
    if (int rc = uv_tcp_init(pool_.loop_, &tcp_); rc != 0) return -rc;
    handles_ = 1;
    uv_timer_init(pool_.loop_, &idle_);
    handles_ = 2;
    uv_unref(reinterpret_cast<uv_handle_t*>(&tcp_));
    uv_unref(reinterpret_cast<uv_handle_t*>(&idle_));
    uv_tcp_nodelay(&tcp_, 1);
    if (int rc = uv_tcp_connect(&connect_, &tcp_, server_.get(), &Connection::on_connect); rc != 0) return -rc;
    return 0;
  }

  const net::SocketAddress& server() const { return server_; }
  ServerCounters* stats() const { return stats_; }
  size_t load() const { return queries_.size(); }
  bool carries_id(uint16_t id) const {
    return std::any_of(queries_.begin(), queries_.end(), [id](const Query* q) { return q->req_.id == id; });
  }

  void add(Query* q) {
    q->conn_ = this;
    q->answers_before_ = answered_;
    queries_.push_back(q);
    uv_timer_stop(&idle_);
    if (connected_) write(q);  // before the connection is up, on_connect writes it
  }

  void remove(Query* q) {
    q->conn_ = nullptr;
    auto it = std::find(queries_.begin(), queries_.end(), q);
    if (it != queries_.end()) queries_.erase(it);
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
      ++pool_.counters_.retired_silent;
      if (stats_) ++stats_->retired_silent;
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
  // dropped the connection) or failed (see tcp_pool.h).
  void close(int err, bool may_resend = true) {
    if (closing_) return;
    closing_ = true;
    pool_.forget(this);
    std::vector<Query*> orphans;
    orphans.swap(queries_);
    for (Query* q : orphans) {
      q->conn_ = nullptr;
      const bool resend = may_resend && connected_ && (answered_ > 0 || !q->resent_);
      if (resend) {
        q->resent_ = true;
        ++pool_.counters_.resent;
        if (stats_) ++stats_->resent;
        if (pool_.dispatch(q, this) == 0) continue;
      }
      q->report_error(err);
    }
    if (handles_ == 0) {
      delete this;
      return;
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
  // The frame is copied: the query may be cancelled while the write is still pending.
  struct WriteReq {
    uv_write_t req;
    std::vector<uint8_t> frame;
  };

  void write(Query* q) {
    auto* w = new WriteReq{{}, q->frame_};
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(w->frame.data()), static_cast<unsigned>(w->frame.size()));
    if (int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, &Connection::on_write); rc != 0) {
      delete w;
      close(-rc);
    }
  }

  static void on_write(uv_write_t* req, int status) {
    auto* self = static_cast<Connection*>(req->handle->data);
    delete reinterpret_cast<WriteReq*>(req);
    if (status < 0 && status != UV_ECANCELED) self->close(-status);
  }

  static void on_connect(uv_connect_t* req, int status) {
    auto* self = static_cast<Connection*>(req->data);
    if (self->closing_) return;
    if (status < 0) {
      self->close(-status);
      return;
    }
    self->connected_ = true;
    std::vector<Query*> waiting = self->queries_;
    for (Query* q : waiting) {
      if (self->closing_) return;
      self->write(q);
    }
    if (self->closing_) return;
    if (int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&self->tcp_), &on_alloc, &on_read); rc != 0) self->close(-rc);
  }

  static void on_idle(uv_timer_t* t) { static_cast<Connection*>(t->data)->close(ETIMEDOUT); }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<Connection*>(h->data);
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
    self->in_len_ += static_cast<size_t>(nread);
    size_t pos = 0;
    while (!self->closing_ && self->in_len_ - pos >= 2) {
      size_t len = dns::read_u16(self->in_.data() + pos);
      if (len < dns::kHeaderSize) {
        // Not DNS: nothing after this can be trusted to be framed right.
        self->close(EPROTO, false);
        return;
      }
      if (self->in_len_ - pos < 2 + len) break;
      std::span<const uint8_t> msg(self->in_.data() + pos + 2, len);
      pos += 2 + len;
      // A frame nobody waits for is a late answer to a cancelled query: skipped.
      Query* match = nullptr;
      size_t question_end = 0;
      for (Query* q : self->queries_) {
        if (response_matches(msg, q->req_.id, *q->req_.question, question_end)) {
          match = q;
          break;
        }
      }
      if (!match) continue;
      ++self->answered_;
      self->remove(match);
      // The callback may queue new queries here or close this connection; the buffer stays put
      // until the loop ends (close only frees the object in a later close callback).
      match->report(ExchangeResult{ExchangeStatus::answer, msg, question_end, 0});
    }
    if (self->closing_) return;
    std::memmove(self->in_.data(), self->in_.data() + pos, self->in_len_ - pos);
    self->in_len_ -= pos;
  }

  TcpPool& pool_;
  net::SocketAddress server_;
  ServerCounters* stats_;
  uv_tcp_t tcp_{};
  uv_connect_t connect_{};
  uv_timer_t idle_{};
  int handles_ = 0;  // initialised handles not yet closed
  bool connected_ = false;
  bool closing_ = false;
  bool retiring_ = false;  // taken out of the pool after a silent timeout; closes when empty
  uint64_t answered_ = 0;
  std::vector<Query*> queries_;  // sent (or waiting for the connect), not yet answered
  std::vector<uint8_t> in_;
  size_t in_len_ = 0;
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
    if (c == avoid || !(c->server() == *q->req_.server)) continue;
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
  if (!target) {
    auto* c = new Connection(*this, *q->req_.server);
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
