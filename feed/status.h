// feed/status.h — what sekisho-feed knows about each feed, kept as one small JSON file per feed
// in its state directory (<dir>/<feed>.json, replaced atomically after every attempt), so that
// `sekisho feed status`, the admin service and an operator's `cat` read the same facts without
// talking to the process, and a restarted feed process knows its timers and the last success.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/settings.h"

namespace sekisho::feed {

struct FeedStatus {
  std::string name, kind, zone, primary;
  std::string url, format;    // http feeds
  int64_t last_attempt = 0;   // unix time; 0: never
  int64_t last_success = 0;   // a transfer (or an up-to-date answer) fully applied
  // rpz-xfr: "axfr" | "ixfr" | "up-to-date"; http: "downloaded" | "not-modified"; both:
  // "failed" (no data to judge: a network, TLS or HTTP error) | "refused" (the update guard)
  std::string last_result;
  std::string last_transfer;  // e.g. "ixfr 7 -> 9: 2 diffs, 3 records, 2 keys changed"
  std::string last_trigger;   // "start" | "timer" | "notify" | "once" | "retry"
  // http: the validators of the download the store holds (RFC 9110 §8.8), sent back as
  // If-None-Match / If-Modified-Since; kept here so that a restart still asks conditionally.
  std::string etag, last_modified;
  // The update guard's last refusal: "shrink: the update would remove …" (refusal_name: message).
  std::string last_refusal;
  int64_t last_refusal_time = 0;
  uint64_t refusals_total = 0;  // also counted in failures_total
  uint64_t last_duration_ms = 0;  // the last attempt, from its trigger to its commit (or failure)
  std::optional<uint32_t> serial;  // stored with the source
  uint64_t entries = 0;            // the source's domain entries
  uint64_t refused_records = 0;    // records of the last transfer that map to no entry
  std::string first_refusal;
  uint64_t consecutive_failures = 0;
  uint64_t failures_total = 0;
  std::string last_error;      // empty after a success
  int64_t last_error_time = 0;
  bool expired = false;        // no success within the SOA's expire: serving the last data
  int64_t next_attempt = 0;
  uint32_t refresh = 0, retry = 0, expire = 0;  // the SOA's timers (refresh: after any override)
};

// feed_service.state_directory, else "feed-status" beside the category store (its directory is
// shared with sekishod, whose /metrics reads the files, and with the admins).
std::string state_directory(const config::Settings& settings);
std::string status_path(const std::string& dir, const std::string& feed);

// What the configuration says the feed is (name, kind, zone and primary, or url and format):
// it wins over a status file written before the configuration changed.
void describe(FeedStatus& s, const config::FeedSettings& f);

// A feed is healthy when it has succeeded, its last attempt did not fail or get refused, and it
// is not expired (`sekisho feed status` exits 1 otherwise; the API and dashboard say so).
bool healthy(const FeedStatus& s);

// Every configured feed's status, in the configuration's order: the one reader behind `sekisho
// feed status`, /metrics and /api/v1/feeds. A feed whose file is missing (never ran) has only
// what the configuration says; an unreadable file adds a message to `problems` (if given) and
// counts as missing.
std::vector<FeedStatus> read_statuses(const config::Settings& settings, std::vector<std::string>* problems = nullptr);

std::string to_json(const FeedStatus& s);
// Nullopt when the file is missing; throws std::runtime_error when it is unreadable JSON.
std::optional<FeedStatus> read_status(const std::string& path);
// "" on success, else what failed.
std::string write_status(const std::string& path, const FeedStatus& s);

}  // namespace sekisho::feed
