// A tenant's local names as ready answers (stage 3e, answer_local): every answer a local name
// can get is built once per configuration, as a cache::CachedAnswer, so the query path only
// finds it and writes it through the same respond.cc code (and the same CNAME inspection) as
// an upstream's answer, allocating nothing.
//
// What a name gets, as Unbound's local-data and local-zone do it:
//   - a name with local records: its records of the type asked, authoritative (AA); another
//     type: NODATA with the zone's SOA. A CNAME is followed through the local records (its
//     chain and the target's records, RFC 1034 §4.3.2); a target outside them ends the answer
//     at the CNAME, for the client to ask after (as Unbound's local-data CNAME);
//   - a name in a `local_zones` zone without records: NXDOMAIN with the zone's SOA (RFC 2308
//     §2.1), or NODATA when names below it have records (an empty non-terminal, RFC 8020);
//   - a name in a `forward_zones` domain: asked of that zone's resolvers (its own UpstreamSet,
//     with the health and failover every upstream has), under a cache key of its own;
//   - anything else: the tenant's upstreams, as before.
// The most specific of a local record's name, a local zone and a forward zone decides.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/string_map.h"
#include "policy/local_names.h"
#include "resolver/cache/answer.h"

namespace sekisho::resolver {

struct LocalVerdict {
  const cache::CachedAnswer* answer = nullptr;  // answered here
  uint16_t upstream_view = 0;                    // else, when not 0: forward to Runtime::upstreams_for(view)
};

class LocalAnswers {
 public:
  LocalAnswers() = default;
  // `first_view`: the view number of names.forward[0] (the engine numbers every tenant's forward
  // zones from 1; 0 is the global upstreams).
  LocalAnswers(const policy::LocalNames& names, uint16_t first_view);

  bool empty() const { return names_.empty() && zones_.empty() && forward_.empty(); }
  // `qname`: lowercase wire; class IN only (the caller checks).
  LocalVerdict find(std::span<const uint8_t> qname, uint16_t qtype) const;

  // SOA TTL and MINIMUM of the local zones: how long a client caches a local NXDOMAIN or
  // NODATA (RFC 2308 §5). Short, as intranet names come and go.
  static constexpr uint32_t kNegativeTtl = 60;

 private:
  struct Name {
    std::vector<std::pair<uint16_t, cache::CachedAnswer>> by_type;
    cache::CachedAnswer other;  // any type not in by_type
  };
  StringMap<Name> names_;                      // wire owner → answers
  StringMap<cache::CachedAnswer> zones_;       // wire apex → its NXDOMAIN
  StringMap<uint16_t> forward_;                // wire domain → view
};

}  // namespace sekisho::resolver
