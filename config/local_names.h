// A tenant's own names (issue 21 item 7): records answered by sekishod itself (intranet names,
// as AdGuard Home's rewrites or Unbound's local-data), zones it answers for alone (a name
// inside one that has no record is NXDOMAIN, as Unbound's `static` local zones), and domains
// forwarded to the tenant's own resolvers (split DNS). Plain structs, like settings.h; their
// keys and ranges are config/local_names_schema.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/error.h"

namespace sekisho::config {

enum class LocalRecordType : uint8_t { a, aaaa, cname, txt };

struct LocalRecordSettings {
  std::string name;   // "intranet.acme.example"
  LocalRecordType type = LocalRecordType::a;
  std::string value;  // A/AAAA: an address; CNAME: a name; TXT: the text (split into 255-byte strings)
  uint32_t ttl = 300;
  SourceMark mark;
};

struct ForwardZoneSettings {
  std::string domain;                  // the zone: itself and every name below it
  std::vector<std::string> upstreams;  // "10.1.0.53", "[2001:db8::53]:5353" (UDP, TCP on TC=1)
  std::vector<SourceMark> upstream_marks;
  SourceMark mark;
};

}  // namespace sekisho::config
