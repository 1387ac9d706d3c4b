#include "policy/local_names.h"

#include <arpa/inet.h>

#include <algorithm>

#include "dns/types.h"
#include "policy/domain_list.h"
#include "policy/import/idna.h"

namespace sekisho::policy {
namespace {

config::ConfigError error_at(const config::SourceMark& mark, std::string path, std::string message) {
  return config::ConfigError{mark.file, mark.line, mark.column, std::move(path), std::move(message)};
}

// "Intranet.ACME.example." → wire form, lowercase; false with `why` when it is no name.
bool name_to_wire(std::string_view text, std::string& wire, std::string& why) {
  if (text.size() > 1 && text.ends_with('.')) text.remove_suffix(1);
  std::string normalised;
  if (!normalize_name(text, normalised, why)) return false;
  wire = to_wire(normalised);
  return true;
}

uint16_t wire_type(config::LocalRecordType t) {
  switch (t) {
    case config::LocalRecordType::a: return dns::qtype::kA;
    case config::LocalRecordType::aaaa: return dns::qtype::kAaaa;
    case config::LocalRecordType::cname: return dns::qtype::kCname;
    case config::LocalRecordType::txt: return dns::qtype::kTxt;
  }
  return 0;
}

// The RDATA of `r`, or "" with `why` (RFC 1035 §3.3.1, §3.3.14, §3.4.1; RFC 3596 §2.2).
bool make_rdata(const config::LocalRecordSettings& r, std::string& rdata, std::string& why) {
  switch (r.type) {
    case config::LocalRecordType::a: {
      in_addr a{};
      if (inet_pton(AF_INET, r.value.c_str(), &a) != 1) {
        why = "'" + r.value + "' is not an IPv4 address (an A record's value)";
        return false;
      }
      rdata.assign(reinterpret_cast<const char*>(&a), 4);
      return true;
    }
    case config::LocalRecordType::aaaa: {
      in6_addr a{};
      if (inet_pton(AF_INET6, r.value.c_str(), &a) != 1) {
        why = "'" + r.value + "' is not an IPv6 address (an AAAA record's value)";
        return false;
      }
      rdata.assign(reinterpret_cast<const char*>(&a), 16);
      return true;
    }
    case config::LocalRecordType::cname:
      if (!name_to_wire(r.value, rdata, why)) {
        why = "'" + r.value + "' is not a name (a CNAME record's value): " + why;
        return false;
      }
      return true;
    case config::LocalRecordType::txt: {
      // One or more <character-string>s of at most 255 bytes each; the whole RDATA fits 65535.
      if (r.value.size() > 4000) {
        why = "a TXT value is at most 4000 bytes";
        return false;
      }
      size_t at = 0;
      do {
        const size_t n = std::min<size_t>(255, r.value.size() - at);
        rdata += static_cast<char>(n);
        rdata.append(r.value, at, n);
        at += n;
      } while (at < r.value.size());
      return true;
    }
  }
  return false;
}

}  // namespace

LocalNames compile_local_names(const config::TenantSettings& t, const std::string& path,
                               std::vector<config::ConfigError>& errors) {
  LocalNames out;
  for (size_t i = 0; i < t.local_records.size(); ++i) {
    const config::LocalRecordSettings& r = t.local_records[i];
    const std::string rpath = path + ".local_records[" + std::to_string(i) + "]";
    if (r.name.empty() || r.value.empty()) continue;  // the reader reported it
    LocalRecord rec;
    std::string why;
    if (!name_to_wire(r.name, rec.owner, why)) {
      errors.push_back(error_at(r.mark, rpath + ".name", "'" + r.name + "': " + why));
      continue;
    }
    if (!make_rdata(r, rec.rdata, why)) {
      errors.push_back(error_at(r.mark, rpath + ".value", why));
      continue;
    }
    rec.type = wire_type(r.type);
    rec.ttl = r.ttl;
    // RFC 1034 §3.6.2: a name with a CNAME has no other data (and one CNAME).
    const auto clash = std::find_if(out.records.begin(), out.records.end(), [&](const LocalRecord& o) {
      return o.owner == rec.owner && (o.type == dns::qtype::kCname || rec.type == dns::qtype::kCname);
    });
    if (clash != out.records.end()) {
      errors.push_back(error_at(r.mark, rpath, "'" + r.name + "' has a CNAME and other records (a CNAME's name " +
                                                   "holds nothing else, RFC 1034 §3.6.2)"));
      continue;
    }
    const bool repeated = std::any_of(out.records.begin(), out.records.end(), [&](const LocalRecord& o) {
      return o.owner == rec.owner && o.type == rec.type && o.rdata == rec.rdata;
    });
    if (!repeated) out.records.push_back(std::move(rec));  // an RRset holds no duplicates (RFC 2181 §5)
  }
  for (size_t i = 0; i < t.local_zones.size(); ++i) {
    std::string wire, why;
    if (!name_to_wire(t.local_zones[i], wire, why)) {
      const config::SourceMark& mark = i < t.local_zone_marks.size() ? t.local_zone_marks[i] : t.mark;
      errors.push_back(error_at(mark, path + ".local_zones[" + std::to_string(i) + "]", "'" + t.local_zones[i] + "': " + why));
      continue;
    }
    if (std::find(out.zones.begin(), out.zones.end(), wire) == out.zones.end()) out.zones.push_back(std::move(wire));
  }
  for (size_t i = 0; i < t.forward_zones.size(); ++i) {
    const config::ForwardZoneSettings& z = t.forward_zones[i];
    const std::string zpath = path + ".forward_zones[" + std::to_string(i) + "]";
    ForwardZone zone;
    std::string why;
    if (z.domain.empty()) continue;  // the reader reported it
    if (!name_to_wire(z.domain, zone.domain, why)) {
      errors.push_back(error_at(z.mark, zpath + ".domain", "'" + z.domain + "': " + why));
      continue;
    }
    zone.text = z.domain;
    for (size_t u = 0; u < z.upstreams.size(); ++u) {
      const config::SourceMark& mark = u < z.upstream_marks.size() ? z.upstream_marks[u] : z.mark;
      std::string error;
      auto address = net::parse_socket_address(z.upstreams[u], 53, error);
      if (!address) {
        errors.push_back(error_at(mark, zpath + ".upstreams[" + std::to_string(u) + "]", "'" + z.upstreams[u] + "': " + error));
        continue;
      }
      config::UpstreamSettings up;
      up.address = *address;
      zone.upstreams.push_back(std::move(up));
    }
    const auto twice = std::find_if(out.forward.begin(), out.forward.end(),
                                    [&](const ForwardZone& o) { return o.domain == zone.domain; });
    if (twice != out.forward.end()) {
      errors.push_back(error_at(z.mark, zpath + ".domain", "'" + z.domain + "' is forwarded twice"));
      continue;
    }
    if (!zone.upstreams.empty()) out.forward.push_back(std::move(zone));
  }
  if (out.forward.size() > 64)
    errors.push_back(error_at(t.mark, path + ".forward_zones", "at most 64 forward zones per tenant"));
  return out;
}

}  // namespace sekisho::policy
