// policy/querylog/format.cc — see format.h. The writer thread formats every logged query here,
// so the line is assembled in a stack buffer (LineBuffer) with hand-written digits: no
// snprintf, no temporary strings, one append to the caller's string per line.
#include "policy/querylog/format.h"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>

#include "base/text.h"
#include "policy/querylog/incident.h"
#include "policy/querylog/log_file.h"
#include "policy/store/categories.h"
#include "policy/store/key_format.h"
#include "policy/store/name_index.h"

namespace sekisho::querylog {
namespace {

constexpr int64_t kUsPerDay = int64_t{86400} * 1000000;
// "0".."255": up to three digits, then the text's length in the last byte.
constexpr auto kOctetText = [] {
  std::array<std::array<char, 4>, 256> table{};
  for (unsigned v = 0; v < 256; ++v) {
    unsigned n = 0;
    if (v >= 100) table[v][n++] = static_cast<char>('0' + v / 100);
    if (v >= 10) table[v][n++] = static_cast<char>('0' + v / 10 % 10);
    table[v][n++] = static_cast<char>('0' + v % 10);
    table[v][3] = static_cast<char>(n);
  }
  return table;
}();
// Bytes a JSON string holds as they are: printable ASCII but '"' and '\\' (one load per byte
// where four compares were, for the short ids and slugs the SWAR step leaves over).
constexpr auto kJsonPlain = [] {
  std::array<bool, 256> table{};
  for (unsigned c = 0x20; c < 0x80; ++c) table[c] = c != '"' && c != '\\';
  return table;
}();
constexpr size_t kMaxJsonName = 5 * 255;  // put_name<true>: a backslash, its escape and DDD per octet at most

using base::civil_from_days;
using Civil = base::CivilDate;

char* put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10 % 10);
  p[1] = static_cast<char>('0' + v % 10);
  return p + 2;
}

char* put_uint(char* p, uint64_t v) { return std::to_chars(p, p + 20, v).ptr; }

// "YYYY-MM-DD"; at most 16 characters (years beyond 0..9999 keep printf's "%04d" spelling).
char* put_date(char* p, int64_t day) {
  const Civil c = civil_from_days(day);
  if (c.year >= 0 && c.year <= 9999) {
    p = put2(p, static_cast<unsigned>(c.year / 100));
    p = put2(p, static_cast<unsigned>(c.year % 100));
  } else {
    char buf[24];
    const int n = std::snprintf(buf, sizeof buf, "%04d", static_cast<int>(c.year));
    std::memcpy(p, buf, static_cast<size_t>(n));
    p += n;
  }
  *p++ = '-';
  p = put2(p, c.month);
  *p++ = '-';
  return put2(p, c.day);
}

// "2026-11-25T04:35:29.123456Z"; at most 33 characters.
char* put_time(char* p, int64_t time_us) {
  int64_t second = time_us / 1000000;
  if (time_us % 1000000 < 0) --second;  // floor, not truncation, before 1970
  const auto micros = static_cast<unsigned>(time_us - second * 1000000);
  // The writer formats every logged query, and all but the microseconds change once a second:
  // each thread keeps the text of the last second it wrote ("2026-11-25T04:35:29.", at most 26
  // characters). The calendar and clock digits were ~8 % of the writer's time.
  thread_local int64_t cached_second = INT64_MIN;
  thread_local char cached_prefix[32];
  thread_local size_t cached_length = 0;
  if (second != cached_second) {
    const int64_t day = utc_day(time_us);
    const auto secs = static_cast<unsigned>(second - day * 86400);
    char* q = put_date(cached_prefix, day);
    *q++ = 'T';
    q = put2(q, secs / 3600);
    *q++ = ':';
    q = put2(q, secs / 60 % 60);
    *q++ = ':';
    q = put2(q, secs % 60);
    *q++ = '.';
    cached_length = static_cast<size_t>(q - cached_prefix);
    cached_second = second;
  }
  std::memcpy(p, cached_prefix, sizeof cached_prefix);  // the callers' buffers hold 48
  p += cached_length;
  p = put2(p, micros / 10000);
  p = put2(p, micros / 100 % 100);
  p = put2(p, micros % 100);
  *p++ = 'Z';
  return p;
}

