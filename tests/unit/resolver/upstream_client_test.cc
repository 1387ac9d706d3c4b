// upstream::Client (the standalone client sekisho-intercept uses) against in-loop UDP upstreams
// whose behaviour each case sets: fail-over on SERVFAIL and on silence, the attempts bound, the
// callback never inside ask(), and a client destroyed with questions in flight.
#include "resolver/upstream/client.h"

#include <doctest/doctest.h>
#include <uv.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/address.h"
#include "tests/unit/resolver/tcp_upstream.h"

namespace {

namespace dns = sekisho::dns;
using sekisho::upstream::Client;
using sekisho::upstream::ClientAnswer;
using sekisho::test::TcpUpstream;

const std::string kName("\x03www\x07" "example\x00", 13);

// A UDP upstream on 127.0.0.1: records each query; `reply` makes the answer (empty: silent).
struct UdpUpstream {
  uv_udp_t udp{};
  int queries = 0;
  std::function<std::vector<uint8_t>(const std::vector<uint8_t>&)> reply;

  explicit UdpUpstream(uv_loop_t* loop, uint16_t port = 0) {
    uv_udp_init(loop, &udp);
    udp.data = this;
    sockaddr_in sa{};
    uv_ip4_addr("127.0.0.1", port, &sa);
    REQUIRE(uv_udp_bind(&udp, reinterpret_cast<const sockaddr*>(&sa), 0) == 0);
    uv_udp_recv_start(
        &udp, [](uv_handle_t*, size_t, uv_buf_t* buf) { *buf = uv_buf_init(new char[4096], 4096); },
        [](uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from, unsigned) {
          auto* self = static_cast<UdpUpstream*>(h->data);
          std::vector<uint8_t> q(buf->base, buf->base + (n > 0 ? n : 0));
          delete[] buf->base;
          if (n <= 0 || !from) return;
          ++self->queries;
          std::vector<uint8_t> r = self->reply ? self->reply(q) : std::vector<uint8_t>{};
          if (r.empty()) return;
          uv_buf_t out = uv_buf_init(reinterpret_cast<char*>(r.data()), static_cast<unsigned>(r.size()));
          uv_udp_try_send(h, &out, 1, from);
        });
  }
  sekisho::config::UpstreamSettings settings() const {
    sockaddr_storage ss{};
    int len = sizeof ss;
    uv_udp_getsockname(&udp, reinterpret_cast<sockaddr*>(&ss), &len);
    sekisho::config::UpstreamSettings s;
    s.address = sekisho::net::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len));
    return s;
  }
  void close() { uv_close(reinterpret_cast<uv_handle_t*>(&udp), nullptr); }
};

// The query echoed back as its answer (question and ID kept) with `rcode`; OPT dropped.
std::vector<uint8_t> answer(const std::vector<uint8_t>& q, uint8_t rcode) {
  std::vector<uint8_t> r(q.begin(), q.begin() + 12 + static_cast<long>(kName.size()) + 4);
  r[2] |= 0x80;
  r[3] = static_cast<uint8_t>(0x80 | rcode);
  dns::write_u16(r.data() + 10, 0);  // ARCOUNT: the OPT is not echoed
  return r;
}

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  bool run_until(const std::function<bool()>& cond, int max_ms = 3000) {
    uv_timer_t tick{};
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, [](uv_timer_t*) {}, 5, 5);  // keeps UV_RUN_ONCE from blocking forever
    const uint64_t end = uv_now(&loop) + static_cast<uint64_t>(max_ms);
    bool ok = true;
    while (!cond()) {
      if (uv_now(&loop) > end) {
        ok = false;
        break;
      }
      uv_run(&loop, UV_RUN_ONCE);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
    return ok;
  }
  void finish() {
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
};

struct Result {
  bool done = false;
  ClientAnswer answer;
  std::vector<uint8_t> msg;
};

Client::Callback record(Result& r) {
  return [&r](const ClientAnswer& a) {
    r.done = true;
    r.answer.ok = a.ok;
    r.answer.failure = a.failure;
    r.msg.assign(a.msg.begin(), a.msg.end());
  };
}

}  // namespace

