// tests/unit/resolver/tcp_upstream.h — a DNS-over-TCP upstream on 127.0.0.1 inside the test's own
// libuv loop: it collects the frames of each connection and lets the case decide what to do
// (answer, in any order; close; send garbage).
#pragma once

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <uv.h>

#include <cstring>
#include <functional>
#include <vector>

#include "dns/wire.h"

namespace sekisho::test {

struct TcpUpstream {
  struct Conn {
    TcpUpstream* up;
    uv_tcp_t tcp{};
    std::vector<uint8_t> in;
    std::vector<std::vector<uint8_t>> frames;
    bool closed = false;
  };
  uv_loop_t* loop;
  uv_tcp_t listener{};
  int port = 0;
  int accepts = 0;
  std::vector<Conn*> conns;
  std::function<void(Conn&)> on_frames;  // called after each read with the connection's frames

  explicit TcpUpstream(uv_loop_t* l) : loop(l) {
    uv_tcp_init(loop, &listener);
    listener.data = this;
    sockaddr_in sa{};
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_bind(&listener, reinterpret_cast<const sockaddr*>(&sa), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 16, [](uv_stream_t* s, int) {
      auto* up = static_cast<TcpUpstream*>(s->data);
      auto* c = new Conn;
      c->up = up;
      uv_tcp_init(up->loop, &c->tcp);
      c->tcp.data = c;
      uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->tcp));
      ++up->accepts;
      up->conns.push_back(c);
      uv_read_start(
          reinterpret_cast<uv_stream_t*>(&c->tcp),
          [](uv_handle_t*, size_t, uv_buf_t* buf) { *buf = uv_buf_init(new char[4096], 4096); },
          [](uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
            auto* conn = static_cast<Conn*>(st->data);
            if (n > 0) conn->in.insert(conn->in.end(), buf->base, buf->base + n);
            delete[] buf->base;
            if (n < 0) {
              conn->up->close(*conn);
              return;
            }
            while (conn->in.size() >= 2 && conn->in.size() >= 2u + sekisho::dns::read_u16(conn->in.data())) {
              size_t len = sekisho::dns::read_u16(conn->in.data());
              conn->frames.emplace_back(conn->in.begin() + 2, conn->in.begin() + 2 + static_cast<long>(len));
              conn->in.erase(conn->in.begin(), conn->in.begin() + 2 + static_cast<long>(len));
            }
            if (n > 0) conn->up->on_frames(*conn);
          });
    });
    sockaddr_storage ss{};
    int len = sizeof ss;
    uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&ss), &len);
    port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }

  static void answer(Conn& c, std::vector<uint8_t> msg) {
    if (c.closed) return;
    if (msg.size() >= 12) msg[2] |= 0x80;  // QR: the query echoed back is its own answer
    auto* frame = new std::vector<uint8_t>(2 + msg.size());
    sekisho::dns::write_u16(frame->data(), static_cast<uint16_t>(msg.size()));
    std::memcpy(frame->data() + 2, msg.data(), msg.size());
    auto* w = new uv_write_t;
    w->data = frame;
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(frame->data()), static_cast<unsigned>(frame->size()));
    uv_write(w, reinterpret_cast<uv_stream_t*>(&c.tcp), &buf, 1, [](uv_write_t* req, int) {
      delete static_cast<std::vector<uint8_t>*>(req->data);
      delete req;
    });
  }

  void close(Conn& c) {
    if (c.closed) return;
    c.closed = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), nullptr);
  }

  void shut() {
    for (Conn* c : conns) close(*c);
    uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
  }
  ~TcpUpstream() {
    for (Conn* c : conns) delete c;
  }
};

}  // namespace sekisho::test
