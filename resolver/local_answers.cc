#include "resolver/local_answers.h"

#include <algorithm>
#include <map>
#include <string>

#include "base/log.h"
#include "dns/types.h"
#include "dns/wire.h"

namespace sekisho::resolver {
namespace {

using Wire = std::string;  // a lowercase wire name

void put_u16(std::string& m, uint16_t v) {
  m += static_cast<char>(v >> 8);
  m += static_cast<char>(v & 0xff);
}

void put_u32(std::string& m, uint32_t v) {
  put_u16(m, static_cast<uint16_t>(v >> 16));
  put_u16(m, static_cast<uint16_t>(v));
}

// One resource record, its owner uncompressed: an answer body then means the same behind any
// question, so one NXDOMAIN serves every name of a zone (cache/answer.h's invariant holds
// trivially: there is no pointer to move).
std::string record(const Wire& owner, uint16_t type, uint32_t ttl, std::string_view rdata) {
  std::string rr = owner;
  put_u16(rr, type);
  put_u16(rr, dns::kClassIn);
  put_u32(rr, ttl);
  put_u16(rr, static_cast<uint16_t>(rdata.size()));
  rr.append(rdata);
  return rr;
}

// The zone's SOA (RFC 1035 §3.3.13): MNAME the apex, RNAME nobody.invalid. (as Unbound's
// synthesized local-zone SOA), MINIMUM the negative TTL (RFC 2308 §4).
std::string soa_record(const Wire& apex) {
  std::string rdata = apex;
  rdata += std::string("\6nobody\7invalid\0", 16);
  for (uint32_t v : {1u, 3600u, 1200u, 604800u, LocalAnswers::kNegativeTtl}) put_u32(rdata, v);
  return record(apex, dns::qtype::kSoa, LocalAnswers::kNegativeTtl, rdata);
}

// The answer as a CachedAnswer, through the parser every upstream answer goes through (so
// `chain` holds the CNAME targets the tenant's policy inspects).
cache::CachedAnswer make_answer(const Wire& question, dns::Rcode rcode, const std::vector<std::string>& answer,
                                const std::string& authority) {
  std::string m(dns::kHeaderSize, '\0');
  const auto flags = static_cast<uint16_t>(dns::flag::kQr | dns::flag::kAa | static_cast<uint16_t>(rcode));
  dns::write_u16(reinterpret_cast<uint8_t*>(m.data()) + 2, flags);
  dns::write_u16(reinterpret_cast<uint8_t*>(m.data()) + 4, 1);
  dns::write_u16(reinterpret_cast<uint8_t*>(m.data()) + 6, static_cast<uint16_t>(answer.size()));
  dns::write_u16(reinterpret_cast<uint8_t*>(m.data()) + 8, authority.empty() ? 0 : 1);
  m += question;
  put_u16(m, dns::qtype::kA);
  put_u16(m, dns::kClassIn);
  const size_t question_end = m.size();
  for (const auto& rr : answer) m += rr;
  m += authority;
  config::CacheSettings shown;  // the TTLs as configured: no clamping
  shown.min_ttl = 0;
  shown.max_ttl = UINT32_MAX;
  shown.negative_max_ttl = UINT32_MAX;
  cache::CachedAnswer a;
  std::string why;
  if (!cache::make_cached_answer({reinterpret_cast<const uint8_t*>(m.data()), m.size()}, question_end, shown, a, why))
    log::error("local", "a local answer could not be built", {{"error", why}});  // compile checked every value
  a.authoritative = true;
  return a;
}

// The label boundaries of `name`, itself first: "a.b.c." → "a.b.c.", "b.c.", "c.", ".".
template <class F>
void for_each_suffix(std::string_view name, F&& f) {
  size_t pos = 0;
  while (pos < name.size()) {
    if (f(name.substr(pos))) return;
    if (name[pos] == 0) return;
    pos += 1 + static_cast<uint8_t>(name[pos]);
  }
}

// Whether `name` is `apex` or below it. Both are compiled names (policy/local_names.cc: letters,
// digits, '-' and '_' in labels), so a byte-wise suffix match always starts at a label boundary.
bool is_below(const Wire& name, const Wire& apex) {
  return name.size() >= apex.size() && name.compare(name.size() - apex.size(), apex.size(), apex) == 0;
}

}  // namespace

LocalAnswers::LocalAnswers(const policy::LocalNames& names, uint16_t first_view) {
  // Each owner's records by type, in configuration order.
  std::map<Wire, std::map<uint16_t, std::vector<const policy::LocalRecord*>>> owners;
  for (const auto& r : names.records) owners[r.owner][r.type].push_back(&r);

  // The zone a name's negative answers speak for: the closest enclosing local zone, else the
  // name itself (a record outside every local zone is a zone of its own, Unbound's
  // `transparent` zone at the name).
  auto zone_of = [&](const Wire& name) -> Wire {
    const Wire* best = nullptr;
    for (const auto& z : names.zones)
      if (is_below(name, z) && (!best || z.size() > best->size())) best = &z;
    return best ? *best : name;
  };
  auto in_zone = [&](const Wire& name) {
    return std::any_of(names.zones.begin(), names.zones.end(), [&](const Wire& z) { return is_below(name, z); });
  };
  // The records of `owner` and `type`, never inserting into `owners` (which is being walked).
  auto records_of = [&](const Wire& owner, uint16_t type) -> const std::vector<const policy::LocalRecord*>* {
    const auto o = owners.find(owner);
    if (o == owners.end()) return nullptr;
    const auto t = o->second.find(type);
    return t == o->second.end() ? nullptr : &t->second;
  };
  auto rrs_of = [&](const Wire& owner, uint16_t type) {
    std::vector<std::string> out;
    if (const auto* rs = records_of(owner, type))
      for (const auto* r : *rs) out.push_back(record(r->owner, r->type, r->ttl, r->rdata));
    return out;
  };

  for (const auto& [owner, types] : owners) {
    Name& n = names_[owner];
    const auto cname = types.find(dns::qtype::kCname);
    if (cname == types.end()) {
      for (const auto& [type, rs] : types) n.by_type.emplace_back(type, make_answer(owner, dns::Rcode::noerror, rrs_of(owner, type), {}));
      n.other = make_answer(owner, dns::Rcode::noerror, {}, soa_record(zone_of(owner)));
      continue;
    }
    // Follow the chain through the local records, at most 8 links, never round a loop.
    std::vector<std::string> chain;
    std::vector<Wire> seen{owner};
    Wire at = owner;
    for (int link = 0; link < 8; ++link) {
      const auto* c = records_of(at, dns::qtype::kCname);
      if (!c) break;
      chain.push_back(record(at, dns::qtype::kCname, c->front()->ttl, c->front()->rdata));
      at = c->front()->rdata;
      if (std::find(seen.begin(), seen.end(), at) != seen.end()) break;
      seen.push_back(at);
    }
    n.by_type.emplace_back(dns::qtype::kCname, make_answer(owner, dns::Rcode::noerror, {chain.front()}, {}));
    const auto target = owners.find(at);
    const bool target_has_data = target != owners.end() && !target->second.count(dns::qtype::kCname);
    if (target_has_data) {
      for (const auto& [type, rs] : target->second) {
        if (type == dns::qtype::kCname) continue;
        std::vector<std::string> rrs = chain;
        for (auto& rr : rrs_of(at, type)) rrs.push_back(std::move(rr));
        n.by_type.emplace_back(type, make_answer(owner, dns::Rcode::noerror, rrs, {}));
      }
      n.other = make_answer(owner, dns::Rcode::noerror, chain, soa_record(zone_of(at)));
    } else if (in_zone(at) && target == owners.end()) {
      // RFC 6604 §2.1: the RCODE is the last name's, here a local zone's name without data.
      n.other = make_answer(owner, dns::Rcode::nxdomain, chain, soa_record(zone_of(at)));
    } else {
      n.other = make_answer(owner, dns::Rcode::noerror, chain, {});
    }
  }

  for (const auto& z : names.zones) {
    // The apex holds the SOA; names between a record and its zone's apex exist without data
    // (empty non-terminals): NODATA, not NXDOMAIN (RFC 8020).
    Name& apex = names_[z];
    if (apex.other.body.empty() && apex.by_type.empty()) apex.other = make_answer(z, dns::Rcode::noerror, {}, soa_record(z));
    apex.by_type.emplace_back(dns::qtype::kSoa, make_answer(z, dns::Rcode::noerror, {soa_record(z)}, {}));
    zones_[z] = make_answer(z, dns::Rcode::nxdomain, {}, soa_record(z));
  }
  for (const auto& entry : owners) {
    const Wire& owner = entry.first;  // not a structured binding: the lambda below captures it (clang 14)
    const Wire zone = zone_of(owner);
    if (zone == owner) continue;
    for_each_suffix(owner, [&](std::string_view suffix) {
      if (suffix.size() <= zone.size()) return true;
      if (suffix.size() < owner.size() && !names_.count(suffix))
        names_[Wire(suffix)].other = make_answer(Wire(suffix), dns::Rcode::noerror, {}, soa_record(zone));
      return false;
    });
  }
  for (size_t i = 0; i < names.forward.size(); ++i) forward_[names.forward[i].domain] = static_cast<uint16_t>(first_view + i);
}

LocalVerdict LocalAnswers::find(std::span<const uint8_t> qname, uint16_t qtype) const {
  const std::string_view name(reinterpret_cast<const char*>(qname.data()), qname.size());
  if (!names_.empty()) {
    if (const auto it = names_.find(name); it != names_.end()) {
      for (const auto& [type, answer] : it->second.by_type)
        if (type == qtype) return {&answer, 0};
      return {&it->second.other, 0};
    }
  }
  LocalVerdict v;
  for_each_suffix(name, [&](std::string_view suffix) {
    if (const auto f = forward_.find(suffix); f != forward_.end()) {
      v.upstream_view = f->second;
      return true;
    }
    if (const auto z = zones_.find(suffix); z != zones_.end()) {
      v.answer = &z->second;
      return true;
    }
    return false;
  });
  return v;
}

}  // namespace sekisho::resolver