// Inline char arrays are NUL-terminated by contract, but a producer bug must not make us read
// past the array.
template <size_t N>
std::string_view bounded(const char (&text)[N]) {
  if (text[0] == '\0') return {};  // most records have no device and no rule text: skip the call
  return {text, strnlen(text, N)};
}

// Length of a valid UTF-8 sequence starting at s[i], or 0 if it is invalid (RFC 3629 §4).
size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return len;
}

// A line under construction: a stack buffer flushed into `out` when a piece might not fit
// (and once at the end). Every piece states its worst-case size before writing, so the
// writes themselves need no bounds checks.
class LineBuffer {
 public:
  explicit LineBuffer(std::string& out) : out_(out) {}

  // Room for n more characters (n <= kCapacity).
  char* reserve(size_t n) {
    if (static_cast<size_t>(buf_ + kCapacity - p_) < n) flush();
    return p_;
  }
  void advance_to(char* p) { p_ = p; }

  // A string literal: its length is known here, so the copy compiles to a few moves.
  template <size_t N>
  void lit(const char (&s)[N]) {
    static_assert(N - 1 <= kCapacity);
    char* p = reserve(N - 1);
    std::memcpy(p, s, N - 1);
    p_ = p + N - 1;
  }

  void raw(std::string_view s) {
    if (s.size() > kCapacity) {
      flush();
      out_.append(s);
      return;
    }
    char* p = reserve(s.size());
    std::memcpy(p, s.data(), s.size());
    p_ = p + s.size();
  }
  void ch(char c) { *reserve(1) = c, ++p_; }

  // JSON string body (no quotes): `"`, `\` and control characters escaped, valid UTF-8 kept,
  // each invalid byte → \ufffd. One input byte never takes more than 6 output characters.
  void escaped(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      size_t room = static_cast<size_t>(buf_ + kCapacity - p_) / 6;
      if (room == 0) {
        flush();
        room = kCapacity / 6;
      }
      const size_t stop = std::min(s.size(), i + room);
      char* p = p_;
      while (i < stop) {
        // Names and ids are almost always plain ASCII: eight bytes at a time while no byte
        // needs an escape or a UTF-8 check.
        if (i + 8 <= stop) {
          namespace swar = policy::swar;
          const uint64_t w = swar::load8(s.data() + i);
          if (((w & 0x8080808080808080ULL) | swar::byte_lt(w, 0x20) | swar::byte_eq(w, '"') |
               swar::byte_eq(w, '\\')) == 0) {
            std::memcpy(p, &w, 8);
            p += 8;
            i += 8;
            continue;
          }
        }
        const auto c = static_cast<unsigned char>(s[i]);
        if (kJsonPlain[c]) {
          *p++ = static_cast<char>(c);
          ++i;
          continue;
        }
        if (c < 0x80) {
          *p++ = '\\';
          switch (c) {
            case '"': *p++ = '"'; break;
            case '\\': *p++ = '\\'; break;
            case '\n': *p++ = 'n'; break;
            case '\r': *p++ = 'r'; break;
            case '\t': *p++ = 't'; break;
            default:
              std::memcpy(p, "u00", 3);
              p[3] = base::kHexLower[c >> 4];
              p[4] = base::kHexLower[c & 0xF];
              p += 5;
          }
          ++i;
          continue;
        }
        // A multi-byte sequence of k bytes writes k characters: within the 6-per-byte budget.
        const size_t len = utf8_sequence_length(s, i);
        if (len == 0) {
          std::memcpy(p, "\\ufffd", 6);
          p += 6;
          ++i;
        } else {
          std::memcpy(p, s.data() + i, len);
          p += len;
          i += len;
        }
      }
      p_ = p;
    }
  }

  void flush() {
    out_.append(buf_, static_cast<size_t>(p_ - buf_));
    p_ = buf_;
  }

 private:
  // Large enough that a whole ordinary line (and any single piece but an absurd tenant id or
  // category slug, which `raw`/`escaped` split) fits without an intermediate flush.
  static constexpr size_t kCapacity = 4096;
  std::string& out_;
  char buf_[kCapacity];
  char* p_ = buf_;
};

