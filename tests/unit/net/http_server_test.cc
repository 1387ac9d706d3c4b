// The HTTP server on a real libuv loop and real loopback sockets, in clear text: responses,
// in-order pipelining with a late first answer, limits, and errors that close the connection.
// (TLS, ALPN and HTTP/2 are covered end to end with curl, kdig and openssl in tests/e2e/test_doh.py.)
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/http/server.h"
#include "net/per_address_limit.h"

using namespace sekisho;
using net::http::Exchange;
using net::http::Response;

namespace {

// A loop thread with one server; the handler answers "/slow" 100 ms late, everything else at once.
struct Fixture {
  uv_loop_t loop{};
  uv_async_t stop{};
  std::unique_ptr<net::http::Server> server;
  uint16_t port = 0;
  std::thread thread;

  bool streaming = false;

  explicit Fixture(net::http::Limits limits = {}) : streaming(limits.streaming) {
    uv_loop_init(&loop);
    server = std::make_unique<net::http::Server>(&loop, [this](std::shared_ptr<Exchange> ex) { handle(ex); }, limits);
    std::string error, why;
    auto addr = net::parse_socket_address("127.0.0.1:0", 0, why);
    auto bound = server->listen(*addr, nullptr, error);
    REQUIRE_MESSAGE(bound, error);
    port = bound->port();
    uv_async_init(&loop, &stop, [](uv_async_t* a) {
      auto* f = static_cast<Fixture*>(a->data);
      f->server->close();
      uv_close(reinterpret_cast<uv_handle_t*>(&f->stop), nullptr);
    });
    stop.data = this;
    thread = std::thread([this] { uv_run(&loop, UV_RUN_DEFAULT); });
  }
  ~Fixture() {
    uv_async_send(&stop);
    thread.join();
    server.reset();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }

  void handle(const std::shared_ptr<Exchange>& ex) {
    if (streaming) {
      // Reads the body as it flows, then answers with its length.
      auto received = std::make_shared<size_t>(0);
      ex->read_body([ex, received](std::string_view data, bool end) {
        *received += data.size();
        ex->consumed(data.size());
        if (!end) return;
        Response r;
        r.body = "got " + std::to_string(*received);
        ex->respond(std::move(r));
      });
      return;
    }
    Response r;
    r.set("content-type", "text/plain");
    r.body = ex->request().method + " " + ex->request().path + " " + ex->request().body;
    if (ex->request().path != "/slow") return ex->respond(std::move(r));
    struct Late {
      uv_timer_t timer;
      std::shared_ptr<Exchange> ex;
      Response r;
    };
    auto* late = new Late{{}, ex, std::move(r)};
    uv_timer_init(&loop, &late->timer);
    late->timer.data = late;
    uv_timer_start(&late->timer, [](uv_timer_t* t) {
      auto* l = static_cast<Late*>(t->data);
      l->ex->respond(std::move(l->r));
      uv_close(reinterpret_cast<uv_handle_t*>(&l->timer), [](uv_handle_t* h) { delete static_cast<Late*>(h->data); });
    }, 100, 0);
  }
};

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

void send_all(int fd, const std::string& s) { REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size())); }

// Reads until the peer closes or `until` appears `count` times (or 3 s pass).
std::string read_until(int fd, const std::string& until, int count) {
  std::string got;
  char buf[4096];
  for (;;) {
    int seen = 0;
    for (size_t p = got.find(until); p != std::string::npos; p = got.find(until, p + 1)) ++seen;
    if (!until.empty() && seen >= count) return got;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return got;
    got.append(buf, static_cast<size_t>(n));
  }
}

bool peer_closed(int fd) {
  char b;
  return ::recv(fd, &b, 1, 0) == 0;
}

}  // namespace

