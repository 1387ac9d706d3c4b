// Safe search: the search engines' hostnames are answered through the strict-mode names each
// vendor documents for DNS-level enforcement:
//   Google      www.google.<tld>, google.<tld>          → forcesafesearch.google.com
//   YouTube     www/m.youtube.com, youtubei/youtube.googleapis.com, www.youtube-nocookie.com
//                                                       → restrict.youtube.com (strict mode)
//   Bing        www.bing.com, bing.com                  → strict.bing.com
//   DuckDuckGo  duckduckgo.com, www/start.duckduckgo.com → safe.duckduckgo.com
#pragma once

#include <cstdint>
#include <span>

namespace sekisho::policy {

// The strict-mode target (lowercase wire name) for `qname` (lowercase wire), or an empty span.
std::span<const uint8_t> safe_search_target(std::span<const uint8_t> qname);

}  // namespace sekisho::policy
