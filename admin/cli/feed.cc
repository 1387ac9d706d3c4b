#include "admin/cli/feed.h"

#include <cstdio>
#include <ctime>
#include <iostream>

#include "base/usage_error.h"
#include "feed/status.h"
#include "policy/configuration.h"

namespace sekisho::cli {
namespace {

std::string when(int64_t t) {
  if (t == 0) return "never";
  char buf[32];
  const time_t tt = static_cast<time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

int run_feed_status(const FeedArgs& args) {
  auto loaded = policy::load_configuration(args.config);
  for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!loaded.ok()) return 1;
  std::vector<std::string> problems;
  const std::vector<feed::FeedStatus> all = feed::read_statuses(loaded.settings, &problems);
  for (const auto& p : problems) std::fprintf(stderr, "sekisho feed status: %s\n", p.c_str());
  bool found = false, healthy = true;
  std::string json_out = "[";
  for (const feed::FeedStatus& status : all) {
    if (!args.name.empty() && status.name != args.name) continue;
    found = true;
    const feed::FeedStatus* st = &status;
    healthy = healthy && feed::healthy(*st);
    if (args.json) {
      if (json_out.size() > 1) json_out += ",";
      json_out += feed::to_json(*st);
      continue;
    }
    const bool http = st->kind == "http";
    std::cout << "feed " << st->name << " ("
              << (http ? st->kind + " " + st->format + " from " + st->url : st->kind + " " + st->zone + " from " + st->primary)
              << ")\n"
              << "  last attempt:  " << when(st->last_attempt) << (st->last_result.empty() ? "" : " (" + st->last_result + ")")
              << "\n"
              << "  last success:  " << when(st->last_success) << "\n"
              << (http ? "  etag:          " + (st->etag.empty() ? "-" : st->etag) +
                             (st->last_modified.empty() ? "" : " (last modified " + st->last_modified + ")")
                       : "  serial:        " + (st->serial ? std::to_string(*st->serial) : std::string("-")))
              << "\n"
              << "  entries:       " << st->entries << "\n";
    if (!st->last_transfer.empty()) std::cout << "  last transfer: " << st->last_transfer << "\n";
    if (st->refused_records)
      std::cout << "  refused:       " << st->refused_records << (http ? " lines" : " records") << " (first: " << st->first_refusal << ")\n";
    if (!st->last_refusal.empty())
      std::cout << "  last refusal:  " << st->last_refusal << " (" << when(st->last_refusal_time) << "; "
                << st->refusals_total << " in all)\n";
    std::cout << "  last error:    " << (st->last_error.empty() ? "-" : st->last_error + " (" + when(st->last_error_time) + ")")
              << "\n"
              << "  failures:      " << st->consecutive_failures << " in a row, " << st->failures_total << " in all\n"
              << (http ? "  timers:        refresh " + std::to_string(st->refresh) + " s"
                       : "  timers:        refresh " + std::to_string(st->refresh) + " s, retry " +
                             std::to_string(st->retry) + " s, expire " + std::to_string(st->expire) + " s")
              << "; next attempt " << when(st->next_attempt) << "\n";
    if (st->expired)
      std::cout << "  EXPIRED:       no successful refresh within the SOA expire; the last data is still served\n";
  }
  if (!found)
    throw command_line::UsageError(args.name.empty() ? args.config + " configures no feeds"
                                                     : "no feed '" + args.name + "' in " + args.config);
  if (args.json) std::cout << json_out << "]\n";
  return healthy ? 0 : 1;
}

}  // namespace sekisho::cli
