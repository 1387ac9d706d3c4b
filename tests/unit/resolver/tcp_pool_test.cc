// TcpPool against an in-loop TCP upstream whose behaviour each case sets: answers out of order,
// a connection closed with queries on it, a stream that is not DNS, idle closing.
#include "resolver/upstream/tcp_pool.h"

#include <doctest/doctest.h>
#include <uv.h>

#include <cstring>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "net/address.h"
#include "tests/unit/resolver/tcp_upstream.h"

namespace {

using sekisho::upstream::ExchangeRequest;
using sekisho::upstream::ExchangeResult;
using sekisho::upstream::ExchangeStatus;
using sekisho::upstream::TcpPool;
namespace dns = sekisho::dns;

std::vector<uint8_t> make_query(const std::string& label, uint16_t id) {
  std::vector<uint8_t> q(12, 0);
  dns::write_u16(q.data(), id);
  dns::write_u16(q.data() + 4, 1);
  q.push_back(static_cast<uint8_t>(label.size()));
  q.insert(q.end(), label.begin(), label.end());
  q.insert(q.end(), {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1});
  return q;
}

using Upstream = sekisho::test::TcpUpstream;

struct Outcome {
  bool done = false;
  ExchangeStatus status{};
  uint16_t id = 0;
  int error = 0;
};

struct Harness {
  uv_loop_t loop{};
  uv_timer_t tick{};
  sekisho::net::SocketAddress server;
  // A pending exchange points into these: a deque keeps them in place however many are asked.
  std::deque<std::vector<uint8_t>> queries;
  std::deque<dns::Question> questions;

  Harness() {
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, [](uv_timer_t*) {}, 5, 5);  // keeps UV_RUN_ONCE from blocking forever
  }
  void set_port(int port) {
    sockaddr_in sa{};
    uv_ip4_addr("127.0.0.1", port, &sa);
    std::memcpy(&server.storage, &sa, sizeof sa);
    server.length = sizeof sa;
  }
  bool run_until(const std::function<bool()>& cond, int max_ms = 3000) {
    uint64_t end = uv_now(&loop) + static_cast<uint64_t>(max_ms);
    while (!cond()) {
      if (uv_now(&loop) > end) return false;
      uv_run(&loop, UV_RUN_ONCE);
    }
    return true;
  }
  sekisho::upstream::Exchange* ask(TcpPool& pool, const std::string& label, uint16_t id, Outcome& out) {
    queries.push_back(make_query(label, id));
    questions.emplace_back();
    size_t pos = 12;
    REQUIRE(dns::read_question(queries.back(), pos, questions.back()));
    ExchangeRequest req{&server, queries.back(), id, &questions.back(),
                        [](void* owner, const ExchangeResult& r) {
                          auto* o = static_cast<Outcome*>(owner);
                          o->done = true;
                          o->status = r.status;
                          o->error = r.error;
                          if (r.status == ExchangeStatus::answer) o->id = dns::read_u16(r.msg.data());
                        },
                        &out};
    int error = 0;
    auto* ex = pool.start(req, error);
    REQUIRE(ex != nullptr);
    return ex;
  }
  void finish(TcpPool& pool, Upstream& up) {
    CHECK(run_until([&] { return pool.open_connections() == 0; }));  // the idle timeout closes them
    up.shut();
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
};

}  // namespace

