// The response side of the one HTTP/1 parser (sekisho-intercept reads origins with it): every
// framing case RFC 9112 §6.3 lists, the errors a proxy must answer with 502 instead of guessing,
// and the body decoder that takes the framed bytes off the receive buffer.
#include <doctest/doctest.h>

#include <string>

#include "net/http/http1_parser.h"

using namespace sekisho::net::http;

namespace {
Http1Result parse(const std::string& in, Response& res, std::string_view method = "GET", size_t max_head = 65536) {
  return parse_http1_response_head(in, max_head, method, res);
}

// Feeds `wire` to a decoder in pieces of `step` bytes, as reads would bring them.
std::string decode(BodyDecoder& d, const std::string& wire, size_t step, std::string& left) {
  std::string buffer, out;
  for (size_t i = 0; i < wire.size(); i += step) {
    buffer.append(wire, i, step);
    d.take(buffer, out);
    if (d.done() || d.failed()) {
      if (i + step < wire.size()) buffer.append(wire, i + step);
      break;
    }
  }
  left = buffer;
  return out;
}
}  // namespace

TEST_SUITE("http.http1_response_parser") {

TEST_CASE("status line, headers lower-cased, Content-Length framing, keep-alive") {
  Response res;
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Two: a\r\n\r\n";
  auto r = parse(head + "hello", res);
  REQUIRE(r.kind == Http1Result::complete);
  CHECK(r.consumed == head.size());
  CHECK(res.status == 200);
  CHECK(r.framing == Framing::length);
  CHECK(r.content_length == 5u);
  CHECK(r.keep_alive);
  REQUIRE(res.headers.size() == 3);
  CHECK(res.headers[0].name == "content-type");
  CHECK(res.headers[0].value == "text/plain");
  CHECK(res.body.empty());  // the head only
}

TEST_CASE("an incomplete head waits for more bytes") {
  Response res;
  CHECK(parse("", res).kind == Http1Result::incomplete);
  CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", res).kind == Http1Result::incomplete);
}

TEST_CASE("RFC 9112 §6.3 item 1: HEAD, 1xx, 204 and 304 have no body whatever the fields say") {
  Response res;
  auto head = parse("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", res, "HEAD");
  REQUIRE(head.kind == Http1Result::complete);
  CHECK(head.framing == Framing::none);
  CHECK(head.content_length == 1234u);  // the length a GET would get, passed on to the client
  CHECK(head.keep_alive);
  for (const char* status : {"100 Continue", "103 Early Hints", "204 No Content", "304 Not Modified"}) {
    CAPTURE(status);
    auto r = parse(std::string("HTTP/1.1 ") + status + "\r\nContent-Length: 10\r\n\r\n", res);
    REQUIRE(r.kind == Http1Result::complete);
    CHECK(r.framing == Framing::none);
    CHECK(r.keep_alive);
  }
  auto switching = parse("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", res);
  REQUIRE(switching.kind == Http1Result::complete);
  CHECK(res.status == 101);
  CHECK(switching.framing == Framing::none);
  CHECK(switching.upgrade);
}

TEST_CASE("RFC 9112 §6.3 item 3: Transfer-Encoding with Content-Length is an error, not a choice") {
  Response res;
  auto r = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", res);
  REQUIRE(r.kind == Http1Result::error);
  CHECK(r.status == 502);
  CHECK(r.reason.find("Transfer-Encoding and Content-Length") != std::string::npos);
  // Either order.
  CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", res).kind ==
        Http1Result::error);
}

TEST_CASE("RFC 9112 §6.3 item 4: chunked is the body's framing; other codings are refused") {
  Response res;
  auto r = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n", res);
  REQUIRE(r.kind == Http1Result::complete);
  CHECK(r.framing == Framing::chunked);
  CHECK(r.keep_alive);
  // A coding we would have to pass on undecoded without saying so (the header is hop-by-hop).
  for (const char* te : {"gzip", "gzip, chunked", "chunked, chunked", "identity"}) {
    CAPTURE(te);
    auto bad = parse(std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: ") + te + "\r\n\r\n", res);
    REQUIRE(bad.kind == Http1Result::error);
    CHECK(bad.status == 502);
    CHECK(bad.reason.find("transfer coding") != std::string::npos);
  }
  CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", res).kind ==
        Http1Result::error);
}

TEST_CASE("RFC 9112 §6.3 item 5: an invalid Content-Length is an error, never read-until-close") {
  Response res;
  for (const char* cl : {"abc", "-1", "5, 5", "1 2", "", "+5", "0x10", "1234567890123456789"}) {
    CAPTURE(cl);
    auto r = parse(std::string("HTTP/1.1 200 OK\r\nContent-Length: ") + cl + "\r\n\r\n", res);
    REQUIRE(r.kind == Http1Result::error);
    CHECK(r.status == 502);
    CHECK(r.reason.find("Content-Length") != std::string::npos);
  }
  auto conflict = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", res);
  REQUIRE(conflict.kind == Http1Result::error);
  CHECK(conflict.reason.find("conflicting") != std::string::npos);
}

TEST_CASE("RFC 9112 §6.3 item 6: a valid Content-Length, repeated identically or zero") {
  Response res;
  auto twice = parse("HTTP/1.1 200 OK\r\nContent-Length: 7\r\ncontent-length: 7\r\n\r\n", res);
  REQUIRE(twice.kind == Http1Result::complete);
  CHECK(twice.framing == Framing::length);
  CHECK(twice.content_length == 7u);
  auto zero = parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", res);
  REQUIRE(zero.kind == Http1Result::complete);
  CHECK(zero.framing == Framing::length);
  CHECK(zero.content_length == 0u);
}

