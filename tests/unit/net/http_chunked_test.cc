#include <doctest/doctest.h>

#include <string>

#include "net/http/chunked.h"
#include "net/http/http1_parser.h"

using namespace sekisho::net::http;

TEST_SUITE("http.chunked") {

TEST_CASE("decodes a body fed one byte at a time, extensions and trailers dropped") {
  const std::string wire = "5;name=v\r\nhello\r\nA\r\n, chunked!\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
  ChunkedDecoder d;
  std::string out;
  size_t used = 0;
  for (size_t i = 0; i < wire.size() && !d.done(); ++i) used += d.feed(std::string_view(wire).substr(i, 1), out);
  CHECK(d.done());
  CHECK_FALSE(d.failed());
  CHECK(out == "hello, chunked!");
  CHECK(wire.substr(used) == "NEXT");  // the next message is left alone
}

TEST_CASE("append_chunk round-trips through the decoder") {
  std::string wire;
  append_chunk(wire, std::string(70000, 'x'));
  append_chunk(wire, "");  // nothing: an empty chunk would end the body
  append_chunk(wire, "tail");
  wire += kLastChunk;
  ChunkedDecoder d;
  std::string out;
  CHECK(d.feed(wire, out) == wire.size());
  CHECK(d.done());
  CHECK(out == std::string(70000, 'x') + "tail");
}

TEST_CASE("malformed framing fails") {
  for (const std::string& bad : std::initializer_list<std::string>{"zz\r\n", "5\r\nhelloXX", "5\nhello", std::string(20, 'f') + "\r\n", "\r\n"}) {
    ChunkedDecoder d;
    std::string out;
    d.feed(bad, out);
    CHECK_MESSAGE(d.failed(), bad);
  }
}

TEST_CASE("streaming head parse: framing reported, smuggling shapes refused") {
  Request req;
  auto r = parse_http1_head("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n", 16384, 1 << 20, req);
  REQUIRE(r.kind == Http1Result::complete);
  CHECK(r.framing == Framing::chunked);
  CHECK(r.consumed == std::string("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n").size());
  r = parse_http1_head("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n", 16384, 1 << 20, req);
  CHECK((r.kind == Http1Result::complete && r.content_length == 9u && r.framing != Framing::chunked));
  r = parse_http1_head("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 16384,
                       1 << 20, req);
  CHECK((r.kind == Http1Result::error && r.status == 400));
  r = parse_http1_head("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 16384, 1 << 20, req);
  CHECK((r.kind == Http1Result::error && r.status == 501));
  r = parse_http1_head("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
                       16384, 1 << 20, req);
  CHECK((r.kind == Http1Result::complete && r.upgrade));
  // The buffered parser still refuses chunked requests (DoH, admin API).
  r = parse_http1_request("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 16384, 1 << 20, req);
  CHECK((r.kind == Http1Result::error && r.status == 411));
}

}  // TEST_SUITE