TEST_CASE("tcp pool: at the connection limit, queries are pipelined and answers may come in any order") {
  Harness h;
  Upstream up(&h.loop);
  h.set_port(up.port);
  // Hold everything until all 10 queries are in, then answer each connection's frames backwards.
  size_t total = 0;
  up.on_frames = [&](Upstream::Conn&) {
    total = 0;
    for (auto* c : up.conns) total += c->frames.size();
    if (total != 10) return;
    for (auto* c : up.conns)
      for (auto it = c->frames.rbegin(); it != c->frames.rend(); ++it) Upstream::answer(*c, *it);
  };
  TcpPool pool(&h.loop, 50);
  Outcome out[10];
  for (int i = 0; i < 10; ++i) h.ask(pool, "q" + std::to_string(i), static_cast<uint16_t>(100 + i), out[i]);
  CHECK(h.run_until([&] {
    for (auto& o : out)
      if (!o.done) return false;
    return true;
  }));
  for (int i = 0; i < 10; ++i) {
    CHECK(out[i].status == ExchangeStatus::answer);
    CHECK(out[i].id == 100 + i);
  }
  CHECK(up.accepts == static_cast<int>(TcpPool::kMaxConnectionsPerUpstream));
  CHECK(pool.counters().connections_opened == TcpPool::kMaxConnectionsPerUpstream);
  // The same, per upstream address for /metrics; the gauge counts what is open now.
  REQUIRE(pool.counted_servers() == 1);
  CHECK(pool.server_counters(0).server == h.server);
  CHECK(pool.server_counters(0).connections_opened == TcpPool::kMaxConnectionsPerUpstream);
  CHECK(pool.server_counters(0).connections_open == TcpPool::kMaxConnectionsPerUpstream);
  // Idle again: the next query reuses a connection.
  up.on_frames = [](Upstream::Conn& c) {
    for (auto& f : c.frames) Upstream::answer(c, f);
    c.frames.clear();
  };
  for (auto* c : up.conns) c->frames.clear();
  Outcome again;
  h.ask(pool, "again", 7, again);
  CHECK(h.run_until([&] { return again.done; }));
  CHECK(again.id == 7);
  CHECK(up.accepts == static_cast<int>(TcpPool::kMaxConnectionsPerUpstream));
  h.finish(pool, up);
  CHECK(pool.server_counters(0).connections_open == 0);
  CHECK(pool.server_counters(0).connections_opened == TcpPool::kMaxConnectionsPerUpstream);
}

TEST_CASE("tcp pool: a configured limit of one connection pipelines everything on it") {
  Harness h;
  Upstream up(&h.loop);
  h.set_port(up.port);
  up.on_frames = [](Upstream::Conn& c) {
    for (auto& f : c.frames) Upstream::answer(c, f);
    c.frames.clear();
  };
  TcpPool pool(&h.loop);
  pool.set_limits(1, 50);  // the idle timeout too: finish() waits for it
  Outcome out[5];
  for (int i = 0; i < 5; ++i) h.ask(pool, "one" + std::to_string(i), static_cast<uint16_t>(200 + i), out[i]);
  CHECK(h.run_until([&] {
    for (auto& o : out)
      if (!o.done) return false;
    return true;
  }));
  for (int i = 0; i < 5; ++i) CHECK(out[i].id == 200 + i);
  CHECK(up.accepts == 1);
  h.finish(pool, up);
}

TEST_CASE("tcp pool: a query on a connection the upstream closes is sent again once") {
  Harness h;
  Upstream up(&h.loop);
  h.set_port(up.port);
  SUBCASE("the second connection answers") {
    up.on_frames = [&](Upstream::Conn& c) {
      if (up.accepts == 1) {
        up.close(c);
        return;
      }
      for (auto& f : c.frames) Upstream::answer(c, f);
      c.frames.clear();
    };
    TcpPool pool(&h.loop, 50);
    Outcome o;
    h.ask(pool, "resend", 42, o);
    CHECK(h.run_until([&] { return o.done; }));
    CHECK(o.status == ExchangeStatus::answer);
    CHECK(o.id == 42);
    CHECK(up.accepts == 2);
    CHECK(pool.counters().resent == 1);
    REQUIRE(pool.counted_servers() == 1);
    CHECK(pool.server_counters(0).resent == 1);
    CHECK(pool.server_counters(0).connections_opened == 2);
    h.finish(pool, up);
  }
  SUBCASE("closed again without an answer: a network error, no third connection") {
    up.on_frames = [&](Upstream::Conn& c) { up.close(c); };
    TcpPool pool(&h.loop, 50);
    Outcome o;
    h.ask(pool, "twice", 43, o);
    CHECK(h.run_until([&] { return o.done; }));
    CHECK(o.status == ExchangeStatus::network_error);
    CHECK(up.accepts == 2);
    h.finish(pool, up);
  }
}

