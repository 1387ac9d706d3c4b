// A tenant's local names (config/local_names.h) compiled for the engine: each record's owner
// and RDATA in wire form, the apexes of the zones the tenant answers for alone, and the
// domains it forwards to its own resolvers. The engine (resolver/local_answers.h) turns these
// into ready answers; what can be wrong with them is found here, so check-config, start-up and
// reload report it at the line it was written on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/settings.h"

namespace sekisho::policy {

struct LocalRecord {
  std::string owner;  // lowercase wire name
  uint16_t type = 0;  // dns::qtype
  uint32_t ttl = 0;
  std::string rdata;  // wire RDATA (a CNAME's target uncompressed, lowercase)
};

struct ForwardZone {
  std::string domain;  // lowercase wire name
  std::string text;    // "corp.acme.example", for logs and EDE text
  std::vector<config::UpstreamSettings> upstreams;
};

struct LocalNames {
  std::vector<LocalRecord> records;  // in configuration order
  std::vector<std::string> zones;    // lowercase wire apexes (`local_zones`)
  std::vector<ForwardZone> forward;  // `forward_zones`

  bool empty() const { return records.empty() && zones.empty() && forward.empty(); }
};

// Compiles tenant `t` (at `path`, "tenants[3]"); every problem is appended to `errors` with its
// line: a value that is not what its type holds, a name with a CNAME and other data (RFC 1034
// §3.6.2), a forward zone's upstream that is not an address, a domain forwarded twice.
LocalNames compile_local_names(const config::TenantSettings& t, const std::string& path,
                               std::vector<config::ConfigError>& errors);

}  // namespace sekisho::policy
