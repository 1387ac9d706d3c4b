// DNS over UDP: one SO_REUSEPORT socket per loop and address, read and written in batches
// with recvmmsg/sendmmsg so a busy loop pays two system calls per batch, not per query.
#pragma once

#include <uv.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>

namespace sekisho::resolver {

class Worker;

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
    std::array<std::array<uint8_t, kMaxQuery>, kBatch> queries;
    std::array<mmsghdr, kBatch> out_msgs;
    std::array<iovec, kBatch> out_iov;
    std::array<std::array<uint8_t, kMaxAnswer>, kBatch> answers;
  };

  Worker& worker_;
  int fd_;
  uv_poll_t poll_{};
  bool open_ = true;
  Buffers* buffers_;
};

}  // namespace sekisho::resolver
