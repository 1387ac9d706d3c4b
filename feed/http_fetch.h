// feed/http_fetch.h — one download of an HTTP(S) list for a feed (libcurl): conditional
// (If-None-Match / If-Modified-Since, RFC 9110 §13.1), gzip unpacked and checked to its end,
// size-capped, TLS always verified (the system's CAs, or the feed's ca_file), bounded in time.
//
// Only the download: what the body means is the importer's business (feed/list_feed.h).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace sekisho::feed {

// A download that failed: no usable answer (network, TLS, HTTP status, size, gzip). The
// previous data stays; the feed retries with back-off.
class FetchError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct FetchRequest {
  std::string url;
  std::string ca_file;          // empty: the system's CA store
  std::string etag;             // sent as If-None-Match when not empty
  std::string last_modified;    // sent as If-Modified-Since when not empty
  uint32_t timeout_ms = 10000;  // to connect, and the longest stall (no byte received)
  uint32_t download_timeout_ms = 300000;  // the whole download
  uint64_t max_bytes = 256ull << 20;      // received, and unpacked: more is a FetchError
};

struct FetchResult {
  long status = 0;            // 200, or 304 (not modified: body empty)
  bool not_modified() const { return status == 304; }
  std::string body;           // unpacked
  uint64_t wire_bytes = 0;    // as received
  bool gzip = false;          // the body was gzip (Content-Encoding, or a .gz file)
  std::string etag, last_modified;  // the answer's validators ("" when it sent none)
  std::string effective_url;  // after redirects
};

// Throws FetchError (with the reason: "HTTP 503 Service Unavailable …", "TLS: …").
FetchResult fetch(const FetchRequest& request);

}  // namespace sekisho::feed