TEST_SUITE("http.server") {

TEST_CASE("HTTP/1.1 request and response with content-length, keep-alive") {
  Fixture f;
  int fd = connect_to(f.port);
  send_all(fd, "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n");
  std::string r = read_until(fd, "GET /a ", 1);
  CHECK(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(r.find("content-length: 7\r\n") != std::string::npos);
  CHECK(r.find("content-type: text/plain\r\n") != std::string::npos);
  CHECK(r.find("connection: close") == std::string::npos);
  send_all(fd, "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz");  // same connection
  r = read_until(fd, "POST /b xyz", 1);
  CHECK(r.find("POST /b xyz") != std::string::npos);
  ::close(fd);
}

TEST_CASE("pipelined requests are answered in order even when the first answer is late") {
  Fixture f;
  int fd = connect_to(f.port);
  send_all(fd, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\nGET /fast HTTP/1.1\r\nHost: h\r\n\r\n");
  std::string r = read_until(fd, "HTTP/1.1 200", 2);
  const size_t slow = r.find("GET /slow");
  const size_t fast = r.find("GET /fast");
  REQUIRE(slow != std::string::npos);
  REQUIRE(fast != std::string::npos);
  CHECK(slow < fast);
  ::close(fd);
}

TEST_CASE("a malformed request gets its status, connection: close, and the connection ends") {
  Fixture f;
  int fd = connect_to(f.port);
  send_all(fd, "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string r = read_until(fd, "", 0);
  CHECK(r.rfind("HTTP/1.1 411 Length Required\r\n", 0) == 0);
  CHECK(r.find("connection: close\r\n") != std::string::npos);
  CHECK(r.find("chunked") != std::string::npos);  // the reason is in the body
  ::close(fd);
}

TEST_CASE("Connection: close is honoured after the response") {
  Fixture f;
  int fd = connect_to(f.port);
  send_all(fd, "GET /bye HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  std::string r = read_until(fd, "", 0);
  CHECK(r.find("GET /bye") != std::string::npos);
  CHECK(r.find("connection: close\r\n") != std::string::npos);
  ::close(fd);
}

TEST_CASE("a slow client is cut off by the header timeout; the server keeps serving others") {
  net::http::Limits limits;
  limits.header_timeout_ms = 300;
  Fixture f(limits);
  int slow = connect_to(f.port);
  send_all(slow, "GET / HTTP/1.1\r\nHost: h\r\n");  // never finishes its head
  int other = connect_to(f.port);
  send_all(other, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(read_until(other, "GET /ok", 1).find("GET /ok") != std::string::npos);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(peer_closed(slow));
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  CHECK(waited < 2000);
  ::close(slow);
  ::close(other);
}

TEST_CASE("the per-connection request cap closes after the last allowed response") {
  net::http::Limits limits;
  limits.max_requests_per_connection = 2;
  Fixture f(limits);
  int fd = connect_to(f.port);
  send_all(fd, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n");
  std::string r = read_until(fd, "", 0);
  CHECK(r.find("GET /1") != std::string::npos);
  CHECK(r.find("GET /2") != std::string::npos);
  CHECK(r.find("GET /3") == std::string::npos);
  ::close(fd);
}

TEST_CASE("a client gone before its late answer: the answer is dropped, the server keeps serving") {
  Fixture f;
  int fd = connect_to(f.port);
  send_all(fd, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
  ::close(fd);  // the handler still holds the exchange and responds 100 ms later
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  int again = connect_to(f.port);
  send_all(again, "GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(read_until(again, "GET /after", 1).find("GET /after") != std::string::npos);
  ::close(again);
}

TEST_CASE("a request head over max_header_bytes gets 431 and the connection closes") {
  net::http::Limits limits;
  limits.max_header_bytes = 1024;
  Fixture f(limits);
  int fd = connect_to(f.port);
  send_all(fd, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
  std::string r = read_until(fd, "", 0);
  CHECK(r.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0) == 0);
  ::close(fd);
}

TEST_CASE("a request whose bytes trickle in is cut at the deadline of its first byte") {
  // Each byte is activity, but none completes the request: the deadline does not move (slowloris).
  net::http::Limits limits;
  limits.header_timeout_ms = 300;
  Fixture f(limits);
  int fd = connect_to(f.port);
  const std::string request = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 200\r\n\r\n" + std::string(199, 'b');
  const auto t0 = std::chrono::steady_clock::now();
  bool cut = false;
  for (size_t i = 0; i < request.size() && !cut; ++i) {
    if (::send(fd, request.data() + i, 1, MSG_NOSIGNAL) != 1) cut = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the whole request would take 5 s
    char b;
    const ssize_t n = ::recv(fd, &b, 1, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) cut = true;
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  CHECK(cut);
  CHECK(took < 3000);
  ::close(fd);
}

TEST_CASE("connections per client address are capped through a shared table") {
  net::PerAddressLimit table;
  std::atomic<int> refused{0};
  net::http::Limits limits;
  limits.per_address = &table;
  limits.max_per_address = 2;
  limits.on_refused_per_address = [&refused] { ++refused; };
  Fixture f(limits);
  int a = connect_to(f.port), b = connect_to(f.port);
  send_all(a, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  send_all(b, "GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(read_until(a, "GET /a", 1).find("GET /a") != std::string::npos);
  CHECK(read_until(b, "GET /b", 1).find("GET /b") != std::string::npos);
  int c = connect_to(f.port);  // the third from 127.0.0.1: closed at once
  CHECK(peer_closed(c));
  CHECK(refused == 1);
  ::close(c);
  ::close(a);
  // Once one has gone, a new connection is served (the count is released when it closes).
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    int d = connect_to(f.port);
    const std::string get = "GET /d HTTP/1.1\r\nHost: h\r\n\r\n";
    ::send(d, get.data(), get.size(), MSG_NOSIGNAL);
    served = read_until(d, "GET /d", 1).find("GET /d") != std::string::npos;
    ::close(d);
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(served);
  ::close(b);
}

TEST_CASE("streaming: a request body trickled slower than body_min_rate is cut; a steady one is not") {
  net::http::Limits limits;
  limits.streaming = true;
  limits.body_timeout_ms = 300;
  limits.body_min_rate = 100;  // bytes a second, past the first 300 ms
  Fixture f(limits);
  const std::string head = "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n";
  // 20 bytes a second: all of it would take 50 s; the deadline (300 ms + 10 ms a byte) passes at ~375 ms.
  int slow = connect_to(f.port);
  send_all(slow, head);
  const auto t0 = std::chrono::steady_clock::now();
  bool cut = false;
  for (int i = 0; i < 1000 && !cut; ++i) {
    if (::send(slow, "b", 1, MSG_NOSIGNAL) != 1) cut = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    char b;
    const ssize_t n = ::recv(slow, &b, 1, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) cut = true;
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(5)) break;
  }
  CHECK(cut);
  ::close(slow);
  // About 670 bytes a second for 1.5 s, well past body_timeout_ms: answered whole.
  int steady = connect_to(f.port);
  send_all(steady, head);
  for (int i = 0; i < 10; ++i) {
    send_all(steady, std::string(100, 's'));
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  CHECK(read_until(steady, "got 1000", 1).find("got 1000") != std::string::npos);
  ::close(steady);
}

}