TEST_CASE("RFC 9112 §6.3 item 8: neither length nor coding is read until close, and not kept alive") {
  Response res;
  auto r = parse("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", res);
  REQUIRE(r.kind == Http1Result::complete);
  CHECK(r.framing == Framing::until_close);
  CHECK_FALSE(r.keep_alive);
  auto http10 = parse("HTTP/1.0 200 OK\r\n\r\n", res);
  REQUIRE(http10.kind == Http1Result::complete);
  CHECK(http10.framing == Framing::until_close);
}

TEST_CASE("keep-alive: Connection close, HTTP/1.0 only with keep-alive") {
  Response res;
  CHECK_FALSE(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", res).keep_alive);
  CHECK_FALSE(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", res).keep_alive);
  CHECK(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n", res).keep_alive);
  CHECK_FALSE(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n", res)
                  .keep_alive);
}

TEST_CASE("status lines: reason optional, versions and codes checked") {
  Response res;
  auto bare = parse("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", res);
  REQUIRE(bare.kind == Http1Result::complete);
  CHECK(res.status == 404);
  CHECK(parse("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", res).kind == Http1Result::complete);
  for (const char* line : {"HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 600 Odd", "HTTP/1.1 099 Odd",
                           "HTTP/1.1  200 OK", "HTTP/2.0 200 OK", "HTTP/1.2 200 OK", "http/1.1 200 OK", "ICY 200 OK",
                           "HTTP/1.1 2x0 OK", "HTTP/1.1 200 O\x01K"}) {
    CAPTURE(line);
    auto r = parse(std::string(line) + "\r\nContent-Length: 0\r\n\r\n", res);
    REQUIRE(r.kind == Http1Result::error);
    CHECK(r.status == 502);
    CHECK_FALSE(r.reason.empty());
  }
}

TEST_CASE("malformed fields: obs-fold, whitespace before the colon, no colon, control characters") {
  Response res;
  struct Case {
    std::string fields;
    std::string reason;
  } cases[] = {
      {"X-A: 1\r\n  folded\r\n", "folding"},
      {"X-A: 1\r\n\tfolded\r\n", "folding"},
      {"Content-Length : 5\r\n", "header name"},
      {"NoColon\r\n", "without ':'"},
      {"X-A: a\x01" "b\r\n", "control characters"},
      {"X-A: a\rb\r\n", "control characters"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.fields);
    auto r = parse("HTTP/1.1 200 OK\r\n" + c.fields + "Content-Length: 0\r\n\r\n", res);
    REQUIRE(r.kind == Http1Result::error);
    CHECK(r.status == 502);
    CHECK(r.reason.find(c.reason) != std::string::npos);
  }
}

TEST_CASE("header size limit: over it is an error, complete or not") {
  Response res;
  const std::string big = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(300, 'a') + "\r\nContent-Length: 0\r\n\r\n";
  auto whole = parse(big, res, "GET", 200);
  REQUIRE(whole.kind == Http1Result::error);
  CHECK(whole.status == 502);
  CHECK(whole.reason.find("exceed 200 bytes") != std::string::npos);
  auto partial = parse(big.substr(0, 250), res, "GET", 200);
  REQUIRE(partial.kind == Http1Result::error);
  CHECK(parse(big, res, "GET", big.size()).kind == Http1Result::complete);  // exactly at the limit
  // Many small fields are bounded by the same byte limit, not a field count a real site reaches.
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 150; ++i) many += "Set-Cookie: c" + std::to_string(i) + "=1\r\n";
  many += "Content-Length: 0\r\n\r\n";
  CHECK(parse(many, res).kind == Http1Result::complete);
  CHECK(res.headers.size() == 151);
}

TEST_CASE("body decoder: Content-Length stops at the length, the next message stays") {
  for (size_t step : {1, 2, 5, 100}) {
    CAPTURE(step);
    BodyDecoder d(Framing::length, 5);
    std::string left;
    CHECK(decode(d, "helloHTTP/1.1 204", step, left) == "hello");
    CHECK(d.done());
    CHECK(left == "HTTP/1.1 204");
  }
  BodyDecoder empty(Framing::length, 0);
  CHECK(empty.done());
  CHECK(BodyDecoder(Framing::none, 0).done());
}

TEST_CASE("body decoder: chunked decodes across reads, trailers dropped, malformed fails") {
  const std::string wire = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  for (size_t step : {1, 3, 7, 1000}) {
    CAPTURE(step);
    BodyDecoder d(Framing::chunked, 0);
    std::string left;
    CHECK(decode(d, wire, step, left) == "hello world");
    CHECK(d.done());
    CHECK(left == "NEXT");
  }
  BodyDecoder bad(Framing::chunked, 0);
  std::string buffer = "zz\r\n", out;
  bad.take(buffer, out);
  CHECK(bad.failed());
  CHECK_FALSE(bad.done());
}

TEST_CASE("body decoder: until close takes everything and is never done by itself") {
  BodyDecoder d(Framing::until_close, 0);
  std::string buffer = "abc", out = "x";
  d.take(buffer, out);
  CHECK(out == "xabc");
  CHECK(buffer.empty());
  CHECK_FALSE(d.done());
  CHECK_FALSE(d.failed());
}

}
