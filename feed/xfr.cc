// feed/xfr.cc — AXFR / IXFR over TCP with TSIG (see xfr.h).
#include "feed/xfr.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "base/file.h"
#include "base/random.h"
#include "base/text.h"
#include "config/schema.h"
#include "dns/wire.h"

// ldns/common.h defines bool/true/false macros in some builds: include it after C++ headers.
#include <ldns/ldns.h>

namespace sekisho::feed {

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

std::string rcode_text(ldns_pkt_rcode rc) {
  ldns_lookup_table* t = ldns_lookup_by_id(ldns_rcodes, static_cast<int>(rc));
  return t ? t->name : "RCODE" + std::to_string(static_cast<int>(rc));
}

// The SOA's serial and timers from its wire rdata (MNAME, RNAME, then five 32-bit fields).
bool read_soa(std::span<const uint8_t> msg, const dns::RecordView& rr, SoaTimers& out) {
  size_t p = rr.rdata_pos;
  if (!dns::skip_name(msg, p) || !dns::skip_name(msg, p) || p + 20 != rr.end) return false;
  out.serial = dns::read_u32(&msg[p]);
  out.refresh = dns::read_u32(&msg[p + 4]);
  out.retry = dns::read_u32(&msg[p + 8]);
  out.expire = dns::read_u32(&msg[p + 12]);
  out.minimum = dns::read_u32(&msg[p + 16]);
  return true;
}

// A (possibly compressed) name of the message as presentation text, lowercased.
bool name_text(std::span<const uint8_t> msg, size_t pos, std::string& out) {
  uint8_t wire[dns::kMaxNameWire];
  size_t len = 0;
  if (!dns::expand_name(msg, pos, wire, len)) return false;
  char text[4 * dns::kMaxNameWire + 1];  // every byte as \DDD at worst
  out.assign(text, dns::name_to_text(wire, len, text, sizeof text));
  return true;
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

const char* kind_name(XfrResult::Kind kind) {
  switch (kind) {
    case XfrResult::Kind::up_to_date: return "up-to-date";
    case XfrResult::Kind::axfr: return "axfr";
    case XfrResult::Kind::ixfr: return "ixfr";
  }
  return "?";
}

// ---- transfer ----

namespace {

// Where a transfer stands, record by record (RFC 5936 §2.2, RFC 1995 §4): the first record is
// the zone's SOA; the second says whether an IXFR answer is incremental (a second SOA) or the
// whole zone. Records go to the sink as they are read; the end is checked here.
class Framing {
 public:
  Framing(const XfrRequest& req, const std::string& what, XfrSink& sink, XfrResult& result)
      : req_(req), what_(what), sink_(sink), result_(result) {}

  bool done() const { return done_; }
  // True once the answer is a lone SOA not newer than ours (RFC 1995 §4: up to date).
  bool up_to_date() const {
    return req_.have_serial && seen_ == 1 && !serial_newer(first_serial_, *req_.have_serial);
  }

  void record(std::span<const uint8_t> msg, const dns::RecordView& rv) {
    if (done_) throw XfrError(what_ + ": records after the closing SOA");
    const bool soa = rv.type == dns::qtype::kSoa;
    SoaTimers timers;
    if (soa && !read_soa(msg, rv, timers)) throw XfrError(what_ + ": a malformed SOA record");
    ++seen_;
    if (seen_ == 1) {
      if (!soa) throw XfrError(what_ + ": the answer does not start with the zone's SOA");
      first_serial_ = timers.serial;
      result_.soa = timers;
      first_ = view(msg, rv, first_owner_, first_target_);
      return;
    }
    if (seen_ == 2) {
      incremental_ = req_.have_serial && soa;
      if (!incremental_) deliver(XfrSink::Part::axfr, 0, first_);
    }
    if (!incremental_) {
      // An AXFR (or an IXFR answered with the whole zone) closes with the SOA again.
      if (soa) done_ = true;
      else deliver(XfrSink::Part::axfr, 0, view(msg, rv, owner_, target_));
      return;
    }
    // SOA(new) { SOA(old) deletions… SOA(next) additions… }* SOA(new): after the first, SOAs
    // come in pairs per diff, so the end is the odd-numbered one that carries the new serial.
    if (soa) {
      ++soas_;
      if (soas_ % 2 == 1) {
        if (soas_ > 1 && timers.serial == first_serial_) {
          done_ = true;
          return;
        }
        result_.diffs.push_back(XfrDiff{timers.serial, 0});
        part_ = XfrSink::Part::removed;
      } else {
        result_.diffs.back().to = timers.serial;
        part_ = XfrSink::Part::added;
      }
      return;
    }
    deliver(part_, result_.diffs.size() - 1, view(msg, rv, owner_, target_));
  }

  // At the end (the closing SOA read): what kind of transfer it was; an IXFR must start at ours.
  void finish() {
    if (!incremental_) {
      result_.kind = XfrResult::Kind::axfr;
      return;
    }
    result_.kind = XfrResult::Kind::ixfr;
    if (result_.diffs.empty() || result_.diffs.front().from != *req_.have_serial)
      throw XfrError(what_ + ": the diffs do not start at our serial " + std::to_string(*req_.have_serial));
  }

 private:
  XfrRecord view(std::span<const uint8_t> msg, const dns::RecordView& rv, std::string& owner, std::string& target) {
    XfrRecord r;
    if (!name_text(msg, rv.name_pos, owner)) throw XfrError(what_ + ": a malformed owner name");
    r.owner = owner;
    r.type = rv.type;
    if (rv.type == dns::qtype::kCname) {
      // RFC 1035 §3.3.1: CNAME's rdata is one name; a message where it is not is malformed.
      size_t end = rv.rdata_pos;
      if (!dns::skip_name(msg, end) || end != rv.end || !name_text(msg, rv.rdata_pos, target))
        throw XfrError(what_ + ": a malformed CNAME record at " + owner);
      r.one_name = true;
      r.target = target;
    }
    return r;
  }
  void deliver(XfrSink::Part part, size_t diff, const XfrRecord& r) {
    ++result_.records;
    sink_.record(part, diff, r);
  }

  const XfrRequest& req_;
  const std::string& what_;
  XfrSink& sink_;
  XfrResult& result_;
  uint64_t seen_ = 0;
  uint32_t first_serial_ = 0;
  size_t soas_ = 0;  // SOA records after the first (incremental)
  bool incremental_ = false, done_ = false;
  XfrSink::Part part_ = XfrSink::Part::removed;
  XfrRecord first_;
  std::string first_owner_, first_target_, owner_, target_;  // storage the views point into
};

// The TSIG record of a message (RFC 8945 §4.2: the last record of the additional section), its
// error field and position; `pos` 0 when there is none.
struct TsigAt {
  size_t pos = 0;
  unsigned error = 0;
};

// Locates the message's sections: answer records into `answers`, the TSIG record if any.
// False when the message is malformed.
bool walk_message(std::span<const uint8_t> msg, std::vector<dns::RecordView>& answers, TsigAt& tsig) {
  if (msg.size() < dns::kHeaderSize) return false;
  const dns::Header h = dns::read_header(msg);
  size_t pos = dns::kHeaderSize;
  for (unsigned i = 0; i < h.qdcount; ++i) {
    if (!dns::skip_name(msg, pos) || pos + 4 > msg.size()) return false;
    pos += 4;
  }
  answers.clear();
  dns::RecordView rv;
  for (unsigned i = 0; i < h.ancount; ++i) {
    if (!dns::walk_record(msg, pos, rv)) return false;
    answers.push_back(rv);
  }
  for (unsigned i = 0; i < h.nscount; ++i)
    if (!dns::walk_record(msg, pos, rv)) return false;
  tsig = TsigAt{};
  for (unsigned i = 0; i < h.arcount; ++i) {
    const size_t at = pos;
    if (!dns::walk_record(msg, pos, rv)) return false;
    if (rv.type != dns::qtype::kTsig) continue;
    if (i + 1 != h.arcount) return false;  // TSIG must be last (RFC 8945 §5.1)
    // RDATA: algorithm name, time (6), fudge (2), MAC size (2), MAC, original ID (2), error (2)…
    size_t p = rv.rdata_pos;
    if (!dns::skip_name(msg, p) || p + 10 > rv.end) return false;
    p += 8 + dns::read_u16(&msg[p + 8]) + 2;
    if (p + 4 > rv.end) return false;
    tsig = TsigAt{at, dns::read_u16(&msg[p + 2])};
  }
  return pos == msg.size();
}

// Test hook for the tests of a transfer cut off or killed half way (tests/e2e/test_feed_xfr.py):
// the first message is read and handed on, the rest not yet.
void pause_mid_transfer_for_test() {
  if (const char* pause = std::getenv("SEKISHO_PAUSE_MID_TRANSFER_FOR_TEST")) {
    std::fprintf(stderr, "pausing mid-transfer\n");
    std::fflush(stderr);
    std::this_thread::sleep_for(std::chrono::duration<double>(std::atof(pause)));
  }
}

}  // namespace

XfrResult transfer(const XfrRequest& req, XfrSink& sink) {
  sink.clear();
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
  Framing framing(req, what, sink, result);
  std::vector<uint8_t> buf;
  std::vector<dns::RecordView> answers;
  while (!framing.done()) {
    uint8_t len[2];
    read_exactly(fd.get(), len, 2, req.timeout_ms, what);
    const size_t size = (size_t{len[0]} << 8) | len[1];
    result.bytes += size + 2;
    if (result.bytes > req.max_bytes)
      throw XfrError(what + ": over limits.max_transfer_bytes (" + std::to_string(req.max_bytes) + ")");
    buf.resize(size);
    read_exactly(fd.get(), buf.data(), size, req.timeout_ms, what);
    const std::span<const uint8_t> msg(buf.data(), size);
    ++result.messages;
    TsigAt tsig;
    if (!walk_message(msg, answers, tsig))
      throw XfrError(what + ": message " + std::to_string(result.messages) + " is malformed");
    const dns::Header h = dns::read_header(msg);
    if (h.id != id || !h.qr()) throw XfrError(what + ": a message with another ID, or not an answer");
    if (tsig.pos != 0 && tsig.error != 0)
      throw XfrError(what + ": the primary refused our TSIG key '" + (req.key ? req.key->name : "") + "': " +
                     tsig_error_text(tsig.error));
    const auto rc = static_cast<ldns_pkt_rcode>(h.flags & dns::flag::kRcodeMask);
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
      // ldns verifies; it needs a packet holding the TSIG record only, not the message parsed.
      if (tsig.pos == 0)
        throw XfrError(what + ": message " + std::to_string(result.messages) + " is not signed (TSIG key '" +
                       req.key->name + "' configured)");
      ldns_rr* tsig_rr = nullptr;
      size_t at = tsig.pos;
      if (ldns_wire2rr(&tsig_rr, buf.data(), size, &at, LDNS_SECTION_ADDITIONAL) != LDNS_STATUS_OK)
        throw XfrError(what + ": message " + std::to_string(result.messages) + " has a malformed TSIG record");
      Pkt holder(ldns_pkt_new());
      ldns_pkt_set_id(holder.get(), h.id);
      ldns_pkt_set_tsig(holder.get(), tsig_rr);
      if (!ldns_pkt_tsig_verify_next(holder.get(), buf.data(), size, req.key->name.c_str(), req.key->secret.c_str(),
                                     mac.get(), result.messages > 1 ? 1 : 0))
        throw XfrError(what + ": TSIG verification failed on message " + std::to_string(result.messages) +
                       " (wrong secret or algorithm for key '" + req.key->name + "')");
      mac.reset(ldns_rdf_clone(ldns_rr_rdf(tsig_rr, 3)));
    } else if (tsig.pos != 0) {
      throw XfrError(what + ": the primary signed its answer but no TSIG key is configured");
    }
    if (answers.empty() && result.messages == 1) throw XfrError(what + ": an empty answer (no SOA)");
    for (const dns::RecordView& rv : answers) framing.record(msg, rv);
    if (result.messages == 1 && framing.up_to_date()) {
      result.kind = XfrResult::Kind::up_to_date;
      return result;
    }
    if (result.messages == 1 && !framing.done()) pause_mid_transfer_for_test();
  }
  framing.finish();
  return result;
}

}  // namespace sekisho::feed
