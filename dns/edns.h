// EDNS(0) (RFC 6891) parsing and the OPT record we emit, with Extended DNS Errors (RFC 8914).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "dns/types.h"
#include "dns/wire.h"

namespace sekisho::dns {

struct EdnsInfo {
  bool present = false;
  uint16_t udp_payload = kClassicUdpLimit;  // what the sender can receive over UDP
  uint8_t version = 0;
  uint8_t ext_rcode = 0;
  bool do_bit = false;  // RFC 3225: DNSSEC records wanted
};

// Reads an OPT record located by walk_record. False when it is not a valid OPT (owner must be
// the root name, RFC 6891 §6.1.2; options must tile RDATA exactly).
bool parse_opt(std::span<const uint8_t> msg, const RecordView& rr, EdnsInfo& out);

// Extended DNS Error to attach to an answer. `text` is EXTRA-TEXT (UTF-8, may be empty) and
// must outlive the call that writes it.
struct Ede {
  EdeCode code = EdeCode::other;
  std::string_view text;
};

// The bytes an OPT RR with this EDE takes on the wire.
size_t opt_size(const Ede* ede);

// Writes an OPT RR (root owner, our payload, extended rcode bits, DO echo, optional EDE) to `out`.
// Returns the bytes written, or 0 when `cap` is too small (nothing usable is written then).
size_t write_opt(uint8_t* out, size_t cap, uint16_t payload, Rcode rcode, bool do_bit, const Ede* ede);

}  // namespace sekisho::dns