// A string field: `lead` is the constant text before the value (separators, the field name,
// the opening quote), the value is escaped, the closing quote follows.
template <size_t N>
void string_field(LineBuffer& line, const char (&lead)[N], std::string_view value) {
  line.lit(lead);
  line.escaped(value);
  line.ch('"');
}

// The same for values that cannot hold a character JSON escapes: the fixed names of
// transports, actions and rules, and client addresses written by write_client_text.
template <size_t N>
void plain_field(LineBuffer& line, const char (&lead)[N], std::string_view value) {
  line.lit(lead);
  line.raw(value);
  line.ch('"');
}

std::string_view known_qtype(uint16_t qtype) {
  switch (qtype) {
    case 1: return "A";
    case 2: return "NS";
    case 5: return "CNAME";
    case 6: return "SOA";
    case 12: return "PTR";
    case 15: return "MX";
    case 16: return "TXT";
    case 28: return "AAAA";
    case 33: return "SRV";
    case 64: return "SVCB";
    case 65: return "HTTPS";
    case 255: return "ANY";
  }
  return {};
}

std::string_view known_rcode(uint8_t rcode) {
  static constexpr std::string_view kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                                "NXRRSET", "NOTAUTH", "NOTZONE"};
  if (rcode < std::size(kNames)) return kNames[rcode];
  if (rcode == 16) return "BADVERS";
  return {};
}

// `prefix` followed by the decimal number, for the RFC 3597 style fallbacks.
template <size_t N>
void put_prefixed_number(LineBuffer& line, const char (&prefix)[N], uint64_t v) {
  line.lit(prefix);
  line.advance_to(put_uint(line.reserve(20), v));
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view text) {
  LineBuffer line(out);
  line.escaped(text);
  line.flush();
}

namespace {

// A wire name in presentation form (RFC 1035 §5.1: a backslash before a dot inside a label,
// a backslash or a quote; "\DDD" for bytes outside '!'..'~'). With kJson, that text as a JSON
// string body in the same pass: of the presentation text's characters only '\\' and '"' need
// JSON's escape (everything else is printable ASCII), so the output equals what
// append_json_escaped makes of write_presentation_name's. At most 4 characters per wire octet
// (kJson: 5, "\\DDD").
template <bool kJson>
char* put_name(char* p, const uint8_t* wire, size_t len) {
  auto put = [&p](char ch) {
    if (kJson && (ch == '\\' || ch == '"')) *p++ = '\\';
    *p++ = ch;
  };
  len = std::min<size_t>(len, 255);
  size_t pos = 0;
  bool first = true;
  while (pos < len) {
    const size_t label = wire[pos];
    if (label == 0 || label > 63 || pos + 1 + label > len) break;
    if (!first) *p++ = '.';
    first = false;
    for (size_t k = pos + 1; k <= pos + label; ++k) {
      const uint8_t c = wire[k];
      if (c == '.' || c == '\\' || c == '"') {
        put('\\');
        put(static_cast<char>(c));
      } else if (c < 0x21 || c > 0x7e) {
        put('\\');
        *p++ = static_cast<char>('0' + c / 100);
        p = put2(p, c % 100);
      } else {
        *p++ = static_cast<char>(c);
      }
    }
    pos += 1 + label;
  }
  // The root name (a lone zero octet) has no labels; print it as ".".
  if (first && len > 0 && wire[0] == 0) *p++ = '.';
  return p;
}

}  // namespace

size_t write_presentation_name(char (&out)[kMaxPresentationName], const uint8_t* wire, size_t len) noexcept {
  return static_cast<size_t>(put_name<false>(out, wire, len) - out);
}

void append_presentation_name(std::string& out, const uint8_t* wire, size_t len) {
  char buf[kMaxPresentationName];
  out.append(buf, write_presentation_name(buf, wire, len));
}

std::string presentation_name(const QueryRecord& r) {
  std::string out;
  append_presentation_name(out, r.qname, r.qname_len);
  return out;
}

