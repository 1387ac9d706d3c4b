// A strict HTTP/1.1 request parser (RFC 9112) for the small subset our services use: request
// line in origin form, header fields, and a body framed by Content-Length. Anything outside
// that subset is an error with the status to answer and a reason a person can act on:
// chunked or other transfer codings → 411, obsolete line folding or bad syntax → 400, a head
// over the limit → 431, a body over the limit → 413, other HTTP versions → 505.
// Pure function over a byte buffer: no I/O, unit-tested (tests/unit/resolver/http_parser_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/http/message.h"

namespace sekisho::net::http {

struct Http1Result {
  enum Kind { incomplete, complete, error } kind = incomplete;
  size_t consumed = 0;      // complete: bytes of this request (head + body)
  bool keep_alive = true;   // complete: HTTP/1.1 without "Connection: close"
  int status = 0;           // error: the status to answer (the connection closes after it)
  std::string reason;       // error: why, sent as the response body
  // parse_http1_head only: how the body that follows the head is framed.
  uint64_t content_length = 0;
  bool chunked = false;     // Transfer-Encoding: chunked (then content_length is 0)
  bool upgrade = false;     // Connection: upgrade with an Upgrade header (WebSocket)
};

// Parses the request at the front of `input` into `request` (method, path, query, version,
// headers with lower-case names, body). Leading empty lines are skipped (RFC 9112 §2.2).
Http1Result parse_http1_request(std::string_view input, size_t max_header_bytes, size_t max_body_bytes,
                                Request& request);

// Streaming (Limits::streaming): the head only; `consumed` is the head's bytes and the body's
// framing is in the result. Chunked is accepted here (as the only coding; with Content-Length
// too → 400, the request-smuggling shape); a Content-Length over max_body_bytes → 413.
Http1Result parse_http1_head(std::string_view input, size_t max_header_bytes, size_t max_body_bytes,
                             Request& request);

}  // namespace sekisho::net::http
