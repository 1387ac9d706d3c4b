// Fuzzes everything that reads bytes from the network: the client-query decoder and the
// answer writers fed by it, and the upstream-response path (match check, answer extraction).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "resolver/cache/answer.h"
#include "resolver/decode.h"
#include "resolver/respond.h"
#include "resolver/upstream/response_check.h"

using namespace sekisho;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> msg(data, size);
  static std::vector<uint8_t> out(65535);

  resolver::DecodedQuery q;
  resolver::DecodeResult r = resolver::decode(msg, q);
  if (r != resolver::DecodeResult::drop) {
    const dns::Ede ede{dns::EdeCode::network_error, "fuzz"};
    resolver::write_error(q, dns::Rcode::servfail, &ede, out, resolver::answer_limit(q, resolver::Transport::udp));
  }

  // Treat the same bytes as an upstream response to the question it carries.
  if (r == resolver::DecodeResult::ok || q.question_ok) {
    size_t question_end = 0;
    std::vector<uint8_t> as_response(data, data + size);
    if (as_response.size() >= 12) as_response[2] |= 0x80;  // QR
    if (upstream::response_matches(as_response, q.header.id, q.question, question_end)) {
      cache::CachedAnswer answer;
      std::string why;
      config::CacheSettings limits;
      if (cache::make_cached_answer(as_response, question_end, limits, answer, why)) {
        resolver::write_answer(q, answer, 7, false, nullptr, out, 65535);
        resolver::write_answer(q, answer, 0, true, nullptr, out, 512);
      }
    }
  }
  return 0;
}