size_t write_client_text(char (&out)[kMaxClientText], const QueryRecord& r, bool anonymize) noexcept {
  uint8_t addr[16];
  const size_t len = logged_address(r, anonymize, addr);
  if (len == 4) {
    // Each octet's text from a table, copied as 4 bytes (the buffer has room to spare): the
    // writer formats an address per line, and the digit branches were ~110 instructions.
    char* p = out;
    for (int i = 0; i < 4; ++i) {
      const auto& text = kOctetText[addr[i]];
      std::memcpy(p, text.data(), 4);
      p += text[3];
      *p++ = '.';
    }
    return static_cast<size_t>(p - out) - 1;  // no dot after the last octet
  }
  if (len == 16) {
    // inet_ntop for RFC 5952 compression and its embedded-IPv4 spellings; not the hot path
    // (IPv6 clients are the minority, and it is still far cheaper than the rest of a line).
    if (!inet_ntop(AF_INET6, addr, out, sizeof out)) return 0;
    return strnlen(out, sizeof out);
  }
  return 0;
}

std::string client_text(const QueryRecord& r, bool anonymize) {
  char buf[kMaxClientText];
  return std::string(buf, write_client_text(buf, r, anonymize));
}

std::string qtype_name(uint16_t qtype) {
  if (const auto known = known_qtype(qtype); !known.empty()) return std::string(known);
  return "TYPE" + std::to_string(qtype);  // RFC 3597 §5
}

std::string rcode_name(uint8_t rcode) {
  if (const auto known = known_rcode(rcode); !known.empty()) return std::string(known);
  return "RCODE" + std::to_string(rcode);
}

std::string_view action_name(QueryAction a) {
  switch (a) {
    case QueryAction::resolved: return "resolved";
    case QueryAction::cached: return "cached";
    case QueryAction::blocked: return "blocked";
    case QueryAction::rewritten: return "rewritten";
    case QueryAction::refused: return "refused";
    case QueryAction::servfail: return "servfail";
    case QueryAction::stale: return "stale";
    case QueryAction::malformed: return "malformed";
    case QueryAction::inspected: return "inspected";
    case QueryAction::over_quota: return "over_quota";
    case QueryAction::upstream_limited: return "upstream_limited";
    case QueryAction::monitored: return "monitored";
    case QueryAction::local: return "local";
  }
  return "unknown";
}

std::string_view rule_name(RuleKind k) {
  switch (k) {
    case RuleKind::none: return "none";
    case RuleKind::category: return "category";
    case RuleKind::schedule: return "schedule";
    case RuleKind::deny_list: return "deny_list";
    case RuleKind::allow_list: return "allow_list";
    case RuleKind::cname: return "cname";
    case RuleKind::safe_search: return "safe_search";
  }
  return "unknown";
}

std::string_view transport_name(Transport t) {
  switch (t) {
    case Transport::udp: return "udp";
    case Transport::tcp: return "tcp";
    case Transport::dot: return "dot";
    case Transport::doh: return "doh";
  }
  return "unknown";
}

int64_t utc_day(int64_t time_us) {
  int64_t day = time_us / kUsPerDay;
  if (time_us % kUsPerDay < 0) --day;  // floor, not truncation, before 1970
  return day;
}

std::string date_text(int64_t day) {
  char buf[24];
  return std::string(buf, static_cast<size_t>(put_date(buf, day) - buf));
}

void append_time(std::string& out, int64_t time_us) {
  char buf[48];
  out.append(buf, static_cast<size_t>(put_time(buf, time_us) - buf));
}

namespace {

// How a query went ("type" to "rcode": qtype, transport, action, categories, rule, rule text,
// rcode) takes a few dozen forms on a busy network, and formatting it was a third of a line's
// instructions. The thread that formats (the writer) keeps the forms in a small direct-mapped
// table keyed by every byte they are made of, compared in full (no text is copied for fields it
// was not made from), and copies them when they recur.
class StretchCache {
 public:
  static constexpr size_t kMaxKey = 120;   // 46 bytes of fields + a 64-byte rule text + 8 zeros
  static constexpr size_t kMaxText = 240;  // longer stretches (many categories) are not kept

  struct Entry {
    uint16_t key_len = 0xFFFF;  // empty
    uint16_t text_len = 0;
    char key[kMaxKey];
    char text[kMaxText];
    std::string_view view() const { return {text, text_len}; }
  };

