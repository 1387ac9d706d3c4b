#include "resolver/upstream/response_check.h"

namespace sekisho::upstream {

bool response_matches(std::span<const uint8_t> msg, uint16_t id, const dns::Question& asked, size_t& question_end) {
  if (msg.size() < dns::kHeaderSize) return false;
  dns::Header h = dns::read_header(msg);
  if (!h.qr() || h.id != id || h.opcode() != dns::Opcode::query || h.qdcount != 1) return false;
  size_t pos = dns::kHeaderSize;
  dns::Question q;
  if (!dns::read_question(msg, pos, q)) return false;
  if (q.qtype != asked.qtype || q.qclass != asked.qclass) return false;
  if (!dns::names_equal_ci(q.qname, q.qname_len, asked.qname_lower, asked.qname_len)) return false;
  question_end = pos;
  return true;
}

}  // namespace sekisho::upstream
