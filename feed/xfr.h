// feed/xfr.h — zone transfers from a primary: AXFR (RFC 5936) and IXFR (RFC 1995) over TCP,
// signed and verified with TSIG (RFC 8945), the wire work done by ldns.
//
// Records are handed to an XfrSink as each message arrives and is checked (message ID, TSIG),
// read straight from the wire (no ldns record objects, no packet parse: at a million records a
// zone, those cost more than the transfer). The sink only collects; the caller writes after
// transfer() returns, so a transfer cut off half way, one whose signature does not verify or
// whose SOA framing is wrong changes nothing. Blocking I/O bounded by a timeout per step;
// sekisho-feed runs one transfer at a time on its only thread. Failures throw XfrError with a
// message that names the primary and says what went wrong.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings.h"
#include "net/address.h"

typedef struct ldns_struct_rr ldns_rr;
typedef struct ldns_struct_pkt ldns_pkt;
typedef struct ldns_struct_rdf ldns_rdf;

namespace sekisho::feed {

class XfrError : public std::runtime_error {
 public:
  // `refused_ixfr`: the primary answered an IXFR with NOTIMP / FORMERR / REFUSED, so an AXFR
  // may still work (RFC 1995 §4: a server may not support IXFR).
  XfrError(const std::string& what, bool refused_ixfr = false) : std::runtime_error(what), refused_ixfr_(refused_ixfr) {}
  bool refused_ixfr() const { return refused_ixfr_; }

 private:
  bool refused_ixfr_;
};

// A TSIG key as ldns wants it: names with their final dot, the secret in base64.
struct TsigKey {
  std::string name;       // "feed-key."
  std::string algorithm;  // "hmac-sha256."
  std::string secret;     // base64
};
// Reads the secret file; nullopt when the settings name no key. Throws XfrError when the file
// cannot be read or holds no base64 secret.
std::optional<TsigKey> load_tsig_key(const config::TsigSettings& settings);

// Signs `pkt` (a query when `request_mac` is null, else an answer to the request whose MAC it is).
void tsig_sign(ldns_pkt* pkt, const TsigKey& key, const ldns_rdf* request_mac);
// The TSIG record's RCODE-like error (RFC 8945 §5.2: BADSIG 16, BADKEY 17, BADTIME 18), as text.
std::string tsig_error_text(unsigned error);

// RFC 1982 serial number arithmetic: a is newer than b.
bool serial_newer(uint32_t a, uint32_t b);

struct SoaTimers {
  uint32_t serial = 0, refresh = 3600, retry = 600, expire = 604800, minimum = 0;
};

struct XfrRequest {
  net::SocketAddress primary;
  std::string zone;                   // "rpz.example." (final dot optional)
  const TsigKey* key = nullptr;       // null: unsigned
  std::optional<uint32_t> have_serial; // set: IXFR from this serial; else AXFR
  uint32_t timeout_ms = 10000;
  uint64_t max_bytes = 1ull << 30;
};

// One serial step of an IXFR (RFC 1995 §4): records deleted from `from` and added to make `to`
// (the sink has them, under this diff's index).
struct XfrDiff {
  uint32_t from = 0, to = 0;
};

struct XfrResult {
  enum class Kind { up_to_date, axfr, ixfr };
  Kind kind = Kind::up_to_date;
  SoaTimers soa;              // the primary's SOA (serial, timers) after this transfer
  std::vector<XfrDiff> diffs; // ixfr: in order
  uint64_t records = 0;       // handed to the sink
  uint64_t bytes = 0, messages = 0;
};

// One record of a transfer as a sink sees it: presentation text, ASCII-lowercased and escaped
// as ldns prints it (dns::name_to_text), views valid during the call only.
struct XfrRecord {
  std::string_view owner;   // with its final dot
  uint16_t type = 0;
  bool one_name = false;    // a CNAME, whose rdata is one domain name (RFC 1035 §3.3.1): target is set
  std::string_view target;  // that name, when one_name (other types: their rdata is not read)
};

class XfrSink {
 public:
  enum class Part { axfr, removed, added };
  virtual ~XfrSink() = default;
  // A transfer starts: drop whatever an earlier (failed) transfer left.
  virtual void clear() = 0;
  // `diff`: the index in XfrResult::diffs (0 for an AXFR). An AXFR's records come in zone order,
  // its opening SOA first and without the closing one; an IXFR diff's without its SOAs.
  // Throwing aborts the transfer.
  virtual void record(Part part, size_t diff, const XfrRecord& rr) = 0;
};

XfrResult transfer(const XfrRequest& request, XfrSink& sink);

const char* kind_name(XfrResult::Kind kind);

}  // namespace sekisho::feed
