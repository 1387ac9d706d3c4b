#include <doctest/doctest.h>

#include <string>

#include "net/http/http1_parser.h"

using namespace sekisho::net::http;

namespace {
Http1Result parse(const std::string& in, Request& req, size_t max_head = 16384, size_t max_body = 65535) {
  return parse_http1_request(in, max_head, max_body, req);
}
}  // namespace

TEST_SUITE("http.http1_parser") {

TEST_CASE("a GET with a query string") {
  Request req;
  const std::string in = "GET /dns-query?dns=AAAB&x=1 HTTP/1.1\r\nHost: a.example\r\nAccept: application/dns-message\r\n\r\n";
  auto r = parse(in, req);
  REQUIRE(r.kind == Http1Result::complete);
  CHECK(r.consumed == in.size());
  CHECK(r.keep_alive);
  CHECK(req.method == "GET");
  CHECK(req.path == "/dns-query");
  CHECK(req.query == "dns=AAAB&x=1");
  CHECK(req.query_param("dns") == "AAAB");
  CHECK(req.query_param("x") == "1");
  CHECK(req.version == 11);
  CHECK(req.header("accept") == "application/dns-message");  // names lower-cased
  CHECK(req.header("host") == "a.example");
  CHECK(req.body.empty());
}

TEST_CASE("a POST body framed by Content-Length; pipelined requests parse one at a time") {
  Request req;
  const std::string first = "POST /dns-query HTTP/1.1\r\nHost: h\r\nContent-Type: application/dns-message\r\nContent-Length: 5\r\n\r\nhello";
  const std::string second = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  auto r = parse(first + second, req);
  REQUIRE(r.kind == Http1Result::complete);
  CHECK(r.consumed == first.size());
  CHECK(req.body == "hello");
  auto r2 = parse((first + second).substr(r.consumed), req);
  REQUIRE(r2.kind == Http1Result::complete);
  CHECK(req.method == "GET");
  CHECK(req.body.empty());
}

TEST_CASE("incomplete head or body waits for more bytes") {
  Request req;
  CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\n", req).kind == Http1Result::incomplete);
  CHECK(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc", req).kind == Http1Result::incomplete);
  CHECK(parse("", req).kind == Http1Result::incomplete);
}

TEST_CASE("keep-alive: Connection close, HTTP/1.0 defaults to close") {
  Request req;
  CHECK_FALSE(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, Close\r\n\r\n", req).keep_alive);
  auto r = parse("GET / HTTP/1.0\r\n\r\n", req);  // no Host needed in 1.0
  REQUIRE(r.kind == Http1Result::complete);
  CHECK_FALSE(r.keep_alive);
  CHECK(req.version == 10);
  CHECK(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", req).keep_alive);
}

TEST_CASE("leading empty lines before the request line are skipped") {
  Request req;
  auto r = parse("\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n", req);
  REQUIRE(r.kind == Http1Result::complete);
  CHECK(req.path == "/x");
}

TEST_CASE("errors carry the status to answer") {
  Request req;
  struct Case {
    std::string in;
    int status;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
      {"GET / HTTP/1.1\r\n\r\n", 400},                                          // no Host
      {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},                              // double space
      {"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},                       // absolute form
      {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
      {"GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},                              // space before colon
      {"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  folded\r\n\r\n", 400},         // obs-fold
      {"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01" "b\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65536\r\n\r\n", 413},
      {"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    auto r = parse(c.in, req);
    REQUIRE(r.kind == Http1Result::error);
    CHECK(r.status == c.status);
    CHECK_FALSE(r.reason.empty());
  }
}

TEST_CASE("a head over the limit is 431, complete or not") {
  Request req;
  std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(200, 'a') + "\r\n\r\n";
  auto r = parse(big, req, 100);
  REQUIRE(r.kind == Http1Result::error);
  CHECK(r.status == 431);
  auto partial = parse("GET / HTTP/1.1\r\nX-Big: " + std::string(200, 'a'), req, 100);
  REQUIRE(partial.kind == Http1Result::error);
  CHECK(partial.status == 431);
}

TEST_CASE("identical repeated Content-Length is accepted") {
  Request req;
  auto r = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", req);
  REQUIRE(r.kind == Http1Result::complete);
  CHECK(req.body == "ab");
}

}
