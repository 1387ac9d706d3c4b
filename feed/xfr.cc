// feed/xfr.cc — AXFR / IXFR over TCP with TSIG (see xfr.h).
#include "feed/xfr.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/file.h"
#include "base/random.h"
#include "base/text.h"
#include "config/schema.h"

// ldns/common.h defines bool/true/false macros in some builds: include it after C++ headers.
#include <ldns/ldns.h>

namespace sekisho::feed {

void RrFree::operator()(ldns_rr* rr) const { ldns_rr_free(rr); }

namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;
struct RdfFree {
  void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
};
using Rdf = std::unique_ptr<ldns_rdf, RdfFree>;

std::string with_dot(std::string name) {
  if (name.empty() || name.back() != '.') name += '.';
  return name;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

using Clock = std::chrono::steady_clock;

// Waits for `events` on fd until `deadline`; throws on timeout.
void wait_for(int fd, short events, Clock::time_point deadline, const std::string& what) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) throw XfrError(what + ": timed out");
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return;
    if (n < 0 && errno != EINTR) throw XfrError(base::errno_text(what, errno));
  }
}

void read_exactly(int fd, uint8_t* out, size_t size, uint32_t timeout_ms, const std::string& what) {
  size_t have = 0;
  while (have < size) {
    wait_for(fd, POLLIN, Clock::now() + std::chrono::milliseconds(timeout_ms), what);
    ssize_t n = ::recv(fd, out + have, size - have, 0);
    if (n == 0) throw XfrError(what + ": the primary closed the connection before the transfer ended");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw XfrError(base::errno_text(what, errno));
    }
    have += static_cast<size_t>(n);
  }
}

int connect_to(const net::SocketAddress& to, uint32_t timeout_ms, const std::string& what) {
  int fd = ::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw XfrError(base::errno_text(what + ": socket", errno));
  Fd guard(fd);
  if (::connect(fd, to.get(), to.length) != 0 && errno != EINPROGRESS)
    throw XfrError(base::errno_text(what + ": connect", errno));
  wait_for(fd, POLLOUT, Clock::now() + std::chrono::milliseconds(timeout_ms), what + ": connect");
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) throw XfrError(base::errno_text(what + ": connect", err));
  return guard.release();
}

void send_all(int fd, const uint8_t* data, size_t size, uint32_t timeout_ms, const std::string& what) {
  size_t sent = 0;
  while (sent < size) {
    wait_for(fd, POLLOUT, Clock::now() + std::chrono::milliseconds(timeout_ms), what + ": send");
    ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw XfrError(base::errno_text(what + ": send", errno));
    }
    sent += static_cast<size_t>(n);
  }
}

uint32_t soa_serial(const ldns_rr* soa) { return ldns_rdf2native_int32(ldns_rr_rdf(soa, 2)); }

bool is_soa(const ldns_rr* rr) { return ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA; }

std::string rcode_text(ldns_pkt_rcode rc) {
  ldns_lookup_table* t = ldns_lookup_by_id(ldns_rcodes, static_cast<int>(rc));
  return t ? t->name : "RCODE" + std::to_string(static_cast<int>(rc));
}

// Takes the answer section's records out of `pkt` (they are then ours to free).
void take_answers(ldns_pkt* pkt, std::vector<Rr>& out) {
  ldns_rr_list* list = ldns_pkt_answer(pkt);
  const size_t n = ldns_rr_list_rr_count(list);
  for (size_t i = 0; i < n; ++i) out.emplace_back(ldns_rr_list_rr(list, i));
  ldns_rr_list_set_rr_count(list, 0);  // ldns_pkt_free then frees the list, not the records
}

}  // namespace

// ---- TSIG ----

