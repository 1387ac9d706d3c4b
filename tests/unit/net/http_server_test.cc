// The HTTP server on a real libuv loop and real loopback sockets, in clear text: responses,
// in-order pipelining with a late first answer, limits, and errors that close the connection.
// (TLS, ALPN and HTTP/2 are covered end to end with curl, kdig and openssl in tests/e2e/test_doh.py.)
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/http/server.h"

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

  explicit Fixture(net::http::Limits limits = {}) {
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

}
