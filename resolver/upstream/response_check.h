// Accepts an upstream answer only when it really answers what we asked: QR set, our random
// ID, opcode QUERY and the same question (RFC 5452 §9.1). Anything else is ignored, which is
// what defeats blind spoofing; the source address is checked by the connected socket.
#pragma once

#include <cstdint>
#include <span>

#include "dns/wire.h"

namespace sekisho::upstream {

// On success sets question_end to the offset just after the response's question.
bool response_matches(std::span<const uint8_t> msg, uint16_t id, const dns::Question& asked, size_t& question_end);

}  // namespace sekisho::upstream
