// The one strict HTTP/1.1 parser (RFC 9112), for requests (the server) and responses
// (sekisho-intercept's forwarding to origins). Pure functions over a byte buffer, no I/O;
// unit-tested in tests/unit/net/http_parser_test.cc and http_response_parser_test.cc.
//
// Requests, the small subset our services use: request line in origin form, header fields, and
// a body framed by Content-Length (chunked too in the streaming head parser). Anything outside
// that subset is an error with the status to answer and a reason a person can act on: chunked or
// other transfer codings → 411, obsolete line folding or bad syntax → 400, a head over the limit
// → 431, a body over the limit → 413, other HTTP versions → 505.
//
// Responses: status line, header fields, and the body's framing decided as RFC 9112 §6.3 lists
// it. A response whose framing cannot be trusted (a malformed or conflicting Content-Length,
// Transfer-Encoding with Content-Length, a transfer coding other than chunked, obs-fold, a head
// over the limit) is an error: a proxy answers 502 and closes the origin connection, it never
// guesses (RFC 9112 §6.3 items 3 to 5, §5.2). Read-until-close is kept only where §6.3 item 8
// says so: a response with neither Content-Length nor Transfer-Encoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/http/chunked.h"
#include "net/http/message.h"

namespace sekisho::net::http {

// How a message body that follows its head is delimited (RFC 9112 §6.3).
enum class Framing {
  none,         // no body (HEAD responses, 1xx, 204, 304; a request without length)
  length,       // Content-Length bytes
  chunked,      // Transfer-Encoding: chunked
  until_close,  // responses only: until the server closes the connection
};

struct Http1Result {
  enum Kind { incomplete, complete, error } kind = incomplete;
  size_t consumed = 0;      // complete: bytes of this request (head + body), or of the head alone
  bool keep_alive = true;   // complete: the connection may carry another message after this one
  int status = 0;           // error: the status to answer (the connection closes after it)
  std::string reason;       // error: why, sent as the response body
  // The head parsers only: how the body that follows the head is framed.
  Framing framing = Framing::none;
  std::optional<uint64_t> content_length;  // the Content-Length field, when there is one
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

// The response head at the front of `input` (status, headers with lower-case names; no body),
// answering a request with `request_method` (a HEAD request's response has no body). Errors
// have status 502. An interim response (1xx other than 101) is complete with Framing::none:
// the final response follows it. keep_alive: HTTP/1.1 without "Connection: close", or HTTP/1.0
// with "Connection: keep-alive"; false for a body delimited by the close.
Http1Result parse_http1_response_head(std::string_view input, size_t max_header_bytes,
                                      std::string_view request_method, Response& response);

// Takes a message body off the front of a receive buffer as its framing says: Content-Length
// bytes, chunks decoded, or everything (until close, and the bytes of an upgraded connection).
// Used for request bodies by the server and for response bodies by sekisho-intercept.
class BodyDecoder {
 public:
  BodyDecoder() = default;
  BodyDecoder(Framing framing, uint64_t length) : framing_(framing), remaining_(length) {}

  // Moves the body's bytes at the front of `buffer` to `out` (decoded), erasing them from
  // `buffer`; bytes after the body's end stay there (the next message).
  void take(std::string& buffer, std::string& out);
  // The body is complete: its length reached, the last chunk and trailers read, or no body at
  // all. A body delimited by the close is never done here; the caller sees the close.
  bool done() const;
  bool failed() const { return framing_ == Framing::chunked && chunks_.failed(); }

 private:
  Framing framing_ = Framing::none;
  uint64_t remaining_ = 0;
  ChunkedDecoder chunks_;
};

}  // namespace sekisho::net::http