  // The entry for key, or nullptr; `slot` is where a miss should be stored. The key buffer
  // holds kMaxKey bytes, zero past n up to the next multiple of 8: whole words are hashed.
  const Entry* find(const char* key, size_t n, Entry*& slot) {
    uint64_t h = n;
    for (size_t i = 0; i < n; i += 8) h = policy::name_index::hash_mix(h, policy::swar::load8(key + i));
    slot = &entries_[(h ^ (h >> 32)) & (kEntries - 1)];
    if (slot->key_len == n && std::memcmp(slot->key, key, n) == 0) return slot;
    return nullptr;
  }
  static void store(Entry& e, const char* key, size_t n, std::string_view text) {
    if (text.size() > kMaxText) {
      e.key_len = 0xFFFF;
      return;
    }
    std::memcpy(e.key, key, n);
    e.key_len = static_cast<uint16_t>(n);
    std::memcpy(e.text, text.data(), text.size());
    e.text_len = static_cast<uint16_t>(text.size());
  }

 private:
  static constexpr size_t kEntries = 128;
  Entry entries_[kEntries];
};

// Per thread, made on first use: only the writer thread formats lines, and ~43 KB of static TLS
// in every thread of the process would be waste.
StretchCache& how_cache() {
  thread_local std::unique_ptr<StretchCache> cache;
  if (!cache) cache = std::make_unique<StretchCache>();
  return *cache;
}

// Appends a piece of the key (the caller has checked the room). An empty piece may come from an
// empty string_view whose data() is null, and memcpy from null is undefined even for 0 bytes
// (UBSan: nonnull attribute).
char* put_key(char* k, const void* data, size_t n) {
  if (n != 0) std::memcpy(k, data, n);
  return k + n;
}

// "\",\"tenant\":\"…\",\"client\":\"…\",\"device\":\"…\"" (the time's closing quote first).
// Returns the client address as logged (in `client`), which a blocked line's incident ID needs.
// Not kept like the how stretch: a busy tenant's clients are far more than a small table holds.
std::string_view who_stretch(LineBuffer& line, const QueryRecord& r, std::string_view tenant_id,
                             char (&client)[kMaxClientText]) {
  const std::string_view client_view(client, write_client_text(client, r, r.log_mode == LogMode::anonymized));
  string_field(line, "\",\"tenant\":\"", tenant_id);
  plain_field(line, ",\"client\":\"", client_view);
  string_field(line, ",\"device\":\"", bounded(r.device));
  return client_view;
}

// slug_of(id) names a category: std::optional<std::string_view>, nullopt for an unnamed id.
template <class SlugOf>
void format_how(LineBuffer& line, const QueryRecord& r, std::string_view rule_text, SlugOf&& slug_of) {
  line.lit(",\"type\":\"");
  if (const auto known = known_qtype(r.qtype); !known.empty()) {
    line.raw(known);
  } else {
    put_prefixed_number(line, "TYPE", r.qtype);  // RFC 3597 §5
  }
  plain_field(line, "\",\"transport\":\"", transport_name(r.transport));
  plain_field(line, ",\"action\":\"", action_name(r.action));
  line.lit(",\"categories\":[");
  bool first = true;
  r.categories.for_each([&](uint8_t id) {
    if (first) {
      line.lit("\"");
    } else {
      line.lit(",\"");
    }
    first = false;
    if (const std::optional<std::string_view> slug = slug_of(id)) {
      line.escaped(*slug);
    } else {
      put_prefixed_number(line, "#", id);  // same spelling as CategoryRegistry::slugs for ids the registry lacks
    }
    line.ch('"');
  });
  plain_field(line, "],\"rule\":\"", rule_name(r.rule));
  string_field(line, ",\"rule_text\":\"", rule_text);
  line.lit(",\"rcode\":\"");
  if (const auto known = known_rcode(r.rcode); !known.empty()) {
    line.raw(known);
  } else {
    put_prefixed_number(line, "RCODE", r.rcode);
  }
}

// ",\"type\":\"…\",…,\"rcode\":\"…" (its closing quote is the next field's). The slugs come
// from `categories`: its serial is part of the key.
void how_stretch(LineBuffer& line, const QueryRecord& r, const policy::CategoryRegistry& categories) {
  const std::string_view rule_text = bounded(r.rule_text);  // at most sizeof r.rule_text
  static_assert(StretchCache::kMaxKey >= 14 + sizeof r.categories + sizeof r.rule_text + 8, "fields, rule text, hash padding");
  char key[StretchCache::kMaxKey];
  char* k = key;
  const uint64_t registry = categories.serial();
  k = put_key(k, &registry, sizeof registry);
  k = put_key(k, &r.categories, sizeof r.categories);
  k = put_key(k, &r.qtype, sizeof r.qtype);
  *k++ = static_cast<char>(r.transport);
  *k++ = static_cast<char>(r.action);
  *k++ = static_cast<char>(r.rule);
  *k++ = static_cast<char>(r.rcode);
  k = put_key(k, rule_text.data(), rule_text.size());
  const size_t n = static_cast<size_t>(k - key);
  std::memset(k, 0, 8);  // find() hashes whole words
  StretchCache& cache = how_cache();
  StretchCache::Entry* slot;
  if (const StretchCache::Entry* e = cache.find(key, n, slot)) return line.raw(e->view());
  thread_local std::string text;
  text.clear();
  LineBuffer part(text);
  format_how(part, r, rule_text, [&](uint8_t id) -> std::optional<std::string_view> {
    if (const auto* info = categories.by_id(id)) return std::string_view(info->slug);
    return std::nullopt;
  });
  part.flush();
  line.raw(text);
  StretchCache::store(*slot, key, n, text);
}

}  // namespace