TEST_CASE("upstream client: SERVFAIL fails over to the next upstream; the answer never comes inside ask()") {
  Loop l;
  UdpUpstream bad(&l.loop), good(&l.loop);
  bad.reply = [](const std::vector<uint8_t>& q) { return answer(q, 2); };
  good.reply = [](const std::vector<uint8_t>& q) { return answer(q, 0); };
  sekisho::config::ForwardingSettings fw;
  fw.timeout_ms = 1000;
  fw.attempts = 2;
  {
    Client c(&l.loop, {bad.settings(), good.settings()}, fw);
    Result r;
    c.ask(kName, 1, record(r));
    CHECK_FALSE(r.done);
    REQUIRE(l.run_until([&] { return r.done; }));
    CHECK(r.answer.ok);
    REQUIRE(r.msg.size() > 12);
    CHECK((r.msg[3] & 0x0F) == 0);
    CHECK(bad.queries == 1);
    CHECK(good.queries == 1);
    CHECK(c.upstreams().at(0).failures.load() == 1);
    CHECK(c.upstreams().at(1).failures.load() == 0);
    CHECK(c.in_flight() == 0);
  }
  bad.close();
  good.close();
  l.finish();
}

TEST_CASE("upstream client: a silent upstream times out; every attempt used, then the failure is named") {
  Loop l;
  UdpUpstream silent(&l.loop);
  sekisho::config::ForwardingSettings fw;
  fw.timeout_ms = 30;
  fw.attempts = 3;
  {
    Client c(&l.loop, {silent.settings()}, fw);
    Result r;
    c.ask(kName, 28, record(r));
    REQUIRE(l.run_until([&] { return r.done; }));
    CHECK_FALSE(r.answer.ok);
    CHECK(silent.queries == 3);
    CHECK(r.answer.failure == silent.settings().address.to_string() + ": timeout after 30 ms");
  }
  silent.close();
  l.finish();
}

TEST_CASE("upstream client: a truncated UDP answer is asked again over TCP, same upstream, same ID") {
  Loop l;
  TcpUpstream tcp(&l.loop);
  UdpUpstream same(&l.loop, static_cast<uint16_t>(tcp.port));  // UDP on the TCP listener's port: one upstream
  std::vector<uint16_t> ids;
  same.reply = [&](const std::vector<uint8_t>& q) {
    ids.push_back(dns::read_u16(q.data()));
    auto r = answer(q, 0);
    r[2] |= 0x02;  // TC
    return r;
  };
  size_t answered = 0;
  tcp.on_frames = [&](TcpUpstream::Conn& c) {
    for (; answered < c.frames.size(); ++answered) {
      ids.push_back(dns::read_u16(c.frames[answered].data()));
      TcpUpstream::answer(c, c.frames[answered]);
    }
  };
  sekisho::config::ForwardingSettings fw;
  fw.attempts = 1;
  {
    Client c(&l.loop, {same.settings()}, fw);
    Result r;
    c.ask(kName, 1, record(r));
    REQUIRE(l.run_until([&] { return r.done; }));
    CHECK(r.answer.ok);
    CHECK((r.msg[2] & 0x02) == 0);
    CHECK(same.queries == 1);
    CHECK(answered == 1);
    REQUIRE(ids.size() == 2);
    CHECK(ids[0] == ids[1]);
  }  // the pooled TCP connection, idle now, closes with the client
  same.close();
  tcp.shut();
  l.finish();
}

TEST_CASE("upstream client: destroyed with questions in flight, it calls nothing back and leaves no handle") {
  Loop l;
  UdpUpstream silent(&l.loop);
  sekisho::config::ForwardingSettings fw;
  fw.timeout_ms = 5000;
  Result first, second;
  {
    Client c(&l.loop, {silent.settings()}, fw);
    c.ask(kName, 1, record(first));
    c.ask(kName, 28, record(second));
    REQUIRE(l.run_until([&] { return silent.queries == 2; }));
    CHECK(c.in_flight() == 2);
  }
  silent.close();
  l.finish();  // would hang on a timer left running; uv_loop_close fails on a handle left open
  CHECK_FALSE(first.done);
  CHECK_FALSE(second.done);
}

TEST_CASE("upstream client: destroyed with a TCP question in flight, its connection closes with it") {
  Loop l;
  TcpUpstream silent(&l.loop);
  silent.on_frames = [](TcpUpstream::Conn&) {};  // reads every query, answers none
  sekisho::config::UpstreamSettings up;
  std::string error;
  up.address = *sekisho::net::parse_socket_address("127.0.0.1:" + std::to_string(silent.port), 53, error);
  up.transport = sekisho::config::UpstreamTransport::tcp;
  sekisho::config::ForwardingSettings fw;
  fw.timeout_ms = 5000;
  Result r;
  {
    Client c(&l.loop, {up}, fw);
    c.ask(kName, 1, record(r));
    REQUIRE(l.run_until([&] { return !silent.conns.empty() && silent.conns[0]->frames.size() == 1; }));
  }
  silent.shut();
  l.finish();
  CHECK_FALSE(r.done);
}
