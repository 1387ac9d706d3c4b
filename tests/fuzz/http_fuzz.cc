// Fuzzes the one HTTP/1.1 parser (net/http/http1_parser.h) the admin API, the DoH server and
// sekisho-intercept read clients and origins with: requests whole and head-only, response heads,
// and the body decoder over what follows a head. Beyond "never crashes", each result must be
// consistent: a complete message consumes no more than it was given, an error names a status
// and a reason, and the body decoder never grows what it was handed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/http/http1_parser.h"

using namespace sekisho::net::http;

namespace {

void check(const Http1Result& r, size_t size) {
  if (r.kind == Http1Result::complete && r.consumed > size) std::abort();
  if (r.kind == Http1Result::error && (r.status < 400 || r.status > 599 || r.reason.empty())) std::abort();
}

// The body after a complete head, through the decoder its framing names: it never grows what
// it was handed.
void take_body(const Http1Result& head, std::string_view input) {
  if (head.kind != Http1Result::complete) return;
  BodyDecoder body(head.framing, head.content_length.value_or(0));
  std::string rest(input.substr(head.consumed)), out;
  const size_t before = rest.size();
  body.take(rest, out);
  if (rest.size() > before) std::abort();
  (void)body.done();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // Small limits so that the fuzzer reaches the 431/413 paths as well.
  constexpr size_t max_head = 512, max_body = 1024;

  Request whole;
  check(parse_http1_request(input, max_head, max_body, whole), size);

  Request head;
  const Http1Result h = parse_http1_head(input, max_head, max_body, head);
  check(h, size);
  take_body(h, input);

  for (std::string_view method : {"GET", "HEAD"}) {
    Response response;
    const Http1Result r = parse_http1_response_head(input, max_head, method, response);
    check(r, size);
    take_body(r, input);
  }
  return 0;
}
