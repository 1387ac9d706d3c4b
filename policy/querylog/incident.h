// policy/querylog/incident.h — the incident ID a blocked user sees on the block page and an
// administrator finds in the query log. Both sides derive it from the same four facts, so no
// state passes between sekishod and sekisho-intercept:
//   tenant id, client address as logged (anonymized when the policy says so), lower-case
//   presentation name without the trailing dot, and the UTC minute.
// A browser usually asks within the block answer's TTL, so the page's minute is the query's
// minute or (across a minute boundary) the next one: the block page also shows the time.
// Not a secret and not unique across minutes by design; FNV-1a is enough to tell records apart.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/text.h"

namespace sekisho::querylog {

inline uint64_t incident_hash(std::string_view tenant, std::string_view client, std::string_view name,
                              int64_t utc_minute) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;  // separator no text byte of a field can forge (0xff is not UTF-8)
  };
  mix(tenant);
  mix(client);
  mix(name);
  char minute[24];  // the minute's decimal text, as std::to_string spells it
  mix(std::string_view(minute, static_cast<size_t>(std::to_chars(minute, minute + sizeof minute, utc_minute).ptr - minute)));
  return h;
}

// "7F3A2-C91B0": 40 bits, upper-case hex, easy to read over the phone.
inline constexpr size_t kIncidentIdLength = 11;
inline void write_incident_id(char (&out)[kIncidentIdLength], std::string_view tenant, std::string_view client,
                              std::string_view name, int64_t utc_minute) {
  const uint64_t h = incident_hash(tenant, client, name, utc_minute) >> 24;
  out[5] = '-';
  for (int i = 0; i < 10; ++i) out[i < 5 ? i : i + 1] = base::kHexUpper[(h >> (4 * (9 - i))) & 0xF];
}

inline std::string incident_id(std::string_view tenant, std::string_view client, std::string_view name,
                               int64_t utc_minute) {
  char out[kIncidentIdLength];
  write_incident_id(out, tenant, client, name, utc_minute);
  return std::string(out, sizeof out);
}

inline int64_t utc_minute_of_us(int64_t time_us) {
  int64_t m = time_us / 60000000;
  if (time_us % 60000000 < 0) --m;
  return m;
}

}  // namespace sekisho::querylog
