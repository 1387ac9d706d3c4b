// feed/list_feed.h — an HTTP(S) list feed: a conditional download (http_fetch.h), parsed by the
// importer's own parsers (every `sekisho db import` format but ut1), checked by the update
// guard as `sekisho db import` checks a file, and written in one transaction that replaces the
// feed's source. A 304 writes nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config/settings.h"
#include "feed/http_fetch.h"
#include "feed/rpz_apply.h"
#include "policy/import/importer.h"
#include "policy/store/store_writer.h"

namespace sekisho::feed {

struct ListOutcome {
  bool not_modified = false;
  std::string detail;            // "200: 1234 bytes (gzip, 5678 unpacked): 10 lines, 9 taken, …"
  uint64_t refused_lines = 0;    // lines the parser refused (reported, not written)
  std::string first_refused;     // "url:3: reason: text"
  std::string etag, last_modified;  // the validators the store's data now answers to
  uint64_t keys_changed = 0;
};

class ListFeed {
 public:
  ListFeed(policy::StoreWriter& writer, const policy::CategoryRegistry& registry, const config::FeedSettings& settings,
           policy::CategorySet categories, FeedGuard guard);

  // Downloads (conditionally with `etag` / `last_modified` while the source is stored) and
  // applies. Throws FetchError (no usable answer), policy::UpdateRefused (the guard: nothing
  // written) or policy::ImportError / StoreError.
  ListOutcome refresh(const std::string& etag, const std::string& last_modified);

  std::optional<policy::SourceInfo> stored() const;

 private:
  policy::StoreWriter& writer_;
  const policy::CategoryRegistry& registry_;
  config::FeedSettings settings_;
  policy::Format format_;
  policy::CategorySet categories_;
  FeedGuard guard_;
};

// Seconds before the next attempt after `failures` failures in a row (1, 2, …): `base` doubled
// per failure, at most `cap`, then "equal jitter": a uniform draw from the upper half, so that
// many sekisho-feeds behind one failed server do not return in step. `random`: any 64 bits.
uint32_t backoff_seconds(uint32_t base, uint64_t failures, uint32_t cap, uint64_t random);

}  // namespace sekisho::feed