std::optional<TsigKey> load_tsig_key(const config::TsigSettings& settings) {
  if (settings.name.empty()) return std::nullopt;
  auto text = base::read_file(settings.secret_file);
  if (!text) throw XfrError(base::errno_text("TSIG key '" + settings.name + "': cannot read " + settings.secret_file, errno));
  const std::string secret(base::trim(*text, " \t\r\n"));
  const bool base64 = !secret.empty() && secret.find_first_not_of(
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == std::string::npos;
  if (!base64)
    throw XfrError("TSIG key '" + settings.name + "': " + settings.secret_file + " does not hold a base64 secret");
  return TsigKey{with_dot(base::ascii_lower(settings.name)), std::string(config::name_of(settings.algorithm)) + ".", secret};
}

void tsig_sign(ldns_pkt* pkt, const TsigKey& key, const ldns_rdf* request_mac) {
  // RFC 8945 §5.2.3: 300 s of fudge is the recommended value.
  ldns_status st = ldns_pkt_tsig_sign(pkt, key.name.c_str(), key.secret.c_str(), 300, key.algorithm.c_str(), request_mac);
  if (st != LDNS_STATUS_OK)
    throw XfrError("TSIG key '" + key.name + "' (" + key.algorithm + "): cannot sign: " + ldns_get_errorstr_by_id(st));
}

std::string tsig_error_text(unsigned error) {
  switch (error) {
    case 16: return "BADSIG (the primary's key has another secret)";
    case 17: return "BADKEY (the primary does not know this key name or algorithm)";
    case 18: return "BADTIME (clocks differ by more than the fudge)";
    case 22: return "BADTRUNC";
    default: return "error " + std::to_string(error);
  }
}

bool serial_newer(uint32_t a, uint32_t b) {
  // RFC 1982 §3.2 with SERIAL_BITS = 32.
  return a != b && static_cast<uint32_t>(a - b) < (1u << 31);
}

SoaTimers soa_timers(const ldns_rr* soa) {
  SoaTimers t;
  if (!soa || ldns_rr_rd_count(soa) < 7) return t;
  t.serial = ldns_rdf2native_int32(ldns_rr_rdf(soa, 2));
  t.refresh = ldns_rdf2native_int32(ldns_rr_rdf(soa, 3));
  t.retry = ldns_rdf2native_int32(ldns_rr_rdf(soa, 4));
  t.expire = ldns_rdf2native_int32(ldns_rr_rdf(soa, 5));
  t.minimum = ldns_rdf2native_int32(ldns_rr_rdf(soa, 6));
  return t;
}

const char* kind_name(XfrResult::Kind kind) {
  switch (kind) {
    case XfrResult::Kind::up_to_date: return "up-to-date";
    case XfrResult::Kind::axfr: return "axfr";
    case XfrResult::Kind::ixfr: return "ixfr";
  }
  return "?";
}

// ---- transfer ----

XfrResult transfer(const XfrRequest& req) {
  const bool ixfr = req.have_serial.has_value();
  const std::string zone = with_dot(base::ascii_lower(req.zone));
  const std::string what = std::string(ixfr ? "IXFR" : "AXFR") + " of " + zone + " from " + req.primary.to_string();

  // The query: the zone's SOA in the authority section says which version we hold (RFC 1995 §3).
  Rdf qname(ldns_dname_new_frm_str(zone.c_str()));
  if (!qname) throw XfrError(what + ": not a domain name");
  Pkt query(ldns_pkt_query_new(ldns_rdf_clone(qname.get()), ixfr ? LDNS_RR_TYPE_IXFR : LDNS_RR_TYPE_AXFR,
                               LDNS_RR_CLASS_IN, 0));
  Random random;
  const uint16_t id = static_cast<uint16_t>(random.next());
  ldns_pkt_set_id(query.get(), id);
  if (ixfr) {
    ldns_rr* soa = nullptr;
    const std::string text = zone + " 0 IN SOA . . " + std::to_string(*req.have_serial) + " 0 0 0 0";
    if (ldns_rr_new_frm_str(&soa, text.c_str(), 0, nullptr, nullptr) != LDNS_STATUS_OK)
      throw XfrError(what + ": cannot build the IXFR query");
    ldns_pkt_push_rr(query.get(), LDNS_SECTION_AUTHORITY, soa);
  }
  Rdf mac;  // the MAC the next message's signature must chain from (RFC 8945 §5.3.1)
  if (req.key) {
    tsig_sign(query.get(), *req.key, nullptr);
    mac.reset(ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(query.get()), 3)));
  }
  uint8_t* wire = nullptr;
  size_t wire_size = 0;
  if (ldns_pkt2wire(&wire, query.get(), &wire_size) != LDNS_STATUS_OK) throw XfrError(what + ": cannot encode the query");
  std::string frame(2 + wire_size, '\0');
  frame[0] = static_cast<char>(wire_size >> 8);
  frame[1] = static_cast<char>(wire_size & 0xff);
  std::memcpy(frame.data() + 2, wire, wire_size);
  free(wire);

  Fd fd(connect_to(req.primary, req.timeout_ms, what));
  send_all(fd.get(), reinterpret_cast<const uint8_t*>(frame.data()), frame.size(), req.timeout_ms, what);

  XfrResult result;
  std::vector<Rr> rrs;
  std::vector<uint8_t> buf;
  uint32_t first_serial = 0;
  size_t soas = 0;  // SOA records after the first
  bool done = false;
  while (!done) {
    uint8_t len[2];
    read_exactly(fd.get(), len, 2, req.timeout_ms, what);
    const size_t size = (size_t{len[0]} << 8) | len[1];
    result.bytes += size + 2;
    if (result.bytes > req.max_bytes)
      throw XfrError(what + ": over limits.max_transfer_bytes (" + std::to_string(req.max_bytes) + ")");
    buf.resize(size);
    read_exactly(fd.get(), buf.data(), size, req.timeout_ms, what);
    ldns_pkt* raw = nullptr;
    if (ldns_wire2pkt(&raw, buf.data(), size) != LDNS_STATUS_OK)
      throw XfrError(what + ": message " + std::to_string(result.messages + 1) + " is malformed");
    Pkt pkt(raw);
    ++result.messages;
    if (ldns_pkt_id(pkt.get()) != id || !ldns_pkt_qr(pkt.get()))
      throw XfrError(what + ": a message with another ID, or not an answer");
    const ldns_rr* tsig = ldns_pkt_tsig(pkt.get());
    const ldns_pkt_rcode rc = ldns_pkt_get_rcode(pkt.get());
    if (tsig && ldns_rr_rd_count(tsig) >= 6) {
      const unsigned terr = ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5));
      if (terr != 0)
        throw XfrError(what + ": the primary refused our TSIG key '" + (req.key ? req.key->name : "") + "': " +
                       tsig_error_text(terr));
    }
    if (rc != LDNS_RCODE_NOERROR) {
      const bool fallback = ixfr && (rc == LDNS_RCODE_NOTIMPL || rc == LDNS_RCODE_FORMERR || rc == LDNS_RCODE_REFUSED);
      std::string why = rc == LDNS_RCODE_NOTAUTH ? " (not authorised: the primary wants a TSIG key it knows)"
                        : rc == LDNS_RCODE_REFUSED ? " (refused: transfers not allowed to us, or the zone is not served)"
                                                   : "";
      throw XfrError(what + ": the primary answered " + rcode_text(rc) + why, fallback);
    }
    if (req.key) {
      // RFC 8945 §5.3.1: we accept only transfers whose every message is signed (Knot, BIND and
      // NSD sign each one); the first chains from the query's MAC, later ones sign the timers.
      if (!tsig)
        throw XfrError(what + ": message " + std::to_string(result.messages) + " is not signed (TSIG key '" +
                       req.key->name + "' configured)");
      if (!ldns_pkt_tsig_verify_next(pkt.get(), buf.data(), size, req.key->name.c_str(), req.key->secret.c_str(),
                                     mac.get(), result.messages > 1 ? 1 : 0))
        throw XfrError(what + ": TSIG verification failed on message " + std::to_string(result.messages) +
                       " (wrong secret or algorithm for key '" + req.key->name + "')");
      mac.reset(ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(pkt.get()), 3)));
    } else if (tsig) {
      throw XfrError(what + ": the primary signed its answer but no TSIG key is configured");
    }
    const size_t before = rrs.size();
    take_answers(pkt.get(), rrs);
    if (rrs.empty()) throw XfrError(what + ": an empty answer (no SOA)");
    if (before == 0) {
      if (!is_soa(rrs[0].get())) throw XfrError(what + ": the answer does not start with the zone's SOA");
      first_serial = soa_serial(rrs[0].get());
      result.soa = soa_timers(rrs[0].get());
      // RFC 1995 §4: a lone SOA not newer than ours means we are up to date.
      if (ixfr && rrs.size() == 1 && !serial_newer(first_serial, *req.have_serial)) {
        result.kind = XfrResult::Kind::up_to_date;
        return result;
      }
    }
    // The end: AXFR (and an IXFR answered AXFR-style) closes with the SOA again (RFC 5936 §2.2).
    // An incremental IXFR is SOA(new) { SOA(old) deletions… SOA(next) additions… }* SOA(new):
    // after the first, SOAs come in pairs per diff, so the end is the odd-numbered one that
    // carries the new serial (an even-numbered SOA(new) opens the last diff's additions).
    const bool incremental = ixfr && rrs.size() > 1 && is_soa(rrs[1].get());
    for (size_t i = std::max<size_t>(before, 1); i < rrs.size() && !done; ++i) {
      if (!is_soa(rrs[i].get())) continue;
      ++soas;
      if (incremental ? (soas % 2 == 1 && soa_serial(rrs[i].get()) == first_serial && soas > 1) : true) {
        done = true;
        if (i + 1 != rrs.size()) throw XfrError(what + ": records after the closing SOA");
      }
    }
  }

  if (!ixfr || !is_soa(rrs[1].get())) {
    result.kind = XfrResult::Kind::axfr;
    rrs.pop_back();  // the closing SOA
    result.records = std::move(rrs);
    return result;
  }
  // Incremental: SOA(new) { SOA(old) deletions… SOA(new') additions… }* SOA(new).
  result.kind = XfrResult::Kind::ixfr;
  size_t i = 1;
  const size_t end = rrs.size() - 1;
  while (i < end) {
    XfrDiff diff;
    diff.from = soa_serial(rrs[i].get());
    ++i;
    while (i < end && !is_soa(rrs[i].get())) diff.removed.push_back(std::move(rrs[i++]));
    if (i >= end) throw XfrError(what + ": a diff without its new SOA");
    diff.to = soa_serial(rrs[i].get());
    ++i;
    while (i < end && !is_soa(rrs[i].get())) diff.added.push_back(std::move(rrs[i++]));
    result.diffs.push_back(std::move(diff));
  }
  if (result.diffs.empty() || result.diffs.front().from != *req.have_serial)
    throw XfrError(what + ": the diffs do not start at our serial " + std::to_string(*req.have_serial));
  return result;
}

}  // namespace sekisho::feed
