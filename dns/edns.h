// EDNS(0) (RFC 6891) parsing and the OPT record we emit, with Extended DNS Errors (RFC 8914).
#pragma once

#include <sys/socket.h>

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
  // RFC 7871 §7.1.2: the client sent an ECS option with SOURCE PREFIX-LENGTH 0, asking that no
  // address information about it be added. (Addresses a client puts in ECS are never used:
  // nothing verifies them.)
  bool ecs_opt_out = false;
};

// EDNS Client Subnet (RFC 7871 §6) as a resolver sends it: the client's address cut to
// `source_prefix` bits; FAMILY 1 (IPv4) or 2 (IPv6), SCOPE 0. family 0: none.
struct ClientSubnet {
  uint8_t family = 0;
  uint8_t source_prefix = 0;
  uint8_t address[16] = {};  // the bits past source_prefix are zero
  size_t address_bytes() const { return (source_prefix + 7u) / 8u; }  // §6: no more than needed
  // Option code + length + FAMILY + SOURCE + SCOPE + ADDRESS.
  size_t option_size() const { return family ? 4 + 4 + address_bytes() : 0; }
};
// The subnet of `sa` (AF_INET, AF_INET6; an IPv4-mapped IPv6 address counts as IPv4) cut to
// `v4_prefix` / `v6_prefix` bits; family 0 for anything else.
ClientSubnet client_subnet_of(const struct sockaddr* sa, uint8_t v4_prefix, uint8_t v6_prefix);
// Appends the ECS option to the OPT RR at `opt` (written by write_opt, `opt_len` bytes, room for
// subnet.option_size() more after it), raising its RDLENGTH. Returns the bytes appended.
size_t append_ecs_option(uint8_t* opt, size_t opt_len, const ClientSubnet& subnet);

// RFC 7871 §7.3: an answer to a query that carried `sent` (family != 0) may echo an ECS option
// only with the same FAMILY, SOURCE PREFIX-LENGTH and the same address bits; one that does not
// answers some other client's subnet and must be dropped (§11.3: cache pollution). An answer
// without ECS, or a query without it, is not checked. `question_end`: where the answer section
// starts. False also for a message whose records cannot be walked.
bool ecs_echo_matches(std::span<const uint8_t> msg, size_t question_end, const ClientSubnet& sent);

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