namespace {

// The line of append_json_line; how(line) writes the "how it went" stretch.
template <class How>
void append_line(std::string& out, const QueryRecord& r, std::string_view tenant_id, How&& how) {
  LineBuffer line(out);
  line.lit("{\"time\":\"");
  line.advance_to(put_time(line.reserve(48), r.time_us));
  char client[kMaxClientText];
  const std::string_view client_view = who_stretch(line, r, tenant_id, client);
  line.lit(",\"name\":\"");
  char* const json_name = line.reserve(kMaxJsonName);
  char* const json_name_end = put_name<true>(json_name, r.qname, r.qname_len);
  line.advance_to(json_name_end);
  line.ch('"');
  // A blocked line's incident ID hashes the presentation name. The JSON text escapes only the
  // presentation text's '\\' and '"' (put_name), so where it holds no backslash (almost always)
  // it is the presentation text: copied here (a later piece may flush the line buffer), which
  // spares writing the name a second time (~320 instructions).
  // (An empty name is written again below: harmless, it is empty there too.)
  char name[kMaxPresentationName];
  size_t name_len = 0;
  const bool blocked = r.action == QueryAction::blocked;
  if (blocked) {
    const auto n = static_cast<size_t>(json_name_end - json_name);
    if (n <= sizeof name && !std::memchr(json_name, '\\', n)) {
      std::memcpy(name, json_name, n);
      name_len = n;
    }
  }
  how(line);
  if (r.upstream == kNoUpstream) {
    line.lit("\",\"upstream\":null");
  } else {
    put_prefixed_number(line, "\",\"upstream\":", r.upstream);
  }
  put_prefixed_number(line, ",\"latency_us\":", r.latency_us);
  if (blocked) {  // the ID the block page shows (incident.h)
    char id[kIncidentIdLength];
    if (name_len == 0) name_len = write_presentation_name(name, r.qname, r.qname_len);
    write_incident_id(id, tenant_id, client_view, {name, name_len}, utc_minute_of_us(r.time_us));
    line.lit(",\"incident\":\"");
    line.raw({id, sizeof id});
    line.ch('"');
  }
  line.lit("}\n");
  line.flush();
}

}  // namespace

void append_json_line(std::string& out, const QueryRecord& r, std::string_view tenant_id,
                      const policy::CategoryRegistry& categories) {
  append_line(out, r, tenant_id, [&](LineBuffer& line) { how_stretch(line, r, categories); });
}

// Read back from a file, so the stretch table is not used: its key is the registry's serial,
// and a stored record names its categories itself. Readers render a page, not a stream.
void append_json_line(std::string& out, const StoredRecord& stored) {
  const QueryRecord& r = stored.record;
  append_line(out, r, stored.tenant_id, [&](LineBuffer& line) {
    format_how(line, r, bounded(r.rule_text), [&](uint8_t id) -> std::optional<std::string_view> {
      for (const auto& [stored_id, slug] : stored.categories)
        if (stored_id == id && !slug.empty()) return slug;
      return std::nullopt;
    });
  });
}

}  // namespace sekisho::querylog
