// DNS protocol constants as the RFCs name them.
#pragma once

#include <cstdint>
#include <string_view>

namespace sekisho::dns {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxNameWire = 255;       // RFC 1035 §2.3.4
constexpr size_t kMaxLabel = 63;
constexpr uint16_t kClassIn = 1;
constexpr uint16_t kAdvertisedUdpPayload = 1232;  // DNS flag day 2020 recommendation
constexpr uint16_t kClassicUdpLimit = 512;        // RFC 1035 §4.2.1, clients without EDNS

namespace flag {
constexpr uint16_t kQr = 0x8000;
constexpr uint16_t kOpcodeMask = 0x7800;
constexpr uint16_t kAa = 0x0400;
constexpr uint16_t kTc = 0x0200;
constexpr uint16_t kRd = 0x0100;
constexpr uint16_t kRa = 0x0080;
constexpr uint16_t kAd = 0x0020;
constexpr uint16_t kCd = 0x0010;
constexpr uint16_t kRcodeMask = 0x000f;
}  // namespace flag

// How a query reached the server: UDP and TCP (RFC 1035, RFC 7766), DNS over TLS (RFC 7858),
// DNS over HTTPS (RFC 8484). The engine counts queries by it; the query log records it.
enum class Transport : uint8_t { udp, tcp, dot, doh };
inline constexpr size_t kTransportCount = 4;

enum class Opcode : uint8_t { query = 0, iquery = 1, status = 2, notify = 4, update = 5 };

enum class Rcode : uint16_t {
  noerror = 0,
  formerr = 1,
  servfail = 2,
  nxdomain = 3,
  notimp = 4,
  refused = 5,
  badvers = 16,  // extended rcode, RFC 6891 §6.1.3
};

namespace qtype {
constexpr uint16_t kA = 1;
constexpr uint16_t kNs = 2;
constexpr uint16_t kCname = 5;
constexpr uint16_t kSoa = 6;
constexpr uint16_t kTxt = 16;
constexpr uint16_t kAaaa = 28;
constexpr uint16_t kOpt = 41;
constexpr uint16_t kRrsig = 46;
constexpr uint16_t kSvcb = 64;
constexpr uint16_t kHttps = 65;
constexpr uint16_t kTsig = 250;
constexpr uint16_t kIxfr = 251;
constexpr uint16_t kAxfr = 252;
}  // namespace qtype

// RFC 8914 §4 Extended DNS Error codes that sekisho emits.
enum class EdeCode : uint16_t {
  other = 0,
  stale_answer = 3,
  forged_answer = 4,
  blocked = 15,
  censored = 16,
  filtered = 17,
  prohibited = 18,
  not_ready = 14,
  no_reachable_authority = 22,
  network_error = 23,
};

constexpr std::string_view rcode_name(Rcode r) {
  switch (r) {
    case Rcode::noerror: return "NOERROR";
    case Rcode::formerr: return "FORMERR";
    case Rcode::servfail: return "SERVFAIL";
    case Rcode::nxdomain: return "NXDOMAIN";
    case Rcode::notimp: return "NOTIMP";
    case Rcode::refused: return "REFUSED";
    case Rcode::badvers: return "BADVERS";
  }
  return "RCODE?";
}

}  // namespace sekisho::dns
