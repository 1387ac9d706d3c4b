// Stage 1, decode: header, question and EDNS checks on a client query. Decides between
// going on, answering an error (FORMERR, NOTIMP, BADVERS, REFUSED) or dropping silently.
// No allocation: the question is copied into the fixed-size DecodedQuery.
#pragma once

#include <cstdint>
#include <span>

#include "dns/edns.h"
#include "dns/types.h"
#include "dns/wire.h"

namespace sekisho::resolver {

struct DecodedQuery {
  dns::Header header;
  bool question_ok = false;  // false: echo no question in an error answer
  dns::Question question;
  dns::EdnsInfo edns;
};

enum class DecodeResult {
  ok,
  drop,      // unreadable header or a response (QR=1): never answer, to avoid loops and reflection
  formerr,   // RFC 1035 §4.1.1
  notimp,    // opcode other than QUERY
  badvers,   // EDNS version > 0, RFC 6891 §6.1.3
  refused,   // zone transfers: a forwarder has no zones to give
};

DecodeResult decode(std::span<const uint8_t> msg, DecodedQuery& out);

}  // namespace sekisho::resolver
