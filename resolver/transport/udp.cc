#include "resolver/transport/udp.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "net/address.h"
#include "resolver/pipeline.h"
#include "resolver/worker.h"

namespace sekisho::resolver {
namespace {
// Batches read per readiness event before yielding to the loop's other handles (TCP,
// upstream answers, timers), so a flood on UDP cannot starve them.
constexpr int kBatchesPerWakeup = 8;
}  // namespace

UdpListener::UdpListener(Worker& worker, int fd) : worker_(worker), fd_(fd), buffers_(new Buffers()) {
  net::SocketAddress bound;
  bound.length = sizeof bound.storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound.storage), &bound.length) == 0) {
    bound_ = net::fixed_destination(bound);
    if (net::is_wildcard(bound)) {
      wildcard_ = net::request_destinations(fd, bound.family()) == 0;
      if (!wildcard_)
        log::warning("udp", "cannot learn query destinations; answers leave from the kernel's default source",
                     {{"address", bound.to_string()}, {"error", std::strerror(errno)}});
    }
  }
  poll_.data = this;
  uv_poll_init(worker.loop(), &poll_, fd);
  uv_poll_start(&poll_, UV_READABLE, &UdpListener::on_readable);
}

UdpListener::~UdpListener() {
  delete buffers_;
  if (fd_ >= 0) ::close(fd_);
}

void UdpListener::stop_reading() {
  if (open_) uv_poll_stop(&poll_);
}

void UdpListener::close() {
  if (!open_) return;
  open_ = false;
  uv_poll_stop(&poll_);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), nullptr);
}

void UdpListener::on_readable(uv_poll_t* handle, int status, int) {
  if (status < 0) return;  // spurious error events on UDP are not fatal; the next read tells
  static_cast<UdpListener*>(handle->data)->read_batches();
}

void UdpListener::read_batches() {
  Buffers& b = *buffers_;
  for (int round = 0; round < kBatchesPerWakeup; ++round) {
    for (size_t i = 0; i < kBatch; ++i) {
      b.in_iov[i] = iovec{b.queries[i].data(), kMaxQuery};
      msghdr& h = b.in_msgs[i].msg_hdr;
      h = msghdr{};
      h.msg_name = &b.peers[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &b.in_iov[i];
      h.msg_iovlen = 1;
      if (wildcard_) {
        h.msg_control = b.in_control[i].bytes.data();
        h.msg_controllen = b.in_control[i].bytes.size();
      }
    }
    int n = ::recvmmsg(fd_, b.in_msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;  // EAGAIN: drained; other errors (ICMP noise) are per-datagram and harmless
    worker_.begin_batch();
    unsigned out = 0;
    for (int i = 0; i < n; ++i) {
      const msghdr& h = b.in_msgs[i].msg_hdr;
      if (h.msg_flags & MSG_TRUNC) {
        ++worker_.counters().malformed;
        continue;
      }
      Origin origin;
      origin.transport = Transport::udp;
      origin.udp_fd = fd_;
      std::memcpy(&origin.peer.storage, &b.peers[i], h.msg_namelen);
      origin.peer.length = h.msg_namelen;
      origin.destination = wildcard_ ? net::read_destination(h) : bound_;
      size_t len = 0;
      std::span<const uint8_t> query(b.queries[i].data(), b.in_msgs[i].msg_len);
      if (run_query(worker_, query, origin, b.answers[out], len) != Step::answered) continue;
      b.out_iov[out] = iovec{b.answers[out].data(), len};
      msghdr& oh = b.out_msgs[out].msg_hdr;
      oh = msghdr{};
      oh.msg_name = &b.peers[i];
      oh.msg_namelen = h.msg_namelen;
      oh.msg_iov = &b.out_iov[out];
      oh.msg_iovlen = 1;
      net::set_source(oh, origin.destination, b.out_control[out]);
      ++out;
    }
    worker_.end_batch();
    send_batch(out);
    if (static_cast<size_t>(n) < kBatch) return;
  }
}

void UdpListener::send_batch(unsigned count) {
  Buffers& b = *buffers_;
  unsigned sent = 0;
  while (sent < count) {
    int n = ::sendmmsg(fd_, b.out_msgs.data() + sent, count - sent, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      // Socket buffer full or the peer unreachable: skip this datagram, as a router would.
      ++worker_.counters().udp_send_errors;
      ++sent;
      continue;
    }
    sent += static_cast<unsigned>(n);
  }
}

bool send_udp_answer(int fd, std::span<const uint8_t> answer, const net::SocketAddress& peer,
                     const net::QueryDestination& destination) {
  iovec iov{const_cast<uint8_t*>(answer.data()), answer.size()};
  msghdr h{};
  h.msg_name = const_cast<sockaddr*>(peer.get());
  h.msg_namelen = peer.length;
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  net::ControlBuffer control;
  net::set_source(h, destination, control);
  return ::sendmsg(fd, &h, MSG_DONTWAIT) >= 0;
}

}  // namespace sekisho::resolver