TEST_CASE("tcp pool: a stream that is not DNS fails the query at once, without a resend") {
  Harness h;
  Upstream up(&h.loop);
  h.set_port(up.port);
  up.on_frames = [](Upstream::Conn& c) { Upstream::answer(c, {1, 2, 3}); };
  TcpPool pool(&h.loop, 50);
  Outcome o;
  h.ask(pool, "garbage", 44, o);
  CHECK(h.run_until([&] { return o.done; }));
  CHECK(o.status == ExchangeStatus::network_error);
  CHECK(o.error == EPROTO);
  CHECK(up.accepts == 1);
  h.finish(pool, up);
}

TEST_CASE("tcp pool: a timed-out query's late answer is skipped and a connection still answering stays usable") {
  Harness h;
  Upstream up(&h.loop);
  h.set_port(up.port);
  // Holds the first query; answers the second at once; with the third, answers what is held.
  up.on_frames = [](Upstream::Conn& c) {
    if (c.frames.size() == 2) Upstream::answer(c, c.frames[1]);
    if (c.frames.size() < 3) return;
    Upstream::answer(c, c.frames[0]);
    Upstream::answer(c, c.frames[2]);
    c.frames.clear();
  };
  TcpPool pool(&h.loop, 50);
  pool.set_limits(1, 50);  // everything pipelined on one connection
  Outcome gone, other, next;
  auto* ex = h.ask(pool, "gone", 50, gone);
  CHECK(h.run_until([&] { return up.accepts == 1 && up.conns[0]->frames.size() == 1; }));
  h.ask(pool, "other", 52, other);
  CHECK(h.run_until([&] { return other.done; }));
  ex->cancel();  // the attempt timed out, but the connection answered since: it stays
  h.ask(pool, "next", 51, next);
  CHECK(h.run_until([&] { return next.done; }));
  CHECK_FALSE(gone.done);
  CHECK(next.status == ExchangeStatus::answer);
  CHECK(next.id == 51);
  CHECK(up.accepts == 1);
  CHECK(pool.counters().retired_silent == 0);
  h.finish(pool, up);
}

TEST_CASE("tcp pool: a query timing out on a connection silent since it was sent retires the connection") {
  Harness h;
  Upstream up(&h.loop);
  h.set_port(up.port);
  // The first connection never answers; later ones answer at once.
  up.on_frames = [&up](Upstream::Conn& c) {
    if (&c != up.conns[0]) {
      for (auto& f : c.frames) Upstream::answer(c, f);
      c.frames.clear();
    }
  };
  TcpPool pool(&h.loop, 50);
  pool.set_limits(1, 50);
  Outcome stuck, waiting, next;
  auto* ex = h.ask(pool, "stuck", 60, stuck);
  auto* behind = h.ask(pool, "waiting", 61, waiting);  // pipelined behind it on the silent connection
  CHECK(h.run_until([&] { return up.accepts == 1 && up.conns[0]->frames.size() == 2; }));
  ex->cancel();
  CHECK(pool.counters().retired_silent == 1);
  // The retry goes to a new connection, although the limit is 1 and the old one is not full.
  h.ask(pool, "next", 62, next);
  CHECK(h.run_until([&] { return next.done; }));
  CHECK(next.status == ExchangeStatus::answer);
  CHECK(next.id == 62);
  CHECK(up.accepts == 2);
  CHECK(pool.open_connections() == 2);  // the retired one still carries "waiting"
  CHECK_FALSE(waiting.done);
  behind->cancel();  // its attempt times out too: the retired connection, now empty, closes
  CHECK(h.run_until([&] { return pool.open_connections() == 1; }));
  h.finish(pool, up);
}
