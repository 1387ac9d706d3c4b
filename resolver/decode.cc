#include "resolver/decode.h"

namespace sekisho::resolver {

DecodeResult decode(std::span<const uint8_t> msg, DecodedQuery& out) {
  if (msg.size() < dns::kHeaderSize) return DecodeResult::drop;
  out.header = dns::read_header(msg);
  out.question_ok = false;
  out.edns = dns::EdnsInfo{};
  if (out.header.qr()) return DecodeResult::drop;
  if (out.header.qdcount != 1) {
    // Still echo nothing: with QDCOUNT != 1 there is no single question to echo.
    return out.header.opcode() == dns::Opcode::query ? DecodeResult::formerr : DecodeResult::notimp;
  }
  size_t pos = dns::kHeaderSize;
  if (!dns::read_question(msg, pos, out.question)) return DecodeResult::formerr;
  out.question_ok = true;
  if (out.header.opcode() != dns::Opcode::query) return DecodeResult::notimp;
  // Walk every remaining record so a malformed tail is FORMERR rather than silently ignored,
  // and find the one OPT allowed in the additional section (RFC 6891 §6.1.1).
  const size_t records = static_cast<size_t>(out.header.ancount) + out.header.nscount + out.header.arcount;
  const size_t first_additional = static_cast<size_t>(out.header.ancount) + out.header.nscount;
  for (size_t i = 0; i < records; ++i) {
    dns::RecordView rr;
    if (!dns::walk_record(msg, pos, rr)) return DecodeResult::formerr;
    if (rr.type != dns::qtype::kOpt) continue;
    if (i < first_additional || out.edns.present) return DecodeResult::formerr;
    if (!dns::parse_opt(msg, rr, out.edns)) return DecodeResult::formerr;
  }
  if (pos != msg.size()) return DecodeResult::formerr;  // trailing garbage
  if (out.edns.present && out.edns.version != 0) return DecodeResult::badvers;
  if (out.question.qtype == dns::qtype::kAxfr || out.question.qtype == dns::qtype::kIxfr) return DecodeResult::refused;
  return DecodeResult::ok;
}

}  // namespace sekisho::resolver
