// policy/querylog/format.cc — see format.h. Runs on the writer thread only; allocation is fine.
#include "policy/querylog/format.h"

#include <arpa/inet.h>

#include <chrono>
#include <cstdio>

#include "policy/querylog/incident.h"
#include "policy/store/categories.h"

namespace sekisho::querylog {
namespace {

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  const int n = std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));
  out.append(buf, static_cast<size_t>(n));
}

void append_field_name(std::string& out, std::string_view name) {
  out += '"';
  out += name;
  out += "\":";
}

void append_string_field(std::string& out, std::string_view name, std::string_view value) {
  append_field_name(out, name);
  out += '"';
  append_json_escaped(out, value);
  out += '"';
}

// Inline char arrays are NUL-terminated by contract, but a producer bug must not make us read
// past the array.
template <size_t N>
std::string_view bounded(const char (&text)[N]) {
  size_t n = 0;
  while (n < N && text[n] != '\0') ++n;
  return {text, n};
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

}  // namespace

void append_json_escaped(std::string& out, std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    const size_t len = utf8_sequence_length(text, i);
    if (len == 0) {
      out += "\\ufffd";
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
}

void append_presentation_name(std::string& out, const uint8_t* wire, size_t len) {
  size_t pos = 0;
  bool first = true;
  while (pos < len) {
    const size_t label = wire[pos];
    if (label == 0 || label > 63 || pos + 1 + label > len) break;
    if (!first) out += '.';
    first = false;
    for (size_t k = pos + 1; k <= pos + label; ++k) {
      const uint8_t c = wire[k];
      if (c == '.' || c == '\\' || c == '"') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x21 || c > 0x7e) {
        char buf[6];
        std::snprintf(buf, sizeof buf, "\\%03u", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
    pos += 1 + label;
  }
  // The root name (a lone zero octet) has no labels; print it as ".".
  if (first && len > 0 && wire[0] == 0) out += '.';
}

std::string presentation_name(const QueryRecord& r) {
  std::string out;
  append_presentation_name(out, r.qname, r.qname_len);
  return out;
}

std::string client_text(const QueryRecord& r, bool anonymize) {
  uint8_t addr[16];
  std::memcpy(addr, r.client, sizeof addr);
  char buf[INET6_ADDRSTRLEN];
  if (r.client_family == AF_INET) {
    if (anonymize) addr[3] = 0;  // /24
    if (!inet_ntop(AF_INET, addr, buf, sizeof buf)) return {};
    return buf;
  }
  if (r.client_family == AF_INET6) {
    if (anonymize) std::memset(addr + 6, 0, 10);  // /48
    if (!inet_ntop(AF_INET6, addr, buf, sizeof buf)) return {};
    return buf;
  }
  return {};
}

std::string qtype_name(uint16_t qtype) {
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
  return "TYPE" + std::to_string(qtype);  // RFC 3597 §5
}

std::string rcode_name(uint8_t rcode) {
  static constexpr const char* kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                           "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                           "NXRRSET", "NOTAUTH", "NOTZONE"};
  if (rcode < std::size(kNames)) return kNames[rcode];
  if (rcode == 16) return "BADVERS";
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
  constexpr int64_t kUsPerDay = int64_t{86400} * 1000000;
  int64_t day = time_us / kUsPerDay;
  if (time_us % kUsPerDay < 0) --day;  // floor, not truncation, before 1970
  return day;
}

std::string date_text(int64_t day) {
  using namespace std::chrono;
  const year_month_day ymd{sys_days{days{day}}};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::optional<int64_t> parse_date(std::string_view text) {
  using namespace std::chrono;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int parts[3] = {0, 0, 0};
  const size_t starts[3] = {0, 5, 8};
  const size_t lens[3] = {4, 2, 2};
  for (int p = 0; p < 3; ++p) {
    for (size_t k = 0; k < lens[p]; ++k) {
      const char c = text[starts[p] + k];
      if (c < '0' || c > '9') return std::nullopt;
      parts[p] = parts[p] * 10 + (c - '0');
    }
  }
  const year_month_day ymd{year{parts[0]}, month{static_cast<unsigned>(parts[1])},
                           day{static_cast<unsigned>(parts[2])}};
  if (!ymd.ok()) return std::nullopt;
  return sys_days{ymd}.time_since_epoch().count();
}

void append_time(std::string& out, int64_t time_us) {
  constexpr int64_t kUsPerDay = int64_t{86400} * 1000000;
  const int64_t day = utc_day(time_us);
  const int64_t in_day = time_us - day * kUsPerDay;
  const int64_t secs = in_day / 1000000;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%sT%02d:%02d:%02d.%06dZ", date_text(day).c_str(),
                static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                static_cast<int>(secs % 60), static_cast<int>(in_day % 1000000));
  out += buf;
}

void append_json_line(std::string& out, const QueryRecord& r, std::string_view tenant_id) {
  out += "{\"time\":\"";
  append_time(out, r.time_us);
  out += "\",";
  append_string_field(out, "tenant", tenant_id);
  out += ',';
  append_string_field(out, "client", client_text(r, r.log_mode == LogMode::anonymized));
  out += ',';
  append_string_field(out, "device", bounded(r.device));
  out += ',';
  std::string name;
  append_presentation_name(name, r.qname, r.qname_len);
  append_string_field(out, "name", name);
  out += ',';
  append_string_field(out, "type", qtype_name(r.qtype));
  out += ',';
  append_string_field(out, "transport", transport_name(r.transport));
  out += ',';
  append_string_field(out, "action", action_name(r.action));
  out += ',';
  append_field_name(out, "categories");
  out += '[';
  bool first = true;
  for (unsigned id = 0; id < 64; ++id) {
    if (!((r.categories >> id) & 1)) continue;
    if (!first) out += ',';
    first = false;
    out += '"';
    if (const auto* info = policy::category_by_id(static_cast<uint8_t>(id))) {
      append_json_escaped(out, info->slug);
    } else {
      out += '#';  // same spelling as policy::category_slugs for ids the registry lacks
      append_uint(out, id);
    }
    out += '"';
  }
  out += "],";
  append_string_field(out, "rule", rule_name(r.rule));
  out += ',';
  append_string_field(out, "rule_text", bounded(r.rule_text));
  out += ',';
  append_string_field(out, "rcode", rcode_name(r.rcode));
  out += ',';
  append_field_name(out, "upstream");
  if (r.upstream == kNoUpstream) {
    out += "null";
  } else {
    append_uint(out, r.upstream);
  }
  out += ',';
  append_field_name(out, "latency_us");
  append_uint(out, r.latency_us);
  if (r.action == QueryAction::blocked) {  // the ID the block page shows (incident.h)
    out += ',';
    append_string_field(out, "incident",
                        incident_id(tenant_id, client_text(r, r.log_mode == LogMode::anonymized), name,
                                    utc_minute_of_us(r.time_us)));
  }
  out += "}\n";
}

}  // namespace sekisho::querylog
