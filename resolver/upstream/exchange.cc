// UDP: a fresh connected socket per attempt, so the kernel picks a random source port
// (RFC 5452 §9.2) and drops datagrams from any other address. TCP goes through the loop's
// TcpPool (tcp_pool.h), which reuses connections.
#include "resolver/upstream/exchange.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "dns/edns.h"
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
  void report_error(int err) { report(ExchangeResult{ExchangeStatus::network_error, {}, 0, err, {}}); }

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
    if (req_.open_sockets) ++*req_.open_sockets;
    if (::connect(fd_, req_.server->get(), req_.server->length) != 0) return errno;
    if (int rc = uv_poll_init(loop, &poll_, fd_); rc != 0) return -rc;
    polling_ = true;
    uv_poll_start(&poll_, UV_READABLE, &UdpExchange::on_readable);
    if (::send(fd_, query_.data(), query_.size(), 0) < 0) return errno;
    return 0;
  }

  void close_fd_only() {
    if (fd_ < 0) return;
    ::close(fd_);
    fd_ = -1;
    if (req_.open_sockets) --*req_.open_sockets;
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
      ExchangeResult result{ExchangeStatus::answer, msg, question_end, 0, {}};
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

}  // namespace

std::string failure_reason(const ExchangeResult& result) {
  if (result.status == ExchangeStatus::truncated) return "truncated answer over TCP";
  if (!result.detail.empty()) return std::string(result.detail);
  return std::strerror(result.error);
}

void build_query(const dns::Question& q, uint16_t id, bool cd, bool do_bit, std::vector<uint8_t>& out,
                 const dns::ClientSubnet& subnet) {
  out.resize(dns::kHeaderSize + q.qname_len + 4 + 11 + subnet.option_size());
  uint8_t* p = out.data();
  dns::write_u16(p, id);
  dns::write_u16(p + 2, static_cast<uint16_t>(dns::flag::kRd | (cd ? dns::flag::kCd : 0)));
  dns::write_u16(p + 4, 1);
  dns::write_u16(p + 6, 0);
  dns::write_u16(p + 8, 0);
  dns::write_u16(p + 10, 1);
  std::memcpy(p + 12, q.qname_lower, q.qname_len);
  size_t n = 12 + q.qname_len;
  dns::write_u16(p + n, q.qtype);
  dns::write_u16(p + n + 2, q.qclass);
  n += 4;
  const size_t opt = dns::write_opt(p + n, out.size() - n, dns::kAdvertisedUdpPayload, dns::Rcode::noerror, do_bit, nullptr);
  dns::append_ecs_option(p + n, opt, subnet);
}

Exchange* start_udp_exchange(uv_loop_t* loop, const ExchangeRequest& request, int& error) {
  auto* ex = new UdpExchange(request);
  if (int rc = ex->start(loop); rc != 0) {
    error = rc;
    ex->cancel();
    return nullptr;
  }
  return ex;
}

}  // namespace sekisho::upstream
