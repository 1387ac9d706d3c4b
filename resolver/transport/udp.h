// DNS over UDP: one SO_REUSEPORT socket per loop and address, read and written in batches
// with recvmmsg/sendmmsg so a busy loop pays two system calls per batch, not per query.
#pragma once

#include <uv.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <span>

#include "net/address.h"
#include "resolver/transport/udp_pktinfo.h"

namespace sekisho::resolver {

class Worker;

// Sends one answer outside a batch (a late answer from upstream), from `destination` when the
// socket is a wildcard one. Returns false when the kernel refused it.
bool send_udp_answer(int fd, std::span<const uint8_t> answer, const net::SocketAddress& peer,
                     const net::QueryDestination& destination);

class UdpListener {
 public:
  UdpListener(Worker& worker, int fd);
  ~UdpListener();
  int fd() const { return fd_; }
  void stop_reading();
  void close();  // frees nothing itself: the Worker owns the object; the fd closes with it

  static constexpr size_t kBatch = 64;
  static constexpr size_t kMaxQuery = 4096;      // larger datagrams are not DNS queries we serve
  static constexpr size_t kMaxAnswer = 1232;     // answer_limit() never exceeds this over UDP

 private:
  static void on_readable(uv_poll_t* handle, int status, int events);
  void read_batches();
  void send_batch(unsigned count);

  struct Buffers {
    std::array<mmsghdr, kBatch> in_msgs;
    std::array<iovec, kBatch> in_iov;
    std::array<sockaddr_storage, kBatch> peers;
    std::array<net::ControlBuffer, kBatch> in_control;  // wildcard sockets: each query's destination
    std::array<std::array<uint8_t, kMaxQuery>, kBatch> queries;
    std::array<mmsghdr, kBatch> out_msgs;
    std::array<iovec, kBatch> out_iov;
    std::array<net::ControlBuffer, kBatch> out_control;  // wildcard sockets: each answer's source
    std::array<std::array<uint8_t, kMaxAnswer>, kBatch> answers;
  };

  Worker& worker_;
  int fd_;
  // Bound to 0.0.0.0 or [::]: every datagram reports its destination and every answer names it.
  bool wildcard_ = false;
  net::QueryDestination bound_;  // the bound address: every query's destination when not wildcard
  uv_poll_t poll_{};
  bool open_ = true;
  Buffers* buffers_;
};

}  // namespace sekisho::resolver
