// UDP: a fresh connected socket per attempt, so the kernel picks a random source port
// (RFC 5452 §9.2) and drops datagrams from any other address. TCP: a fresh connection per
// attempt; RFC 7766 framing.
#include "resolver/upstream/exchange.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "resolver/upstream/response_check.h"

namespace sekisho::upstream {
namespace {

// What both transports share: report exactly once, then close the handles (each transport
// knows its own) and free the object in the close callback.
class ExchangeBase : public Exchange {
 public:
  explicit ExchangeBase(const ExchangeRequest& r) : req_(r) {}
  void cancel() override { close(); }

 protected:
  void report_error(int err) { report(ExchangeResult{ExchangeStatus::network_error, {}, 0, err}); }

  void report(const ExchangeResult& result) {
    if (done_) return;
    done_ = true;
    req_.callback(req_.owner, result);
    close();
  }

  void close() {
    done_ = true;
    if (closing_) return;
    closing_ = true;
    close_handles();
  }

  // Starts closing the transport's handles; must end in `delete this` (now or in a callback).
  virtual void close_handles() = 0;

  ExchangeRequest req_;
  bool done_ = false;

 private:
  bool closing_ = false;
};

class UdpExchange final : public ExchangeBase {
 public:
  UdpExchange(const ExchangeRequest& r) : ExchangeBase(r), query_(r.query.begin(), r.query.end()) { poll_.data = this; }

  int start(uv_loop_t* loop) {
    fd_ = ::socket(req_.server->family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return errno;
    if (::connect(fd_, req_.server->get(), req_.server->length) != 0) return errno;
    if (int rc = uv_poll_init(loop, &poll_, fd_); rc != 0) return -rc;
    polling_ = true;
    uv_poll_start(&poll_, UV_READABLE, &UdpExchange::on_readable);
    if (::send(fd_, query_.data(), query_.size(), 0) < 0) return errno;
    return 0;
  }

  void close_fd_only() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  static void on_readable(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<UdpExchange*>(handle->data);
    if (status < 0) {
      self->report_error(-status);
      return;
    }
    uint8_t buffer[4096];
    // Bounded: a flood of forged datagrams on this socket cannot keep the loop here.
    for (int i = 0; i < 16 && !self->done_; ++i) {
      ssize_t n = ::recv(self->fd_, buffer, sizeof buffer, MSG_TRUNC);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR) continue;
        self->report_error(errno);  // e.g. ECONNREFUSED from an ICMP port unreachable
        return;
      }
      // Larger than we advertised: what we hold is cut, so take it as truncated and go to TCP.
      const bool cut = static_cast<size_t>(n) > sizeof buffer;
      std::span<const uint8_t> msg(buffer, cut ? sizeof buffer : static_cast<size_t>(n));
      size_t question_end = 0;
      if (!response_matches(msg, self->req_.id, *self->req_.question, question_end)) continue;
      ExchangeResult result{ExchangeStatus::answer, msg, question_end, 0};
      if (cut || dns::read_header(msg).tc()) result.status = ExchangeStatus::truncated;
      self->report(result);
      return;
    }
  }

  void close_handles() override {
    if (!polling_) {
      close_fd_only();
      delete this;
      return;
    }
    uv_poll_stop(&poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* h) {
      auto* self = static_cast<UdpExchange*>(h->data);
      self->close_fd_only();
      delete self;
    });
  }

  std::vector<uint8_t> query_;
  uv_poll_t poll_{};
  int fd_ = -1;
  bool polling_ = false;
};

class TcpExchange final : public ExchangeBase {
 public:
  TcpExchange(const ExchangeRequest& r) : ExchangeBase(r) {
    frame_.resize(2 + r.query.size());
    dns::write_u16(frame_.data(), static_cast<uint16_t>(r.query.size()));
    std::memcpy(frame_.data() + 2, r.query.data(), r.query.size());
    tcp_.data = this;
    connect_.data = this;
    write_.data = this;
  }

  int start(uv_loop_t* loop) {
    if (int rc = uv_tcp_init(loop, &tcp_); rc != 0) return -rc;
    initialised_ = true;
    uv_tcp_nodelay(&tcp_, 1);
    if (int rc = uv_tcp_connect(&connect_, &tcp_, req_.server->get(), &TcpExchange::on_connect); rc != 0)
      return -rc;
    return 0;
  }


 private:
  static void on_connect(uv_connect_t* req, int status) {
    auto* self = static_cast<TcpExchange*>(req->data);
    if (self->done_) return;
    if (status < 0) {
      self->report_error(-status);
      return;
    }
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(self->frame_.data()), static_cast<unsigned>(self->frame_.size()));
    if (int rc = uv_write(&self->write_, reinterpret_cast<uv_stream_t*>(&self->tcp_), &buf, 1, &TcpExchange::on_write);
        rc != 0) {
      self->report_error(-rc);
      return;
    }
    uv_read_start(reinterpret_cast<uv_stream_t*>(&self->tcp_), &TcpExchange::on_alloc, &TcpExchange::on_read);
  }

  static void on_write(uv_write_t* req, int status) {
    auto* self = static_cast<TcpExchange*>(req->data);
    if (status < 0 && status != UV_ECANCELED) self->report_error(-status);
  }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<TcpExchange*>(h->data);
    if (self->in_.size() < self->in_len_ + 4096) self->in_.resize(self->in_len_ + 4096);
    *buf = uv_buf_init(reinterpret_cast<char*>(self->in_.data() + self->in_len_), 4096);
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
    auto* self = static_cast<TcpExchange*>(s->data);
    if (self->done_) return;
    if (nread < 0) {
      self->report_error(nread == UV_EOF ? ECONNRESET : static_cast<int>(-nread));
      return;
    }
    self->in_len_ += static_cast<size_t>(nread);
    // A connection of our own carries only our query; frames that do not match are skipped.
    while (self->in_len_ >= 2) {
      size_t len = dns::read_u16(self->in_.data());
      if (self->in_len_ < 2 + len) return;
      std::span<const uint8_t> msg(self->in_.data() + 2, len);
      size_t question_end = 0;
      if (response_matches(msg, self->req_.id, *self->req_.question, question_end)) {
        self->report(ExchangeResult{ExchangeStatus::answer, msg, question_end, 0});
        return;
      }
      std::memmove(self->in_.data(), self->in_.data() + 2 + len, self->in_len_ - 2 - len);
      self->in_len_ -= 2 + len;
    }
  }

  void close_handles() override {
    if (!initialised_) {
      delete this;
      return;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) { delete static_cast<TcpExchange*>(h->data); });
  }

  std::vector<uint8_t> frame_;
  std::vector<uint8_t> in_;
  size_t in_len_ = 0;
  uv_tcp_t tcp_{};
  uv_connect_t connect_{};
  uv_write_t write_{};
  bool initialised_ = false;
};

}  // namespace

Exchange* start_udp_exchange(uv_loop_t* loop, const ExchangeRequest& request, int& error) {
  auto* ex = new UdpExchange(request);
  if (int rc = ex->start(loop); rc != 0) {
    error = rc;
    ex->cancel();
    return nullptr;
  }
  return ex;
}

Exchange* start_tcp_exchange(uv_loop_t* loop, const ExchangeRequest& request, int& error) {
  auto* ex = new TcpExchange(request);
  if (int rc = ex->start(loop); rc != 0) {
    error = rc;
    ex->cancel();
    return nullptr;
  }
  return ex;
}

}  // namespace sekisho::upstream
