// feed/list_feed.cc — see list_feed.h.
#include "feed/list_feed.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "base/text.h"
#include "config/schema.h"
#include "policy/import/update_guard.h"

namespace sekisho::feed {

ListFeed::ListFeed(policy::StoreWriter& writer, const policy::CategoryRegistry& registry,
                   const config::FeedSettings& settings, policy::CategorySet categories, FeedGuard guard)
    : writer_(writer), registry_(registry), settings_(settings), categories_(categories), guard_(guard) {
  auto format = policy::parse_format(config::name_of(settings.format));
  if (!format) throw std::logic_error("list format without a parser");  // the schema's names are the importer's
  format_ = *format;
}

std::optional<policy::SourceInfo> ListFeed::stored() const {
  for (auto& s : writer_.sources())
    if (s.name == settings_.name) return s;
  return std::nullopt;
}

ListOutcome ListFeed::refresh(const std::string& etag, const std::string& last_modified) {
  FetchRequest req;
  req.url = settings_.url;
  req.ca_file = settings_.ca_file;
  // Validators only for data the store still holds: a store rebuilt without this source must
  // get the whole list, not a 304.
  if (stored()) {
    req.etag = etag;
    req.last_modified = last_modified;
  }
  req.timeout_ms = settings_.timeout_ms;
  req.download_timeout_ms = settings_.download_timeout_ms;
  req.max_bytes = settings_.limits.max_bytes;
  FetchResult got = fetch(req);
  ListOutcome out;
  if (got.not_modified()) {
    out.not_modified = true;
    // RFC 9110 §15.4.5: a 304 may carry updated validators; keep ours unless it sends new ones.
    out.etag = got.etag.empty() ? req.etag : got.etag;
    out.last_modified = got.last_modified.empty() ? req.last_modified : got.last_modified;
    out.detail = "304 not modified";
    return out;
  }
  policy::ImportOptions opt;
  opt.format = format_;
  opt.categories = categories_;
  opt.registry = &registry_;
  std::ostringstream first;  // the first refused line, for the status
  opt.diagnostics = &first;
  opt.max_reports = 1;
  opt.allow_public_suffixes = guard_.public_suffixes == nullptr;
  opt.public_suffixes = guard_.public_suffixes;
  policy::EntrySet set;
  policy::ImportReport report;
  // The importer's checks: empty, markup, binary before parsing; nothing usable after.
  policy::import_text(got.body, settings_.url, opt, set, report);
  if (auto refusal = policy::check_public_suffixes(report, settings_.url)) throw policy::UpdateRefused(*refusal);
  set.finalize();
  const uint64_t entries = set.domain_entries() + set.urls().size();
  if (entries > settings_.limits.max_entries)
    throw policy::ImportError(settings_.url + ": " + std::to_string(entries) + " entries, over limits.max_entries (" +
                              std::to_string(settings_.limits.max_entries) + "); nothing written");
  policy::SourceInfo info;
  info.name = settings_.name;
  info.format = std::string(config::name_of(settings_.format));
  info.origin = settings_.url;
  info.default_categories = categories_;
  info.version = !got.etag.empty() ? "etag " + got.etag : !got.last_modified.empty() ? "last-modified " + got.last_modified : "";
  // The shrink guard, inside the one write transaction that replaces the source.
  const policy::WriteResult w = policy::guarded_replace(writer_, info, set, &registry_, guard_.limits);
  out.etag = got.etag;
  out.last_modified = got.last_modified;
  out.refused_lines = report.refused;
  const std::string first_text = first.str();
  out.first_refused = std::string(base::trim(first_text, "\n"));
  out.keys_changed = w.inserted + w.updated + w.removed;
  std::string size = std::to_string(got.wire_bytes) + " bytes";
  if (got.gzip) size += " (gzip, " + std::to_string(got.body.size()) + " unpacked)";
  out.detail = std::to_string(got.status) + ": " + size + ", " + std::to_string(report.lines) + " lines, " +
               std::to_string(report.taken) + " taken, " + std::to_string(report.refused) + " refused; " +
               std::to_string(entries) + " entries, " + std::to_string(out.keys_changed) + " keys changed";
  return out;
}

uint32_t backoff_seconds(uint32_t base, uint64_t failures, uint32_t cap, uint64_t random) {
  base = std::max<uint32_t>(base, 1);
  cap = std::max(cap, base);
  uint64_t delay = base;
  for (uint64_t i = 1; i < failures && delay < cap; ++i) delay *= 2;
  delay = std::min<uint64_t>(delay, cap);
  const uint64_t half = delay / 2;
  return static_cast<uint32_t>(delay - half + (half ? random % (half + 1) : 0));
}

}  // namespace sekisho::feed
